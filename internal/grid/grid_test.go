package grid

import (
	"math"
	"testing"
)

func TestFromDICOMOrientations(t *testing.T) {
	cases := []struct {
		name string
		iop  []float64
	}{
		{"HFS", []float64{1, 0, 0, 0, 1, 0}},
		{"FFS", []float64{-1, 0, 0, 0, 1, 0}},
		{"HFP", []float64{-1, 0, 0, 0, -1, 0}},
		{"FFP", []float64{1, 0, 0, 0, -1, 0}},
		{"oblique", []float64{math.Cos(0.3), math.Sin(0.3), 0, -math.Sin(0.3) * math.Cos(0.2), math.Cos(0.3) * math.Cos(0.2), math.Sin(0.2)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := FromDICOM([]float64{-100, 50, 20}, c.iop, []float64{2, 1.5}, 30, 40, []float64{0, 3, 6, 9})
			if err != nil {
				t.Fatal(err)
			}
			if g.Size != [3]int{40, 30, 4} || g.Spacing != [3]float64{1.5, 2, 3} {
				t.Fatalf("size %v spacing %v", g.Size, g.Spacing)
			}
			for _, ijk := range [][3]int{{0, 0, 0}, {39, 0, 0}, {0, 29, 3}, {17, 11, 2}} {
				p := g.Point(ijk[0], ijk[1], ijk[2])
				fi, fj, fk := g.ContinuousIndex(p)
				if math.Abs(fi-float64(ijk[0])) > 1e-9 || math.Abs(fj-float64(ijk[1])) > 1e-9 || math.Abs(fk-float64(ijk[2])) > 1e-9 {
					t.Errorf("round trip %v -> %v %v %v", ijk, fi, fj, fk)
				}
			}
			// The first pixel of the first frame sits at ImagePositionPatient.
			if p := g.Point(0, 0, 0); p.Sub(Vec{-100, 50, 20}).Norm() > 1e-9 {
				t.Errorf("origin %v", p)
			}
			// Column index moves along the first direction cosine (row direction).
			d := g.Point(1, 0, 0).Sub(g.Point(0, 0, 0))
			if d.Sub(Vec{c.iop[0], c.iop[1], c.iop[2]}.Scale(1.5)).Norm() > 1e-9 {
				t.Errorf("column step %v", d)
			}
		})
	}
}

func TestSliceOffsets(t *testing.T) {
	iop := []float64{1, 0, 0, 0, 1, 0}
	cases := []struct {
		name    string
		offsets []float64
		z       []float64 // expected z of each frame
	}{
		{"uniform", []float64{0, 2, 4}, []float64{10, 12, 14}},
		{"shifted", []float64{-4, -2, 0}, []float64{6, 8, 10}},
		{"descending", []float64{0, -2, -4}, []float64{10, 8, 6}},
		{"non-uniform", []float64{0, 1, 3, 6}, []float64{10, 11, 13, 16}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := FromDICOM([]float64{0, 0, 10}, iop, []float64{1, 1}, 2, 2, c.offsets)
			if err != nil {
				t.Fatal(err)
			}
			for k, z := range c.z {
				p := g.Point(0, 0, k)
				if math.Abs(p[2]-z) > 1e-9 {
					t.Errorf("frame %d at z=%v, want %v", k, p[2], z)
				}
				_, _, fk := g.ContinuousIndex(p)
				if math.Abs(fk-float64(k)) > 1e-9 {
					t.Errorf("frame %d index %v", k, fk)
				}
			}
		})
	}
}

// TestTrilinearLinearField: trilinear interpolation reproduces a linear field exactly inside the
// grid and gives zero outside.
func TestTrilinearLinearField(t *testing.T) {
	g, err := FromDICOM([]float64{-10, -20, 5}, []float64{-1, 0, 0, 0, -1, 0}, []float64{2.5, 2}, 8, 10, []float64{0, 3, 6, 9, 12})
	if err != nil {
		t.Fatal(err)
	}
	f := func(p Vec) float64 { return 3 + 0.5*p[0] - 0.25*p[1] + 0.125*p[2] }
	v := &Volume{Grid: g, Data: make([]float32, g.Voxels())}
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				v.Data[(k*g.Size[1]+j)*g.Size[0]+i] = float32(f(g.Point(i, j, k)))
			}
		}
	}
	for _, p := range []Vec{{-13.3, -27.1, 7.2}, {-10, -20, 5}, {-27.9, -37.4, 16.9}} {
		if got, want := v.SampleTrilinear(p), f(p); math.Abs(got-want) > 1e-4 {
			t.Errorf("at %v: %v, want %v", p, got, want)
		}
	}
	if got := v.SampleTrilinear(Vec{0, 0, 0}); got != 0 {
		t.Errorf("outside: %v", got)
	}
}

func TestOverlapFraction(t *testing.T) {
	cases := []struct {
		name     string
		alo, ahi Vec
		blo, bhi Vec
		want     float64
	}{
		{"inside", Vec{0, 0, 0}, Vec{100, 100, 100}, Vec{10, 10, 10}, Vec{20, 20, 20}, 1},
		{"disjoint", Vec{0, 0, 0}, Vec{10, 10, 10}, Vec{20, 20, 20}, Vec{30, 30, 30}, 0},
		{"half", Vec{0, 0, 0}, Vec{10, 10, 10}, Vec{5, 0, 0}, Vec{15, 10, 10}, 0.5},
	}
	for _, c := range cases {
		if got := OverlapFraction(c.alo, c.ahi, c.blo, c.bhi); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAbsoluteOffsetsAndBadGeometry(t *testing.T) {
	// Case b of PS3.3 C.8.8.3.2: absolute z positions on an axial grid.
	g, err := FromDICOM([]float64{0, 0, -100}, []float64{1, 0, 0, 0, 1, 0}, []float64{1, 1}, 2, 2, []float64{-100, -97, -94})
	if err != nil {
		t.Fatal(err)
	}
	for k, z := range []float64{-100, -97, -94} {
		if p := g.Point(0, 0, k); math.Abs(p[2]-z) > 1e-9 {
			t.Errorf("frame %d at z=%v, want %v", k, p[2], z)
		}
	}
	bad := []struct {
		name string
		ipp  []float64
		ps   []float64
		offs []float64
	}{
		{"NaN spacing", []float64{0, 0, 0}, []float64{math.NaN(), 1}, []float64{0, 1}},
		{"Inf position", []float64{0, math.Inf(1), 0}, []float64{1, 1}, []float64{0, 1}},
		{"repeated frame", []float64{0, 0, 0}, []float64{1, 1}, []float64{0, 1, 2, 2}},
	}
	for _, c := range bad {
		if _, err := FromDICOM(c.ipp, []float64{1, 0, 0, 0, 1, 0}, c.ps, 2, 2, c.offs); err == nil {
			t.Errorf("%s accepted", c.name)
		}
	}
}
