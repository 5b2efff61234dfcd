package radiomics

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// texSynthetic returns a spherical ROI (radius r voxels, centred in a tight box) whose levels
// come from a smooth field plus noise, quantised to 1..levels (deterministic).
func texSynthetic(r float64, levels int, seed uint64) *Discretized {
	n := int(2*r) + 1
	d := &Discretized{Size: [3]int{n, n, n}, Spacing: [3]float64{0.8, 0.8, 2.5}, Levels: make([]int, n*n*n)}
	state := seed | 1
	rnd := func() float64 {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		return float64(state>>11) / (1 << 53)
	}
	c := float64(n-1) / 2
	seen := map[int]bool{}
	for z := 0; z < n; z++ {
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				dx, dy, dz := float64(x)-c, float64(y)-c, float64(z)-c
				if dx*dx+dy*dy+dz*dz > r*r {
					continue
				}
				f := 0.5 + 0.2*math.Sin(float64(x)/3) + 0.15*math.Cos(float64(y)/4+float64(z)/5) + 0.15*(rnd()-0.5)
				l := min(levels, max(1, int(f*float64(levels))+1))
				d.Levels[(z*n+y)*n+x] = l
				seen[l] = true
			}
		}
	}
	for l := range seen {
		d.GrayLevels = append(d.GrayLevels, l)
	}
	slices.Sort(d.GrayLevels)
	return d
}

func texBox(size [3]int, fill func(x, y, z int) int) *Discretized {
	d := &Discretized{Size: size, Spacing: [3]float64{1, 1, 1}, Levels: make([]int, size[0]*size[1]*size[2])}
	seen := map[int]bool{}
	for z := 0; z < size[2]; z++ {
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				l := fill(x, y, z)
				d.Levels[(z*size[1]+y)*size[0]+x] = l
				if l > 0 {
					seen[l] = true
				}
			}
		}
	}
	for l := range seen {
		d.GrayLevels = append(d.GrayLevels, l)
	}
	slices.Sort(d.GrayLevels)
	return d
}

// texCheckFeatures verifies that f holds exactly the class's default features and that the
// listed ones have the expected values (NaN matching NaN); others must be finite unless allowNaN.
func texCheckFeatures(t *testing.T, class string, f map[string]float64, want map[string]float64, allowNaN bool) {
	t.Helper()
	names := TextureFeatureNames(class)
	if len(f) != len(names) {
		t.Errorf("%s: %d features, want %d", class, len(f), len(names))
	}
	for _, n := range names {
		g, ok := f[n]
		if !ok {
			t.Errorf("%s: missing %s", class, n)
			continue
		}
		if w, ok := want[n]; ok {
			if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && texRelErr(g, w) > 1e-12 && math.Abs(g-w) > 1e-15) {
				t.Errorf("%s %s = %.17g, want %.17g", class, n, g, w)
			}
			continue
		}
		if !allowNaN && (math.IsNaN(g) || math.IsInf(g, 0)) {
			t.Errorf("%s %s = %g", class, n, g)
		}
	}
}

