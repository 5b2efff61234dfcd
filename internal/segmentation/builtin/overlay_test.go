package builtin

import (
	"flag"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/synth"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

var updateOverlays = flag.Bool("update-overlays", false, "write the overlay PNGs of docs/segmentation.md to docs/img/segmentation")

// structureColor is the outline colour of each structure.
var structureColor = map[string]color.RGBA{
	Body: {0, 230, 0, 255}, LungLeft: {40, 140, 255, 255}, LungRight: {0, 230, 230, 255},
	Airways: {255, 230, 0, 255}, Bones: {255, 120, 0, 255},
}

func resultOutlines(res *Result) []Outline {
	var out []Outline
	for _, m := range res.Masks {
		out = append(out, Outline{Label: m.Name, Mask: m.Mask, Color: structureColor[m.Name]})
	}
	return out
}

// writeOverlay renders and writes one overlay PNG (to docs/img/segmentation with
// -update-overlays, else to a temporary folder).
func writeOverlay(t *testing.T, dir, name string, ct *imageio.Image, plane Plane, at float64, outlines []Outline, title string) {
	t.Helper()
	pic, err := RenderOverlay(ct, plane, at, -1000, 500, outlines, title)
	if err != nil {
		t.Fatal(err)
	}
	if pic.Bounds().Dx() < 100 || pic.Bounds().Dy() < 50 {
		t.Errorf("%s: picture %v", name, pic.Bounds())
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, pic); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOverlays draws the overlays of docs/segmentation.md: the phantom in two positions (axial
// through the trachea above the carina, coronal through the trachea and bronchi) with the truth
// dashed in white, and the shared data's CT series with their manual ROIs dashed in magenta.
// Regenerate with
//
//	go test ./internal/segmentation/builtin -run Overlays -update-overlays
func TestOverlays(t *testing.T) {
	dir := t.TempDir()
	if *updateOverlays {
		dir = filepath.Join(testutil.RepoRoot(t), "docs", "img", "segmentation")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	white := color.RGBA{255, 255, 255, 255}
	for _, pos := range []string{"HFS", "HFP"} {
		ct, truth := phantom(t, synth.PhantomOptions{Position: pos, Matrix: 256, Slices: 70, SliceMM: 5,
			CentreMM: [3]float64{4, -6, 20}, NoiseHU: 20, Seed: 11})
		_, res := dices(t, ct, truth, 2)
		ol := resultOutlines(res)
		ol = append(ol, Outline{Label: "truth lungs + airways", Mask: unionImages(truth[synth.TruthLungLeft], truth[synth.TruthLungRight], truth[synth.TruthAirways]),
			Color: white, Dashed: true})
		lower := strings.ToLower(pos)
		writeOverlay(t, dir, "builtin_phantom_"+lower+"_axial.png", ct, Axial, 52.5, ol, "synthetic phantom "+pos+", z = 52.5 mm")
		writeOverlay(t, dir, "builtin_phantom_"+lower+"_coronal.png", ct, Coronal, 3, ol, "synthetic phantom "+pos+", y = 3 mm")
	}
	if _, err := os.Stat(filepath.Join(testutil.RepoRoot(t), "..", "shared", "testdata", "dicom-rt")); err != nil && os.Getenv("RTPIPELINE_TESTDATA") == "" {
		t.Skip("shared data absent: only the phantom overlays were drawn")
	}
	for _, c := range loadShared(t) {
		if c.name != "dicompyler-core" && c.name != "rt-utils/mock_data" {
			continue
		}
		ol := resultOutlines(c.res)
		for _, m := range c.manual {
			ol = append(ol, Outline{Label: "manual " + m.roi, Mask: m.mask, Color: color.RGBA{255, 0, 255, 255}, Dashed: true})
		}
		name := strings.ReplaceAll(c.name, "/", "_")
		writeOverlay(t, dir, "builtin_"+name+"_axial.png", c.ct, Axial, c.ct.Grid.Point(0, 0, 0)[2], ol, c.name)
	}
}

func unionImages(ims ...*imageio.Image) *imageio.Image {
	out := ims[0].Clone()
	for _, im := range ims[1:] {
		for i, v := range im.Data {
			if v != 0 {
				out.Data[i] = 1
			}
		}
	}
	return out
}
