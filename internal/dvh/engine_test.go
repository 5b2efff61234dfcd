package dvh

import (
	"math"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

func polyROI(name string, planes []float64, polys ...[][2]float64) *rt.ROIContours {
	roi := &rt.ROIContours{ROI: rt.ROI{Name: name}}
	for _, z := range planes {
		for _, p := range polys {
			pts := make([]grid.Vec, len(p))
			for i, q := range p {
				pts[i] = grid.Vec{q[0], q[1], z}
			}
			roi.Contours = append(roi.Contours, rt.Contour{Type: rt.ContourClosedPlanar, Points: pts})
		}
	}
	return roi
}

func square(cx, cy, half float64) [][2]float64 {
	return [][2]float64{{cx - half, cy - half}, {cx + half, cy - half}, {cx + half, cy + half}, {cx - half, cy + half}}
}

func planesFrom(z0, step float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = z0 + float64(i)*step
	}
	return out
}

// TestPatientPositionsGiveSameDVH: the same phantom and the same dose field in patient
// coordinates, on dose grids oriented for HFS, FFS, HFP and FFP (and an oblique grid), give the
// same DVH.
func TestPatientPositionsGiveSameDVH(t *testing.T) {
	s := shapes()[0] // sphere
	c := grid.Vec{0.5, 0, 0.5}
	roi, _ := roiFor(s, c, 2, 0)
	positions := map[string][]float64{
		"HFS":     {1, 0, 0, 0, 1, 0},
		"FFS":     {-1, 0, 0, 0, 1, 0},
		"HFP":     {-1, 0, 0, 0, -1, 0},
		"FFP":     {1, 0, 0, 0, -1, 0},
		"oblique": {math.Cos(0.3), math.Sin(0.3), 0, -math.Sin(0.3), math.Cos(0.3), 0},
	}
	for _, alongZ := range []bool{false, true} {
		var ref *DVH
		for _, name := range []string{"HFS", "FFS", "HFP", "FFP", "oblique"} {
			dose := linearDose(2, alongZ, positions[name])
			shiftDose(dose, c, alongZ)
			res := Compute(roi, dose, Options{})
			if res.DVH == nil {
				t.Fatalf("%s: %s", name, res.Skipped)
			}
			d := res.DVH
			if ref == nil {
				ref = d
				continue
			}
			for _, m := range []struct {
				name string
				a, b float64
				tol  float64
			}{
				{"volume", d.VolumeCC, ref.VolumeCC, 1e-9},
				{"Dmean", d.MeanGy, ref.MeanGy, 0.02},
				{"D95", d.DPercent(95), ref.DPercent(95), 0.05},
				{"D5", d.DPercent(5), ref.DPercent(5), 0.05},
			} {
				if math.Abs(m.a-m.b) > m.tol {
					t.Errorf("grad z=%v %s: %s %v, HFS %v", alongZ, name, m.name, m.a, m.b)
				}
			}
		}
	}
}

func uniformDose(gy float64) *grid.Volume {
	g, _ := grid.FromDICOM([]float64{-50, -50, -50}, []float64{1, 0, 0, 0, 1, 0}, []float64{2, 2}, 51, 51, planesFrom(0, 2, 51))
	v := &grid.Volume{Grid: g, Data: make([]float32, g.Voxels())}
	for i := range v.Data {
		v.Data[i] = float32(gy)
	}
	return v
}

