package filter

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestWaveletFixtures compares every sub-band with pywt.swtn prepared as PyRadiomics does
// (testdata/wavelet.json; fixture values carry 14 significant digits).
func TestWaveletFixtures(t *testing.T) {
	var fx struct {
		Cases []struct {
			Size       []int  `json:"size"`
			Wavelet    string `json:"wavelet"`
			Level      int    `json:"level"`
			StartLevel int    `json:"start_level"`
			Bands      []struct {
				Name string    `json:"name"`
				Data []float64 `json:"data"`
			} `json:"bands"`
		} `json:"cases"`
	}
	readFixture(t, "wavelet.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no cases")
	}
	const tol = 1e-9
	for _, c := range fx.Cases {
		t.Run(fmt.Sprintf("%s-%v-level%d-start%d", c.Wavelet, c.Size, c.Level, c.StartLevel), func(t *testing.T) {
			im := patternImage(toSize(c.Size), [3]float64{1, 1, 1})
			orig := slices.Clone(im.Data)
			got, err := Wavelet(im, c.Wavelet, c.Level, c.StartLevel)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(orig, im.Data) {
				t.Fatal("input modified")
			}
			if len(got) != len(c.Bands) {
				t.Fatalf("%d bands, want %d", len(got), len(c.Bands))
			}
			worst := 0.0
			for b, want := range c.Bands {
				if got[b].Name != want.Name {
					t.Errorf("band %d named %q, want %q", b, got[b].Name, want.Name)
				}
				checkOutputGeometry(t, im, got[b].Image)
				d, at := maxAbsDiff(got[b].Image.Data, want.Data)
				if d > tol {
					t.Errorf("%s: max |diff| %g at %d (got %v want %v)", want.Name, d, at, got[b].Image.Data[at], want.Data[at])
				}
				worst = max(worst, d)
			}
			t.Logf("max |diff| over %d bands: %.3g", len(got), worst)
		})
	}
}

func TestWaveletNames(t *testing.T) {
	want1 := []string{"wavelet-LLH", "wavelet-LHL", "wavelet-LHH", "wavelet-HLL", "wavelet-HLH", "wavelet-HHL", "wavelet-HHH", "wavelet-LLL"}
	var want3 []string
	for l := 1; l <= 3; l++ {
		prefix := "wavelet-"
		if l > 1 {
			prefix = fmt.Sprintf("wavelet%d-", l)
		}
		for _, b := range []string{"LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH"} {
			want3 = append(want3, prefix+b)
		}
	}
	want3 = append(want3, "wavelet3-LLL")
	for _, tc := range []struct {
		level, start int
		want         []string
	}{
		{1, 0, want1},
		{1, 2, want1},
		{3, 0, want3},
		{3, 1, want3},
	} {
		im := patternImage([3]int{6, 5, 4}, [3]float64{1, 1, 1})
		got, err := Wavelet(im, "coif1", tc.level, tc.start)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range got {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("level %d start %d: names %v, want %v", tc.level, tc.start, names, tc.want)
		}
	}
}

// TestWaveletConstant: every detail band of a constant image is 0 (the high-pass filters have
// zero sum) and LLL is the constant times the low-pass gain (Σlo)³ = 2^(3/2) per decomposition.
// (dmey is left out: its FIR approximation of the Meyer filters has a high-pass sum of ~1e-3.)
func TestWaveletConstant(t *testing.T) {
	const c = 37.5
	for _, tc := range []struct {
		wavelet      string
		level, start int
	}{
		{"haar", 1, 0}, {"db1", 1, 0}, {"db4", 1, 0}, {"db20", 1, 0}, {"sym2", 1, 0}, {"sym20", 1, 0},
		{"coif1", 1, 0}, {"coif17", 1, 0}, {"bior2.2", 1, 0}, {"rbio3.3", 1, 0},
		{"coif1", 2, 0}, {"db2", 1, 2}, {"sym3", 2, 1},
	} {
		im := newImage([3]int{7, 6, 3}, [3]float64{0.8, 0.8, 2})
		for i := range im.Data {
			im.Data[i] = c
		}
		got, err := Wavelet(im, tc.wavelet, tc.level, tc.start)
		if err != nil {
			t.Fatal(err)
		}
		lo, _, _ := filters(tc.wavelet)
		gain := 0.0
		for _, v := range lo {
			gain += v
		}
		decomps := tc.level + tc.start
		wantLLL := c * math.Pow(gain, 3*float64(decomps))
		for _, f := range got {
			want := 0.0 // detail bands, at every level, since every approximation is constant too
			if f.Name[len(f.Name)-3:] == "LLL" {
				want = wantLLL
			}
			d, at := maxAbsDiff(f.Image.Data, slices.Repeat([]float64{want}, len(f.Image.Data)))
			if d > 1e-9*math.Max(1, math.Abs(wantLLL)) {
				t.Errorf("%s %s: value %v, want %v", tc.wavelet, f.Name, f.Image.Data[at], want)
			}
		}
		if math.Abs(gain-math.Sqrt2) > 1e-12 {
			t.Errorf("%s: low-pass gain %v, want √2", tc.wavelet, gain)
		}
	}
}

