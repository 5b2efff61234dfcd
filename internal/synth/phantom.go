package synth

import (
	"math"
	"math/rand/v2"
)

// vec3 is a point or direction in patient coordinates (LPS, mm).
type vec3 [3]float64

func (a vec3) add(b vec3) vec3      { return vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a vec3) scale(s float64) vec3 { return vec3{a[0] * s, a[1] * s, a[2] * s} }
func (a vec3) sub(b vec3) vec3      { return vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a vec3) dot(b vec3) float64   { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func cross(a, b vec3) vec3 {
	return vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func (a vec3) slice() []float64 { return []float64{a[0], a[1], a[2]} }
func (a vec3) rounded(q float64) vec3 {
	return vec3{roundTo(a[0], q), roundTo(a[1], q), roundTo(a[2], q)}
}

func roundTo(v, q float64) float64 { return math.Round(v/q) * q }

// Kinds of phantom shapes.
const (
	kindCylinder  = "elliptic_cylinder"
	kindEllipsoid = "ellipsoid"
	kindSlab      = "slab"
	kindCapsule   = "capsule"
)

// HU values of the phantom's materials.
const (
	huAir     = -1000
	huTissue  = 0
	huLung    = -800
	huHeart   = 40
	huBone    = 700
	huCord    = 30
	huEsoph   = 20
	huTumour  = 30
	huCouch   = -300
	huRibBone = 400   // ribs and sternum: thinner bone, lower CT number than the spine
	huStored0 = -1024 // RescaleIntercept: stored value = HU + 1024
)

// Fixed anatomy, in LPS mm: +x is patient left, +y posterior, +z superior. The shapes do not
// overlap except by design (cord inside spine, tumour inside a lung, the main bronchi's ends
// inside the lungs, the ribs' roots inside the spine), which keeps every ROI's voxels equal to
// its shape except where a bronchus enters a lung (air instead of lung; see segphantom.go).
var (
	shapeBody  = Shape{Name: "body", ROI: "BODY", Kind: kindCylinder, SemiAxeMM: [3]float64{170, 120, 0}, HU: huTissue}
	shapeLungL = Shape{Name: "left_lung", ROI: "LUNG_L", Kind: kindEllipsoid, CenterMM: [3]float64{95, -5, 0}, SemiAxeMM: [3]float64{50, 70, 110}, HU: huLung}
	shapeLungR = Shape{Name: "right_lung", ROI: "LUNG_R", Kind: kindEllipsoid, CenterMM: [3]float64{-95, -5, 5}, SemiAxeMM: [3]float64{52, 72, 115}, HU: huLung}
	shapeHeart = Shape{Name: "heart", ROI: "HEART", Kind: kindEllipsoid, CenterMM: [3]float64{10, -40, -30}, SemiAxeMM: [3]float64{35, 35, 50}, HU: huHeart}
	shapeSpine = Shape{Name: "spine", Kind: kindCylinder, CenterMM: [3]float64{0, 85, 0}, SemiAxeMM: [3]float64{22, 22, 0}, HU: huBone}
	shapeCord  = Shape{Name: "spinal_cord", ROI: "SPINAL_CORD", Kind: kindCylinder, CenterMM: [3]float64{0, 85, 0}, SemiAxeMM: [3]float64{7, 7, 0}, HU: huCord}
	shapeEsoph = Shape{Name: "esophagus", ROI: "ESOPHAGUS", Kind: kindCylinder, CenterMM: [3]float64{-10, 40, 0}, SemiAxeMM: [3]float64{8, 8, 0}, HU: huEsoph}
	shapeCouch = Shape{Name: "couch", Kind: kindSlab, CenterMM: [3]float64{0, 130, 0}, SemiAxeMM: [3]float64{250, 6, 0}, HU: huCouch}
)

// anatomyTruth lists the fixed shapes for the truth file (cylinders and the slab have z
// semi-axis 0, meaning unbounded along z).
func anatomyTruth() []Shape {
	out := []Shape{shapeBody, shapeLungL, shapeLungR, shapeHeart, shapeSpine, shapeCord, shapeEsoph, shapeCouch}
	out = append(out, airwayShape...)
	return append(out, boneShapes...)
}

// section is the cross-section of a shape with the plane z = const: an ellipse (or, for the
// couch, a rectangle) in x and y.
type section struct {
	cx, cy, ax, ay float64
	ok             bool
	box            bool
}

// sectionAt cuts a shape with the plane z.
func sectionAt(s Shape, z float64) section {
	c, a := s.CenterMM, s.SemiAxeMM
	switch s.Kind {
	case kindCylinder:
		return section{cx: c[0], cy: c[1], ax: a[0], ay: a[1], ok: true}
	case kindSlab:
		return section{cx: c[0], cy: c[1], ax: a[0], ay: a[1], ok: true, box: true}
	}
	d := (z - c[2]) / a[2]
	if d*d >= 1 {
		return section{}
	}
	f := math.Sqrt(1 - d*d)
	return section{cx: c[0], cy: c[1], ax: a[0] * f, ay: a[1] * f, ok: true}
}

// span returns the x interval of the section on the line y, as lo < x < hi.
func (s section) span(y float64) (lo, hi float64) {
	if !s.ok {
		return 1, -1
	}
	d := (y - s.cy) / s.ay
	if d*d >= 1 {
		return 1, -1
	}
	if s.box {
		return s.cx - s.ax, s.cx + s.ax
	}
	h := s.ax * math.Sqrt(1-d*d)
	return s.cx - h, s.cx + h
}

// tumour is a course's target: a GTV sphere and the PTV sphere 5 mm larger, both about centre.
type tumour struct {
	center vec3
	gtvR   float64
	ptvR   float64
	lung   Shape
}

// ptvMarginMM is the isotropic GTV-to-PTV margin.
const ptvMarginMM = 5

// newTumour places a tumour in one lung such that the whole PTV lies inside it.
func newTumour(rng *rand.Rand) tumour {
	lung := shapeLungL
	if rng.IntN(2) == 0 {
		lung = shapeLungR
	}
	gtv := []float64{10, 12, 14, 16, 18}[rng.IntN(5)]
	off := vec3{rng.Float64()*16 - 8, rng.Float64()*30 - 15, rng.Float64()*60 - 30}
	c := vec3(lung.CenterMM).add(off).rounded(0.5)
	return tumour{center: c, gtvR: gtv, ptvR: gtv + ptvMarginMM, lung: lung}
}

func (t tumour) gtvShape() Shape {
	return Shape{Name: "gtv", ROI: "GTV", Kind: kindEllipsoid, CenterMM: t.center, SemiAxeMM: [3]float64{t.gtvR, t.gtvR, t.gtvR}, HU: huTumour}
}

func (t tumour) ptvShape() Shape {
	return Shape{Name: "ptv", ROI: "PTV", Kind: kindEllipsoid, CenterMM: t.center, SemiAxeMM: [3]float64{t.ptvR, t.ptvR, t.ptvR}, HU: huTumour}
}

// sliceShapes holds the sections of every material on one image plane, in the order the
// classification tests them, plus the capsules (airways, ribs and sternum) that reach the
// plane.
type sliceShapes struct {
	body, tumour, lungL, lungR, heart, cord, spine, esoph, couch section
	z                                                            float64
	airways, ribs                                                []capsule
	// airBuf and ribBuf back the capsule intervals of the last row spans returned.
	airBuf, ribBuf []interval
}

func shapesAt(z float64, t tumour, prone bool) sliceShapes {
	couch := shapeCouch
	if prone {
		couch.CenterMM[1] = -couch.CenterMM[1]
	}
	return sliceShapes{
		body: sectionAt(shapeBody, z), tumour: sectionAt(t.gtvShape(), z),
		lungL: sectionAt(shapeLungL, z), lungR: sectionAt(shapeLungR, z), heart: sectionAt(shapeHeart, z),
		cord: sectionAt(shapeCord, z), spine: sectionAt(shapeSpine, z), esoph: sectionAt(shapeEsoph, z),
		couch: sectionAt(couch, z), z: z,
		airways: capsulesAt(airwayCapsules, z), ribs: capsulesAt(boneCapsules, z),
	}
}

// interval is an open x range; empty when lo >= hi.
type interval struct{ lo, hi float64 }

func (iv interval) has(x float64) bool { return x > iv.lo && x < iv.hi }

// rowSpans are the x intervals of every material on one image row. The capsule intervals
// alias buffers of the sliceShapes that made them and are valid until its next spans call.
type rowSpans struct {
	body, tumour, lungL, lungR, heart, cord, spine, esoph, couch interval
	airways, ribs                                                []interval
}

func (s *sliceShapes) spans(y float64) rowSpans {
	iv := func(sec section) interval { lo, hi := sec.span(y); return interval{lo, hi} }
	s.airBuf, s.ribBuf = s.airBuf[:0], s.ribBuf[:0]
	for _, c := range s.airways {
		if lo, hi := c.span(y, s.z); lo < hi {
			s.airBuf = append(s.airBuf, interval{lo, hi})
		}
	}
	for _, c := range s.ribs {
		if lo, hi := c.span(y, s.z); lo < hi {
			s.ribBuf = append(s.ribBuf, interval{lo, hi})
		}
	}
	return rowSpans{body: iv(s.body), tumour: iv(s.tumour), lungL: iv(s.lungL), lungR: iv(s.lungR),
		heart: iv(s.heart), cord: iv(s.cord), spine: iv(s.spine), esoph: iv(s.esoph), couch: iv(s.couch),
		airways: s.airBuf, ribs: s.ribBuf}
}

// Materials of the phantom, the result of classifying a point.
const (
	matAir = iota
	matCouch
	matTissue
	matTumour
	matAirway
	matLungL
	matLungR
	matHeart
	matCord
	matSpine
	matRib
	matEsoph
	numMaterials
)

// materialHU is the CT number of every material.
var materialHU = [numMaterials]float64{
	matAir: huAir, matCouch: huCouch, matTissue: huTissue, matTumour: huTumour, matAirway: huAir,
	matLungL: huLung, matLungR: huLung, matHeart: huHeart, matCord: huCord, matSpine: huBone,
	matRib: huRibBone, matEsoph: huEsoph,
}

// hu classifies one point of a row.
func (r *rowSpans) hu(x float64) float64 { return materialHU[r.material(x)] }

// material classifies one point of a row. Inside the body the first shape that holds the point
// wins, in the order tumour, airways, lungs, heart, cord, spine, ribs and sternum, oesophagus;
// the rest is soft tissue.
func (r *rowSpans) material(x float64) int {
	if !r.body.has(x) {
		if r.couch.has(x) {
			return matCouch
		}
		return matAir
	}
	switch {
	case r.tumour.has(x):
		return matTumour
	case anyHas(r.airways, x):
		return matAirway
	case r.lungL.has(x):
		return matLungL
	case r.lungR.has(x):
		return matLungR
	case r.heart.has(x):
		return matHeart
	case r.cord.has(x):
		return matCord
	case r.spine.has(x):
		return matSpine
	case anyHas(r.ribs, x):
		return matRib
	case r.esoph.has(x):
		return matEsoph
	}
	return matTissue
}

func anyHas(ivs []interval, x float64) bool {
	for _, iv := range ivs {
		if iv.has(x) {
			return true
		}
	}
	return false
}

// ellipsePolygon returns a closed planar contour of the ellipse (cx, cy, ax, ay) at height z
// as flat x,y,z triples, counter-clockwise. The vertices lie on a slightly enlarged ellipse so
// that the polygon's area equals the ellipse's exactly (an inscribed polygon would be short by
// about 1% with 24 vertices), which keeps rasterised volumes unbiased.
func ellipsePolygon(s section, z float64) []float64 {
	perim := math.Pi * (3*(s.ax+s.ay) - math.Sqrt((3*s.ax+s.ay)*(s.ax+3*s.ay)))
	n := int(math.Ceil(perim / 6))
	n = min(max(n, 32), 128)
	k := math.Sqrt(2 * math.Pi / (float64(n) * math.Sin(2*math.Pi/float64(n))))
	out := make([]float64, 0, 3*n)
	for i := range n {
		th := 2 * math.Pi * float64(i) / float64(n)
		out = append(out, roundTo(s.cx+k*s.ax*math.Cos(th), 0.001), roundTo(s.cy+k*s.ay*math.Sin(th), 0.001), roundTo(z, 0.001))
	}
	return out
}

// minContourSemiAxisMM skips the caps of ellipsoids thinner than this on a plane, where a
// contour would be a speck no planner draws.
const minContourSemiAxisMM = 0.5