func TestTextureEdgeCases(t *testing.T) {
	nan := math.NaN()
	flatEnt := -math.Log(1+texEps) / math.Ln2 // -log2(1 + eps): entropy of a single-cell matrix
	flat := texBox([3]int{4, 4, 4}, func(x, y, z int) int { return 3 })
	single := texBox([3]int{3, 3, 3}, func(x, y, z int) int {
		if x == 1 && y == 1 && z == 1 {
			return 2
		}
		return 0
	})
	tight := texBox([3]int{1, 1, 1}, func(x, y, z int) int { return 5 })
	slice := texBox([3]int{7, 6, 1}, func(x, y, z int) int { return 1 + (x*x+3*y)%4 })

	glcmFlat := map[string]float64{
		"Autocorrelation": 9, "JointAverage": 3, "ClusterProminence": 0, "ClusterShade": 0,
		"ClusterTendency": 0, "Contrast": 0, "Correlation": 1, "DifferenceAverage": 0,
		"DifferenceEntropy": flatEnt, "DifferenceVariance": 0, "Id": 1, "Idm": 1, "Idmn": 1, "Idn": 1,
		"Imc1": 0, "Imc2": 0, "InverseVariance": 0, "JointEnergy": 1, "JointEntropy": flatEnt, "MCC": 1,
		"MaximumProbability": 1, "SumAverage": 6, "SumEntropy": flatEnt, "SumSquares": 0,
	}
	glcmNaN := map[string]float64{}
	for _, n := range TextureFeatureNames("glcm") {
		glcmNaN[n] = nan
	}
	glcmNaN["MCC"] = 1 // PyRadiomics returns 1 for a single gray level before looking at angles
	ngtdmFlat := map[string]float64{"Coarseness": 1e6, "Contrast": 0, "Busyness": 0, "Complexity": 0, "Strength": 0}
	glrlmNaN := map[string]float64{}
	for _, n := range TextureFeatureNames("glrlm") {
		glrlmNaN[n] = nan
	}

	tests := []struct {
		name     string
		d        *Discretized
		s        TextureSettings
		class    string
		want     map[string]float64
		allowNaN bool
		shape    []int
		err      error
	}{
		{"flat glcm", flat, DefaultTextureSettings(), "glcm", glcmFlat, false, []int{1, 1, 13}, nil},
		{"flat glrlm", flat, DefaultTextureSettings(), "glrlm", map[string]float64{
			"GrayLevelVariance": 0, "GrayLevelNonUniformityNormalized": 1, "HighGrayLevelRunEmphasis": 9,
			"LowGrayLevelRunEmphasis": 1.0 / 9}, false, []int{1, 4, 13}, nil},
		{"flat glszm", flat, DefaultTextureSettings(), "glszm", map[string]float64{
			"SmallAreaEmphasis": 1.0 / 4096, "LargeAreaEmphasis": 4096, "ZonePercentage": 1.0 / 64,
			"GrayLevelVariance": 0, "ZoneVariance": 0, "ZoneEntropy": flatEnt, "GrayLevelNonUniformity": 1,
		}, false, []int{1, 1}, nil},
		{"flat gldm", flat, DefaultTextureSettings(), "gldm", map[string]float64{
			"GrayLevelVariance": 0, "GrayLevelNonUniformity": 64, "HighGrayLevelEmphasis": 9}, false, []int{1, 4}, nil},
		{"flat ngtdm", flat, DefaultTextureSettings(), "ngtdm", ngtdmFlat, false, []int{1, 3}, nil},

		{"one voxel in a box glcm", single, DefaultTextureSettings(), "glcm", glcmNaN, true, []int{1, 1, 0}, nil},
		{"one voxel in a box glrlm", single, DefaultTextureSettings(), "glrlm", glrlmNaN, true, []int{1, 0, 0}, nil},
		{"one voxel in a box glszm", single, DefaultTextureSettings(), "glszm", map[string]float64{
			"SmallAreaEmphasis": 1, "ZonePercentage": 1, "LowGrayLevelZoneEmphasis": 0.25, "ZoneEntropy": flatEnt,
		}, false, []int{1, 1}, nil},
		{"one voxel in a box gldm", single, DefaultTextureSettings(), "gldm", map[string]float64{
			"SmallDependenceEmphasis": 1, "DependenceVariance": 0}, false, []int{1, 1}, nil},
		{"one voxel in a box ngtdm", single, DefaultTextureSettings(), "ngtdm", ngtdmFlat, false, []int{1, 3}, nil},

		{"one voxel tight glcm", tight, DefaultTextureSettings(), "glcm", nil, true, nil, errTexNoAngles},
		{"one voxel tight glrlm", tight, DefaultTextureSettings(), "glrlm", nil, true, nil, errTexNoAngles},
		{"one voxel tight glszm", tight, DefaultTextureSettings(), "glszm", nil, true, nil, errTexNoAngles},
		{"one voxel tight gldm", tight, DefaultTextureSettings(), "gldm", nil, true, nil, errTexNoAngles},
		{"one voxel tight ngtdm", tight, DefaultTextureSettings(), "ngtdm", nil, true, nil, errTexNoAngles},

		{"single slice glcm", slice, DefaultTextureSettings(), "glcm", nil, false, []int{4, 4, 4}, nil},
		{"single slice glrlm", slice, DefaultTextureSettings(), "glrlm", nil, false, nil, nil},
		{"single slice glszm", slice, DefaultTextureSettings(), "glszm", nil, false, nil, nil},
		{"single slice gldm", slice, DefaultTextureSettings(), "gldm", nil, false, nil, nil},
		{"single slice ngtdm", slice, DefaultTextureSettings(), "ngtdm", nil, false, []int{4, 3}, nil},
	}
	fns := map[string]texFunc{"glcm": GLCM, "glrlm": GLRLM, "glszm": GLSZM, "gldm": GLDM, "ngtdm": NGTDM}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, m, err := fns[tc.class](tc.d, tc.s)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				// PyRadiomics raises here; we return every feature as NaN
				for _, n := range TextureFeatureNames(tc.class) {
					if v, ok := f[n]; !ok || !math.IsNaN(v) {
						t.Errorf("%s = %v, want NaN", n, v)
					}
				}
				return
			}
			if tc.shape != nil && !slices.Equal(m.Shape, tc.shape) {
				t.Errorf("matrix shape %v, want %v", m.Shape, tc.shape)
			}
			n := 1
			for _, k := range m.Shape {
				n *= k
			}
			if len(m.Data) != n {
				t.Errorf("matrix of shape %v has %d values", m.Shape, len(m.Data))
			}
			texCheckFeatures(t, tc.class, f, tc.want, tc.allowNaN)
		})
	}
}

