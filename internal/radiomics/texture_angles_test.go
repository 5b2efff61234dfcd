package radiomics

import (
	"slices"
	"testing"
)

// pyradiomicsAngleCount is PyRadiomics' get_angle_count formula (per distance, (2d+1)^n - (2d-1)^n
// offsets, with dimensions shorter than the distance limited to their size), halved for one
// direction per pair; used to cross-check the enumeration.
func pyradiomicsAngleCount(sizeZYX [3]int, distances []int, f2d int) int {
	na := 0
	for _, d := range distances {
		a, b := 1, 1
		for dim := 0; dim < 3; dim++ {
			if dim == f2d {
				continue
			}
			if d < sizeZYX[dim] {
				a *= 2*d + 1
				b *= 2*d - 1
			} else {
				a *= 2*(sizeZYX[dim]-1) + 1
				b *= 2*(sizeZYX[dim]-1) + 1
			}
		}
		na += a - b
	}
	return na / 2
}

func TestAngles(t *testing.T) {
	all13 := [][3]int{
		{1, 1, 1}, {1, 1, 0}, {1, 1, -1}, {1, 0, 1}, {1, 0, 0}, {1, 0, -1}, {1, -1, 1}, {1, -1, 0},
		{1, -1, -1}, {0, 1, 1}, {0, 1, 0}, {0, 1, -1}, {0, 0, 1},
	}
	tests := []struct {
		name string
		size [3]int // x, y, z
		s    TextureSettings
		want [][3]int
		n    int // expected count when want is nil
	}{
		{"3D default", [3]int{10, 10, 10}, DefaultTextureSettings(), all13, 0},
		{"empty distances default to 1", [3]int{4, 4, 4}, TextureSettings{}, all13, 0},
		{"force2D axial", [3]int{10, 10, 10}, TextureSettings{Force2D: true},
			[][3]int{{0, 1, 1}, {0, 1, 0}, {0, 1, -1}, {0, 0, 1}}, 0},
		{"force2D sagittal", [3]int{10, 10, 10}, TextureSettings{Force2D: true, Force2DDimension: 2},
			[][3]int{{1, 1, 0}, {1, 0, 0}, {1, -1, 0}, {0, 1, 0}}, 0},
		{"single slice box", [3]int{5, 5, 1}, DefaultTextureSettings(),
			[][3]int{{0, 1, 1}, {0, 1, 0}, {0, 1, -1}, {0, 0, 1}}, 0},
		{"single row box", [3]int{5, 1, 1}, DefaultTextureSettings(), [][3]int{{0, 0, 1}}, 0},
		{"single voxel box", [3]int{1, 1, 1}, DefaultTextureSettings(), [][3]int{}, 0},
		{"distances 1 and 2", [3]int{10, 10, 10}, TextureSettings{Distances: []int{1, 2}}, nil, 62},
		{"distance 2 only", [3]int{10, 10, 10}, TextureSettings{Distances: []int{2}}, nil, 49},
		{"distance 2 in a thin box", [3]int{10, 10, 2}, TextureSettings{Distances: []int{2}}, nil, 0},
		{"distance 3 beyond the box", [3]int{3, 3, 3}, TextureSettings{Distances: []int{3}}, [][3]int{}, 0},
		{"invalid distance", [3]int{10, 10, 10}, TextureSettings{Distances: []int{0}}, nil, -1},
		{"invalid force2D dimension", [3]int{10, 10, 10}, TextureSettings{Force2D: true, Force2DDimension: 3}, nil, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Angles(tc.size, tc.s)
			if tc.n < 0 {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if tc.want != nil {
				if len(got) != len(tc.want) || (len(got) > 0 && !slices.Equal(got, tc.want)) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
			dist, f2d, err := texAngleSettings(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			sz := [3]int{tc.size[2], tc.size[1], tc.size[0]}
			if n := pyradiomicsAngleCount(sz, dist, f2d); len(got) != n {
				t.Fatalf("%d angles, PyRadiomics counts %d", len(got), n)
			}
			if tc.want == nil && tc.n > 0 && len(got) != tc.n {
				t.Fatalf("%d angles, want %d", len(got), tc.n)
			}
			seen := map[[3]int]bool{}
			for _, a := range got {
				neg := [3]int{-a[0], -a[1], -a[2]}
				if seen[a] || seen[neg] {
					t.Fatalf("offset %v repeated or mirrored", a)
				}
				seen[a] = true
				norm := max(texAbs(a[0]), texAbs(a[1]), texAbs(a[2]))
				if !slices.Contains(dist, norm) {
					t.Fatalf("offset %v has norm %d not in %v", a, norm, dist)
				}
				for d := 0; d < 3; d++ {
					if texAbs(a[d]) >= sz[d] || (d == f2d && a[d] != 0) {
						t.Fatalf("offset %v does not fit box %v / force2D %d", a, sz, f2d)
					}
				}
			}
			// the bidirectional list is the unidirectional one followed by the mirrored offsets
			both := texGenerateAngles(sz, dist, true, f2d)
			if len(both) != 2*len(got) || (len(got) > 0 && !slices.Equal(both[:len(got)], got)) {
				t.Fatalf("bidirectional list %v does not start with %v", both, got)
			}
			for k, a := range got {
				b := both[len(both)-1-k]
				if b != [3]int{-a[0], -a[1], -a[2]} {
					t.Fatalf("bidirectional offset %v is not the mirror of %v", b, a)
				}
			}
		})
	}
}

func TestAngleWeights(t *testing.T) {
	angles := [][3]int{{1, 1, 1}, {0, 0, 1}, {1, 0, 0}}
	sp := [3]float64{2, 0.5, 0.5} // z, y, x
	tests := []struct {
		norm string
		exp  bool
		want []float64
	}{
		{"infinity", false, []float64{2, 0.5, 2}},
		{"manhattan", false, []float64{3, 0.5, 2}},
		{"euclidean", false, []float64{2.1213203435596424, 0.5, 2}},
		{"no_weighting", false, []float64{1, 1, 1}},
		{"bogus", true, []float64{1, 1, 1}},
		{"infinity", true, []float64{0.01831563888873418, 0.7788007830714049, 0.01831563888873418}},
		{"manhattan", true, []float64{0.00012340980408667956, 0.7788007830714049, 0.01831563888873418}},
		{"euclidean", true, []float64{0.011108996538242306, 0.7788007830714049, 0.01831563888873418}},
	}
	for _, tc := range tests {
		got := texAngleWeights(angles, tc.norm, sp, tc.exp)
		for i := range got {
			if texRelErr(got[i], tc.want[i]) > 1e-14 {
				t.Errorf("%s exp=%v: %v, want %v", tc.norm, tc.exp, got, tc.want)
				break
			}
		}
	}
}
