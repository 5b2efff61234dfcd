package imageio

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

func vecNear(a, b grid.Vec, tol float64) bool { return a.Sub(b).Norm() <= tol }

// TestReadIBSIDigitalPhantom reads the IBSI 1 digital phantom, stored as RAS with the x and y
// axes flipped (srow_x = -2, srow_y = -2): in LPS its axes are the identity and its origin 0.
func TestReadIBSIDigitalPhantom(t *testing.T) {
	dir := testutil.SharedTestdata(t, "radiomics/ibsi1")
	im, err := ReadNIfTI(filepath.Join(dir, "digital_phantom/nifti/image/phantom.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	mask, err := ReadNIfTI(filepath.Join(dir, "digital_phantom/nifti/mask/mask.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Image{im, mask} {
		g := x.Grid
		if g.Size != [3]int{5, 4, 4} || g.Spacing != [3]float64{2, 2, 2} || x.PixelType != "int16" {
			t.Fatalf("size %v spacing %v type %s", g.Size, g.Spacing, x.PixelType)
		}
		// RAS (-1,0,0), (0,-1,0), (0,0,1) is LPS identity.
		if g.Axes != [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} || g.Origin != (grid.Vec{}) {
			t.Fatalf("axes %v origin %v", g.Axes, g.Origin)
		}
	}
	if p := im.Grid.Point(4, 3, 3); p != (grid.Vec{8, 6, 6}) {
		t.Fatalf("voxel (4,3,3) at %v", p)
	}
	levels := map[float64]int{}
	for _, v := range im.Data {
		levels[v]++
	}
	if len(levels) != 5 || levels[1] == 0 || levels[3] == 0 || levels[4] == 0 || levels[6] == 0 || levels[9] != 1 {
		t.Fatalf("grey levels %v", levels)
	}
	for _, c := range []struct {
		i, j, k  int
		val, roi float64
	}{
		{0, 0, 0, 1, 1}, {1, 0, 0, 4, 1}, {2, 1, 0, 6, 1}, {2, 2, 2, 9, 0}, {0, 2, 1, 1, 0},
		{3, 0, 2, 1, 0}, {4, 0, 2, 1, 0}, {2, 2, 1, 3, 1}, {2, 3, 3, 6, 1}, {2, 3, 2, 6, 1},
	} {
		if v, m := im.Data[im.Index(c.i, c.j, c.k)], mask.Data[mask.Index(c.i, c.j, c.k)]; v != c.val || m != c.roi {
			t.Errorf("voxel (%d,%d,%d): value %v mask %v, want %v %v", c.i, c.j, c.k, v, m, c.val, c.roi)
		}
	}
	n := 0
	for _, v := range mask.Data {
		if v != 0 {
			n++
		}
	}
	vol := float64(n) * mask.Grid.Spacing[0] * mask.Grid.Spacing[1] * mask.Grid.Spacing[2]
	if n != 74 || vol != 592 {
		t.Fatalf("mask has %d voxels, %v mm³; want 74, 592", n, vol)
	}
}

func TestNIfTIRoundTrip(t *testing.T) {
	c30, s30 := math.Cos(math.Pi/6), math.Sin(math.Pi/6)
	grids := map[string]*grid.Grid{
		"identity": {Origin: grid.Vec{-1, 2, 3}, Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
			Spacing: [3]float64{0.5, 0.7, 2}, Size: [3]int{3, 4, 2}},
		// IBSI-like: x and y flipped (LPS -x, -y), right-handed.
		"flipped": {Origin: grid.Vec{10.25, -20.5, -3}, Axes: [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}},
			Spacing: [3]float64{0.977, 0.977, 3}, Size: [3]int{4, 3, 2}},
		// FFS: row direction -x, slices towards the feet.
		"ffs-left-handed": {Origin: grid.Vec{5, 6, 7}, Axes: [3]grid.Vec{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
			Spacing: [3]float64{1, 1.5, 2.5}, Size: [3]int{2, 3, 4}},
		// Oblique, left-handed (third axis against row × column).
		"oblique": {Origin: grid.Vec{-100.5, 40.25, 12.125},
			Axes:    [3]grid.Vec{{c30, s30, 0}, {0, 0, -1}, grid.Vec{c30, s30, 0}.Cross(grid.Vec{0, 0, -1}).Scale(-1)},
			Spacing: [3]float64{1.25, 2, 0.8}, Size: [3]int{3, 2, 4}},
	}
	for name, g := range grids {
		for _, pt := range []string{"uint8", "int8", "int16", "uint16", "int32", "uint32", "float32", "float64", ""} {
			for _, ext := range []string{".nii", ".nii.gz"} {
				im := &Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: pt}
				for i := range im.Data {
					switch pt {
					case "uint8", "uint16", "uint32":
						im.Data[i] = float64(i * 7)
					case "float32", "float64", "":
						im.Data[i] = float64(i)*0.25 - 3
					default:
						im.Data[i] = float64(i*3 - 10)
					}
				}
				p := filepath.Join(t.TempDir(), "x"+ext)
				if err := WriteNIfTI(p, im); err != nil {
					t.Fatal(err)
				}
				raw, _ := os.ReadFile(p)
				if gz := len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b; gz != (ext == ".nii.gz") {
					t.Fatalf("%s: gzip %v", ext, gz)
				}
				back, err := ReadNIfTI(p)
				if err != nil {
					t.Fatal(err)
				}
				want := pt
				if want == "" {
					want = "float64"
				}
				bg := back.Grid
				if bg.Size != g.Size || back.PixelType != want || !vecNear(bg.Origin, g.Origin, 1e-4) {
					t.Fatalf("%s %s %s: size %v type %s origin %v", name, pt, ext, bg.Size, back.PixelType, bg.Origin)
				}
				for a := 0; a < 3; a++ {
					if !vecNear(bg.Axes[a], g.Axes[a], 1e-6) || math.Abs(bg.Spacing[a]-g.Spacing[a]) > 1e-6 {
						t.Fatalf("%s %s %s: axes %v spacing %v, want %v %v", name, pt, ext, bg.Axes, bg.Spacing, g.Axes, g.Spacing)
					}
				}
				for i := range im.Data {
					if back.Data[i] != im.Data[i] {
						t.Fatalf("%s %s %s: voxel %d %v != %v", name, pt, ext, i, back.Data[i], im.Data[i])
					}
				}
				// The qform alone must give the same grid as the sform.
				if ext == ".nii" {
					raw[254], raw[255] = 0, 0 // sform_code
					q := filepath.Join(t.TempDir(), "q.nii")
					if err := os.WriteFile(q, raw, 0o644); err != nil {
						t.Fatal(err)
					}
					qb, err := ReadNIfTI(q)
					if err != nil {
						t.Fatal(err)
					}
					if !grid.SameGeometry(qb.Grid, bg, 1e-4) {
						t.Fatalf("%s: qform grid %+v, sform grid %+v", name, qb.Grid, bg)
					}
				}
			}
		}
	}
}

func TestWriteNIfTIErrors(t *testing.T) {
	g := &grid.Grid{Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: [3]float64{1, 1, 1}, Size: [3]int{2, 2, 2}}
	uneven := *g
	uneven.SliceOffsets = []float64{0, 1}
	sheared := *g
	sheared.Axes[1] = grid.Vec{math.Sqrt(0.5), math.Sqrt(0.5), 0}
	for name, im := range map[string]*Image{
		"pixel type": {Grid: g, Data: make([]float64, 8), PixelType: "complex"},
		"uneven":     {Grid: &uneven, Data: make([]float64, 8)},
		"sheared":    {Grid: &sheared, Data: make([]float64, 8)},
		"data size":  {Grid: g, Data: make([]float64, 7)},
	} {
		if err := WriteNIfTI(filepath.Join(t.TempDir(), "x.nii.gz"), im); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// niiSpec describes a NIfTI file built byte by byte for reader tests.
type niiSpec struct {
	version      int
	order        binary.ByteOrder
	dim          [8]int64
	datatype     int
	pixdim       [8]float64
	slope, inter float64
	qcode, scode int
	quat, qoff   [3]float64
	srow         [3][4]float64
	data         []float64
	gz           bool
	magic        string // overrides the magic when set
}

func (s niiSpec) encode(t *testing.T) []byte {
	t.Helper()
	o := s.order
	var hdr []byte
	var w bytes.Buffer
	if s.version == 2 {
		hdr = make([]byte, 544)
		o.PutUint32(hdr, 540)
		copy(hdr[4:], "n+2\x00\r\n\x1a\n")
		o.PutUint16(hdr[12:], uint16(s.datatype))
		for i := 0; i < 8; i++ {
			o.PutUint64(hdr[16+8*i:], uint64(s.dim[i]))
			o.PutUint64(hdr[104+8*i:], math.Float64bits(s.pixdim[i]))
		}
		o.PutUint64(hdr[168:], 544)
		o.PutUint64(hdr[176:], math.Float64bits(s.slope))
		o.PutUint64(hdr[184:], math.Float64bits(s.inter))
		o.PutUint32(hdr[344:], uint32(s.qcode))
		o.PutUint32(hdr[348:], uint32(s.scode))
		for i := 0; i < 3; i++ {
			o.PutUint64(hdr[352+8*i:], math.Float64bits(s.quat[i]))
			o.PutUint64(hdr[376+8*i:], math.Float64bits(s.qoff[i]))
			for c := 0; c < 4; c++ {
				o.PutUint64(hdr[400+32*i+8*c:], math.Float64bits(s.srow[i][c]))
			}
		}
	} else {
		hdr = make([]byte, 352)
		f32 := func(p int, v float64) { o.PutUint32(hdr[p:], math.Float32bits(float32(v))) }
		o.PutUint32(hdr, 348)
		for i := 0; i < 8; i++ {
			o.PutUint16(hdr[40+2*i:], uint16(s.dim[i]))
			f32(76+4*i, s.pixdim[i])
		}
		o.PutUint16(hdr[70:], uint16(s.datatype))
		f32(108, 352)
		f32(112, s.slope)
		f32(116, s.inter)
		o.PutUint16(hdr[252:], uint16(s.qcode))
		o.PutUint16(hdr[254:], uint16(s.scode))
		for i := 0; i < 3; i++ {
			f32(256+4*i, s.quat[i])
			f32(268+4*i, s.qoff[i])
			for c := 0; c < 4; c++ {
				f32(280+16*i+4*c, s.srow[i][c])
			}
		}
		copy(hdr[344:], "n+1\x00")
		if s.magic != "" {
			copy(hdr[344:], s.magic)
		}
	}
	w.Write(hdr)
	var b [8]byte
	for _, v := range s.data {
		switch s.datatype {
		case 2:
			w.WriteByte(byte(v))
		case 256:
			w.WriteByte(byte(int8(v)))
		case 4:
			o.PutUint16(b[:], uint16(int16(v)))
			w.Write(b[:2])
		case 512:
			o.PutUint16(b[:], uint16(v))
			w.Write(b[:2])
		case 8:
			o.PutUint32(b[:], uint32(int32(v)))
			w.Write(b[:4])
		case 768:
			o.PutUint32(b[:], uint32(v))
			w.Write(b[:4])
		case 16:
			o.PutUint32(b[:], math.Float32bits(float32(v)))
			w.Write(b[:4])
		case 64:
			o.PutUint64(b[:], math.Float64bits(v))
			w.Write(b[:8])
		default:
			t.Fatalf("datatype %d", s.datatype)
		}
	}
	if !s.gz {
		return w.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(w.Bytes())
	zw.Close()
	return z.Bytes()
}

// TestReadNIfTIHeaders reads hand-built headers: both versions and byte orders, each
// geometry source, scaling, 4-D files and errors.
func TestReadNIfTIHeaders(t *testing.T) {
	data := []float64{-3, 0, 1, 2, 5, 7, 100, -100, 30, 31, 32, 33}
	posData := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 250}
	// A 90° rotation about z: a = d = sqrt(0.5). RAS axes (0,1,0), (-1,0,0), and (0,0,-1) with
	// qfac = -1; in LPS (0,-1,0), (1,0,0), (0,0,-1).
	h := math.Sqrt(0.5)
	sform := [3][4]float64{{0, -0.5, 0, 10}, {0.6, 0, 0, 20}, {0, 0, -0.7, 30}}
	lpsSform := [3]grid.Vec{{0, -1, 0}, {1, 0, 0}, {0, 0, -1}}
	base := func() niiSpec {
		return niiSpec{version: 1, order: binary.LittleEndian, dim: [8]int64{3, 3, 2, 2, 1, 1, 1, 1}, datatype: 4,
			pixdim: [8]float64{-1, 0.6, 0.5, 0.7}, slope: 1, data: data}
	}
	cases := []struct {
		name    string
		spec    func() niiSpec
		axes    [3]grid.Vec
		origin  grid.Vec
		pt      string
		scale   [2]float64 // slope, intercept expected on the values
		values  []float64
		wantErr string
	}{
		{name: "qform only", spec: func() niiSpec {
			s := base()
			s.qcode, s.quat, s.qoff = 1, [3]float64{0, 0, h}, [3]float64{10, 20, 30}
			s.pixdim = [8]float64{-1, 0.5, 0.6, 0.7}
			return s
		}, axes: lpsSform, origin: grid.Vec{-10, -20, 30}, pt: "int16"},
		{name: "sform big endian", spec: func() niiSpec {
			s := base()
			s.order, s.scode, s.srow = binary.BigEndian, 2, sform
			return s
		}, axes: [3]grid.Vec{{0, -1, 0}, {1, 0, 0}, {0, 0, -1}}, origin: grid.Vec{-10, -20, 30}, pt: "int16"},
		{name: "sform big endian gzip scaled", spec: func() niiSpec {
			s := base()
			s.order, s.scode, s.srow, s.gz, s.slope, s.inter = binary.BigEndian, 1, sform, true, 2, -5
			return s
		}, axes: lpsSform, origin: grid.Vec{-10, -20, 30}, pt: "float32", scale: [2]float64{2, -5}},
		{name: "sheared sform falls back to qform", spec: func() niiSpec {
			s := base()
			s.scode, s.srow = 1, [3][4]float64{{1, 1, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}
			s.qcode, s.quat, s.qoff = 1, [3]float64{0, 0, h}, [3]float64{10, 20, 30}
			s.pixdim = [8]float64{-1, 0.5, 0.6, 0.7}
			return s
		}, axes: lpsSform, origin: grid.Vec{-10, -20, 30}, pt: "int16"},
		{name: "pixdim only", spec: func() niiSpec {
			s := base()
			s.pixdim = [8]float64{0, 0.5, 0.6, 0.7}
			return s
		}, axes: [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, pt: "int16"},
		{name: "nifti-2 big endian float64 4-D", spec: func() niiSpec {
			s := base()
			s.version, s.order, s.datatype, s.scode, s.srow = 2, binary.BigEndian, 64, 1, sform
			s.dim = [8]int64{4, 3, 2, 2, 1, 1, 1, 1}
			s.data = []float64{0.1, -2.5e10, 3, 4, 5, 6, 7, 8, 9, 10, 11, math.Pi}
			return s
		}, axes: lpsSform, origin: grid.Vec{-10, -20, 30}, pt: "float64",
			values: []float64{0.1, -2.5e10, 3, 4, 5, 6, 7, 8, 9, 10, 11, math.Pi}},
		{name: "nifti-2 little endian int32 scaled", spec: func() niiSpec {
			s := base()
			s.version, s.datatype, s.scode, s.srow, s.slope, s.inter, s.gz = 2, 8, 1, sform, 0.5, 1, true
			return s
		}, axes: lpsSform, origin: grid.Vec{-10, -20, 30}, pt: "float32", scale: [2]float64{0.5, 1}},
		{name: "uint8", spec: func() niiSpec {
			s := base()
			s.datatype, s.data = 2, posData
			return s
		}, axes: [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, pt: "uint8", values: posData},
		{name: "int8", spec: func() niiSpec { s := base(); s.datatype = 256; return s },
			axes: [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, pt: "int8"},
		{name: "uint16 big endian", spec: func() niiSpec {
			s := base()
			s.datatype, s.data, s.order = 512, posData, binary.BigEndian
			return s
		}, axes: [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, pt: "uint16", values: posData},
		{name: "uint32", spec: func() niiSpec { s := base(); s.datatype, s.data = 768, posData; return s },
			axes: [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, pt: "uint32", values: posData},
		{name: "float32 identity scaling ignored", spec: func() niiSpec { s := base(); s.datatype, s.slope = 16, 0; return s },
			axes: [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, pt: "float32"},
		{name: "two volumes", spec: func() niiSpec {
			s := base()
			s.dim = [8]int64{4, 3, 2, 1, 2, 1, 1, 1}
			return s
		}, wantErr: "one volume"},
		{name: "rgb", spec: func() niiSpec { s := base(); s.datatype = 128; s.data = nil; return s }, wantErr: "datatype 128"},
		{name: "hdr/img pair", spec: func() niiSpec { s := base(); s.magic = "ni1\x00"; return s }, wantErr: ".hdr/.img"},
		{name: "truncated", spec: func() niiSpec { s := base(); s.data = data[:5]; return s }, wantErr: "reading 12 voxels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.spec()
			p := filepath.Join(t.TempDir(), "x.nii")
			if err := os.WriteFile(p, s.encode(t), 0o644); err != nil {
				t.Fatal(err)
			}
			im, err := ReadNIfTI(p)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := im.Grid
			if g.Size != [3]int{3, 2, 2} || im.PixelType != c.pt || !vecNear(g.Origin, c.origin, 1e-5) {
				t.Fatalf("size %v type %s origin %v", g.Size, im.PixelType, g.Origin)
			}
			wantSpacing := [3]float64{0.6, 0.5, 0.7}
			if c.name == "qform only" || strings.HasPrefix(c.name, "sheared") || c.name == "pixdim only" {
				wantSpacing = [3]float64{0.5, 0.6, 0.7}
			}
			for a := 0; a < 3; a++ {
				if !vecNear(g.Axes[a], c.axes[a], 1e-6) || math.Abs(g.Spacing[a]-wantSpacing[a]) > 1e-6 {
					t.Fatalf("axes %v spacing %v, want %v %v", g.Axes, g.Spacing, c.axes, wantSpacing)
				}
			}
			want := c.values
			if want == nil {
				slope, inter := 1.0, 0.0
				if c.scale[0] != 0 {
					slope, inter = c.scale[0], c.scale[1]
				}
				for _, v := range s.data {
					want = append(want, v*slope+inter)
				}
			}
			for i := range want {
				if im.Data[i] != want[i] {
					t.Fatalf("voxel %d: %v, want %v (all %v)", i, im.Data[i], want[i], im.Data)
				}
			}
		})
	}
}

func TestReadNIfTINotNIfTI(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.nii")
	if err := os.WriteFile(p, bytes.Repeat([]byte{1}, 600), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadNIfTI(p); err == nil || !strings.Contains(err.Error(), "not a NIfTI") {
		t.Fatalf("error %v", err)
	}
}
