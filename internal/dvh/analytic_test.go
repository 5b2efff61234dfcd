package dvh

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// shape is an analytic solid with its cross-section in an axial plane at height dz from the
// centre: the chord length (extent in x) at in-plane offset dy, and a polygon of that section.
type shape struct {
	name string
	// zHalf is the half extent along z; sections exist for |dz| <= zHalf.
	zHalf float64
	// chord returns the x extent of the section at (dz, dy), 0 outside.
	chord func(dz, dy float64) float64
	// yRange returns the y extent of the section at dz.
	yRange func(dz float64) (float64, float64)
	// poly returns the section polygon at dz (centre at the origin).
	poly func(dz float64) [][2]float64
}

const radius, height = 12.0, 24.0

func circlePoly(r float64) [][2]float64 {
	const n = 256
	p := make([][2]float64, n)
	for i := range p {
		a := 2 * math.Pi * float64(i) / n
		p[i] = [2]float64{r * math.Cos(a), r * math.Sin(a)}
	}
	return p
}

func circleChord(r, dy float64) float64 {
	if math.Abs(dy) >= r {
		return 0
	}
	return 2 * math.Sqrt(r*r-dy*dy)
}

func shapes() []shape {
	sphereR := func(dz float64) float64 { return math.Sqrt(math.Max(0, radius*radius-dz*dz)) }
	coneR := func(dz float64) float64 { return radius * (height/2 - dz) / height } // base at dz=-H/2
	return []shape{
		{name: "sphere", zHalf: radius,
			chord:  func(dz, dy float64) float64 { return circleChord(sphereR(dz), dy) },
			yRange: func(dz float64) (float64, float64) { return -sphereR(dz), sphereR(dz) },
			poly:   func(dz float64) [][2]float64 { return circlePoly(sphereR(dz)) }},
		{name: "cylinder", zHalf: height / 2,
			chord:  func(dz, dy float64) float64 { return circleChord(radius, dy) },
			yRange: func(dz float64) (float64, float64) { return -radius, radius },
			poly:   func(dz float64) [][2]float64 { return circlePoly(radius) }},
		{name: "cone", zHalf: height / 2,
			chord:  func(dz, dy float64) float64 { return circleChord(coneR(dz), dy) },
			yRange: func(dz float64) (float64, float64) { return -coneR(dz), coneR(dz) },
			poly:   func(dz float64) [][2]float64 { return circlePoly(coneR(dz)) }},
		// Cylinder with its axis along y: sections are rectangles.
		{name: "rotated-cylinder", zHalf: radius,
			chord: func(dz, dy float64) float64 {
				return boolF(math.Abs(dy) <= height/2) * 2 * math.Sqrt(math.Max(0, radius*radius-dz*dz))
			},
			yRange: func(dz float64) (float64, float64) { return -height / 2, height / 2 },
			poly: func(dz float64) [][2]float64 {
				hw := math.Sqrt(math.Max(0, radius*radius-dz*dz))
				return [][2]float64{{-hw, -height / 2}, {hw, -height / 2}, {hw, height / 2}, {-hw, height / 2}}
			}},
		// Cone with its axis along y (base at y=-H/2, apex at y=+H/2).
		{name: "rotated-cone", zHalf: radius,
			chord: func(dz, dy float64) float64 {
				if dy < -height/2 || dy > height/2 {
					return 0
				}
				r := radius * (height/2 - dy) / height
				return 2 * math.Sqrt(math.Max(0, r*r-dz*dz))
			},
			yRange: func(dz float64) (float64, float64) { return -height / 2, height/2 - height*math.Abs(dz)/radius },
			poly: func(dz float64) [][2]float64 {
				const n = 200
				ymax := height/2 - height*math.Abs(dz)/radius
				var right, left [][2]float64
				for i := 0; i <= n; i++ {
					y := -height/2 + (ymax+height/2)*float64(i)/n
					r := radius * (height/2 - y) / height
					x := math.Sqrt(math.Max(0, r*r-dz*dz))
					right = append(right, [2]float64{x, y})
					left = append(left, [2]float64{-x, y})
				}
				for i := len(left) - 1; i >= 0; i-- {
					right = append(right, left[i])
				}
				return right
			}},
	}
}

