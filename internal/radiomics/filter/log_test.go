package filter

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// logFixtureTol is LoGFIR's absolute tolerance against scipy's gaussian_filter
// (testdata/log.json, values with 15 significant digits). The kernels are the same; only the
// summation order differs, so the differences are rounding-level (inputs are in [−1000, 1002]).
const logFixtureTol = 1e-9

// logVsScipyTol bounds |LoG − scipy| relative to the peak |scipy| where every axis has σ ≥ 1
// voxel: the difference between Deriche's recursive approximation (and its exact grid
// normalisation) and the truncated sampled kernels, measured at 0.6–1.3% on these inputs.
const logVsScipyTol = 0.02

func TestLoGFixtures(t *testing.T) {
	var fx struct {
		Cases []struct {
			Size    []int     `json:"size"`
			Spacing []float64 `json:"spacing"`
			Sigma   float64   `json:"sigma"`
			Data    []float64 `json:"data"`
		} `json:"cases"`
	}
	readFixture(t, "log.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range fx.Cases {
		t.Run(fmt.Sprintf("%v-%v-sigma%g", c.Size, c.Spacing, c.Sigma), func(t *testing.T) {
			im := patternImage(toSize(c.Size), toSpacing(c.Spacing))
			orig := slices.Clone(im.Data)
			got, err := LoGFIR(im, c.Sigma)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(orig, im.Data) {
				t.Fatal("input modified")
			}
			checkOutputGeometry(t, im, got)
			d, at := maxAbsDiff(got.Data, c.Data)
			if d > logFixtureTol {
				t.Errorf("LoGFIR: max |diff| %g at %d (got %v want %v)", d, at, got.Data[at], c.Data[at])
			}
			t.Logf("LoGFIR: max |diff| %.3g", d)

			rec, err := LoG(im, c.Sigma)
			if err != nil {
				t.Fatal(err)
			}
			checkOutputGeometry(t, im, rec)
			peak := maxAbs(c.Data)
			d, _ = maxAbsDiff(rec.Data, c.Data)
			t.Logf("LoG: max |diff| %.3g of peak", d/peak)
			if c.Sigma/slices.Max(c.Spacing) >= 1 && d > logVsScipyTol*peak {
				t.Errorf("LoG: max |diff| %g exceeds %g of peak %g", d, logVsScipyTol, peak)
			}
		})
	}
}

// TestLoGPolynomials: the LoG of a linear image is 0 away from the border; of a quadratic it is
// σ² times the constant Laplacian: the recursive filters are normalised to zero DC gain and
// second moment 2 on the grid, and symmetric. The tolerance covers float32 intermediates.
func TestLoGPolynomials(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sp    [3]float64
		sigma float64
		f     func(x, y, z float64) float64
		want  float64 // σ²·∇²f
	}{
		{"linear", [3]float64{1, 1, 1}, 2, func(x, y, z float64) float64 { return 3*x - 2*y + 0.5*z + 7 }, 0},
		{"linear-aniso", [3]float64{0.7, 1.2, 2.5}, 3, func(x, y, z float64) float64 { return -x + 4*y - 3*z }, 0},
		{"quadratic", [3]float64{1, 1, 1}, 2, func(x, y, z float64) float64 { return x*x + 2*y*y - 0.5*z*z + x*y }, 2 * (1 + 2 - 0.5) * 4},
		{"quadratic-aniso", [3]float64{0.8, 1.1, 2}, 2.5, func(x, y, z float64) float64 { return 0.3*x*x - y*y + 2*z*z + y*z - x }, 2 * (0.3 - 1 + 2) * 6.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Interior: farther than 10σ from every face. The recursive filters' response decays
			// like exp(−1.37·t/σ), so the replicated-border effect is below 1e-6 there.
			var margin, size [3]int
			for a := range 3 {
				margin[a] = int(10*tc.sigma/tc.sp[a]) + 1
				size[a] = 2*margin[a] + 4
			}
			im := newImage(size, tc.sp)
			fillImage(im, tc.f)
			got, err := LoG(im, tc.sigma)
			if err != nil {
				t.Fatal(err)
			}
			scale := 1.0
			if tc.want != 0 {
				scale = math.Abs(tc.want)
			}
			worst, n := 0.0, 0
			s := im.Grid.Size
			for k := margin[2]; k < s[2]-margin[2]; k++ {
				for j := margin[1]; j < s[1]-margin[1]; j++ {
					for i := margin[0]; i < s[0]-margin[0]; i++ {
						worst = max(worst, math.Abs(got.Data[im.Index(i, j, k)]-tc.want)/scale)
						n++
					}
				}
			}
			if n == 0 {
				t.Fatal("no interior voxels")
			}
			t.Logf("interior relative deviation %.3g over %d voxels", worst, n)
			if worst > 1e-4 {
				t.Errorf("interior relative deviation %g from %v over %d voxels", worst, tc.want, n)
			}
		})
	}
}