// TestWaveletShiftInvariance: the stationary transform of a periodically shifted (even-sized)
// image is the shifted transform.
func TestWaveletShiftInvariance(t *testing.T) {
	size := [3]int{8, 6, 4}
	im := patternImage(size, [3]float64{1, 1, 1})
	sh := newImage(size, [3]float64{1, 1, 1})
	const dx, dy, dz = 3, 1, 2
	idx := func(i, j, k int) int { return im.Index((i+size[0])%size[0], (j+size[1])%size[1], (k+size[2])%size[2]) }
	for k := range size[2] {
		for j := range size[1] {
			for i := range size[0] {
				sh.Data[idx(i+dx, j+dy, k+dz)] = im.Data[idx(i, j, k)]
			}
		}
	}
	a, err := Wavelet(im, "sym4", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Wavelet(sh, "sym4", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for n := range a {
		for k := range size[2] {
			for j := range size[1] {
				for i := range size[0] {
					x, y := a[n].Image.Data[idx(i, j, k)], b[n].Image.Data[idx(i+dx, j+dy, k+dz)]
					if math.Abs(x-y) > 1e-9 {
						t.Fatalf("%s at (%d,%d,%d): %v vs shifted %v", a[n].Name, i, j, k, x, y)
					}
				}
			}
		}
	}
}

// TestWaveletEnergy: for an orthogonal wavelet on even-sized input, one undecimated level keeps
// Σ over the 8 bands of ‖band‖² = 8‖x‖² (each 1-D level doubles the energy: lo²+hi² filters sum
// to an all-pass of gain 2).
func TestWaveletEnergy(t *testing.T) {
	im := patternImage([3]int{8, 6, 4}, [3]float64{1, 1, 1})
	for _, w := range []string{"haar", "db3", "sym5", "coif2"} {
		got, err := Wavelet(im, w, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		var e0, e float64
		for _, v := range im.Data {
			e0 += v * v
		}
		for _, f := range got {
			for _, v := range f.Image.Data {
				e += v * v
			}
		}
		if math.Abs(e/e0-8) > 1e-9 {
			t.Errorf("%s: energy ratio %v, want 8", w, e/e0)
		}
	}
}

func TestWaveletErrors(t *testing.T) {
	im := patternImage([3]int{4, 4, 4}, [3]float64{1, 1, 1})
	for _, tc := range []struct {
		wavelet      string
		level, start int
		want         error
	}{
		{"coif0", 1, 0, ErrUnknownWavelet},
		{"db0", 1, 0, ErrUnknownWavelet},
		{"sym1", 1, 0, ErrUnknownWavelet},
		{"", 1, 0, ErrUnknownWavelet},
		{"Haar", 1, 0, ErrUnknownWavelet},
		{"haar", 0, 0, ErrInvalidLevel},
		{"haar", 1, -1, ErrInvalidLevel},
	} {
		if _, err := Wavelet(im, tc.wavelet, tc.level, tc.start); !errors.Is(err, tc.want) {
			t.Errorf("%q level %d start %d: error %v, want %v", tc.wavelet, tc.level, tc.start, err, tc.want)
		}
	}
	bad := patternImage([3]int{4, 4, 4}, [3]float64{1, 1, 1})
	bad.Data = bad.Data[:10]
	if _, err := Wavelet(bad, "haar", 1, 0); !errors.Is(err, ErrEmptyImage) {
		t.Errorf("short data: error %v", err)
	}
}

func TestWaveletNamesList(t *testing.T) {
	names := WaveletNames()
	want := []string{"haar", "dmey"}
	for n := 1; n <= 20; n++ {
		want = append(want, fmt.Sprintf("db%d", n))
	}
	for n := 2; n <= 20; n++ {
		want = append(want, fmt.Sprintf("sym%d", n))
	}
	for n := 1; n <= 17; n++ {
		want = append(want, fmt.Sprintf("coif%d", n))
	}
	for _, n := range []string{"1.1", "1.3", "1.5", "2.2", "2.4", "2.6", "2.8", "3.1", "3.3", "3.5", "3.7", "3.9", "4.4", "5.5", "6.8"} {
		want = append(want, "bior"+n, "rbio"+n)
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("%s missing from WaveletNames", w)
		}
		lo, hi, ok := filters(w)
		if !ok || len(lo) != len(hi) || len(lo)%2 != 0 {
			t.Errorf("%s: filters lo %d hi %d ok %v", w, len(lo), len(hi), ok)
		}
	}
	if !slices.IsSortedFunc(names, func(a, b string) int {
		if naturalLess(a, b) {
			return -1
		}
		return 1
	}) {
		t.Errorf("names not sorted: %v", names)
	}
	if i, j := slices.Index(names, "db2"), slices.Index(names, "db10"); i > j {
		t.Errorf("db2 after db10")
	}
	// Known filter lengths: dbN and symN have 2N taps, coifN 6N.
	for _, tc := range []struct {
		name string
		n    int
	}{{"haar", 2}, {"db7", 14}, {"sym13", 26}, {"coif5", 30}, {"coif17", 102}} {
		if lo, _, _ := filters(tc.name); len(lo) != tc.n {
			t.Errorf("%s has %d taps, want %d", tc.name, len(lo), tc.n)
		}
	}
}