func TestSpecialROIs(t *testing.T) {
	dose := uniformDose(10)
	t.Run("hole", func(t *testing.T) {
		// A 20 mm square with a 10 mm square hole, on 5 planes 2 mm apart: (400-100) mm² × 10 mm.
		r := Compute(polyROI("ring", planesFrom(0, 2, 5), square(0, 0, 10), square(0, 0, 5)), dose, Options{})
		if math.Abs(r.DVH.VolumeCC-3.0) > 1e-9 {
			t.Fatalf("volume %v, want 3 cm³", r.DVH.VolumeCC)
		}
	})
	t.Run("island in a hole", func(t *testing.T) {
		r := Compute(polyROI("nested", planesFrom(0, 2, 5), square(0, 0, 10), square(0, 0, 5), square(0, 0, 2)), dose, Options{})
		if want := (400.0 - 100 + 16) * 10 / 1000; math.Abs(r.DVH.VolumeCC-want) > 1e-9 {
			t.Fatalf("volume %v, want %v", r.DVH.VolumeCC, want)
		}
	})
	t.Run("two contours per plane", func(t *testing.T) {
		r := Compute(polyROI("pair", planesFrom(0, 2, 5), square(-20, 0, 5), square(20, 0, 5)), dose, Options{})
		if want := 2 * 100.0 * 10 / 1000; math.Abs(r.DVH.VolumeCC-want) > 1e-9 {
			t.Fatalf("volume %v, want %v", r.DVH.VolumeCC, want)
		}
	})
	t.Run("single plane", func(t *testing.T) {
		r := Compute(polyROI("flat", []float64{0}, square(0, 0, 5)), dose, Options{SinglePlaneThicknessMM: 3, SinglePlaneSource: "CT slice thickness"})
		if r.DVH == nil || math.Abs(r.DVH.VolumeCC-0.3) > 1e-9 || r.ThicknessNote == "" {
			t.Fatalf("%+v", r)
		}
		r = Compute(polyROI("flat", []float64{0}, square(0, 0, 5)), dose, Options{})
		if r.DVH == nil || math.Abs(r.DVH.VolumeCC-0.2) > 1e-9 { // dose grid spacing along z: 2 mm
			t.Fatalf("default thickness: %+v", r)
		}
	})
	t.Run("point ROI", func(t *testing.T) {
		roi := &rt.ROIContours{ROI: rt.ROI{Name: "iso"}, Contours: []rt.Contour{{Type: rt.ContourPoint, Points: []grid.Vec{{0, 0, 0}}}}}
		if r := Compute(roi, dose, Options{}); r.DVH != nil || r.Skipped == "" {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("partly outside the dose grid", func(t *testing.T) {
		// The grid ends at x = 50 mm; the square spans x 40..60, half outside.
		r := Compute(polyROI("edge", planesFrom(0, 2, 5), square(50, 0, 10)), dose, Options{})
		d := r.DVH
		if math.Abs(d.VolumeCC-4.0) > 1e-9 {
			t.Fatalf("volume %v: volume must come from the contours, not the dose grid", d.VolumeCC)
		}
		if math.Abs(d.InsideDoseGridFraction-0.5) > 0.02 || d.MinGy != 0 || d.MaxGy != 10 {
			t.Fatalf("inside %.3f, min %v, max %v", d.InsideDoseGridFraction, d.MinGy, d.MaxGy)
		}
	})
}

// TestVoxelEdgesAndPlanesBetweenDosePlanes: a box whose faces lie exactly on dose-voxel edges,
// and contour planes lying between dose planes in a z gradient, give the analytic values.
func TestVoxelEdgesAndPlanesBetweenDosePlanes(t *testing.T) {
	g, _ := grid.FromDICOM([]float64{-50, -50, -50}, []float64{1, 0, 0, 0, 1, 0}, []float64{2, 2}, 51, 51, planesFrom(0, 2, 51))
	v := &grid.Volume{Grid: g, Data: make([]float32, g.Voxels())}
	for k := 0; k < 51; k++ {
		for j := 0; j < 51; j++ {
			for i := 0; i < 51; i++ {
				p := g.Point(i, j, k)
				v.Data[(k*51+j)*51+i] = float32(20 + 0.5*p[2] + 0.25*p[1])
			}
		}
	}
	// Faces at x, y = ±9 mm (dose voxel centres are at even mm, edges at odd mm); planes at
	// z = -3, -1.5, ..., 3 (1.5 mm apart, between dose planes at even mm).
	roi := polyROI("box", planesFrom(-3, 1.5, 5), square(0, 0, 9))
	d := Compute(roi, v, Options{}).DVH
	// Slab model: z from -3.75 to 3.75, y from -9 to 9: dose = 20 + 0.5 z + 0.25 y is linear, so
	// the mean is 20 Gy and the extremes are 20 ± (1.875 + 2.25).
	if math.Abs(d.VolumeCC-18*18*7.5/1000) > 1e-9 {
		t.Errorf("volume %v", d.VolumeCC)
	}
	if math.Abs(d.MeanGy-20) > 1e-3 || math.Abs(d.MaxGy-24.125) > 0.01 || math.Abs(d.MinGy-15.875) > 0.01 {
		t.Errorf("mean %v, min %v, max %v", d.MeanGy, d.MinGy, d.MaxGy)
	}
	// The sum of two independent uniforms is symmetric about 20 Gy: D50 = 20.
	if math.Abs(d.DPercent(50)-20) > 0.01 {
		t.Errorf("D50 %v", d.DPercent(50))
	}
}

// TestInvariants: D(x %) never increases with x; V(x Gy) never increases with x; multiplying the
// dose (a scaling factor) scales dose metrics and never touches the volume.
func TestInvariants(t *testing.T) {
	s := shapes()[2] // cone
	roi, _ := roiFor(s, grid.Vec{}, 1, 0.3)
	dose := linearDose(2, false, []float64{1, 0, 0, 0, 1, 0})
	d := Compute(roi, dose, Options{}).DVH
	prev := math.Inf(1)
	for x := 0.0; x <= 100; x += 0.5 {
		v := d.DPercent(x)
		if v > prev+1e-12 {
			t.Fatalf("D(%g%%) = %v > D(%g%%) = %v", x, v, x-0.5, prev)
		}
		prev = v
	}
	prevV := math.Inf(1)
	for g := 0.0; g <= 40; g += 0.1 {
		v := d.V(g)
		if v > prevV+1e-12 {
			t.Fatalf("V(%g) increases", g)
		}
		prevV = v
	}
	if d.DPercent(0) != d.MaxGy || d.DPercent(100) != d.MinGy {
		t.Fatalf("D(0%%) %v vs max %v, D(100%%) %v vs min %v", d.DPercent(0), d.MaxGy, d.DPercent(100), d.MinGy)
	}
	for i := range dose.Data {
		dose.Data[i] *= 2
	}
	d2 := Compute(roi, dose, Options{}).DVH
	if d2.VolumeCC != d.VolumeCC {
		t.Fatalf("volume changed with dose scaling: %v vs %v", d2.VolumeCC, d.VolumeCC)
	}
	if math.Abs(d2.MeanGy-2*d.MeanGy) > 1e-3 || math.Abs(d2.DPercent(95)-2*d.DPercent(95)) > 0.01 {
		t.Fatalf("dose metrics did not scale: %v vs %v", d2.MeanGy, d.MeanGy)
	}
}

func TestDicompylerMethod(t *testing.T) {
	dose := uniformDose(10)
	r := Compute(polyROI("box", planesFrom(0, 2, 5), square(1, 1, 10)), dose, Options{Method: MethodDicompyler})
	if r.DVH == nil {
		t.Fatal(r.Skipped)
	}
	// 10 x 10 pixel centres inside (x, y in -8..10 even), 5 planes, 2 mm thick, no end caps
	// beyond the planes' own slabs: 100 × 4 mm² × 2 mm × 5 = 4 cm³.
	if math.Abs(r.DVH.VolumeCC-4) > 1e-9 || math.Abs(r.DVH.MaxGy-10.01) > 1e-9 {
		t.Fatalf("volume %v, max %v", r.DVH.VolumeCC, r.DVH.MaxGy)
	}
	if r := Compute(polyROI("flat", []float64{0}, square(0, 0, 5)), dose, Options{Method: MethodDicompyler}); r.DVH != nil || r.Skipped == "" {
		t.Fatal("single plane not reported in dicompyler mode")
	}
}
