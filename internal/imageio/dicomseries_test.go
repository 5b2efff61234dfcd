package imageio

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// TestIBSICTPhantomDICOMvsNIfTI reads the IBSI 1 lung CT phantom both as DICOM and as NIfTI and
// checks that they agree voxel by voxel at the same physical points.
func TestIBSICTPhantomDICOMvsNIfTI(t *testing.T) {
	dir := testutil.SharedTestdata(t, "radiomics/ibsi1")
	dcm, uids, err := ReadDICOMSeriesDir(filepath.Join(dir, "ct_phantom/dicom/image"))
	if err != nil {
		t.Fatal(err)
	}
	nii, err := ReadNIfTI(filepath.Join(dir, "ct_phantom/nifti/image/phantom.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dg, ng := dcm.Grid, nii.Grid
	if dg.Size != [3]int{204, 201, 60} || ng.Size != dg.Size || dcm.PixelType != "int16" || nii.PixelType != "float32" {
		t.Fatalf("sizes %v %v types %s %s", dg.Size, ng.Size, dcm.PixelType, nii.PixelType)
	}
	seen := map[string]bool{}
	for _, u := range uids {
		seen[u] = true
	}
	if len(uids) != 60 || len(seen) != 60 {
		t.Fatalf("%d UIDs, %d distinct", len(uids), len(seen))
	}
	// The DICOM slices are sorted along +z, so the first is the lowest one (z = -100.4).
	if !vecNear(dg.Origin, grid.Vec{-174.39450073242, -79.625503540039, -100.40000152587}, 1e-9) ||
		math.Abs(dg.Spacing[2]-3) > 1e-6 || math.Abs(dg.Spacing[0]-0.977) > 1e-6 {
		t.Fatalf("DICOM grid %+v", dg)
	}
	// Same physical position of voxel (0,0,0) (NIfTI stores float32: 1e-3 mm), and each DICOM
	// axis is parallel (up to sign) to a NIfTI axis with the same spacing.
	if d := dg.Point(0, 0, 0).Sub(ng.Point(0, 0, 0)).Norm(); d > 1e-3 {
		t.Fatalf("voxel (0,0,0) %v vs %v", dg.Point(0, 0, 0), ng.Point(0, 0, 0))
	}
	for a := 0; a < 3; a++ {
		found := false
		for b := 0; b < 3; b++ {
			if math.Abs(math.Abs(dg.Axes[a].Dot(ng.Axes[b]))-1) < 1e-6 && math.Abs(dg.Spacing[a]-ng.Spacing[b]) < 1e-4 {
				found = true
			}
		}
		if !found {
			t.Fatalf("DICOM axis %v (%.4f mm) has no NIfTI counterpart in %v %v", dg.Axes[a], dg.Spacing[a], ng.Axes, ng.Spacing)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 500; n++ {
		i, j, k := rng.IntN(dg.Size[0]), rng.IntN(dg.Size[1]), rng.IntN(dg.Size[2])
		if n < 8 { // the corners
			i, j, k = (n&1)*(dg.Size[0]-1), (n>>1&1)*(dg.Size[1]-1), (n>>2&1)*(dg.Size[2]-1)
		}
		p := dg.Point(i, j, k)
		fi, fj, fk := ng.ContinuousIndex(p)
		ni, nj, nk := math.Round(fi), math.Round(fj), math.Round(fk)
		if math.Abs(fi-ni) > 1e-3 || math.Abs(fj-nj) > 1e-3 || math.Abs(fk-nk) > 1e-3 {
			t.Fatalf("DICOM voxel (%d,%d,%d) at %v falls at NIfTI index (%v,%v,%v)", i, j, k, p, fi, fj, fk)
		}
		hu := dcm.Data[dcm.Index(i, j, k)]
		nv := nii.Data[nii.Index(int(ni), int(nj), int(nk))]
		if hu != math.Round(nv) {
			t.Fatalf("voxel (%d,%d,%d): DICOM %v HU, NIfTI %v", i, j, k, hu, nv)
		}
	}
}

// sliceSpec is one synthetic image file.
type sliceSpec struct {
	name, series string
	ipp, iop, ps []float64
	rows, cols   int
	slope, inter float64 // slope 0: no rescale elements
	unsigned     bool
	pixel        func(i, j int) int // stored value
}

func writeSlice(t *testing.T, dir string, s sliceSpec) string {
	t.Helper()
	pix := make([]byte, 2*s.rows*s.cols)
	for j := 0; j < s.rows; j++ {
		for i := 0; i < s.cols; i++ {
			binary.LittleEndian.PutUint16(pix[2*(j*s.cols+i):], uint16(s.pixel(i, j)))
		}
	}
	uid := dicomio.DeriveUID("slice", s.series, s.name)
	rep := 1
	if s.unsigned {
		rep = 0
	}
	b := dicomio.NewBuilder().Str(dicomio.TagSOPClassUID, rt.SOPClassCTImage).Str(dicomio.TagSOPInstanceUID, uid).
		Str(dicomio.TagModality, "CT").Str(dicomio.TagSeriesInstanceUID, s.series).
		DS(dicomio.TagImagePositionPatient, s.ipp...).DS(dicomio.TagImageOrientationPatient, s.iop...).
		DS(dicomio.TagPixelSpacing, s.ps...).DS(dicomio.TagSliceThickness, 2.5).
		Ints(dicomio.TagRows, s.rows).Ints(dicomio.TagColumns, s.cols).
		Ints(dicomio.TagSamplesPerPixel, 1).Ints(dicomio.TagBitsAllocated, 16).Ints(dicomio.TagBitsStored, 16).
		Ints(dicomio.TagHighBit, 15).Ints(dicomio.TagPixelRepresentation, rep)
	if s.slope != 0 {
		b.DS(dicomio.TagRescaleSlope, s.slope).DS(dicomio.TagRescaleIntercept, s.inter)
	}
	b.PixelData(pix)
	p := filepath.Join(dir, s.name)
	if err := b.WriteFile(p, rt.SOPClassCTImage, uid, dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadDICOMSeriesSynthetic builds small series in several orientations, given in shuffled
// order, and checks the sorting, geometry, values and pixel type, and the errors.
func TestReadDICOMSeriesSynthetic(t *testing.T) {
	hfs := []float64{1, 0, 0, 0, 1, 0}
	ffs := []float64{-1, 0, 0, 0, 1, 0}
	hfp := []float64{-1, 0, 0, 0, -1, 0}
	c, s := math.Cos(0.3), math.Sin(0.3)
	oblique := []float64{c, s, 0, 0, 0, -1} // a coronal-ish oblique plane; normal (-s, c, 0)
	value := func(k int) func(i, j int) int { return func(i, j int) int { return 100*k + 10*j + i - 50 } }
	// series returns n slices at positions base + k·step·normal, stored in the given order.
	series := func(iop []float64, step float64, n int, order []int, mod func(k int, s *sliceSpec)) []sliceSpec {
		normal := grid.Vec{iop[0], iop[1], iop[2]}.Cross(grid.Vec{iop[3], iop[4], iop[5]})
		var out []sliceSpec
		for _, k := range order[:n] {
			p := grid.Vec{-10, 20, 30}.Add(normal.Scale(float64(k) * step))
			sp := sliceSpec{name: fmt.Sprintf("s%02d.dcm", k), series: "1.2.3", ipp: p[:], iop: iop, ps: []float64{0.8, 0.6},
				rows: 3, cols: 4, slope: 1, inter: -1024, pixel: value(k)}
			if mod != nil {
				mod(k, &sp)
			}
			out = append(out, sp)
		}
		return out
	}
	shuffled := []int{2, 0, 3, 1}
	cases := []struct {
		name    string
		slices  []sliceSpec
		axis2   grid.Vec
		first   int // stored index k of the first sorted slice
		pt      string
		wantErr string
	}{
		{name: "HFS", slices: series(hfs, 2.5, 4, shuffled, nil), axis2: grid.Vec{0, 0, 1}, pt: "int16"},
		{name: "FFS", slices: series(ffs, 2.5, 4, shuffled, nil), axis2: grid.Vec{0, 0, -1}, pt: "int16"},
		// Slices stored against the normal: k counts them backwards.
		{name: "HFP reversed", slices: series(hfp, -2.5, 4, shuffled, nil), axis2: grid.Vec{0, 0, 1}, first: 3, pt: "int16"},
		{name: "oblique", slices: series(oblique, 1.5, 4, shuffled, nil), axis2: grid.Vec{-s, c, 0}, pt: "int16"},
		{name: "no rescale", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) { sp.slope = 0 }),
			axis2: grid.Vec{0, 0, 1}, pt: "int16"},
		{name: "fractional slope", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) { sp.slope = 0.5 }),
			axis2: grid.Vec{0, 0, 1}, pt: "float64"},
		{name: "fractional intercept", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) { sp.inter = 0.5 }),
			axis2: grid.Vec{0, 0, 1}, pt: "float64"},
		{name: "beyond int16", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			sp.unsigned, sp.inter = true, 0
			sp.pixel = func(i, j int) int { return 40000 + 100*k + 10*j + i }
		}), axis2: grid.Vec{0, 0, 1}, pt: "float64"},
		{name: "single slice", slices: series(hfs, 2.5, 1, shuffled, nil), axis2: grid.Vec{0, 0, 1}, first: 2, pt: "int16"},
		{name: "uneven", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			if k == 3 {
				sp.ipp = []float64{-10, 20, 30 + 8.5}
			}
		}), wantErr: "gap of 3.5000 mm between"},
		{name: "missing slice", slices: series(hfs, 2.5, 3, []int{0, 1, 3}, nil), wantErr: "s01.dcm and"},
		{name: "orientation", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			if k == 1 {
				sp.iop = []float64{1, 0, 0, 0, 0.99, 0.141}
			}
		}), wantErr: "ImageOrientationPatient"},
		{name: "spacing", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			if k == 1 {
				sp.ps = []float64{0.8, 0.61}
			}
		}), wantErr: "PixelSpacing"},
		{name: "size", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			if k == 1 {
				sp.rows = 4
			}
		}), wantErr: "is 4x4"},
		{name: "duplicate", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			if k == 1 {
				sp.ipp = []float64{-10, 20, 30}
			}
		}), wantErr: "share slice position"},
		{name: "tilt", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			sp.ipp = []float64{-10, 20 + 0.5*float64(k), 30 + 2.5*float64(k)}
		}), wantErr: "gantry tilt"},
		{name: "two series", slices: series(hfs, 2.5, 4, shuffled, func(k int, sp *sliceSpec) {
			if k == 1 {
				sp.series = "1.2.4"
			}
		}), wantErr: "belongs to series"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for _, sp := range tc.slices {
				files = append(files, writeSlice(t, dir, sp))
			}
			im, err := ReadDICOMSeries(files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dirIm, uids, err := ReadDICOMSeriesDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			g := im.Grid
			n := len(tc.slices)
			if g.Size != [3]int{4, 3, n} || im.PixelType != tc.pt || len(uids) != n || !grid.SameGeometry(g, dirIm.Grid, 0) {
				t.Fatalf("size %v type %s uids %d", g.Size, im.PixelType, len(uids))
			}
			iop := tc.slices[0].iop
			if !vecNear(g.Axes[0], grid.Vec{iop[0], iop[1], iop[2]}, 1e-12) || !vecNear(g.Axes[1], grid.Vec{iop[3], iop[4], iop[5]}, 1e-12) ||
				!vecNear(g.Axes[2], tc.axis2, 1e-12) || g.Spacing[0] != 0.6 || g.Spacing[1] != 0.8 {
				t.Fatalf("axes %v spacing %v", g.Axes, g.Spacing)
			}
			wantStep := 2.5
			if tc.name == "oblique" {
				wantStep = 1.5
			}
			if math.Abs(g.Spacing[2]-wantStep) > 1e-9 {
				t.Fatalf("slice spacing %v", g.Spacing[2])
			}
			// Slice k is the stored slice first±k, whose files are named after their stored index.
			for k := 0; k < n; k++ {
				stored := tc.first + k
				if tc.first > 0 && n > 1 {
					stored = tc.first - k
				}
				sp := tc.slices[0]
				for _, x := range tc.slices {
					if x.name == fmt.Sprintf("s%02d.dcm", stored) {
						sp = x
					}
				}
				if uids[k] != dicomio.DeriveUID("slice", sp.series, sp.name) {
					t.Fatalf("slice %d is not %s", k, sp.name)
				}
				if p := g.Point(0, 0, k); !vecNear(p, grid.Vec(sp.ipp), 1e-6) {
					t.Fatalf("slice %d at %v, file %s at %v", k, p, sp.name, sp.ipp)
				}
				slope := sp.slope
				if slope == 0 {
					slope, sp.inter = 1, 0
				}
				for j := 0; j < 3; j++ {
					for i := 0; i < 4; i++ {
						want := float64(sp.pixel(i, j))*slope + sp.inter
						if got := im.Data[im.Index(i, j, k)]; got != want || dirIm.Data[im.Index(i, j, k)] != want {
							t.Fatalf("voxel (%d,%d,%d) = %v, want %v", i, j, k, got, want)
						}
					}
				}
			}
		})
	}
}

