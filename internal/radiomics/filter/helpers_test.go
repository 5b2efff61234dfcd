package filter

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// patternImage builds the deterministic volume of testdata/gen_fixtures.py (pattern()): voxel
// (i, j, k) = ((i*7919 + j*104729 + k*1299709 + i*j*31 + j*k*37 + i*k*41) mod 2003) − 1000.
func patternImage(size [3]int, sp [3]float64) *imageio.Image {
	im := newImage(size, sp)
	for k := range size[2] {
		for j := range size[1] {
			for i := range size[0] {
				v := (i*7919 + j*104729 + k*1299709 + i*j*31 + j*k*37 + i*k*41) % 2003
				im.Data[im.Index(i, j, k)] = float64(v - 1000)
			}
		}
	}
	return im
}

// newImage returns a zero image on an axis-aligned grid.
func newImage(size [3]int, sp [3]float64) *imageio.Image {
	g := &grid.Grid{
		Origin:  grid.Vec{-10, 20, 5},
		Axes:    [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
		Spacing: sp,
		Size:    size,
	}
	return &imageio.Image{Grid: g, Data: make([]float64, size[0]*size[1]*size[2]), PixelType: "int16"}
}

// fillImage sets every voxel to f(x, y, z), the voxel position in mm relative to the origin.
func fillImage(im *imageio.Image, f func(x, y, z float64) float64) {
	s, sp := im.Grid.Size, im.Grid.Spacing
	for k := range s[2] {
		for j := range s[1] {
			for i := range s[0] {
				im.Data[im.Index(i, j, k)] = f(float64(i)*sp[0], float64(j)*sp[1], float64(k)*sp[2])
			}
		}
	}
}

func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func toSize(s []int) [3]int            { return [3]int{s[0], s[1], s[2]} }
func toSpacing(s []float64) [3]float64 { return [3]float64{s[0], s[1], s[2]} }

// maxAbsDiff returns the largest |a−b| and its index; a length mismatch is +Inf.
func maxAbsDiff(a, b []float64) (float64, int) {
	if len(a) != len(b) {
		return math.Inf(1), -1
	}
	worst, at := 0.0, -1
	for i := range a {
		d := math.Abs(a[i] - b[i])
		if d > worst || d != d {
			worst, at = d, i
		}
	}
	return worst, at
}

// checkOutputGeometry verifies that a filter kept the input grid and produced float64 data.
func checkOutputGeometry(t *testing.T, in, out *imageio.Image) {
	t.Helper()
	if out.PixelType != "float64" {
		t.Errorf("PixelType %q, want float64", out.PixelType)
	}
	if !grid.SameGeometry(in.Grid, out.Grid, 0) || out.Grid.Origin != in.Grid.Origin || out.Grid.Spacing != in.Grid.Spacing {
		t.Errorf("grid changed: %+v -> %+v", in.Grid, out.Grid)
	}
	if out.Grid == in.Grid {
		t.Errorf("output shares the input's grid pointer")
	}
	if len(out.Data) != len(in.Data) {
		t.Errorf("data length %d, want %d", len(out.Data), len(in.Data))
	}
}
