package builtin

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// paint sets every voxel of ct for which f returns true to the HU f gives.
func paint(ct *imageio.Image, f func(p grid.Vec) (float64, bool)) {
	g := ct.Grid
	for k := range g.Size[2] {
		for j := range g.Size[1] {
			for i := range g.Size[0] {
				if hu, ok := f(g.Point(i, j, k)); ok {
					ct.Data[ct.Index(i, j, k)] = hu
				}
			}
		}
	}
}

// inBody tells whether p lies inside the phantom's body cylinder.
func inBody(p grid.Vec) bool { return (p[0]/170)*(p[0]/170)+(p[1]/120)*(p[1]/120) < 1 }

func ellipsoid(p, c, a grid.Vec) bool {
	s := 0.0
	for i := range 3 {
		d := (p[i] - c[i]) / a[i]
		s += d * d
	}
	return s < 1
}

// checkDice segments ct and requires the minimum Dice of every structure named in want.
func checkDice(t *testing.T, ct *imageio.Image, truth map[string]*imageio.Image, want map[string]float64, notes ...string) *Result {
	t.Helper()
	d, res := dices(t, ct, truth, 2)
	t.Logf("Dice %s", formatDice(d))
	for name, min := range want {
		if d[name] < min || math.IsNaN(d[name]) {
			t.Errorf("%s: Dice %.4f < %.2f; notes %q", name, d[name], min, res.Get(name).Notes)
		}
	}
	for _, n := range notes {
		found := false
		for _, m := range res.Masks {
			for _, s := range m.Notes {
				found = found || strings.Contains(s, n)
			}
		}
		if !found {
			t.Errorf("no note says %q", n)
		}
	}
	return res
}

var bodyLungs = map[string]float64{Body: 0.95, LungLeft: 0.95, LungRight: 0.95}

// TestCouchTouchingBody lays the patient on a carbon-fibre couch top (two 4 mm shells of
// +100 HU around a −900 HU foam core) touching the skin, posterior for supine and anterior for
// prone patients: the body must not take the couch, and the couch must be reported on the
// right side.
func TestCouchTouchingBody(t *testing.T) {
	for _, pos := range []string{"HFS", "FFS", "HFP", "FFP"} {
		t.Run(pos, func(t *testing.T) {
			ct, truth := phantom(t, synth.PhantomOptions{Position: pos, Matrix: 128, Slices: 40, SliceMM: 5, NoiseHU: 15, Seed: 2})
			sign, side := 1.0, "posterior"
			if pos == "HFP" || pos == "FFP" {
				sign, side = -1, "anterior"
			}
			paint(ct, func(p grid.Vec) (float64, bool) {
				d := sign * p[1] // depth behind the skin line y = ±120 towards the couch
				if inBody(p) || math.Abs(p[0]) > 240 || d < 119 {
					return 0, false
				}
				switch {
				case d < 123, d >= 160 && d < 164:
					return 100, true
				case d < 160:
					return -900, true
				}
				return -1000, true
			})
			checkDice(t, ct, truth, bodyLungs, "couch removed", side+" of the body")
		})
	}
}

// TestTouchingLungs joins the lungs by a band of lung tissue behind the heart: they must still
// be split at the midline.
func TestTouchingLungs(t *testing.T) {
	for _, pos := range []string{"HFS", "FFP"} {
		t.Run(pos, func(t *testing.T) {
			ct, truth := phantom(t, synth.PhantomOptions{Position: pos, Matrix: 128, Slices: 70, SliceMM: 5,
				CentreMM: [3]float64{0, 0, 20}, NoiseHU: 15, Seed: 5})
			paint(ct, func(p grid.Vec) (float64, bool) {
				return -800, math.Abs(p[0]) < 50 && math.Abs(p[1]) < 4 && p[2] > -20 && p[2] < 0
			})
			checkDice(t, ct, truth, bodyLungs, "the lungs touch")
		})
	}
}

// TestGasIsNotLung adds a stomach bubble below the left lung and bowel gas in the abdomen: none
// of it may become lung.
func TestGasIsNotLung(t *testing.T) {
	ct, truth := phantom(t, synth.PhantomOptions{Position: "FFS", Matrix: 128, Slices: 70, SliceMM: 5,
		CentreMM: [3]float64{0, 0, 20}, NoiseHU: 15, Seed: 6})
	paint(ct, func(p grid.Vec) (float64, bool) {
		switch {
		case ellipsoid(p, grid.Vec{60, -20, -135}, grid.Vec{40, 30, 20}): // stomach bubble
			return -1000, true
		case ellipsoid(p, grid.Vec{-40, -30, -150}, grid.Vec{60, 45, 30}): // colon gas
			return -990, true
		}
		return 0, false
	})
	checkDice(t, ct, truth, bodyLungs, "gas-like")
}

// TestSingleSlice segments one axial slice through the lungs.
func TestSingleSlice(t *testing.T) {
	ct, truth := phantom(t, synth.PhantomOptions{Position: "HFP", Matrix: 128, Slices: 1, SliceMM: 2, CentreMM: [3]float64{0, 0, -30}, Seed: 7})
	checkDice(t, ct, truth, map[string]float64{Body: 0.98, LungLeft: 0.95, LungRight: 0.95, Bones: 0.95})
}

