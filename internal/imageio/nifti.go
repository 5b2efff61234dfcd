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
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// NIfTI header sizes and the offset of the voxel data this package writes (header + 4-byte
// extension flag).
const (
	nifti1HeaderSize = 348
	nifti2HeaderSize = 540
	nifti1DataOffset = 352
)

// NIfTI datatype codes and the pixel types they map to.
var niftiTypes = map[int]struct {
	pt    string
	bytes int
}{
	2: {"uint8", 1}, 4: {"int16", 2}, 8: {"int32", 4}, 16: {"float32", 4}, 64: {"float64", 8},
	256: {"int8", 1}, 512: {"uint16", 2}, 768: {"uint32", 4},
}

// niftiHeader holds the fields of a NIfTI-1 or NIfTI-2 header this package uses, widened to the
// NIfTI-2 types.
type niftiHeader struct {
	version              int
	order                binary.ByteOrder
	dim                  [8]int64
	datatype             int
	pixdim               [8]float64
	voxOffset            int64
	sclSlope, sclInter   float64
	qformCode, sformCode int
	quatern              [3]float64 // b, c, d
	qoffset              [3]float64
	srow                 [3][4]float64
}

// ReadNIfTI reads a 3-D scalar NIfTI-1 or NIfTI-2 image (.nii, or gzip-compressed .nii.gz,
// recognised by content), little or big endian, of datatype uint8, int8, int16, uint16, int32,
// uint32, float32 or float64. A 4-D (or higher) file is accepted when the extra dimensions have
// size 1. Separate .hdr/.img pairs are not supported.
//
// Intensities: scl_slope/scl_inter are applied when the slope is finite, non-zero and the pair
// is not the identity (1, 0); the PixelType then becomes "float64" for float64 data and "float32"
// otherwise, as ITK does; without scaling it is the stored type.
//
// Geometry: the sform is used when sform_code > 0 (and its columns are orthogonal, a grid cannot
// shear), else the qform (quaternion, with qfac = pixdim[0]) when qform_code > 0, else pixdim
// alone with the identity in NIfTI space (the ANALYZE fallback of nifti1_io and ITK). NIfTI world
// coordinates are RAS; they are converted to DICOM LPS by negating x and y of the origin and of
// every axis. The axes are kept as stored, flipped or left-handed: the data are never reordered,
// so voxel (i, j, k) of the Image is voxel (i, j, k) of the file.
func ReadNIfTI(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		defer zr.Close()
		r = bufio.NewReaderSize(zr, 1<<16)
	}
	im, err := decodeNIfTI(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return im, nil
}

func decodeNIfTI(r io.Reader) (*Image, error) {
	h, hdrLen, err := readNIfTIHeader(r)
	if err != nil {
		return nil, err
	}
	ndim := h.dim[0]
	if ndim < 1 || ndim > 7 {
		return nil, fmt.Errorf("bad dim[0] %d", ndim)
	}
	var size [3]int
	for a := 0; a < 3; a++ {
		size[a] = 1
		if int64(a) < ndim {
			d := h.dim[a+1]
			if d <= 0 || d > grid.MaxVoxels {
				return nil, fmt.Errorf("bad dim[%d] %d", a+1, d)
			}
			size[a] = int(d)
		}
	}
	for a := int64(4); a <= ndim; a++ {
		if h.dim[a] > 1 {
			return nil, fmt.Errorf("dimensions %v: only 3-D scalar images (one volume) are supported", h.dim[1:ndim+1])
		}
	}
	if float64(size[0])*float64(size[1])*float64(size[2]) > grid.MaxVoxels {
		return nil, fmt.Errorf("image of %v voxels is too large", size)
	}
	dt, ok := niftiTypes[h.datatype]
	if !ok {
		return nil, fmt.Errorf("datatype %d not supported (only scalar 8/16/32-bit integers, float32 and float64)", h.datatype)
	}
	g, err := niftiGrid(h, size)
	if err != nil {
		return nil, err
	}
	// Skip the extensions up to the voxel data; a vox_offset inside the header (broken writers)
	// means "right after the header and the extension flag".
	off := max(h.voxOffset, hdrLen+4)
	if _, err := io.CopyN(io.Discard, r, off-hdrLen); err != nil {
		return nil, fmt.Errorf("skipping to voxel offset %d: %w", off, err)
	}
	n := size[0] * size[1] * size[2]
	buf := make([]byte, n*dt.bytes)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("reading %d voxels: %w", n, err)
	}
	im := &Image{Grid: g, Data: decodeSamples(buf, dt.pt, h.order, n), PixelType: dt.pt}
	slope, inter := h.sclSlope, h.sclInter
	if math.IsNaN(inter) || math.IsInf(inter, 0) {
		inter = 0
	}
	if slope != 0 && !math.IsNaN(slope) && !math.IsInf(slope, 0) && (slope != 1 || inter != 0) {
		for i, v := range im.Data {
			im.Data[i] = v*slope + inter
		}
		if dt.pt != "float64" {
			im.PixelType = "float32"
		}
	}
	return im, nil
}