func TestTextureInvalidInput(t *testing.T) {
	bad := []struct {
		name string
		d    *Discretized
		s    TextureSettings
	}{
		{"nil", nil, DefaultTextureSettings()},
		{"size mismatch", &Discretized{Size: [3]int{2, 2, 2}, Levels: make([]int, 7)}, DefaultTextureSettings()},
		{"zero size", &Discretized{Size: [3]int{0, 2, 2}}, DefaultTextureSettings()},
		{"negative level", &Discretized{Size: [3]int{2, 1, 1}, Levels: []int{1, -1}}, DefaultTextureSettings()},
		{"empty ROI", &Discretized{Size: [3]int{2, 1, 1}, Levels: []int{0, 0}}, DefaultTextureSettings()},
		{"bad distance", texBox([3]int{3, 3, 3}, func(x, y, z int) int { return 1 + x }), TextureSettings{Distances: []int{-1}}},
		{"bad force2D dimension", texBox([3]int{3, 3, 3}, func(x, y, z int) int { return 1 + x }), TextureSettings{Force2D: true, Force2DDimension: 5}},
	}
	for _, tc := range bad {
		for _, cl := range texClasses {
			if _, _, err := cl.fn(tc.d, tc.s); err == nil {
				t.Errorf("%s %s: no error", tc.name, cl.name)
			}
		}
	}
}

