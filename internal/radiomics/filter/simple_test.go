package filter

import (
	"math"
	"slices"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// TestSimpleFixtures compares with PyRadiomics' formulas evaluated by numpy
// (testdata/simple.json, full precision). Square and square root are exact (IEEE multiply and
// sqrt); log and exp may differ from numpy's implementations by an ulp or so.
func TestSimpleFixtures(t *testing.T) {
	var fx struct {
		Size        []int     `json:"size"`
		Spacing     []float64 `json:"spacing"`
		Square      []float64 `json:"square"`
		SquareRoot  []float64 `json:"squareroot"`
		Logarithm   []float64 `json:"logarithm"`
		Exponential []float64 `json:"exponential"`
		Gradient    []float64 `json:"gradient"`
	}
	readFixture(t, "simple.json", &fx)
	im := patternImage(toSize(fx.Size), toSpacing(fx.Spacing))
	orig := slices.Clone(im.Data)
	for _, tc := range []struct {
		name   string
		f      func(*imageio.Image) *imageio.Image
		want   []float64
		relTol float64
	}{
		{NameSquare, Square, fx.Square, 0},
		{NameSquareRoot, SquareRoot, fx.SquareRoot, 0},
		{NameLogarithm, Logarithm, fx.Logarithm, 4e-16},
		{NameExponential, Exponential, fx.Exponential, 1e-15},
		{NameGradient, Gradient, fx.Gradient, 1e-14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.f(im)
			checkOutputGeometry(t, im, got)
			if !slices.Equal(orig, im.Data) {
				t.Fatal("input modified")
			}
			worst, exact := 0.0, 0
			for i, w := range tc.want {
				g := got.Data[i]
				if g == w {
					exact++
				}
				rel := math.Abs(g-w) / math.Max(math.Abs(w), 1e-300)
				worst = max(worst, rel)
				if rel > tc.relTol {
					t.Errorf("voxel %d: %v, want %v (relative %g)", i, g, w, rel)
				}
			}
			t.Logf("%d/%d bit-identical, max relative diff %.3g", exact, len(tc.want), worst)
		})
	}
}

func TestSimpleProperties(t *testing.T) {
	im := newImage([3]int{3, 2, 2}, [3]float64{1, 1, 1})
	copy(im.Data, []float64{-400, -1, 0, 1, 3, 100, 250, 399, 400, -0.5, 0.25, 17})
	const m = 400.0
	sq, sr, lg, ex := Square(im), SquareRoot(im), Logarithm(im), Exponential(im)
	for i, x := range im.Data {
		if want := x * x / m; math.Abs(sq.Data[i]-want) > 1e-12*m {
			t.Errorf("square(%v) = %v, want %v", x, sq.Data[i], want)
		}
		if want := math.Copysign(math.Sqrt(math.Abs(x)*m), x); math.Abs(sr.Data[i]-want) > 1e-12*m {
			t.Errorf("squareroot(%v) = %v, want %v", x, sr.Data[i], want)
		}
		if want := math.Copysign(math.Log1p(math.Abs(x))*m/math.Log1p(m), x); math.Abs(lg.Data[i]-want) > 1e-12*m {
			t.Errorf("logarithm(%v) = %v, want %v", x, lg.Data[i], want)
		}
		if want := math.Pow(m, x/m); math.Abs(ex.Data[i]-want) > 1e-12*m {
			t.Errorf("exponential(%v) = %v, want %v", x, ex.Data[i], want)
		}
	}
	// The extreme intensities keep their magnitude.
	if sq.Data[0] != m || sr.Data[0] != -m || lg.Data[0] != -m || math.Abs(ex.Data[8]-m) > 1e-12*m {
		t.Errorf("extremes: square %v squareroot %v logarithm %v exponential %v", sq.Data[0], sr.Data[0], lg.Data[0], ex.Data[8])
	}
	// An all-zero image: square, logarithm and exponential are NaN as in numpy; square root is 0.
	z := newImage([3]int{2, 2, 2}, [3]float64{1, 1, 1})
	if v := Square(z).Data[0]; !math.IsNaN(v) {
		t.Errorf("square of zero image: %v", v)
	}
	if v := SquareRoot(z).Data[0]; v != 0 {
		t.Errorf("squareroot of zero image: %v", v)
	}
	if v := Logarithm(z).Data[0]; !math.IsNaN(v) {
		t.Errorf("logarithm of zero image: %v", v)
	}
	if v := Exponential(z).Data[0]; !math.IsNaN(v) {
		t.Errorf("exponential of zero image: %v", v)
	}
}

func TestGradient(t *testing.T) {
	for _, tc := range []struct {
		name string
		size [3]int
		sp   [3]float64
		f    func(x, y, z float64) float64
		want float64 // interior magnitude
	}{
		{"linear", [3]int{6, 5, 4}, [3]float64{0.5, 2, 3}, func(x, y, z float64) float64 { return 3*x - 4*y + 12*z }, 13},
		{"constant", [3]int{4, 4, 4}, [3]float64{1, 1, 1}, func(x, y, z float64) float64 { return 5 }, 0},
		{"flat axis", [3]int{5, 4, 1}, [3]float64{1, 1, 1}, func(x, y, z float64) float64 { return 3*x + 4*y }, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := newImage(tc.size, tc.sp)
			fillImage(im, tc.f)
			g := Gradient(im)
			checkOutputGeometry(t, im, g)
			s := tc.size
			for k := range s[2] {
				for j := range s[1] {
					for i := range s[0] {
						interior := i > 0 && i < s[0]-1 && j > 0 && j < s[1]-1 && (s[2] == 1 || (k > 0 && k < s[2]-1))
						if v := g.Data[im.Index(i, j, k)]; interior && math.Abs(v-tc.want) > 1e-9 {
							t.Errorf("(%d,%d,%d): %v, want %v", i, j, k, v, tc.want)
						}
					}
				}
			}
		})
	}
	// Border: one-sided difference halved, as with replicated edge voxels.
	im := newImage([3]int{4, 1, 1}, [3]float64{2, 1, 1})
	copy(im.Data, []float64{0, 4, 8, 12})
	if got := Gradient(im).Data; !slices.Equal(got, []float64{1, 2, 2, 1}) {
		t.Errorf("1-D gradient %v, want [1 2 2 1]", got)
	}
}

func TestOriginal(t *testing.T) {
	im := patternImage([3]int{3, 3, 3}, [3]float64{1, 1, 1})
	o := Original(im)
	if !slices.Equal(o.Data, im.Data) || o.PixelType != im.PixelType || &o.Data[0] == &im.Data[0] {
		t.Error("Original is not an independent copy")
	}
}
