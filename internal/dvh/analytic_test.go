package dvh

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dvh/analytic"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

const radius, height = 12.0, 24.0

func shapes() []analytic.Shape {
	return []analytic.Shape{
		analytic.Sphere(radius),
		analytic.Cylinder(radius, height),
		analytic.Cone(radius, height, false),
		analytic.RotatedCylinder(radius, height),
		analytic.RotatedCone(radius, height),
	}
}

// linearDose builds a dose grid of the given spacing around the origin with 16 Gy at the centre
// and 1 Gy/mm along y or z. The grid's own orientation is the given direction cosines.
func linearDose(spacing float64, alongZ bool, iop []float64) *grid.Volume {
	n := int(math.Ceil(2*22/spacing)) + 1
	row, col := grid.Vec{iop[0], iop[1], iop[2]}, grid.Vec{iop[3], iop[4], iop[5]}
	nrm := row.Cross(col)
	half := float64(n-1) / 2 * spacing
	origin := row.Scale(-half).Add(col.Scale(-half)).Add(nrm.Scale(-half))
	offs := make([]float64, n)
	for k := range offs {
		offs[k] = float64(k) * spacing
	}
	g, err := grid.FromDICOM(origin[:], iop, []float64{spacing, spacing}, n, n, offs)
	if err != nil {
		panic(err)
	}
	v := &grid.Volume{Grid: g, Data: make([]float32, g.Voxels())}
	for k := 0; k < n; k++ {
		for j := 0; j < n; j++ {
			for i := 0; i < n; i++ {
				p := g.Point(i, j, k)
				x := p[1]
				if alongZ {
					x = p[2]
				}
				v.Data[(k*n+j)*n+i] = float32(16 + x)
			}
		}
	}
	return v
}

// roiFor contours a shape centred at c on planes spaced `spacing` apart, starting from c's z
// (plus zShift) and covering every plane that cuts the shape.
func roiFor(s analytic.Shape, c grid.Vec, spacing, zShift float64) (*rt.ROIContours, []float64) {
	roi := &rt.ROIContours{ROI: rt.ROI{Name: s.Name}}
	var planes []float64
	m0 := int(math.Ceil((-s.ZHalf - zShift) / spacing))
	m1 := int(math.Floor((s.ZHalf - zShift) / spacing))
	for m := m0; m <= m1; m++ {
		dz := zShift + float64(m)*spacing
		if math.Abs(dz) >= s.ZHalf-1e-9 {
			continue // a plane touching the shape only at a point or edge has no section
		}
		poly := s.Poly(dz)
		pts := make([]grid.Vec, len(poly))
		for i, q := range poly {
			pts[i] = grid.Vec{c[0] + q[0], c[1] + q[1], c[2] + dz}
		}
		roi.Contours = append(roi.Contours, rt.Contour{Type: rt.ContourClosedPlanar, Points: pts})
		planes = append(planes, c[2]+dz)
	}
	return roi, planes
}

// TestAnalyticShapes checks volume, Dmean, D95 and D5 of spheres, cylinders and cones (axial and
// rotated) in linear gradients along y and z against the slab model derived analytically, for
// contour spacings 0.2-3 mm, dose grids 1-3 mm, and shapes shifted by half a dose voxel.
func TestAnalyticShapes(t *testing.T) {
	hfs := []float64{1, 0, 0, 0, 1, 0}
	worst := map[string]float64{}
	for _, s := range shapes() {
		for _, alongZ := range []bool{false, true} {
			for _, spacing := range []float64{0.2, 1, 2.5, 3} {
				for _, gridSp := range []float64{1, 2, 3} {
					for _, shift := range []float64{0, 0.5} {
						name := fmt.Sprintf("%s/grad-%s/contours-%gmm/grid-%gmm/shift-%g", s.Name, map[bool]string{false: "y", true: "z"}[alongZ], spacing, gridSp, shift)
						c := grid.Vec{shift * gridSp, 0, shift * gridSp}
						dose := linearDose(gridSp, alongZ, hfs)
						roi, planes := roiFor(s, c, spacing, 0)
						// Dose is 16 Gy at the shape centre: shift the field with the shape.
						shiftDose(dose, c, alongZ)
						ref := c[1]
						if alongZ {
							ref = c[2]
						}
						want := analytic.NewOracle(s, c[0], c[1], c[2], planes, spacing, analytic.Field{AlongZ: alongZ, D0: 16, Ref: ref, Slope: 1})
						res := Compute(roi, dose, Options{})
						if res.DVH == nil {
							t.Fatalf("%s: skipped: %s", name, res.Skipped)
						}
						got := res.DVH
						check := func(metric string, g, w, tol float64, relative bool) {
							err := math.Abs(g - w)
							if relative {
								err /= math.Abs(w)
							}
							if err > worst[metric] {
								worst[metric] = err
							}
							if err > tol {
								t.Errorf("%s: %s = %.5g, want %.5g", name, metric, g, w)
							}
						}
						check("volume (rel)", got.VolumeCC, want.VolumeCC(), 0.01, true)
						check("Dmean (Gy)", got.MeanGy, want.Mean(), 0.1, false)
						check("D95 (rel)", got.DPercent(95), want.DPercent(95), 0.02, true)
						check("D5 (rel)", got.DPercent(5), want.DPercent(5), 0.02, true)
						check("D50 (rel)", got.DPercent(50), want.DPercent(50), 0.02, true)
						check("Dmin (Gy)", got.MinGy, want.Min(), 0.01, false)
						check("Dmax (Gy)", got.MaxGy, want.Max(), 0.01, false)
						if got.InsideDoseGridFraction < 1-1e-9 {
							t.Errorf("%s: %.4f of the volume outside the dose grid", name, 1-got.InsideDoseGridFraction)
						}
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(worst))
	for k := range worst {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("worst %s error: %.3g", k, worst[k])
	}
}

// shiftDose re-centres the linear field on c (16 Gy at c).
func shiftDose(v *grid.Volume, c grid.Vec, alongZ bool) {
	off := c[1]
	if alongZ {
		off = c[2]
	}
	for i := range v.Data {
		v.Data[i] -= float32(off)
	}
}
