package radiomics

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// phantom builds a CT-like int16 image (noise around a soft-tissue sphere in fat) and a sphere
// mask of the given radius (mm) on an n³ grid of the given spacing.
func phantom(n [3]int, spacing [3]float64, radius float64, seed uint64) (*imageio.Image, *imageio.Image) {
	g := &grid.Grid{Origin: grid.Vec{-10, 20, -30}, Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: spacing, Size: n}
	im := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "int16"}
	gm := *g
	mask := &imageio.Image{Grid: &gm, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	r := rand.New(rand.NewPCG(seed, 7))
	c := [3]float64{float64(n[0]-1) / 2 * spacing[0], float64(n[1]-1) / 2 * spacing[1], float64(n[2]-1) / 2 * spacing[2]}
	i := 0
	for z := 0; z < n[2]; z++ {
		for y := 0; y < n[1]; y++ {
			for x := 0; x < n[0]; x++ {
				dx, dy, dz := float64(x)*spacing[0]-c[0], float64(y)*spacing[1]-c[1], float64(z)*spacing[2]-c[2]
				d := math.Sqrt(dx*dx + dy*dy + dz*dz)
				v := -100 + 20*r.NormFloat64()
				if d <= radius {
					v = 40 + 0.5*dx + 15*r.NormFloat64() + 30*math.Sin(dy/3)
					mask.Data[i] = 1
				}
				im.Data[i] = math.Round(v)
				i++
			}
		}
	}
	return im, mask
}

// testParams builds Params in code (independent of the YAML parser).
func testParams(s Settings, types []ImageType, classes ...string) *Params {
	p := &Params{Source: "test", Settings: s}
	for _, t := range types {
		if t.Settings.Distances == nil {
			t.Settings = s.Clone()
		}
		p.ImageTypes = append(p.ImageTypes, t)
	}
	for _, c := range classes {
		p.FeatureClasses = append(p.FeatureClasses, FeatureClass{Name: c})
	}
	return p
}

var allClasses = []string{ClassShape, ClassFirstOrder, ClassGLCM, ClassGLRLM, ClassGLSZM, ClassGLDM, ClassNGTDM}