// TestSagittalSlices stores the phantom as sagittal slices: the airways cannot be tracked
// (the note says so), but the body, the lungs (cut at the midline, through the trachea) and the
// bones are still found.
func TestSagittalSlices(t *testing.T) {
	ax, truthAx := phantom(t, synth.PhantomOptions{Position: "HFS", Matrix: 96, Slices: 60, SliceMM: 5, CentreMM: [3]float64{0, 0, 20}, Seed: 8})
	ct := permute(ax)
	truth := map[string]*imageio.Image{}
	for n, m := range truthAx {
		truth[n] = permute(m)
	}
	checkDice(t, ct, truth, map[string]float64{Body: 0.95, LungLeft: 0.95, LungRight: 0.95, Bones: 0.95}, "not axial")
}

// permute turns an axial volume (i, j, k) into one with slices along the old i axis:
// new (i', j', k') = old (j, k, i).
func permute(im *imageio.Image) *imageio.Image {
	g := im.Grid
	ng := &grid.Grid{Origin: g.Origin, Axes: [3]grid.Vec{g.Axes[1], g.Axes[2], g.Axes[0]},
		Spacing: [3]float64{g.Spacing[1], g.Spacing[2], g.Spacing[0]}, Size: [3]int{g.Size[1], g.Size[2], g.Size[0]}}
	out := &imageio.Image{Grid: ng, Data: make([]float64, len(im.Data)), PixelType: im.PixelType}
	for k := range g.Size[2] {
		for j := range g.Size[1] {
			for i := range g.Size[0] {
				out.Data[(i*ng.Size[1]+k)*ng.Size[0]+j] = im.Data[im.Index(i, j, k)]
			}
		}
	}
	return out
}

// TestDICOMRoundTrip writes synthetic cohorts in the four positions as DICOM, reads each CT
// back through imageio and requires the acceptance Dice against the truth rasterised on the
// grid read.
func TestDICOMRoundTrip(t *testing.T) {
	dir := t.TempDir()
	truth, err := synth.Generate(context.Background(), dir, synth.Options{Patients: 4, Seed: 17, Matrix: 96, MinSlices: 50, MaxSlices: 60,
		Workers: 2, NoiseHU: 10, Scenarios: []string{synth.ScenarioCTOnly}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range truth.Patients {
		t.Run(p.PatientPosition, func(t *testing.T) {
			seen[p.PatientPosition] = true
			var files []string
			for _, f := range p.Files {
				if f.Modality == "CT" && f.Category == synth.CategoryPlaced {
					files = append(files, filepath.Join(dir, "dicom", filepath.FromSlash(f.Path)))
				}
			}
			ct, err := imageio.ReadDICOMSeries(files)
			if err != nil {
				t.Fatal(err)
			}
			want, err := synth.PhantomTruth(ct.Grid, p.PatientPosition)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := ct.Grid.Bounds()
			t.Logf("%s: z %.0f..%.0f mm", p.PatientPosition, lo[2], hi[2])
			checkDice(t, ct, want, map[string]float64{Body: 0.95, LungLeft: 0.95, LungRight: 0.95, Bones: 0.95})
		})
	}
	if len(seen) != 4 {
		t.Errorf("positions %v", seen)
	}
}

func TestEdgeCases(t *testing.T) {
	ctx := context.Background()
	g := &grid.Grid{Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: [3]float64{1, 1, 1}, Size: [3]int{20, 20, 3}}
	air := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels())}
	for i := range air.Data {
		air.Data[i] = -1000
	}
	res, err := Segment(ctx, air, Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Masks {
		if m.VolumeCC != 0 {
			t.Errorf("%s: %v cm³ in an empty image", m.Name, m.VolumeCC)
		}
	}
	if len(res.Get(Body).Notes) == 0 {
		t.Error("no note on the missing body")
	}
	res, err = Segment(ctx, air, Options{Structures: []string{Bones, Body}})
	if err != nil || len(res.Masks) != 2 || res.Masks[0].Name != Body || res.Get(LungLeft) != nil {
		t.Errorf("structures: %v, %v", res, err)
	}
	for _, bad := range []*imageio.Image{nil, {Grid: g}, {Grid: &grid.Grid{Size: [3]int{20, 20, 3}, Spacing: [3]float64{0, 1, 1}}, Data: make([]float64, 1200)}} {
		if _, err := Segment(ctx, bad, Options{}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := Segment(ctx, air, Options{Structures: []string{"liver"}}); err == nil {
		t.Error("unknown structure accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ct, _ := phantom(t, synth.PhantomOptions{Position: "HFS", Matrix: 64, Slices: 10})
	if _, err := Segment(cancelled, ct, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestCountAbove checks the voxel count on one side of the midline for both directions.
func TestCountAbove(t *testing.T) {
	for _, c := range []struct {
		x0, dx float64
		n      int
		mid    float64
	}{{0, 1, 10, 4.5}, {0, 1, 10, 4}, {0, -1, 10, -4}, {10, -2, 10, 3}, {5, 0, 4, 4}, {5, 0, 4, 6}, {0, 1, 5, -3}, {0, 1, 5, 30}} {
		want := 0
		for i := range c.n {
			if c.x0+float64(i)*c.dx > c.mid {
				want++
			}
		}
		if got := countAbove(c.x0, c.dx, c.n, c.mid); got != want {
			t.Errorf("%+v: %d, want %d", c, got, want)
		}
	}
}
