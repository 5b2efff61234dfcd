package radiomics

import (
	"math"
	"testing"
)

// shapePlane places a 2-D pattern (rows × cols) in a one-voxel-thick volume perpendicular to the
// numpy axis dim (0 = z, 1 = y, 2 = x), rows along the slower remaining axis, with the plane
// spacing (row, col) and out-of-plane spacing 7. It returns mask, size and spacing.
func shapePlane(pat [][]bool, dim int, sRow, sCol float64) ([]bool, [3]int, [3]float64) {
	nr, nc := len(pat), len(pat[0])
	var size [3]int
	var sp [3]float64
	switch dim {
	case 0: // plane (y, x)
		size, sp = [3]int{nc, nr, 1}, [3]float64{sCol, sRow, 7}
	case 1: // plane (z, x)
		size, sp = [3]int{nc, 1, nr}, [3]float64{sCol, 7, sRow}
	default: // plane (z, y)
		size, sp = [3]int{1, nc, nr}, [3]float64{7, sCol, sRow}
	}
	// In all three layouts pixel (r, c) lands at flat index r*nc + c.
	m := make([]bool, nr*nc)
	for r := range pat {
		for c, v := range pat[r] {
			m[r*nc+c] = v
		}
	}
	return m, size, sp
}

func shapeDisc(n int, radius, cr, cc float64) [][]bool {
	p := make([][]bool, n)
	for r := range p {
		p[r] = make([]bool, n)
		for c := range p[r] {
			dr, dc := float64(r)-cr, float64(c)-cc
			p[r][c] = dr*dr+dc*dc <= radius*radius
		}
	}
	return p
}

// A disc of radius r rasterised on a fine grid. Marching squares joins edge midpoints with
// segments at 0°, 45° and 90° only, so its perimeter tends to 16r(√2-1) ≈ 1.055·2πr (the mean of
// cos θ + (√2-1) sin θ over directions), not 2πr; the enclosed area and the diameter converge.
func TestShape2DDisc(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rPix   float64
		s      float64
		relTol float64
	}{
		{"r=60px", 60, 0.25, 0.01},
		{"r=200px", 200, 0.05, 0.005},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := int(2*tc.rPix) + 6
			m, size, sp := shapePlane(shapeDisc(n, tc.rPix, float64(n)/2+0.31, float64(n)/2-0.17), 0, tc.s, tc.s)
			f, err := Shape2DFeatures(m, size, sp, 0)
			if err != nil {
				t.Fatal(err)
			}
			r := tc.rPix * tc.s
			shapeClose(t, "MeshSurface", f["MeshSurface"], math.Pi*r*r, tc.relTol)
			shapeClose(t, "PixelSurface", f["PixelSurface"], math.Pi*r*r, tc.relTol)
			shapeClose(t, "Perimeter", f["Perimeter"], 16*r*(math.Sqrt2-1), tc.relTol)
			shapeClose(t, "MaximumDiameter", f["MaximumDiameter"], 2*r, tc.s/r)
			shapeClose(t, "MajorAxisLength", f["MajorAxisLength"], 2*r, tc.relTol) // 4·sqrt(r²/4)
			shapeClose(t, "MinorAxisLength", f["MinorAxisLength"], 2*r, tc.relTol)
			shapeClose(t, "Elongation", f["Elongation"], 1, tc.relTol)
			shapeClose(t, "PerimeterSurfaceRatio", f["PerimeterSurfaceRatio"], f["Perimeter"]/f["MeshSurface"], 1e-15)
			shapeClose(t, "Sphericity", f["Sphericity"], math.Pi/(8*(math.Sqrt2-1)), tc.relTol)
		})
	}
}