func TestExtractEdgeCases(t *testing.T) {
	im, mask := phantom([3]int{30, 30, 20}, [3]float64{1, 1, 2}, 9, 1)
	withSigma := func(s Settings, sigma ...float64) Settings {
		c := s.Clone()
		c.Sigma = sigma
		return c
	}
	tests := []struct {
		name  string
		edit  func(s *Settings)
		types func(s Settings) []ImageType
		check func(t *testing.T, r *Result)
	}{
		{
			name: "resegmentation + fixed bin width + LoG and wavelet",
			edit: func(s *Settings) { s.ResegmentRange = []float64{0, 80}; s.BinWidth = 25 },
			types: func(s Settings) []ImageType {
				return []ImageType{{Name: ImageOriginal}, {Name: ImageLoG, Settings: withSigma(s, 1, 2)}, {Name: ImageWavelet, Settings: s.Clone()}}
			},
			check: func(t *testing.T, r *Result) {
				for name, v := range r.Features() {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Errorf("%s = %v", name, v)
					}
				}
				if n := len(r.Features()); n != 107+2*93+8*93 {
					t.Errorf("%d features, want %d", n, 107+10*93)
				}
			},
		},
		{
			name:  "flat ROI (one gray level)",
			edit:  func(s *Settings) { s.ResegmentRange = []float64{0}; s.BinWidth = 5000 },
			types: func(Settings) []ImageType { return []ImageType{{Name: ImageOriginal}} },
			check: func(t *testing.T, r *Result) {
				f := r.Features()
				// One gray level: entropy 0, uniformity 1, GLCM joint energy 1, contrast 0.
				for k, want := range map[string]float64{
					"original_firstorder_Entropy": 0, "original_firstorder_Uniformity": 1,
					"original_glcm_JointEnergy": 1, "original_glcm_Contrast": 0, "original_ngtdm_Coarseness": 1e6,
				} {
					if math.Abs(f[k]-want) > 1e-12 {
						t.Errorf("%s = %v, want %v", k, f[k], want)
					}
				}
			},
		},
		{
			name:  "bin width below 1",
			edit:  func(s *Settings) { s.BinWidth = 0.25; s.Normalize = true },
			types: func(Settings) []ImageType { return []ImageType{{Name: ImageOriginal}} },
			check: func(t *testing.T, r *Result) {
				// z-scored intensities with 0.25-wide bins: several tens of levels, entropy well above 3 bits.
				if e := r.Features()["original_firstorder_Entropy"]; !(e > 3 && e < 8) {
					t.Errorf("entropy %v", e)
				}
			},
		},
		{
			name:  "force2D texture",
			edit:  func(s *Settings) { s.Force2D = true },
			types: func(Settings) []ImageType { return []ImageType{{Name: ImageOriginal}} },
			check: func(t *testing.T, r *Result) {
				if _, ok := r.Get("original_glcm_Idmn"); !ok {
					t.Error("missing glcm")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			tc.edit(&s)
			p := testParams(s, tc.types(s), allClasses...)
			r, err := Extract(context.Background(), im, mask, p)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

// TestBinWidthBelowOne checks fixed-bin-width levels against the closed form
// floor(x/W) - floor(min/W) + 1 for W < 1.
func TestBinWidthBelowOne(t *testing.T) {
	for _, w := range []float64{0.5, 0.25, 0.1} {
		vals := []float64{-1.3, -0.2, 0, 0.05, 0.37, 1.0, 2.49}
		s := DefaultSettings()
		s.BinWidth = w
		edges := binEdges(vals, &s, nil)
		for _, v := range vals {
			want := int(math.Floor(v/w)-math.Floor(-1.3/w)) + 1
			// Values that are exact multiples of W may sit on an edge computed with rounding.
			if got := digitize(v, edges); got != want && math.Abs(v/w-math.Round(v/w)) > 1e-9 {
				t.Errorf("W=%v x=%v: level %d, want %d", w, v, got, want)
			}
		}
	}
}

func TestExtractROIErrors(t *testing.T) {
	im, mask := phantom([3]int{12, 12, 8}, [3]float64{1, 1, 1}, 3, 2)
	empty := mask.Clone()
	for i := range empty.Data {
		empty.Data[i] = 0
	}
	single := empty.Clone()
	single.Data[single.Index(5, 5, 4)] = 1
	flat := empty.Clone()
	for x := 2; x < 9; x++ {
		flat.Data[flat.Index(x, 5, 4)] = 1
	}
	other := mask.Clone()
	for i := range other.Data {
		other.Data[i] *= 2
	}
	s := DefaultSettings()
	p := testParams(s, []ImageType{{Name: ImageOriginal}}, allClasses...)
	for _, tc := range []struct {
		name string
		mask *imageio.Image
		want string
	}{
		{"empty", empty, "no labels"},
		{"single voxel", single, "1 segmented voxel"},
		{"line, minimumROIDimensions 2", flat, "too few dimensions"},
		{"label absent", other, "label 1 not present"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Extract(context.Background(), im, tc.mask, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrROI) {
				t.Fatalf("error %v, want one containing %q (ErrROI)", err, tc.want)
			}
		})
	}
}

// TestExtractMaskOnOtherGrid: a mask on a different grid is an error naming correctMask, or is
// resampled onto the image when correctMask is on.
func TestExtractMaskOnOtherGrid(t *testing.T) {
	im, mask := phantom([3]int{24, 24, 16}, [3]float64{1, 1, 1}, 6, 3)
	// The same sphere on a grid shifted by half a voxel and twice as coarse in z.
	g := *mask.Grid
	g.Origin = g.Origin.Add(grid.Vec{0.5, 0, 0})
	g.Size[2] = 8
	g.Spacing[2] = 2
	shifted := &imageio.Image{Grid: &g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				p := g.Point(i, j, k)
				fi, fj, fk := im.Grid.ContinuousIndex(p)
				dx, dy, dz := fi-11.5, fj-11.5, fk-7.5
				if dx*dx+dy*dy+dz*dz <= 36 {
					shifted.Data[shifted.Index(i, j, k)] = 1
				}
			}
		}
	}
	s := DefaultSettings()
	p := testParams(s, []ImageType{{Name: ImageOriginal}}, ClassShape, ClassFirstOrder)
	if _, err := Extract(context.Background(), im, shifted, p); err == nil || !strings.Contains(err.Error(), "correctMask") {
		t.Fatalf("want a geometry error naming correctMask, got %v", err)
	}
	s.CorrectMask = true
	p = testParams(s, []ImageType{{Name: ImageOriginal}}, ClassShape, ClassFirstOrder)
	r, err := Extract(context.Background(), im, shifted, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get("diagnostics_Mask-corrected_VoxelNum"); !ok {
		t.Error("no corrected-mask diagnostics")
	}
	ref, err := Extract(context.Background(), im, mask, p)
	if err != nil {
		t.Fatal(err)
	}
	a, b := r.Features()["original_shape_VoxelVolume"], ref.Features()["original_shape_VoxelVolume"]
	if math.Abs(a/b-1) > 0.15 {
		t.Errorf("corrected-mask volume %v vs %v", a, b)
	}
}

// TestExtractLargeROIMemory runs a 4-million-voxel ROI through shape, first order and every
// texture class and checks the heap stays within a fixed multiple of the image size.
func TestExtractLargeROIMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large ROI")
	}
	n := [3]int{170, 170, 150}
	im, mask := phantom(n, [3]float64{1, 1, 1}, 80, 4)
	imageBytes := uint64(8 * im.Grid.Voxels())
	s := DefaultSettings()
	p := testParams(s, []ImageType{{Name: ImageOriginal}}, allClasses...)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	r, err := Extract(context.Background(), im, mask, p)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Features()["original_shape_VoxelVolume"]; v < 2e6 {
		t.Fatalf("ROI volume %v", v)
	}
	extra := peak.Load() - min(peak.Load(), base.HeapInuse)
	t.Logf("ROI %d voxels: peak extra heap %.0f MiB (%.1f× the float64 image)", int(r.Features()["original_shape_VoxelVolume"]), float64(extra)/(1<<20), float64(extra)/float64(imageBytes))
	if extra > 12*imageBytes {
		t.Errorf("peak extra heap %d MiB exceeds 12× the image (%d MiB)", extra>>20, imageBytes>>20)
	}
}

func TestExtractDeterministicAcrossWorkers(t *testing.T) {
	im, mask := phantom([3]int{28, 28, 18}, [3]float64{1, 1, 1.5}, 8, 5)
	s := DefaultSettings()
	s.Distances = []int{1, 2}
	sl := s.Clone()
	sl.Sigma = []float64{1, 3}
	p := testParams(s, []ImageType{{Name: ImageOriginal}, {Name: ImageLoG, Settings: sl}, {Name: ImageWavelet, Settings: s.Clone()}, {Name: ImageSquare}, {Name: ImageGradient}}, allClasses...)
	a, err := ExtractWith(context.Background(), im, mask, p, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ExtractWith(context.Background(), im, mask, p, Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Names) != len(b.Names) {
		t.Fatalf("%d vs %d keys", len(a.Names), len(b.Names))
	}
	for i := range a.Names {
		if a.Names[i] != b.Names[i] || math.Float64bits(a.Values[i].Num) != math.Float64bits(b.Values[i].Num) || a.Values[i].Text != b.Values[i].Text {
			t.Fatalf("key %d: %s=%v vs %s=%v", i, a.Names[i], a.Values[i], b.Names[i], b.Values[i])
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Extract(ctx, im, mask, p); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
