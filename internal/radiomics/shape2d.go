package radiomics

import (
	"fmt"
	"math"
	"slices"
)

var shape2DNames = []string{
	"MeshSurface", "PixelSurface", "Perimeter", "PerimeterSurfaceRatio", "Sphericity",
	"MaximumDiameter", "MajorAxisLength", "MinorAxisLength", "Elongation",
}

// Shape2DFeatureNames returns the default (non-deprecated) PyRadiomics 3.0.1 shape2D feature
// names, the keys Shape2DFeatures returns.
func Shape2DFeatureNames() []string { return slices.Clone(shape2DNames) }

// Shape2DFeatures computes shape2D on a mask whose extent along force2Ddimension (0 = z, 1 = y,
// 2 = x, in numpy (z,y,x) terms as PyRadiomics) is one voxel; an error otherwise.
//
// mask, size and spacing are laid out as for ShapeFeatures. The ROI's bounding box must be one
// voxel thick along force2DDimension (PyRadiomics requires the cropped mask to be); the two other
// axes form the plane, in numpy order (rows = the slower axis). As in PyRadiomics 3.0.1, the
// perimeter mesh comes from marching squares on the plane padded by one background pixel, with
// vertices halfway along pixel edges: MeshSurface is the signed area it encloses, Perimeter its
// length, MaximumDiameter the largest distance between its vertices, and the axis lengths are
// 4·sqrt of the eigenvalues of the covariance of the pixel-centre coordinates.
func Shape2DFeatures(mask []bool, size [3]int, spacing [3]float64, force2DDimension int) (map[string]float64, error) {
	if err := checkShapeInput(mask, size, spacing); err != nil {
		return nil, err
	}
	if force2DDimension < 0 || force2DDimension > 2 {
		return nil, fmt.Errorf("shape2D: force2Ddimension %d not in 0..2", force2DDimension)
	}
	lo, hi, n := shapeROIBox(mask, size)
	if n == 0 {
		return nil, fmt.Errorf("shape2D: empty mask")
	}
	drop := 2 - force2DDimension // numpy axis → (x, y, z) index
	if hi[drop] != lo[drop] {
		return nil, fmt.Errorf("shape2D: ROI spans %d voxels along force2Ddimension %d; it must be 1",
			hi[drop]-lo[drop]+1, force2DDimension)
	}
	var ra, ca int // (x, y, z) indices of the plane's row and column axes
	switch drop {
	case 0:
		ra, ca = 2, 1
	case 1:
		ra, ca = 2, 0
	default:
		ra, ca = 1, 0
	}
	nr, nc := hi[ra]-lo[ra]+3, hi[ca]-lo[ca]+3 // padded plane size
	pm := make([]bool, nr*nc)
	var sums [2]int64
	var prods [3]int64 // rr, rc, cc
	stride := [3]int{1, size[0], size[0] * size[1]}
	base := lo[0]*stride[0] + lo[1]*stride[1] + lo[2]*stride[2]
	for r := 0; r <= hi[ra]-lo[ra]; r++ {
		for c := 0; c <= hi[ca]-lo[ca]; c++ {
			if mask[base+r*stride[ra]+c*stride[ca]] {
				pm[(r+1)*nc+c+1] = true
				rr, cc := int64(r), int64(c)
				sums[0] += rr
				sums[1] += cc
				prods[0] += rr * rr
				prods[1] += rr * cc
				prods[2] += cc * cc
			}
		}
	}
	sp := [2]float64{spacing[ra], spacing[ca]}

	perimeter, surface := shapeMarchSquares(pm, nr, nc, sp)
	diam := shapePlaneDiameter(pm, nr, nc, sp)

	cov := [][]float64{
		{shapeCentralMoment(int64(n), sums[0], sums[0], prods[0]) * (sp[0] * sp[0]), 0},
		{0, shapeCentralMoment(int64(n), sums[1], sums[1], prods[2]) * (sp[1] * sp[1])},
	}
	cov[0][1] = shapeCentralMoment(int64(n), sums[0], sums[1], prods[1]) * (sp[0] * sp[1])
	cov[1][0] = cov[0][1]
	ev := shapeEigenvalues(cov) // ascending

	f := make(map[string]float64, len(shape2DNames))
	f["MeshSurface"] = surface
	f["PixelSurface"] = float64(n) * (sp[1] * sp[0])
	f["Perimeter"] = perimeter
	f["PerimeterSurfaceRatio"] = perimeter / surface
	f["Sphericity"] = 2 * math.Sqrt(math.Pi*surface) / perimeter
	f["MaximumDiameter"] = diam
	f["MajorAxisLength"] = shapeAxisLength(ev[1])
	f["MinorAxisLength"] = shapeAxisLength(ev[0])
	f["Elongation"] = shapeEigenRatio(ev[0], ev[1])
	return f, nil
}