// readNIfTIHeader reads and decodes a NIfTI-1 or NIfTI-2 header; it returns the number of bytes
// consumed.
func readNIfTIHeader(r io.Reader) (*niftiHeader, int64, error) {
	b := make([]byte, nifti2HeaderSize)
	if _, err := io.ReadFull(r, b[:nifti1HeaderSize]); err != nil {
		return nil, 0, fmt.Errorf("not a NIfTI file: reading header: %w", err)
	}
	h := &niftiHeader{}
	switch {
	case binary.LittleEndian.Uint32(b) == nifti1HeaderSize:
		h.version, h.order = 1, binary.LittleEndian
	case binary.BigEndian.Uint32(b) == nifti1HeaderSize:
		h.version, h.order = 1, binary.BigEndian
	case binary.LittleEndian.Uint32(b) == nifti2HeaderSize:
		h.version, h.order = 2, binary.LittleEndian
	case binary.BigEndian.Uint32(b) == nifti2HeaderSize:
		h.version, h.order = 2, binary.BigEndian
	default:
		return nil, 0, errors.New("not a NIfTI file (sizeof_hdr is neither 348 nor 540)")
	}
	o := h.order
	f32 := func(p int) float64 { return float64(math.Float32frombits(o.Uint32(b[p:]))) }
	f64 := func(p int) float64 { return math.Float64frombits(o.Uint64(b[p:])) }
	if h.version == 1 {
		switch string(b[344:347]) {
		case "n+1":
		case "ni1":
			return nil, 0, errors.New("NIfTI header/image pairs (.hdr/.img) are not supported")
		default:
			return nil, 0, fmt.Errorf("bad NIfTI-1 magic %q", b[344:348])
		}
		for i := range h.dim {
			h.dim[i] = int64(int16(o.Uint16(b[40+2*i:])))
			h.pixdim[i] = f32(76 + 4*i)
		}
		h.datatype = int(int16(o.Uint16(b[70:])))
		h.voxOffset = int64(f32(108))
		h.sclSlope, h.sclInter = f32(112), f32(116)
		h.qformCode, h.sformCode = int(int16(o.Uint16(b[252:]))), int(int16(o.Uint16(b[254:])))
		for i := 0; i < 3; i++ {
			h.quatern[i] = f32(256 + 4*i)
			h.qoffset[i] = f32(268 + 4*i)
			for c := 0; c < 4; c++ {
				h.srow[i][c] = f32(280 + 16*i + 4*c)
			}
		}
		return h, nifti1HeaderSize, nil
	}
	if _, err := io.ReadFull(r, b[nifti1HeaderSize:]); err != nil {
		return nil, 0, fmt.Errorf("reading NIfTI-2 header: %w", err)
	}
	if string(b[4:7]) != "n+2" {
		if string(b[4:7]) == "ni2" {
			return nil, 0, errors.New("NIfTI header/image pairs (.hdr/.img) are not supported")
		}
		return nil, 0, fmt.Errorf("bad NIfTI-2 magic %q", b[4:12])
	}
	h.datatype = int(int16(o.Uint16(b[12:])))
	for i := range h.dim {
		h.dim[i] = int64(o.Uint64(b[16+8*i:]))
		h.pixdim[i] = f64(104 + 8*i)
	}
	h.voxOffset = int64(o.Uint64(b[168:]))
	h.sclSlope, h.sclInter = f64(176), f64(184)
	h.qformCode, h.sformCode = int(int32(o.Uint32(b[344:]))), int(int32(o.Uint32(b[348:])))
	for i := 0; i < 3; i++ {
		h.quatern[i] = f64(352 + 8*i)
		h.qoffset[i] = f64(376 + 8*i)
		for c := 0; c < 4; c++ {
			h.srow[i][c] = f64(400 + 32*i + 8*c)
		}
	}
	return h, nifti2HeaderSize, nil
}

