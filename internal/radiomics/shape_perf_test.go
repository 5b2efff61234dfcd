package radiomics

import (
	"testing"
	"time"
)

// shapeBall returns a ball of radius r voxels centred at (cx, cy, cz) in a cube of side n.
func shapeBall(n int, r, cx, cy, cz float64) ([]bool, [3]int) {
	size := [3]int{n, n, n}
	m := make([]bool, n*n*n)
	for z := 0; z < n; z++ {
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				dx, dy, dz := float64(x)-cx, float64(y)-cy, float64(z)-cz
				m[(z*n+y)*n+x] = dx*dx+dy*dy+dz*dz <= r*r
			}
		}
	}
	return m, size
}

// A 1000 cm³ ROI at 1 mm (a ball of about 1e6 voxels) must be processed well under a second;
// the limit here is generous (race detector, slow CI) but still excludes an O(V²) diameter search.
func TestShapeFeaturesMillionVoxelBall(t *testing.T) {
	if testing.Short() {
		t.Skip("large volume")
	}
	m, size := shapeBall(128, 62.04, 63.3, 63.6, 63.1)
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	start := time.Now()
	f, err := ShapeFeatures(m, size, [3]float64{1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("ShapeFeatures on a %d-voxel ball: %v (Maximum3DDiameter %.4f, MeshVolume %.1f)", n, d, f["Maximum3DDiameter"], f["MeshVolume"])
	if d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func BenchmarkShapeFeaturesMillionVoxelBall(b *testing.B) {
	m, size := shapeBall(128, 62.04, 63.3, 63.6, 63.1)
	b.ResetTimer()
	for b.Loop() {
		if _, err := ShapeFeatures(m, size, [3]float64{1, 1, 1}); err != nil {
			b.Fatal(err)
		}
	}
}