// Closed forms for a rectangle of nr × nc pixels: corners are cut by half-pixel triangles.
func TestShape2DRectangle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nr, nc   int
		sr, sc   float64
		dim      int
		unitDiam bool
	}{
		{"square axial", 6, 6, 1, 1, 0, true},
		{"rectangle coronal", 4, 9, 1, 1, 1, true},
		{"anisotropic sagittal", 5, 3, 2.5, 0.7, 2, false},
		{"single pixel", 1, 1, 0.8, 1.5, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pat := make([][]bool, tc.nr+2)
			for r := range pat {
				pat[r] = make([]bool, tc.nc+3)
				for c := range pat[r] {
					pat[r][c] = r >= 1 && r <= tc.nr && c >= 2 && c < 2+tc.nc
				}
			}
			m, size, sp := shapePlane(pat, tc.dim, tc.sr, tc.sc)
			f, err := Shape2DFeatures(m, size, sp, tc.dim)
			if err != nil {
				t.Fatal(err)
			}
			a, b := float64(tc.nr), float64(tc.nc)
			shapeClose(t, "MeshSurface", f["MeshSurface"], (a*b-0.5)*tc.sr*tc.sc, 1e-13)
			shapeClose(t, "PixelSurface", f["PixelSurface"], a*b*tc.sr*tc.sc, 1e-15)
			shapeClose(t, "Perimeter", f["Perimeter"], 2*(a-1)*tc.sr+2*(b-1)*tc.sc+2*math.Hypot(tc.sr, tc.sc), 1e-13)
			if tc.unitDiam {
				shapeClose(t, "MaximumDiameter", f["MaximumDiameter"], math.Sqrt(max(a*a+(b-1)*(b-1), (a-1)*(a-1)+b*b)), 1e-14)
			}
			if tc.nr == 1 && tc.nc == 1 {
				shapeClose(t, "MaximumDiameter", f["MaximumDiameter"], max(tc.sr, tc.sc), 1e-15)
				if f["MajorAxisLength"] != 0 || f["MinorAxisLength"] != 0 || !math.IsNaN(f["Elongation"]) {
					t.Errorf("axes %v %v elongation %v", f["MajorAxisLength"], f["MinorAxisLength"], f["Elongation"])
				}
				return
			}
			ax := []float64{4 * math.Sqrt(tc.sr*tc.sr*(a*a-1)/12), 4 * math.Sqrt(tc.sc*tc.sc*(b*b-1)/12)}
			shapeClose(t, "MajorAxisLength", f["MajorAxisLength"], max(ax[0], ax[1]), 1e-13)
			shapeClose(t, "MinorAxisLength", f["MinorAxisLength"], min(ax[0], ax[1]), 1e-13)
		})
	}
}

// The same pattern gives identical values whichever axis is out of plane.
func TestShape2DOrientations(t *testing.T) {
	pat := shapeDisc(23, 8.5, 10.2, 12.7)
	for r := 0; r < 12; r++ {
		pat[r][3] = true // a spur
	}
	var ref map[string]float64
	for dim := 0; dim < 3; dim++ {
		m, size, sp := shapePlane(pat, dim, 0.9, 0.6)
		f, err := Shape2DFeatures(m, size, sp, dim)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != len(Shape2DFeatureNames()) {
			t.Fatalf("keys %v", f)
		}
		if dim == 0 {
			ref = f
			continue
		}
		for _, name := range Shape2DFeatureNames() {
			if f[name] != ref[name] {
				t.Errorf("force2Ddimension %d: %s = %v, axial %v", dim, name, f[name], ref[name])
			}
		}
	}
}

func TestShape2DErrors(t *testing.T) {
	thick := shapeBox([3]int{4, 4, 3}, [3]int{1, 1, 0}, 2, 2, 2)
	// The ROI's extent along the out-of-plane axis counts, not the box's.
	thin := shapeBox([3]int{4, 4, 3}, [3]int{1, 1, 1}, 2, 2, 1)
	for _, tc := range []struct {
		name string
		mask []bool
		dim  int
		ok   bool
	}{
		{"two slices", thick, 0, false},
		{"one slice", thin, 0, true},
		{"one slice, wrong axis", thin, 1, false},
		{"dimension out of range", thin, 3, false},
		{"negative dimension", thin, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Shape2DFeatures(tc.mask, [3]int{4, 4, 3}, [3]float64{1, 1, 1}, tc.dim)
			if (err == nil) != tc.ok {
				t.Errorf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
