package synth

import (
	"math"
)

// Patient positions, assigned to patients in this order so that every cohort of four or more
// patients has all of them.
var positions = []string{"HFS", "FFS", "HFP", "FFP"}

// orientation returns the image row and column directions of an axial image for a patient
// position: the direction cosines a scanner writes as ImageOrientationPatient.
func orientation(pos string) (row, col vec3) {
	switch pos {
	case "FFS":
		return vec3{-1, 0, 0}, vec3{0, 1, 0}
	case "HFP":
		return vec3{-1, 0, 0}, vec3{0, -1, 0}
	case "FFP":
		return vec3{1, 0, 0}, vec3{0, -1, 0}
	}
	return vec3{1, 0, 0}, vec3{0, 1, 0}
}

func prone(pos string) bool { return pos == "HFP" || pos == "FFP" }

func headFirst(pos string) bool { return pos == "HFS" || pos == "HFP" }

// ctGrid is the geometry of one CT series: square pixels on axial planes, one plane per slice.
// Pixel (r, c) of slice k lies at corner(k) + c*spacing*row + r*spacing*col.
type ctGrid struct {
	size      int // rows = columns
	spacing   float64
	row, col  vec3
	corner    vec3 // x and y of pixel (0, 0); z comes from z
	thickness float64
	z         []float64 // slice positions in InstanceNumber order
}

// newCTGrid builds a grid of n slices of the given thickness whose field of view fov is
// centred on centre (x, y, and z of the middle slice). The scan runs from head to feet for
// head-first positions and from feet to head otherwise, so InstanceNumber order is z-descending
// for head-first series and z-ascending for feet-first ones, as on a scanner. The spacing is
// rounded to what its decimal string can state, so written and used geometry agree exactly.
func newCTGrid(pos string, matrix, n int, thickness, fov float64, centre vec3) *ctGrid {
	row, col := orientation(pos)
	sp := roundTo(fov/float64(matrix), 1e-6)
	half := float64(matrix-1) / 2 * sp
	zc := centre[2]
	corner := centre.sub(row.scale(half)).sub(col.scale(half)).rounded(0.001)
	g := &ctGrid{size: matrix, spacing: sp, row: row, col: col, corner: corner, thickness: thickness}
	first := zc + float64(n-1)/2*thickness
	step := -thickness
	if !headFirst(pos) {
		first, step = zc-float64(n-1)/2*thickness, thickness
	}
	for k := range n {
		g.z = append(g.z, roundTo(first+float64(k)*step, 0.001))
	}
	return g
}

// ipp is the ImagePositionPatient of slice k.
func (g *ctGrid) ipp(k int) vec3 { return vec3{g.corner[0], g.corner[1], g.z[k]} }

// iop is the ImageOrientationPatient of every slice.
func (g *ctGrid) iop() []float64 { return append(g.row.slice(), g.col.slice()...) }

// xs and ys return the x of every column and the y of every row; with axial orientations x
// depends on the column only and y on the row only.
func (g *ctGrid) xs() []float64 {
	out := make([]float64, g.size)
	for c := range out {
		out[c] = g.corner[0] + float64(c)*g.spacing*g.row[0]
	}
	return out
}

func (g *ctGrid) ys() []float64 {
	out := make([]float64, g.size)
	for r := range out {
		out[r] = g.corner[1] + float64(r)*g.spacing*g.col[1]
	}
	return out
}

// doseGrid is a cubic dose grid of n voxels per side with the CT's orientation, centred on a
// voxel at centre. Frames are stacked along row x col, the direction GridFrameOffsetVector
// counts along.
type doseGrid struct {
	n        int
	spacing  float64
	row, col vec3
	origin   vec3 // ImagePositionPatient of the first frame
}

// newDoseGrid covers the ball of radius reach about centre.
func newDoseGrid(pos string, centre vec3, reach, spacing float64) *doseGrid {
	row, col := orientation(pos)
	half := int(math.Ceil(reach / spacing))
	normal := cross(row, col)
	d := float64(half) * spacing
	origin := centre.sub(row.scale(d)).sub(col.scale(d)).sub(normal.scale(d)).rounded(0.001)
	return &doseGrid{n: 2*half + 1, spacing: spacing, row: row, col: col, origin: origin}
}

func (g *doseGrid) normal() vec3 { return cross(g.row, g.col) }

// offsets is the GridFrameOffsetVector: relative, starting at 0.
func (g *doseGrid) offsets() []float64 {
	out := make([]float64, g.n)
	for k := range out {
		out[k] = roundTo(float64(k)*g.spacing, 0.001)
	}
	return out
}