// TestLoGAgainstContinuous compares with the analytic LoG of a Gaussian blob: with
// f = exp(−r²/(2s²)), G_σ*f = (s²/(s²+σ²))^(3/2) exp(−r²/(2(s²+σ²))), whose Laplacian is known in
// closed form. This measures the approximation error of both methods: LoGFIR's sampled kernels
// (relTol) and LoG's recursive filters (recTol), relative to the peak response.
func TestLoGAgainstContinuous(t *testing.T) {
	for _, tc := range []struct {
		sp     [3]float64
		sigma  float64
		s      float64 // blob standard deviation (mm)
		relTol float64 // LoGFIR, relative to the peak |LoG|
		recTol float64 // LoG
	}{
		{[3]float64{1, 1, 1}, 1, 3, 2e-3, 2e-2},
		{[3]float64{1, 1, 1}, 2, 3, 1e-3, 2e-2},
		{[3]float64{0.75, 0.75, 1.5}, 3, 4, 1e-3, 2e-2},
		{[3]float64{1, 1, 1}, 5, 4, 1e-3, 2e-2},
	} {
		t.Run(fmt.Sprintf("sigma%g-%v", tc.sigma, tc.sp), func(t *testing.T) {
			var size [3]int
			var c [3]float64
			for a := range 3 {
				size[a] = int(2*(4*tc.s+5*tc.sigma)/tc.sp[a]) + 1
				c[a] = float64(size[a]/2) * tc.sp[a]
			}
			im := newImage(size, tc.sp)
			s2 := tc.s * tc.s
			fillImage(im, func(x, y, z float64) float64 {
				r2 := (x-c[0])*(x-c[0]) + (y-c[1])*(y-c[1]) + (z-c[2])*(z-c[2])
				return 1000 * math.Exp(-r2/(2*s2))
			})
			v := s2 + tc.sigma*tc.sigma
			amp := 1000 * math.Pow(s2/v, 1.5)
			exact := func(r2 float64) float64 {
				// ∇² of amp·exp(−r²/(2v)) in 3-D: amp·exp(−r²/(2v))·(r²/v² − 3/v), times σ².
				return tc.sigma * tc.sigma * amp * math.Exp(-r2/(2*v)) * (r2/(v*v) - 3/v)
			}
			peak := math.Abs(exact(0))
			for _, m := range []struct {
				name string
				f    func(*imageio.Image, float64) (*imageio.Image, error)
				tol  float64
			}{{"LoGFIR", LoGFIR, tc.relTol}, {"LoG", LoG, tc.recTol}} {
				got, err := m.f(im, tc.sigma)
				if err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for k := range size[2] {
					for j := range size[1] {
						for i := range size[0] {
							x, y, z := float64(i)*tc.sp[0]-c[0], float64(j)*tc.sp[1]-c[1], float64(k)*tc.sp[2]-c[2]
							worst = max(worst, math.Abs(got.Data[im.Index(i, j, k)]-exact(x*x+y*y+z*z)))
						}
					}
				}
				t.Logf("%s: max |LoG − analytic| / peak = %.3g", m.name, worst/peak)
				if worst/peak > m.tol {
					t.Errorf("%s: max deviation %g of peak %g (relative %g > %g)", m.name, worst, peak, worst/peak, m.tol)
				}
			}
		})
	}
}

func TestLoGErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  [3]int
		sp    [3]float64
		sigma float64
		want  error
	}{
		{"dimension 3", [3]int{10, 10, 3}, [3]float64{1, 1, 1}, 1, ErrImageTooSmall},
		{"dimension 1", [3]int{1, 10, 10}, [3]float64{1, 1, 1}, 1, ErrImageTooSmall},
		{"sigma 0", [3]int{10, 10, 10}, [3]float64{1, 1, 1}, 0, ErrInvalidSigma},
		{"sigma negative", [3]int{10, 10, 10}, [3]float64{1, 1, 1}, -1, ErrInvalidSigma},
		{"sigma NaN", [3]int{10, 10, 10}, [3]float64{1, 1, 1}, math.NaN(), ErrInvalidSigma},
		{"sigma Inf", [3]int{10, 10, 10}, [3]float64{1, 1, 1}, math.Inf(1), ErrInvalidSigma},
		// size >= ceil(sigma/spacing)+1: 10 >= ceil(9.5)+1 fails, 10 >= ceil(9)+1 passes.
		{"sigma too large", [3]int{10, 10, 10}, [3]float64{1, 1, 1}, 9.5, ErrSigmaTooLarge},
		{"sigma too large on fine axis", [3]int{10, 10, 10}, [3]float64{0.5, 1, 1}, 5, ErrSigmaTooLarge},
		{"sigma at limit", [3]int{10, 10, 10}, [3]float64{1, 1, 1}, 9, nil},
		{"size 4", [3]int{4, 4, 4}, [3]float64{1, 1, 1}, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := patternImage(tc.size, tc.sp)
			for name, f := range map[string]func(*imageio.Image, float64) (*imageio.Image, error){"LoG": LoG, "LoGFIR": LoGFIR} {
				out, err := f(im, tc.sigma)
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: error %v, want %v", name, err, tc.want)
				}
				if err == nil && out == nil {
					t.Fatalf("%s: nil image without error", name)
				}
			}
		})
	}
}

func TestLoGName(t *testing.T) {
	for _, tc := range []struct {
		sigma float64
		want  string
	}{
		{1.0, "log-sigma-1-0-mm-3D"},
		{2.5, "log-sigma-2-5-mm-3D"},
		{3, "log-sigma-3-0-mm-3D"},
		{0.5, "log-sigma-0-5-mm-3D"},
		{0.1, "log-sigma-0-1-mm-3D"},
		{1.25, "log-sigma-1-25-mm-3D"},
		{10, "log-sigma-10-0-mm-3D"},
		{0.0001, "log-sigma-0-0001-mm-3D"},
		{0.00001, "log-sigma-1e-05-mm-3D"},
		{1e16, "log-sigma-1e+16-mm-3D"},
		{123456789012345.0, "log-sigma-123456789012345-0-mm-3D"},
		{0.30000000000000004, "log-sigma-0-30000000000000004-mm-3D"},
	} {
		if got := LoGName(tc.sigma); got != tc.want {
			t.Errorf("LoGName(%v) = %q, want %q", tc.sigma, got, tc.want)
		}
	}
}
