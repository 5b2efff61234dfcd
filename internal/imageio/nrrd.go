package imageio

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// ReadNRRD reads a 3-D scalar NRRD file (attached data, raw or gzip encoding). Space directions
// and origin are honoured; "left-posterior-superior" (LPS) and "right-anterior-superior" (RAS)
// spaces are supported, RAS being converted to LPS.
func ReadNRRD(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im, err := decodeNRRD(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return im, nil
}

func decodeNRRD(r *bufio.Reader) (*Image, error) {
	magic, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(magic, "NRRD000") {
		return nil, errors.New("not a NRRD file")
	}
	fields := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":="); ok {
			fields["kv:"+strings.TrimSpace(k)] = strings.TrimSpace(v)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("bad header line %q", line)
		}
		fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if d := fields["dimension"]; d != "3" {
		return nil, fmt.Errorf("dimension %q: only 3-D images are supported", d)
	}
	if df := fields["data file"]; df != "" {
		return nil, errors.New("detached data files are not supported")
	}
	var size [3]int
	for i, s := range strings.Fields(fields["sizes"]) {
		if i > 2 {
			return nil, errors.New("more than 3 sizes")
		}
		size[i], err = strconv.Atoi(s)
		if err != nil || size[i] <= 0 {
			return nil, fmt.Errorf("bad sizes %q", fields["sizes"])
		}
	}
	if size[0]*size[1]*size[2] > grid.MaxVoxels {
		return nil, fmt.Errorf("image of %v voxels is too large", size)
	}
	pt, bytesPer, err := nrrdType(fields["type"])
	if err != nil {
		return nil, err
	}
	g := &grid.Grid{Size: size, Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: [3]float64{1, 1, 1}}
	if sd := fields["space directions"]; sd != "" {
		vecs, err := parseVectors(sd)
		if err != nil || len(vecs) != 3 {
			return nil, fmt.Errorf("bad space directions %q", sd)
		}
		for a, v := range vecs {
			n := v.Norm()
			if n == 0 || math.IsNaN(n) {
				return nil, fmt.Errorf("bad space direction %v", v)
			}
			g.Axes[a], g.Spacing[a] = v.Scale(1/n), n
		}
	} else if sp := fields["spacings"]; sp != "" {
		for a, s := range strings.Fields(sp) {
			if a < 3 {
				g.Spacing[a], _ = strconv.ParseFloat(s, 64)
			}
		}
	}
	if so := fields["space origin"]; so != "" {
		vecs, err := parseVectors(so)
		if err != nil || len(vecs) != 1 {
			return nil, fmt.Errorf("bad space origin %q", so)
		}
		g.Origin = vecs[0]
	}
	switch strings.ToLower(fields["space"]) {
	case "", "left-posterior-superior", "lps", "3d-left-handed":
	case "right-anterior-superior", "ras", "3d-right-handed":
		flip := func(v grid.Vec) grid.Vec { return grid.Vec{-v[0], -v[1], v[2]} }
		g.Origin = flip(g.Origin)
		for a := range g.Axes {
			g.Axes[a] = flip(g.Axes[a])
		}
	default:
		return nil, fmt.Errorf("space %q not supported", fields["space"])
	}
	var data io.Reader = r
	switch enc := strings.ToLower(fields["encoding"]); enc {
	case "raw":
	case "gzip", "gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		data = zr
	default:
		return nil, fmt.Errorf("encoding %q not supported", enc)
	}
	n := size[0] * size[1] * size[2]
	buf := make([]byte, n*bytesPer)
	if _, err := io.ReadFull(data, buf); err != nil {
		return nil, fmt.Errorf("reading %d voxels: %w", n, err)
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if strings.ToLower(fields["endian"]) == "big" {
		order = binary.BigEndian
	}
	return &Image{Grid: g, Data: decodeSamples(buf, pt, order, n), PixelType: pt}, nil
}

func nrrdType(t string) (string, int, error) {
	switch strings.ToLower(t) {
	case "signed char", "int8", "int8_t":
		return "int8", 1, nil
	case "uchar", "unsigned char", "uint8", "uint8_t":
		return "uint8", 1, nil
	case "short", "short int", "signed short", "signed short int", "int16", "int16_t":
		return "int16", 2, nil
	case "ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t":
		return "uint16", 2, nil
	case "int", "signed int", "int32", "int32_t":
		return "int32", 4, nil
	case "uint", "unsigned int", "uint32", "uint32_t":
		return "uint32", 4, nil
	case "float":
		return "float32", 4, nil
	case "double":
		return "float64", 8, nil
	}
	return "", 0, fmt.Errorf("pixel type %q not supported", t)
}

func decodeSamples(buf []byte, pt string, o binary.ByteOrder, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		switch pt {
		case "int8":
			out[i] = float64(int8(buf[i]))
		case "uint8":
			out[i] = float64(buf[i])
		case "int16":
			out[i] = float64(int16(o.Uint16(buf[2*i:])))
		case "uint16":
			out[i] = float64(o.Uint16(buf[2*i:]))
		case "int32":
			out[i] = float64(int32(o.Uint32(buf[4*i:])))
		case "uint32":
			out[i] = float64(o.Uint32(buf[4*i:]))
		case "float32":
			out[i] = float64(math.Float32frombits(o.Uint32(buf[4*i:])))
		case "float64":
			out[i] = math.Float64frombits(o.Uint64(buf[8*i:]))
		}
	}
	return out
}

