package imageio

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

func TestReadPyradiomicsNRRD(t *testing.T) {
	dir := testutil.SharedTestdata(t, "radiomics/pyradiomics/images")
	im, err := ReadNRRD(filepath.Join(dir, "brain1_image.nrrd"))
	if err != nil {
		t.Fatal(err)
	}
	g := im.Grid
	if g.Size != [3]int{256, 256, 25} || im.PixelType != "int16" {
		t.Fatalf("size %v type %s", g.Size, im.PixelType)
	}
	if g.Axes[1] != (grid.Vec{0, -1, 0}) || math.Abs(g.Spacing[2]-6.5) > 1e-9 {
		t.Fatalf("axes %v spacing %v", g.Axes, g.Spacing)
	}
	lbl, err := ReadNRRD(filepath.Join(dir, "brain1_label.nrrd"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range lbl.Data {
		if v == 1 {
			n++
		}
	}
	if n == 0 {
		t.Fatal("empty label")
	}
}

func TestNRRDRoundTrip(t *testing.T) {
	g := &grid.Grid{Origin: grid.Vec{-1, 2, 3}, Axes: [3]grid.Vec{{0, 1, 0}, {-1, 0, 0}, {0, 0, 1}}, Spacing: [3]float64{0.5, 0.7, 2}, Size: [3]int{3, 4, 2}}
	for _, pt := range []string{"int16", "uint8", "float32", "float64"} {
		im := &Image{Grid: g, Data: make([]float64, 24), PixelType: pt}
		for i := range im.Data {
			im.Data[i] = float64(i*3 - 10)
			if pt == "uint8" {
				im.Data[i] = float64(i)
			}
		}
		p := filepath.Join(t.TempDir(), "x.nrrd")
		if err := WriteNRRD(p, im); err != nil {
			t.Fatal(err)
		}
		back, err := ReadNRRD(p)
		if err != nil {
			t.Fatal(err)
		}
		if back.Grid.Size != g.Size || back.Grid.Origin != g.Origin || back.Grid.Axes != g.Axes || back.PixelType != pt {
			t.Fatalf("%s: grid %+v", pt, back.Grid)
		}
		for i := range im.Data {
			if back.Data[i] != im.Data[i] {
				t.Fatalf("%s: voxel %d %v != %v", pt, i, back.Data[i], im.Data[i])
			}
		}
	}
}
