// Package analytic derives exact dose-volume values for simple solids in linear dose fields, for
// testing and benchmarking DVH engines. A solid is contoured on axial planes; each contour stands
// for a slab of the plane spacing (so the first and last planes carry half-spacing end caps, the
// convention of the Nelms 2015 analytical DVH data set). The dose distribution of that slab
// model is obtained by one-dimensional quadrature of exact chord lengths.
package analytic

import (
	"math"
)

// Shape is a solid described by its axial sections: Chord is the x extent of the section at
// height dz (from the centre) and in-plane offset dy; YRange the y extent of the section; Poly a
// polygon of the section (centre at the origin). ZHalf is the half extent along z.
type Shape struct {
	Name   string
	ZHalf  float64
	Chord  func(dz, dy float64) float64
	YRange func(dz float64) (float64, float64)
	Poly   func(dz float64) [][2]float64
}

// CirclePoly is a 256-gon of radius r.
func CirclePoly(r float64) [][2]float64 {
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

// Sphere of radius r.
func Sphere(r float64) Shape {
	rad := func(dz float64) float64 { return math.Sqrt(math.Max(0, r*r-dz*dz)) }
	return Shape{Name: "sphere", ZHalf: r,
		Chord:  func(dz, dy float64) float64 { return circleChord(rad(dz), dy) },
		YRange: func(dz float64) (float64, float64) { return -rad(dz), rad(dz) },
		Poly:   func(dz float64) [][2]float64 { return CirclePoly(rad(dz)) }}
}

// Cylinder of radius r and height h with its axis along z.
func Cylinder(r, h float64) Shape {
	return Shape{Name: "cylinder", ZHalf: h / 2,
		Chord:  func(dz, dy float64) float64 { return circleChord(r, dy) },
		YRange: func(dz float64) (float64, float64) { return -r, r },
		Poly:   func(dz float64) [][2]float64 { return CirclePoly(r) }}
}

// Cone of base radius r and height h with its axis along z; the base is at the top (+z) when
// baseUp, else at the bottom.
func Cone(r, h float64, baseUp bool) Shape {
	rad := func(dz float64) float64 {
		if baseUp {
			return math.Max(0, r*(dz+h/2)/h)
		}
		return math.Max(0, r*(h/2-dz)/h)
	}
	return Shape{Name: "cone", ZHalf: h / 2,
		Chord:  func(dz, dy float64) float64 { return circleChord(rad(dz), dy) },
		YRange: func(dz float64) (float64, float64) { return -rad(dz), rad(dz) },
		Poly:   func(dz float64) [][2]float64 { return CirclePoly(rad(dz)) }}
}

// RotatedCylinder has radius r and length l with its axis along y: its sections are rectangles.
func RotatedCylinder(r, l float64) Shape {
	hw := func(dz float64) float64 { return math.Sqrt(math.Max(0, r*r-dz*dz)) }
	return Shape{Name: "rotated-cylinder", ZHalf: r,
		Chord: func(dz, dy float64) float64 {
			if math.Abs(dy) > l/2 {
				return 0
			}
			return 2 * hw(dz)
		},
		YRange: func(dz float64) (float64, float64) { return -l / 2, l / 2 },
		Poly: func(dz float64) [][2]float64 {
			w := hw(dz)
			return [][2]float64{{-w, -l / 2}, {w, -l / 2}, {w, l / 2}, {-w, l / 2}}
		}}
}

// RotatedCone has base radius r and height h with its axis along y, the base at -y.
func RotatedCone(r, h float64) Shape {
	rad := func(dy float64) float64 { return r * (h/2 - dy) / h }
	return Shape{Name: "rotated-cone", ZHalf: r,
		Chord: func(dz, dy float64) float64 {
			if dy < -h/2 || dy > h/2 {
				return 0
			}
			q := rad(dy)
			return 2 * math.Sqrt(math.Max(0, q*q-dz*dz))
		},
		YRange: func(dz float64) (float64, float64) { return -h / 2, h/2 - h*math.Abs(dz)/r },
		Poly: func(dz float64) [][2]float64 {
			const n = 200
			ymax := h/2 - h*math.Abs(dz)/r
			var right, left [][2]float64
			for i := 0; i <= n; i++ {
				y := -h/2 + (ymax+h/2)*float64(i)/n
				q := rad(y)
				x := math.Sqrt(math.Max(0, q*q-dz*dz))
				right = append(right, [2]float64{x, y})
				left = append(left, [2]float64{-x, y})
			}
			for i := len(left) - 1; i >= 0; i-- {
				right = append(right, left[i])
			}
			return right
		}}
}

// Field is a linear dose field: Dose(x) = D0 + Slope·(x − Ref) along y (AlongZ false) or z.
type Field struct {
	AlongZ bool
	D0     float64
	Ref    float64
	Slope  float64
}

// At returns the dose at coordinate x along the gradient axis.
func (f Field) At(x float64) float64 { return f.D0 + f.Slope*(x-f.Ref) }

type piece struct{ lo, hi, w float64 }

// Oracle is the exact dose distribution of a shape's slab model.
type Oracle struct {
	pieces   []piece
	min, max float64
}

// NewOracle builds the slab model of shape s centred at (cx, cy, cz), contoured on planes at the
// absolute heights zs, each a slab of the given spacing, in dose field f.
func NewOracle(s Shape, cx, cy, cz float64, zs []float64, spacing float64, f Field) *Oracle {
	o := &Oracle{min: math.Inf(1), max: math.Inf(-1)}
	for _, z := range zs {
		dz := z - cz
		if math.Abs(dz) > s.ZHalf+1e-9 {
			continue
		}
		y0, y1 := s.YRange(dz)
		const n = 2000
		dy := (y1 - y0) / n
		area := 0.0
		for i := 0; i < n; i++ {
			y := y0 + (float64(i)+0.5)*dy
			c := s.Chord(dz, y) * dy * spacing
			if c <= 0 {
				continue
			}
			area += c
			if !f.AlongZ {
				a, b := f.At(cy+y-dy/2), f.At(cy+y+dy/2)
				o.add(a, b, c)
			}
		}
		if area <= 0 {
			continue
		}
		if f.AlongZ {
			o.add(f.At(z-spacing/2), f.At(z+spacing/2), area)
		}
	}
	return o
}

func (o *Oracle) add(a, b, w float64) {
	if a > b {
		a, b = b, a
	}
	o.pieces = append(o.pieces, piece{a, b, w})
	o.min, o.max = math.Min(o.min, a), math.Max(o.max, b)
}

// VolumeCC is the slab model's volume in cm³.
func (o *Oracle) VolumeCC() float64 {
	v := 0.0
	for _, p := range o.pieces {
		v += p.w
	}
	return v / 1000
}

// Mean is the mean dose (Gy).
func (o *Oracle) Mean() float64 {
	s, w := 0.0, 0.0
	for _, p := range o.pieces {
		s += p.w * (p.lo + p.hi) / 2
		w += p.w
	}
	return s / w
}

// Min and Max are the extreme doses (Gy).
func (o *Oracle) Min() float64 { return o.min }

// Max is the maximum dose (Gy).
func (o *Oracle) Max() float64 { return o.max }

// DPercent is the minimum dose to the hottest pct % of the volume.
func (o *Oracle) DPercent(pct float64) float64 {
	return o.doseAbove(pct / 100 * o.VolumeCC() * 1000)
}

// DVolume is the minimum dose to the hottest cc cm³.
func (o *Oracle) DVolume(cc float64) float64 { return o.doseAbove(cc * 1000) }

// V is the volume (cm³) receiving at least gy.
func (o *Oracle) V(gy float64) float64 { return o.above(gy) / 1000 }

func (o *Oracle) above(d float64) float64 {
	v := 0.0
	for _, p := range o.pieces {
		switch {
		case p.lo >= d:
			v += p.w
		case p.hi > d:
			v += p.w * (p.hi - d) / (p.hi - p.lo)
		}
	}
	return v
}

func (o *Oracle) doseAbove(target float64) float64 {
	lo, hi := o.min, o.max
	for it := 0; it < 40; it++ {
		mid := (lo + hi) / 2
		if o.above(mid) > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
