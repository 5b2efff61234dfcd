package radiomics

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

type texFunc func(*Discretized, TextureSettings) (map[string]float64, *Matrix, error)

var texClasses = []struct {
	name string
	fn   texFunc
}{
	{"glcm", GLCM},
	{"glrlm", GLRLM},
	{"glszm", GLSZM},
	{"gldm", GLDM},
	{"ngtdm", NGTDM},
}

var texCases = []string{"brain1", "brain2", "breast1"}

// texVariant is one PyRadiomics baseline configuration (a CSV column suffix).
type texVariant struct {
	suffix   string
	binWidth float64
	binCount int
	settings TextureSettings
	classes  []string // nil: all five
	reseg    bool     // resegmentRange [0]: keep ROI voxels >= 0
}

var texVariants = []texVariant{
	{suffix: "", binWidth: 25, settings: DefaultTextureSettings()},
	{suffix: "_2d", binWidth: 25, settings: TextureSettings{Distances: []int{1}, Symmetrical: true, Force2D: true, Force2DDimension: 0}},
	{suffix: "_FBN", binCount: 64, settings: DefaultTextureSettings()},
	{suffix: "_combined", binWidth: 25, settings: TextureSettings{Distances: []int{1}, Symmetrical: true, WeightingNorm: "no_weighting"},
		classes: []string{"glcm", "glrlm"}},
	{suffix: "_flatRegion", binWidth: 5000, settings: DefaultTextureSettings(), reseg: true},
}

func TestTextureMatricesMatchPyRadiomics(t *testing.T) {
	dir := testutil.SharedTestdata(t, "radiomics/pyradiomics")
	for _, cs := range texCases {
		for _, cl := range texClasses {
			t.Run(cs+"_"+cl.name, func(t *testing.T) {
				t.Parallel()
				d := loadTexCase(t, cs).discretize(25, 0)
				_, m, err := cl.fn(d, DefaultTextureSettings())
				if err != nil {
					t.Fatal(err)
				}
				shape, want, err := texReadNpy(filepath.Join(dir, "matrices", cs+"_"+cl.name+".npy"))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(shape, m.Shape) {
					t.Fatalf("shape %v, PyRadiomics %v", m.Shape, shape)
				}
				maxDiff := 0.0
				for i := range want {
					maxDiff = math.Max(maxDiff, math.Abs(want[i]-m.Data[i]))
				}
				t.Logf("%s %s: shape %v, max |diff| %.3g", cs, cl.name, shape, maxDiff)
				if maxDiff >= 1e-3 {
					t.Errorf("max |diff| %g >= 1e-3", maxDiff)
				}
			})
		}
	}
}

func TestTextureFeaturesMatchPyRadiomicsBaseline(t *testing.T) {
	testutil.SharedTestdata(t, "radiomics/pyradiomics")
	for _, cl := range texClasses {
		t.Run(cl.name, func(t *testing.T) {
			t.Parallel()
			base := texLoadBaseline(t, cl.name)
			total, close := 0, 0
			worst, worstAt := 0.0, ""
			var beyond []string
			for _, vr := range texVariants {
				if vr.classes != nil && !slices.Contains(vr.classes, cl.name) {
					continue
				}
				for _, cs := range texCases {
					col := cs + vr.suffix
					want, ok := base[col]
					if !ok {
						t.Errorf("no baseline column %s", col)
						continue
					}
					c := loadTexCase(t, cs)
					if vr.reseg {
						c = c.resegment(0)
					}
					d := c.discretize(vr.binWidth, vr.binCount)
					got, _, err := cl.fn(d, vr.settings)
					if err != nil {
						t.Fatalf("%s: %v", col, err)
					}
					names := TextureFeatureNames(cl.name)
					if len(want) != len(names) {
						t.Errorf("%s: baseline has %d features, we list %d", col, len(want), len(names))
					}
					for name, w := range want {
						g, ok := got[name]
						if !ok {
							t.Errorf("%s: feature %s missing", col, name)
							continue
						}
						total++
						e := texRelErr(g, w)
						if math.IsNaN(g) || (w == 0 && g != 0) || !(e < 0.03) {
							t.Errorf("%s %s = %.17g, baseline %.17g (rel %.3g)", col, name, g, w, e)
						}
						if e <= 1e-6 {
							close++
						} else {
							beyond = append(beyond, fmt.Sprintf("%s %s: rel %.3g (got %.15g, baseline %.15g)", col, name, e, g, w))
						}
						if e > worst || math.IsNaN(e) {
							worst, worstAt = e, col+" "+name
						}
					}
				}
			}
			sort.Strings(beyond)
			t.Logf("%s: %d/%d features (%.1f%%) within 1e-6 relative; worst %.3g at %s",
				cl.name, close, total, 100*float64(close)/float64(total), worst, worstAt)
			if len(beyond) > 0 {
				t.Logf("beyond 1e-6:\n  %s", strings.Join(beyond, "\n  "))
			}
		})
	}
}
