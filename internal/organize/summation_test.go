package organize

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// writeDose writes an RTDOSE whose voxel values are f at the voxel centres (uint32, scaled).
func writeDose(t *testing.T, path string, ipp, iop []float64, spacing float64, cols, rows int, offsets []float64, units string, f func(grid.Vec) float64) *Entry {
	t.Helper()
	g, err := grid.FromDICOM(ipp, iop, []float64{spacing, spacing}, rows, cols, offsets)
	if err != nil {
		t.Fatal(err)
	}
	const scale = 1e-5
	pix := make([]byte, 0, 4*g.Voxels())
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				v := f(g.Point(i, j, k))
				if units == "CGY" {
					v *= 100
				}
				q := uint32(math.Round(v / scale))
				pix = append(pix, byte(q), byte(q>>8), byte(q>>16), byte(q>>24))
			}
		}
	}
	uid := dicomio.DeriveUID("test dose", path)
	b := dicomio.NewBuilder().Str(dicomio.TagSOPClassUID, rt.SOPClassRTDose).Str(dicomio.TagSOPInstanceUID, uid).
		Str(dicomio.TagModality, "RTDOSE").Str(dicomio.TagPatientID, "P").
		DS(dicomio.TagImagePositionPatient, ipp...).DS(dicomio.TagImageOrientationPatient, iop...).
		DS(dicomio.TagPixelSpacing, spacing, spacing).Ints(dicomio.TagRows, rows).Ints(dicomio.TagColumns, cols).
		IS(dicomio.TagNumberOfFrames, len(offsets)).DS(dicomio.TagGridFrameOffsetVector, offsets...).
		Ints(dicomio.TagSamplesPerPixel, 1).Ints(dicomio.TagBitsAllocated, 32).Ints(dicomio.TagBitsStored, 32).
		Ints(dicomio.TagHighBit, 31).Ints(dicomio.TagPixelRepresentation, 0).Str(dicomio.TagDoseUnits, units).
		Str(dicomio.TagDoseSummationType, "PLAN").DS(dicomio.TagDoseGridScaling, scale).PixelData(pix)
	if err := b.WriteFile(path, rt.SOPClassRTDose, uid, dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return &Entry{Path: filepath.Base(path), Abs: path, Obj: &Object{SOPInstanceUID: uid}}
}

