package builtin

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/structures"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// truthOf maps segmenter structures to the synthetic phantom's truth structures.
var truthOf = map[string]string{
	Body: synth.TruthBody, LungLeft: synth.TruthLungLeft, LungRight: synth.TruthLungRight,
	Airways: synth.TruthAirways, Bones: synth.TruthBones,
}

// minDice is the acceptance per structure on the phantom.
var minDice = map[string]float64{Body: 0.95, LungLeft: 0.95, LungRight: 0.95, Airways: 0.75, Bones: 0.95}

// phantom renders a phantom and its truth.
func phantom(t testing.TB, o synth.PhantomOptions) (*imageio.Image, map[string]*imageio.Image) {
	t.Helper()
	ct, err := synth.PhantomCT(o)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := synth.PhantomTruth(ct.Grid, o.Position)
	if err != nil {
		t.Fatal(err)
	}
	return ct, truth
}

// dices segments ct and returns each structure's Dice against the truth.
func dices(t testing.TB, ct *imageio.Image, truth map[string]*imageio.Image, workers int) (map[string]float64, *Result) {
	t.Helper()
	res, err := Segment(context.Background(), ct, Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range res.Masks {
		out[m.Name] = structures.Dice(m.Mask, truth[truthOf[m.Name]])
	}
	return out, res
}

func formatDice(d map[string]float64) string {
	var parts []string
	for _, n := range Names() {
		parts = append(parts, fmt.Sprintf("%s %.4f", n, d[n]))
	}
	return strings.Join(parts, ", ")
}

// TestPhantomPositions is the acceptance test: Dice against the analytic truth in all four
// patient positions, with and without noise, on a phantom from above the lung apices (trachea)
// to below the lung bases.
func TestPhantomPositions(t *testing.T) {
	for _, pos := range []string{"HFS", "FFS", "HFP", "FFP"} {
		for _, noise := range []float64{0, 60} {
			t.Run(fmt.Sprintf("%s/noise%g", pos, noise), func(t *testing.T) {
				t.Parallel()
				ct, truth := phantom(t, synth.PhantomOptions{Position: pos, Matrix: 128, Slices: 70, SliceMM: 5,
					CentreMM: [3]float64{4, -6, 20}, NoiseHU: noise, Seed: 11})
				d, res := dices(t, ct, truth, 2)
				t.Logf("Dice %s", formatDice(d))
				for _, m := range res.Masks {
					if d[m.Name] < minDice[m.Name] || math.IsNaN(d[m.Name]) {
						t.Errorf("%s: Dice %.4f < %.2f; notes %q", m.Name, d[m.Name], minDice[m.Name], m.Notes)
					}
				}
				if t.Failed() {
					t.Logf("notes: %q", res.Notes)
					for _, m := range res.Masks {
						t.Logf("%s: %.1f cm³ %q", m.Name, m.VolumeCC, m.Notes)
					}
				}
			})
		}
	}
}

// TestDeterministic requires the same masks whatever the number of workers.
func TestDeterministic(t *testing.T) {
	ct, _ := phantom(t, synth.PhantomOptions{Position: "FFP", Matrix: 96, Slices: 50, SliceMM: 5, NoiseHU: 30, Seed: 4})
	var ref *Result
	for _, w := range []int{1, 3, 8} {
		res, err := Segment(context.Background(), ct, Options{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = res
			continue
		}
		for i, m := range res.Masks {
			if !slices.Equal(m.Mask.Data, ref.Masks[i].Mask.Data) || !slices.Equal(m.Notes, ref.Masks[i].Notes) {
				t.Errorf("%s differs with %d workers", m.Name, w)
			}
		}
	}
}