func parseVectors(s string) ([]grid.Vec, error) {
	var out []grid.Vec
	for _, tok := range strings.Fields(s) {
		if tok == "none" {
			continue
		}
		tok = strings.Trim(tok, "()")
		parts := strings.Split(tok, ",")
		if len(parts) != 3 {
			return nil, fmt.Errorf("bad vector %q", tok)
		}
		var v grid.Vec
		for i, p := range parts {
			x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
		out = append(out, v)
	}
	return out, nil
}

// WriteNRRD writes an image as gzip-compressed NRRD in LPS space, atomically. The samples are
// stored as PixelType (float64 when empty).
func WriteNRRD(path string, im *Image) error {
	pt := im.PixelType
	if pt == "" {
		pt = "float64"
	}
	names := map[string]string{"int8": "signed char", "uint8": "unsigned char", "int16": "short", "uint16": "unsigned short",
		"int32": "int", "uint32": "unsigned int", "float32": "float", "float64": "double"}
	name, ok := names[pt]
	if !ok {
		return fmt.Errorf("pixel type %q not supported", pt)
	}
	g := im.Grid
	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "NRRD0004\ntype: %s\ndimension: 3\nspace: left-posterior-superior\nsizes: %d %d %d\n", name, g.Size[0], g.Size[1], g.Size[2])
	hdr.WriteString("space directions:")
	for a := 0; a < 3; a++ {
		v := g.Axes[a].Scale(g.Spacing[a])
		fmt.Fprintf(&hdr, " (%s,%s,%s)", fmtF(v[0]), fmtF(v[1]), fmtF(v[2]))
	}
	fmt.Fprintf(&hdr, "\nkinds: domain domain domain\nendian: little\nencoding: gzip\nspace origin: (%s,%s,%s)\n\n", fmtF(g.Origin[0]), fmtF(g.Origin[1]), fmtF(g.Origin[2]))
	return fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write(hdr.Bytes()); err != nil {
			return err
		}
		zw := gzip.NewWriter(w)
		if err := encodeSamples(zw, im.Data, pt); err != nil {
			return err
		}
		return zw.Close()
	})
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', 17, 64) }

func encodeSamples(w io.Writer, data []float64, pt string) error {
	bw := bufio.NewWriter(w)
	var b [8]byte
	for _, v := range data {
		var n int
		switch pt {
		case "int8", "uint8":
			b[0], n = byte(int64(v)), 1
		case "int16", "uint16":
			binary.LittleEndian.PutUint16(b[:], uint16(int64(v)))
			n = 2
		case "int32", "uint32":
			binary.LittleEndian.PutUint32(b[:], uint32(int64(v)))
			n = 4
		case "float32":
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(v)))
			n = 4
		default:
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			n = 8
		}
		if _, err := bw.Write(b[:n]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