// Marching squares. Square corners (drow, dcol): 0 (0,0), 1 (0,1), 2 (1,1), 3 (1,0); edges join
// corners 0-1, 1-2, 2-3, 3-0, with midpoints shapeMSEdgeMid in half-pixel units.
var shapeMSEdgeMid = [4][2]int32{{0, 1}, {1, 2}, {2, 1}, {1, 0}}

// shapeMSCases lists the boundary segments of each square index (bit k set when corner k is in the
// ROI) as pairs of edge numbers, oriented as in PyRadiomics so that the signed area of the
// triangles (origin, a, b) sums to the enclosed area.
var shapeMSCases = [16]string{"", "30", "01", "31", "12", "1230", "02", "32", "23", "20", "0123", "21", "13", "10", "03", ""}

// shapeMarchSquares returns the perimeter and enclosed (signed) area of the boundary of the padded
// plane mask pm (nr rows × nc columns), with spacing sp (row, column), summing segments square by
// square in row-major order like PyRadiomics.
func shapeMarchSquares(pm []bool, nr, nc int, sp [2]float64) (perimeter, surface float64) {
	for iy := 0; iy < nr-1; iy++ {
		for ix := 0; ix < nc-1; ix++ {
			i := iy*nc + ix
			var idx int
			if pm[i] {
				idx |= 1
			}
			if pm[i+1] {
				idx |= 2
			}
			if pm[i+nc+1] {
				idx |= 4
			}
			if pm[i+nc] {
				idx |= 8
			}
			seg := shapeMSCases[idx]
			for s := 0; s+1 < len(seg); s += 2 {
				ea, eb := shapeMSEdgeMid[seg[s]-'0'], shapeMSEdgeMid[seg[s+1]-'0']
				a := [2]float64{shapeHalfCoord(int32(2*iy)+ea[0], sp[0]), shapeHalfCoord(int32(2*ix)+ea[1], sp[1])}
				b := [2]float64{shapeHalfCoord(int32(2*iy)+eb[0], sp[0]), shapeHalfCoord(int32(2*ix)+eb[1], sp[1])}
				surface += a[0]*b[1] - b[0]*a[1]
				d0, d1 := a[0]-b[0], a[1]-b[1]
				perimeter += math.Sqrt(d0*d0 + d1*d1)
			}
		}
	}
	return perimeter, surface / 2
}

// shapePlaneDiameter returns the largest distance between boundary vertices (midpoints of the edges
// joining an ROI pixel and a background pixel) of the padded plane mask, found among the vertices
// of their convex hull.
func shapePlaneDiameter(pm []bool, nr, nc int, sp [2]float64) float64 {
	// Row-wise extremes in doubled units; rows 2r±1 hold only vertical-edge midpoints.
	dr := 2*nr + 1
	lo := make([]int32, dr)
	hi := make([]int32, dr)
	for i := range lo {
		lo[i], hi[i] = math.MaxInt32, -1
	}
	add := func(r, c int32) {
		lo[r] = min(lo[r], c)
		hi[r] = max(hi[r], c)
	}
	for r := 1; r < nr-1; r++ {
		for c := 1; c < nc-1; c++ {
			i := r*nc + c
			if !pm[i] {
				continue
			}
			hr, hc := int32(2*r), int32(2*c)
			if !pm[i-nc] {
				add(hr-1, hc)
			}
			if !pm[i+nc] {
				add(hr+1, hc)
			}
			if !pm[i-1] {
				add(hr, hc-1)
			}
			if !pm[i+1] {
				add(hr, hc+1)
			}
		}
	}
	var pts []shapePt
	for r := 0; r < dr; r++ {
		if hi[r] < 0 {
			continue
		}
		pts = append(pts, shapePt{int32(r), lo[r]})
		if hi[r] != lo[r] {
			pts = append(pts, shapePt{int32(r), hi[r]})
		}
	}
	hull := shapeHull2(pts, nil)
	phys := make([][2]float64, len(hull))
	for i, h := range hull {
		phys[i] = [2]float64{shapeHalfCoord(h[0], sp[0]), shapeHalfCoord(h[1], sp[1])}
	}
	best := 0.0
	for i := range phys {
		for j := i + 1; j < len(phys); j++ {
			d0, d1 := phys[i][0]-phys[j][0], phys[i][1]-phys[j][1]
			best = max(best, d0*d0+d1*d1)
		}
	}
	return math.Sqrt(best)
}