func TestReadDICOMSeriesDirFiltering(t *testing.T) {
	dir := t.TempDir()
	for k := 0; k < 3; k++ {
		writeSlice(t, dir, sliceSpec{name: fmt.Sprintf("ct%d.dcm", k), series: "1.2.3", ipp: []float64{0, 0, float64(k)},
			iop: []float64{1, 0, 0, 0, 1, 0}, ps: []float64{1, 1}, rows: 2, cols: 2, slope: 1,
			pixel: func(i, j int) int { return i + j + k }})
	}
	// A non-DICOM file, a structure set and a subfolder are ignored.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello, this is not DICOM at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeSlice(t, filepath.Join(dir, "sub"), sliceSpec{name: "other.dcm", series: "9.9", ipp: []float64{0, 0, 5},
		iop: []float64{1, 0, 0, 0, 1, 0}, ps: []float64{1, 1}, rows: 2, cols: 2, pixel: func(i, j int) int { return 0 }})
	rs := dicomio.NewBuilder().Str(dicomio.TagSOPClassUID, rt.SOPClassRTStructureSet).Str(dicomio.TagSOPInstanceUID, "1.2.9").
		Str(dicomio.TagModality, "RTSTRUCT").Str(dicomio.TagSeriesInstanceUID, "1.2.10")
	if err := rs.WriteFile(filepath.Join(dir, "rs.dcm"), rt.SOPClassRTStructureSet, "1.2.9", dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	im, uids, err := ReadDICOMSeriesDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if im.Grid.Size != [3]int{2, 2, 3} || len(uids) != 3 {
		t.Fatalf("size %v, %d UIDs", im.Grid.Size, len(uids))
	}
	// A second series in the folder is an error that lists both.
	writeSlice(t, dir, sliceSpec{name: "mr.dcm", series: "7.7.7", ipp: []float64{0, 0, 0},
		iop: []float64{1, 0, 0, 0, 1, 0}, ps: []float64{1, 1}, rows: 2, cols: 2, pixel: func(i, j int) int { return 0 }})
	_, _, err = ReadDICOMSeriesDir(dir)
	if err == nil || !strings.Contains(err.Error(), `"1.2.3" (3 files)`) || !strings.Contains(err.Error(), `"7.7.7" (1 files)`) {
		t.Fatalf("error %v", err)
	}
	if _, _, err := ReadDICOMSeriesDir(filepath.Join(dir, "sub", "..", "sub", "none")); err == nil {
		t.Fatal("missing folder: no error")
	}
	empty := t.TempDir()
	if _, _, err := ReadDICOMSeriesDir(empty); err == nil || !strings.Contains(err.Error(), "no DICOM image") {
		t.Fatalf("empty folder: %v", err)
	}
}