func boolF(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// piece is a uniform dose distribution over [lo, hi] holding weight (mm³).
type piece struct{ lo, hi, w float64 }

// oracle derives the DVH of the slab model of a shape analytically (one-dimensional quadrature
// of exact chord lengths): contour planes at z_k, each a slab of the plane spacing, so the first
// and last planes carry half-spacing end caps. Dose = 16 Gy + 1 Gy/mm along y or z from the
// shape centre.
type oracle struct {
	pieces   []piece
	min, max float64
}

func newOracle(s shape, planes []float64, spacing float64, alongZ bool) *oracle {
	o := &oracle{min: math.Inf(1), max: math.Inf(-1)}
	dose := func(x float64) float64 { return 16 + x }
	for _, dz := range planes {
		y0, y1 := s.yRange(dz)
		if alongZ {
			o.min, o.max = math.Min(o.min, dose(dz-spacing/2)), math.Max(o.max, dose(dz+spacing/2))
		} else {
			o.min, o.max = math.Min(o.min, dose(y0)), math.Max(o.max, dose(y1))
		}
		const n = 4000
		dy := (y1 - y0) / n
		area := 0.0
		for i := 0; i < n; i++ {
			y := y0 + (float64(i)+0.5)*dy
			c := s.chord(dz, y) * dy * spacing
			area += c
			if !alongZ {
				o.pieces = append(o.pieces, piece{dose(y - dy/2), dose(y + dy/2), c})
			}
		}
		if alongZ {
			o.pieces = append(o.pieces, piece{dose(dz - spacing/2), dose(dz + spacing/2), area})
		}
	}
	return o
}

func (o *oracle) volumeCC() float64 {
	v := 0.0
	for _, p := range o.pieces {
		v += p.w
	}
	return v / 1000
}

func (o *oracle) mean() float64 {
	s, w := 0.0, 0.0
	for _, p := range o.pieces {
		s += p.w * (p.lo + p.hi) / 2
		w += p.w
	}
	return s / w
}

// dPercent is the dose above which pct % of the volume lies.
func (o *oracle) dPercent(pct float64) float64 {
	total := o.volumeCC() * 1000
	target := pct / 100 * total
	lo, hi := 0.0, 100.0
	for it := 0; it < 60; it++ {
		mid := (lo + hi) / 2
		above := 0.0
		for _, p := range o.pieces {
			switch {
			case p.lo >= mid:
				above += p.w
			case p.hi > mid:
				above += p.w * (p.hi - mid) / (p.hi - p.lo)
			}
		}
		if above > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
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
func roiFor(s shape, c grid.Vec, spacing, zShift float64) (*rt.ROIContours, []float64) {
	roi := &rt.ROIContours{ROI: rt.ROI{Name: s.name}}
	var planes []float64
	m0 := int(math.Ceil((-s.zHalf - zShift) / spacing))
	m1 := int(math.Floor((s.zHalf - zShift) / spacing))
	for m := m0; m <= m1; m++ {
		dz := zShift + float64(m)*spacing
		if math.Abs(dz) >= s.zHalf-1e-9 {
			continue // a plane touching the shape only at a point or edge has no section
		}
		poly := s.poly(dz)
		pts := make([]grid.Vec, len(poly))
		for i, q := range poly {
			pts[i] = grid.Vec{c[0] + q[0], c[1] + q[1], c[2] + dz}
		}
		roi.Contours = append(roi.Contours, rt.Contour{Type: rt.ContourClosedPlanar, Points: pts})
		planes = append(planes, dz)
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
						name := fmt.Sprintf("%s/grad-%s/contours-%gmm/grid-%gmm/shift-%g", s.name, map[bool]string{false: "y", true: "z"}[alongZ], spacing, gridSp, shift)
						c := grid.Vec{shift * gridSp, 0, shift * gridSp}
						dose := linearDose(gridSp, alongZ, hfs)
						roi, planes := roiFor(s, c, spacing, 0)
						// Dose is 16 Gy at the shape centre: shift the field with the shape.
						shiftDose(dose, c, alongZ)
						want := newOracle(s, planes, spacing, alongZ)
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
						check("volume (rel)", got.VolumeCC, want.volumeCC(), 0.01, true)
						check("Dmean (Gy)", got.MeanGy, want.mean(), 0.1, false)
						check("D95 (rel)", got.DPercent(95), want.dPercent(95), 0.02, true)
						check("D5 (rel)", got.DPercent(5), want.dPercent(5), 0.02, true)
						check("D50 (rel)", got.DPercent(50), want.dPercent(50), 0.02, true)
						check("Dmin (Gy)", got.MinGy, want.min, 0.01, false)
						check("Dmax (Gy)", got.MaxGy, want.max, 0.01, false)
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