// niftiGrid builds the LPS grid of a header (see ReadNIfTI for the rules).
func niftiGrid(h *niftiHeader, size [3]int) (*grid.Grid, error) {
	var origin grid.Vec
	var cols [3]grid.Vec // axis a direction scaled by its spacing, in RAS
	sformOK := false
	if h.sformCode > 0 {
		for a := 0; a < 3; a++ {
			cols[a] = grid.Vec{h.srow[0][a], h.srow[1][a], h.srow[2][a]}
		}
		origin = grid.Vec{h.srow[0][3], h.srow[1][3], h.srow[2][3]}
		sformOK = orthogonal(cols)
		if !sformOK && h.qformCode <= 0 {
			return nil, errors.New("sform has sheared (non-orthogonal) axes and there is no qform")
		}
	}
	if !sformOK {
		spacing := [3]float64{1, 1, 1}
		for a := 0; a < 3; a++ {
			if s := math.Abs(h.pixdim[a+1]); s > 0 && !math.IsInf(s, 0) {
				spacing[a] = s
			}
		}
		rot := [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
		origin = grid.Vec{}
		if h.qformCode > 0 {
			rot = quaternionAxes(h.quatern[0], h.quatern[1], h.quatern[2])
			if h.pixdim[0] < 0 {
				rot[2] = rot[2].Scale(-1)
			}
			origin = grid.Vec(h.qoffset)
		}
		for a := 0; a < 3; a++ {
			cols[a] = rot[a].Scale(spacing[a])
		}
	}
	g := &grid.Grid{Size: size, Origin: rasToLPS(origin)}
	for a := 0; a < 3; a++ {
		n := cols[a].Norm()
		if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, fmt.Errorf("axis %d of the transform has length %v", a, n)
		}
		g.Axes[a], g.Spacing[a] = rasToLPS(cols[a].Scale(1/n)), n
	}
	for _, x := range g.Origin {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("bad origin %v", g.Origin)
		}
	}
	return g, nil
}

func rasToLPS(v grid.Vec) grid.Vec { return grid.Vec{-v[0], -v[1], v[2]} }

// orthogonal tells whether three non-zero vectors are mutually orthogonal within 1e-4 (cosine).
func orthogonal(c [3]grid.Vec) bool {
	for a := 0; a < 3; a++ {
		if c[a].Norm() == 0 {
			return false
		}
		for b := a + 1; b < 3; b++ {
			if math.Abs(c[a].Dot(c[b])) > 1e-4*c[a].Norm()*c[b].Norm() {
				return false
			}
		}
	}
	return true
}

// quaternionAxes returns the columns of the rotation matrix of the unit quaternion (a, b, c, d)
// with a = sqrt(1 - b² - c² - d²) (nifti1_io's quatern_to_mat44).
func quaternionAxes(b, c, d float64) [3]grid.Vec {
	a := 1 - (b*b + c*c + d*d)
	if a < 1e-7 {
		// a is 0 (a 180° rotation); renormalise b, c, d against rounding.
		s := 1 / math.Sqrt(b*b+c*c+d*d)
		b, c, d, a = b*s, c*s, d*s, 0
	} else {
		a = math.Sqrt(a)
	}
	return [3]grid.Vec{
		{a*a + b*b - c*c - d*d, 2 * (b*c + a*d), 2 * (b*d - a*c)},
		{2 * (b*c - a*d), a*a + c*c - b*b - d*d, 2 * (c*d + a*b)},
		{2 * (b*d + a*c), 2 * (c*d - a*b), a*a + d*d - c*c - b*b},
	}
}

// matrixToQuaternion returns the quaternion (b, c, d) and qfac of a matrix whose columns are
// orthonormal axes (nifti1_io's mat44_to_quatern): a left-handed set has qfac -1 and its third
// column negated before the conversion.
func matrixToQuaternion(cols [3]grid.Vec) (b, c, d, qfac float64) {
	qfac = 1
	if cols[0].Cross(cols[1]).Dot(cols[2]) < 0 {
		qfac = -1
		cols[2] = cols[2].Scale(-1)
	}
	// r[i][j]: row i, column j.
	r := func(i, j int) float64 { return cols[j][i] }
	var a float64
	if t := r(0, 0) + r(1, 1) + r(2, 2) + 1; t > 0.5 {
		a = 0.5 * math.Sqrt(t)
		b = 0.25 * (r(2, 1) - r(1, 2)) / a
		c = 0.25 * (r(0, 2) - r(2, 0)) / a
		d = 0.25 * (r(1, 0) - r(0, 1)) / a
	} else {
		xd := 1 + r(0, 0) - (r(1, 1) + r(2, 2))
		yd := 1 + r(1, 1) - (r(0, 0) + r(2, 2))
		zd := 1 + r(2, 2) - (r(0, 0) + r(1, 1))
		switch {
		case xd > 1:
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r(0, 1) + r(1, 0)) / b
			d = 0.25 * (r(0, 2) + r(2, 0)) / b
			a = 0.25 * (r(2, 1) - r(1, 2)) / b
		case yd > 1:
			c = 0.5 * math.Sqrt(yd)
			b = 0.25 * (r(0, 1) + r(1, 0)) / c
			d = 0.25 * (r(1, 2) + r(2, 1)) / c
			a = 0.25 * (r(0, 2) - r(2, 0)) / c
		default:
			d = 0.5 * math.Sqrt(zd)
			b = 0.25 * (r(0, 2) + r(2, 0)) / d
			c = 0.25 * (r(1, 2) + r(2, 1)) / d
			a = 0.25 * (r(1, 0) - r(0, 1)) / d
		}
		if a < 0 {
			b, c, d = -b, -c, -d
		}
	}
	return b, c, d, qfac
}