func TestTextureSettingsVariants(t *testing.T) {
	d := texSynthetic(6, 12, 7)
	np := 0
	for _, l := range d.Levels {
		if l > 0 {
			np++
		}
	}
	ng := len(d.GrayLevels)
	sym := DefaultTextureSettings()
	tests := []struct {
		name string
		s    TextureSettings
		// expected GLCM / GLRLM angle counts
		glcmAngles, glrlmAngles int
		maxDependence           int
	}{
		{"default", sym, 13, 13, 26},
		{"distances 1 and 2", TextureSettings{Distances: []int{1, 2}, Symmetrical: true}, 62, 13, 124},
		{"force2D", TextureSettings{Distances: []int{1}, Symmetrical: true, Force2D: true}, 4, 4, 8},
		{"asymmetric", TextureSettings{Distances: []int{1}}, 13, 13, 26},
		{"infinity", TextureSettings{Distances: []int{1, 2}, Symmetrical: true, WeightingNorm: "infinity"}, 1, 1, 124},
		{"euclidean", TextureSettings{Distances: []int{1}, Symmetrical: true, WeightingNorm: "euclidean"}, 1, 1, 26},
		{"manhattan", TextureSettings{Distances: []int{1}, Symmetrical: true, WeightingNorm: "manhattan"}, 1, 1, 26},
		{"no_weighting", TextureSettings{Distances: []int{1}, Symmetrical: true, WeightingNorm: "no_weighting"}, 1, 1, 26},
		{"gldm alpha 2", TextureSettings{Distances: []int{1}, Symmetrical: true, GLDMAlpha: 2}, 13, 13, 26},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, cl := range texClasses {
				f, m, err := cl.fn(d, tc.s)
				if err != nil {
					t.Fatalf("%s: %v", cl.name, err)
				}
				texCheckFeatures(t, cl.name, f, nil, false)
				switch cl.name {
				case "glcm":
					if m.Shape[0] != ng || m.Shape[2] != tc.glcmAngles {
						t.Errorf("glcm shape %v", m.Shape)
					}
					// each angle's matrix sums to 1; symmetric when requested
					for a := 0; a < m.Shape[2]; a++ {
						sum, asym := 0.0, 0.0
						for i := 0; i < ng; i++ {
							for j := 0; j < ng; j++ {
								sum += m.Data[(i*ng+j)*m.Shape[2]+a]
								asym = math.Max(asym, math.Abs(m.Data[(i*ng+j)*m.Shape[2]+a]-m.Data[(j*ng+i)*m.Shape[2]+a]))
							}
						}
						if math.Abs(sum-1) > 1e-12 || (tc.s.Symmetrical && asym != 0) || (!tc.s.Symmetrical && asym == 0) {
							t.Errorf("glcm angle %d: sum %g, asymmetry %g", a, sum, asym)
						}
					}
				case "glrlm":
					if m.Shape[2] != tc.glrlmAngles {
						t.Errorf("glrlm shape %v", m.Shape)
					}
				case "glszm":
					// zone sizes are not in the matrix; count voxels through the features instead
					if got := f["ZonePercentage"]; got <= 0 || got > 1 {
						t.Errorf("ZonePercentage %g", got)
					}
				case "gldm":
					total := 0.0
					for _, x := range m.Data {
						total += x
					}
					if int(total) != np || m.Shape[1] > tc.maxDependence+1 {
						t.Errorf("gldm total %g (Np %d), shape %v", total, np, m.Shape)
					}
				case "ngtdm":
					total := 0.0
					for i := 0; i < m.Shape[0]; i++ {
						total += m.Data[3*i]
						if m.Data[3*i+2] != float64(d.GrayLevels[i]) {
							t.Errorf("ngtdm row %d level %g", i, m.Data[3*i+2])
						}
					}
					if int(total) != np {
						t.Errorf("ngtdm total %g, Np %d", total, np)
					}
				}
			}
		})
	}
	// GLRLM and GLSZM ignore the distances; a single-slice box gives the same results with and
	// without force2D
	for _, fn := range []texFunc{GLRLM, GLSZM} {
		a, _, _ := fn(d, sym)
		b, _, _ := fn(d, TextureSettings{Distances: []int{1, 2}, Symmetrical: true})
		for k := range a {
			if a[k] != b[k] {
				t.Errorf("%s changes with distances: %g vs %g", k, a[k], b[k])
			}
		}
	}
	sl := texBox([3]int{9, 8, 1}, func(x, y, z int) int { return 1 + (x*7+y*y)%5 })
	for _, cl := range texClasses {
		a, _, _ := cl.fn(sl, sym)
		b, _, _ := cl.fn(sl, TextureSettings{Distances: []int{1}, Symmetrical: true, Force2D: true})
		for k := range a {
			if a[k] != b[k] && !(math.IsNaN(a[k]) && math.IsNaN(b[k])) {
				t.Errorf("%s %s: %g without force2D, %g with", cl.name, k, a[k], b[k])
			}
		}
	}
}

func TestTextureFeatureNames(t *testing.T) {
	counts := map[string]int{"glcm": 24, "glrlm": 16, "glszm": 16, "gldm": 14, "ngtdm": 5}
	for class, n := range counts {
		names := TextureFeatureNames(class)
		if len(names) != n {
			t.Errorf("%s: %d names", class, len(names))
		}
		// PyRadiomics orders by method name get<Name>FeatureValue
		if !slices.IsSortedFunc(names, func(a, b string) int {
			a, b = a+"FeatureValue", b+"FeatureValue"
			switch {
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		}) {
			t.Errorf("%s: names not in PyRadiomics order: %v", class, names)
		}
		names[0] = "changed"
		if TextureFeatureNames(class)[0] == "changed" {
			t.Errorf("%s: TextureFeatureNames returns shared storage", class)
		}
	}
	if TextureFeatureNames("shape") != nil {
		t.Error("unknown class should give nil")
	}
}