// TestSumDoses sums two linear dose fields on different grids (different spacing, orientation
// and units). Trilinear interpolation is exact for linear fields, so inside both grids the sum
// must equal the analytic sum, and outside the smaller grid only the larger one contributes.
func TestSumDoses(t *testing.T) {
	dir := t.TempDir()
	primary := func(p grid.Vec) float64 { return 50 + 0.1*p[0] - 0.05*p[1] + 0.02*p[2] }
	boost := func(p grid.Vec) float64 { return 10 + 0.03*p[2] }
	offs := func(n int, step float64) []float64 {
		o := make([]float64, n)
		for i := range o {
			o[i] = float64(i) * step
		}
		return o
	}
	a := writeDose(t, filepath.Join(dir, "a.dcm"), []float64{-60, -60, -30}, []float64{1, 0, 0, 0, 1, 0}, 4, 31, 31, offs(16, 4), "GY", primary)
	b := writeDose(t, filepath.Join(dir, "b.dcm"), []float64{20, 20, 10}, []float64{-1, 0, 0, 0, -1, 0}, 2, 21, 21, offs(11, 2), "CGY", boost)
	vol, err := sumDoses([]*Entry{a, b})
	if err != nil {
		t.Fatal(err)
	}
	g := vol.Grid
	if g.Spacing != [3]float64{2, 2, 2} {
		t.Fatalf("common grid spacing %v, want the finest (2 mm)", g.Spacing)
	}
	lo, hi := g.Bounds()
	if lo[0] > -60+1e-6 || hi[0] < 60-1e-6 || lo[2] > -30+1e-6 || hi[2] < 30-1e-6 {
		t.Fatalf("common grid %v..%v does not cover the primary grid", lo, hi)
	}
	checked := 0
	for k := 0; k < g.Size[2]; k += 3 {
		for j := 0; j < g.Size[1]; j += 3 {
			for i := 0; i < g.Size[0]; i += 3 {
				p := g.Point(i, j, k)
				want := 0.0
				if inBox(p, grid.Vec{-60, -60, -30}, grid.Vec{60, 60, 30}) {
					want += primary(p)
				}
				if inBox(p, grid.Vec{-20, -20, 10}, grid.Vec{20, 20, 30}) {
					want += boost(p)
				}
				if got := float64(vol.Data[(k*g.Size[1]+j)*g.Size[0]+i]); math.Abs(got-want) > 2e-3 {
					t.Fatalf("at %v: %v Gy, want %v", p, got, want)
				}
				checked++
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d points checked", checked)
	}
	// Identical grids add voxel by voxel.
	c := writeDose(t, filepath.Join(dir, "c.dcm"), []float64{-60, -60, -30}, []float64{1, 0, 0, 0, 1, 0}, 4, 31, 31, offs(16, 4), "GY", boost)
	vol2, err := sumDoses([]*Entry{a, c})
	if err != nil {
		t.Fatal(err)
	}
	if vol2.Grid.Size != [3]int{31, 31, 16} {
		t.Fatalf("same-grid sum changed the grid: %v", vol2.Grid.Size)
	}
	p := vol2.Grid.Point(5, 7, 9)
	if got := float64(vol2.Data[(9*31+7)*31+5]); math.Abs(got-primary(p)-boost(p)) > 1e-4 {
		t.Fatalf("same-grid sum %v, want %v", got, primary(p)+boost(p))
	}
}

func inBox(p, lo, hi grid.Vec) bool {
	for a := 0; a < 3; a++ {
		if p[a] < lo[a]-1e-6 || p[a] > hi[a]+1e-6 {
			return false
		}
	}
	return true
}

// TestSummedDoseRoundTrip writes a summed dose with doseDataset and reads it back: the stored
// values must reproduce the sum to far better than 0.01 cGy.
func TestSummedDoseRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := func(p grid.Vec) float64 { return 61.234567 + 0.01*p[0] }
	a := writeDose(t, filepath.Join(dir, "a.dcm"), []float64{-10, -10, 0}, []float64{1, 0, 0, 0, 1, 0}, 2, 11, 11, []float64{0, 2, 4}, "GY", f)
	vol, err := sumDoses([]*Entry{a, a})
	if err != nil {
		t.Fatal(err)
	}
	b, uid, err := doseDataset(vol, &Entry{Obj: &Object{PatientID: "P"}}, "1.2.3", "PLAN_SUM", "test", []*Entry{a, a})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sum.dcm")
	if err := b.WriteFile(out, rt.SOPClassRTDose, uid, dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := rt.LoadDoseVolume(out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vol.Data {
		if d := math.Abs(float64(back.Data[i]) - float64(vol.Data[i])); d > 1e-4 {
			t.Fatalf("voxel %d: %v after round trip, %v before", i, back.Data[i], vol.Data[i])
		}
	}
	if back.Header.SummationType != "PLAN_SUM" || len(back.Header.ReferencedPlan) != 1 {
		t.Fatalf("header %+v", back.Header)
	}
}

// TestSummedDoseDecreasingOffsets: doses whose frames run against the normal (negative
// GridFrameOffsetVector, as GammaPlan and Pinnacle write) keep every frame at its place through
// summation and writing.
func TestSummedDoseDecreasingOffsets(t *testing.T) {
	dir := t.TempDir()
	f := func(p grid.Vec) float64 { return 10 + p[2] }
	for _, second := range []bool{false, true} {
		a := writeDose(t, filepath.Join(dir, fmt.Sprintf("a%v.dcm", second)), []float64{-4, -4, 20}, []float64{1, 0, 0, 0, 1, 0}, 2, 5, 5, []float64{0, -2, -4, -6, -8}, "GY", f)
		srcs := []*Entry{a}
		if second { // a second grid forces the interpolating path
			srcs = append(srcs, writeDose(t, filepath.Join(dir, "b.dcm"), []float64{-2, -2, 12}, []float64{1, 0, 0, 0, 1, 0}, 1, 5, 5, []float64{0, 1, 2, 3}, "GY", func(grid.Vec) float64 { return 0 }))
		}
		vol, err := sumDoses(srcs)
		if err != nil {
			t.Fatal(err)
		}
		b, uid, err := doseDataset(vol, &Entry{Obj: &Object{PatientID: "P"}}, "1.2.3", "PLAN_SUM", "test", srcs)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("sum%v.dcm", second))
		if err := b.WriteFile(out, rt.SOPClassRTDose, uid, dicomio.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		back, err := rt.LoadDoseVolume(out)
		if err != nil {
			t.Fatal(err)
		}
		g := back.Grid
		for k := 0; k < g.Size[2]; k++ {
			p := g.Point(2, 2, k)
			if p[2] < 12-1e-6 || p[2] > 20+1e-6 {
				continue
			}
			want := f(p)
			if got := float64(back.At(2, 2, k)); math.Abs(got-want) > 1e-3 {
				t.Fatalf("second grid %v: frame %d at z=%v holds %v, want %v", second, k, p[2], got, want)
			}
		}
	}
}