// WriteNIfTI writes an image as a little-endian NIfTI-1 file, gzip-compressed unless the path
// ends in ".nii", atomically. The samples are stored as PixelType (float64 when empty), without
// scaling. The sform and the qform (both NIFTI_XFORM_SCANNER_ANAT) hold the same RAS transform,
// the LPS grid with x and y negated; a left-handed grid gets qfac = -1. Grids with uneven slice
// spacing or non-orthogonal axes cannot be written.
func WriteNIfTI(path string, im *Image) error {
	pt := im.PixelType
	if pt == "" {
		pt = "float64"
	}
	code, bytesPer := 0, 0
	for c, t := range niftiTypes {
		if t.pt == pt {
			code, bytesPer = c, t.bytes
		}
	}
	if code == 0 {
		return fmt.Errorf("pixel type %q not supported", pt)
	}
	g := im.Grid
	if g.SliceOffsets != nil {
		return errors.New("NIfTI cannot store a grid with uneven slice spacing")
	}
	if len(im.Data) != g.Voxels() {
		return fmt.Errorf("image holds %d values for %v voxels", len(im.Data), g.Size)
	}
	var ras [3]grid.Vec
	for a := 0; a < 3; a++ {
		n := g.Axes[a].Norm()
		if n == 0 || g.Spacing[a] <= 0 {
			return fmt.Errorf("axis %d: direction %v spacing %v", a, g.Axes[a], g.Spacing[a])
		}
		ras[a] = rasToLPS(g.Axes[a].Scale(1 / n))
	}
	if !orthogonal(ras) {
		return fmt.Errorf("axes %v are not orthogonal", g.Axes)
	}
	origin := rasToLPS(g.Origin)
	qb, qc, qd, qfac := matrixToQuaternion(ras)

	hdr := make([]byte, nifti1DataOffset) // header + 4 zero bytes: no extensions
	le := binary.LittleEndian
	put16 := func(p int, v int) { le.PutUint16(hdr[p:], uint16(int16(v))) }
	putF := func(p int, v float64) { le.PutUint32(hdr[p:], math.Float32bits(float32(v))) }
	le.PutUint32(hdr[0:], nifti1HeaderSize)
	dims := [8]int{3, g.Size[0], g.Size[1], g.Size[2], 1, 1, 1, 1}
	for i, d := range dims {
		put16(40+2*i, d)
	}
	put16(70, code)
	put16(72, 8*bytesPer)
	pixdim := [8]float64{qfac, g.Spacing[0], g.Spacing[1], g.Spacing[2], 0, 0, 0, 0}
	for i, v := range pixdim {
		putF(76+4*i, v)
	}
	putF(108, nifti1DataOffset)
	putF(112, 1)     // scl_slope
	putF(116, 0)     // scl_inter
	hdr[123] = 2 | 8 // xyzt_units: mm, s
	copy(hdr[148:228], "rtpipeline")
	put16(252, 1) // qform_code: scanner anatomical
	put16(254, 1) // sform_code
	putF(256, qb)
	putF(260, qc)
	putF(264, qd)
	for i := 0; i < 3; i++ {
		putF(268+4*i, origin[i])
		for a := 0; a < 3; a++ {
			putF(280+16*i+4*a, ras[a][i]*g.Spacing[a])
		}
		putF(280+16*i+12, origin[i])
	}
	copy(hdr[344:348], "n+1\x00")

	compress := !strings.HasSuffix(strings.ToLower(path), ".nii")
	return fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		var zw *gzip.Writer
		if compress {
			zw = gzip.NewWriter(w)
			w = zw
		}
		if _, err := io.Copy(w, bytes.NewReader(hdr)); err != nil {
			return err
		}
		if err := encodeSamples(w, im.Data, pt); err != nil {
			return err
		}
		if zw != nil {
			return zw.Close()
		}
		return nil
	})
}
