package radiomics

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
)

// Shape features (PyRadiomics class "shape") are computed on a triangle mesh of the ROI boundary
// built by marching cubes over the binary mask padded with one background voxel on every side.
// Mesh vertices lie halfway along every grid edge joining an ROI voxel and a background voxel, so
// all vertex coordinates are multiples of half a voxel. This file keeps them as integers in
// "doubled" grid units (2*index, or 2*index±1 halfway between voxels) and converts to millimetres
// with exactly the arithmetic PyRadiomics uses: (index + offset) * spacing, offset ∈ {0, ½, 1}.
// Throughout, 3-D coordinates are ordered (z, y, x) like PyRadiomics' numpy arrays.

var shapeNames = []string{
	"MeshVolume", "VoxelVolume", "SurfaceArea", "SurfaceVolumeRatio", "Sphericity",
	"Maximum3DDiameter", "Maximum2DDiameterSlice", "Maximum2DDiameterColumn", "Maximum2DDiameterRow",
	"MajorAxisLength", "MinorAxisLength", "LeastAxisLength", "Elongation", "Flatness",
}

// ShapeFeatureNames returns the default (non-deprecated) PyRadiomics 3.0.1 shape feature names,
// the keys ShapeFeatures returns.
func ShapeFeatureNames() []string { return slices.Clone(shapeNames) }

// ShapeFeatures computes the 3-D shape features of a binary mask on its cropped box. mask holds
// the ROI (true) in the same layout as Discretized.Levels: (x,y,z) at (z*size[1]+y)*size[0]+x;
// spacing is (x, y, z) in mm.
//
// The values reproduce PyRadiomics 3.0.1 (C extension enabled): MeshVolume and SurfaceArea from
// the marching-cubes mesh, the four diameters as largest distances between mesh vertices (all of
// them, or those sharing the z, y or x coordinate for Slice, Column and Row), and the axis lengths
// as 4·sqrt of the eigenvalues of the covariance of the voxel-centre coordinates. Background margins
// around the ROI are ignored (the mask is cropped to the ROI bounding box first, as PyRadiomics
// does), so any box containing the ROI gives the same result. Elongation and Flatness are NaN when
// the largest eigenvalue is 0 (a single voxel), as in PyRadiomics. An empty mask is an error.
func ShapeFeatures(mask []bool, size [3]int, spacing [3]float64) (map[string]float64, error) {
	if err := checkShapeInput(mask, size, spacing); err != nil {
		return nil, err
	}
	lo, hi, n := shapeROIBox(mask, size)
	if n == 0 {
		return nil, errors.New("shape: empty mask")
	}
	// Padded, cropped mask: box of the ROI plus one background voxel on each side.
	var pd [3]int // padded sizes (x, y, z)
	for a := range pd {
		pd[a] = hi[a] - lo[a] + 3
	}
	pm := make([]bool, pd[0]*pd[1]*pd[2])
	for z := lo[2]; z <= hi[2]; z++ {
		for y := lo[1]; y <= hi[1]; y++ {
			src := (z*size[1]+y)*size[0] + lo[0]
			dst := ((z-lo[2]+1)*pd[1]+(y-lo[1]+1))*pd[0] + 1
			copy(pm[dst:dst+pd[0]-2], mask[src:src+pd[0]-2])
		}
	}
	sp := [3]float64{spacing[2], spacing[1], spacing[0]} // (z, y, x)

	area, volume := shapeMeshAreaVolume(pm, pd, sp)
	diam := shapeMeshDiameters(shapeBoundaryVertices(pm, pd), [3]int{2*pd[2] + 1, 2*pd[1] + 1, 2*pd[0] + 1}, sp)

	// Covariance of the voxel-centre coordinates, from exact integer moments of the box indices
	// (the covariance does not depend on the origin).
	cov := make([][]float64, 3)
	for i := range cov {
		cov[i] = make([]float64, 3)
	}
	sums := make([]int64, 3)
	prods := make([]int64, 9)
	for z := lo[2]; z <= hi[2]; z++ {
		for y := lo[1]; y <= hi[1]; y++ {
			row := (z*size[1] + y) * size[0]
			for x := lo[0]; x <= hi[0]; x++ {
				if !mask[row+x] {
					continue
				}
				c := [3]int64{int64(z - lo[2]), int64(y - lo[1]), int64(x - lo[0])}
				for i := 0; i < 3; i++ {
					sums[i] += c[i]
					for j := i; j < 3; j++ {
						prods[i*3+j] += c[i] * c[j]
					}
				}
			}
		}
	}
	for i := 0; i < 3; i++ {
		for j := i; j < 3; j++ {
			v := shapeCentralMoment(int64(n), sums[i], sums[j], prods[i*3+j]) * (sp[i] * sp[j])
			cov[i][j], cov[j][i] = v, v
		}
	}
	ev := shapeEigenvalues(cov) // ascending

	f := make(map[string]float64, len(shapeNames))
	f["MeshVolume"] = volume
	f["VoxelVolume"] = float64(n) * (sp[0] * sp[2] * sp[1])
	f["SurfaceArea"] = area
	f["SurfaceVolumeRatio"] = area / volume
	f["Sphericity"] = math.Pow(36*math.Pi*volume*volume, 1.0/3.0) / area
	f["Maximum3DDiameter"] = diam[3]
	f["Maximum2DDiameterSlice"] = diam[0]
	f["Maximum2DDiameterColumn"] = diam[1]
	f["Maximum2DDiameterRow"] = diam[2]
	f["MajorAxisLength"] = shapeAxisLength(ev[2])
	f["MinorAxisLength"] = shapeAxisLength(ev[1])
	f["LeastAxisLength"] = shapeAxisLength(ev[0])
	f["Elongation"] = shapeEigenRatio(ev[1], ev[2])
	f["Flatness"] = shapeEigenRatio(ev[0], ev[2])
	return f, nil
}

func checkShapeInput(mask []bool, size [3]int, spacing [3]float64) error {
	n := 1
	for a := 0; a < 3; a++ {
		if size[a] <= 0 || size[a] > 1<<20 {
			return fmt.Errorf("shape: bad size %v", size)
		}
		if !(spacing[a] > 0) || math.IsInf(spacing[a], 0) {
			return fmt.Errorf("shape: bad spacing %v", spacing)
		}
		n *= size[a]
	}
	if len(mask) != n {
		return fmt.Errorf("shape: mask has %d voxels, size %v needs %d", len(mask), size, n)
	}
	return nil
}

// shapeROIBox returns the inclusive (x, y, z) bounds of the true voxels and their number.
func shapeROIBox(mask []bool, size [3]int) (lo, hi [3]int, n int) {
	lo = size
	hi = [3]int{-1, -1, -1}
	i := 0
	for z := 0; z < size[2]; z++ {
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				if mask[i] {
					n++
					c := [3]int{x, y, z}
					for a := range c {
						lo[a] = min(lo[a], c[a])
						hi[a] = max(hi[a], c[a])
					}
				}
				i++
			}
		}
	}
	return lo, hi, n
}

// shapeCentralMoment returns Σ(a-ā)(b-b̄)/n from exact integer sums: (n·Σab − Σa·Σb) / n², rounded once.
func shapeCentralMoment(n, sa, sb, sab int64) float64 {
	num := new(big.Int).Mul(big.NewInt(n), big.NewInt(sab))
	num.Sub(num, new(big.Int).Mul(big.NewInt(sa), big.NewInt(sb)))
	den := new(big.Int).Mul(big.NewInt(n), big.NewInt(n))
	v, _ := new(big.Rat).SetFrac(num, den).Float64()
	return v
}

// shapeEigenvalues returns the eigenvalues of a small symmetric matrix in ascending order (cyclic
// Jacobi rotations; the matrix is modified). Values in (-1e-10, 0) are set to 0, as PyRadiomics
// does for round-off in flat segmentations.
func shapeEigenvalues(a [][]float64) []float64 {
	n := len(a)
	for sweep := 0; sweep < 100; sweep++ {
		changed := false
		for p := 0; p < n-1; p++ {
			for q := p + 1; q < n; q++ {
				apq := a[p][q]
				if math.Abs(apq) <= 1e-18*(math.Abs(a[p][p])+math.Abs(a[q][q])) {
					a[p][q], a[q][p] = 0, 0
					continue
				}
				changed = true
				theta := (a[q][q] - a[p][p]) / (2 * apq)
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < n; k++ {
					akp, akq := a[k][p], a[k][q]
					a[k][p] = c*akp - s*akq
					a[k][q] = s*akp + c*akq
				}
				for k := 0; k < n; k++ {
					apk, aqk := a[p][k], a[q][k]
					a[p][k] = c*apk - s*aqk
					a[q][k] = s*apk + c*aqk
				}
				a[p][q], a[q][p] = 0, 0
			}
		}
		if !changed {
			break
		}
	}
	ev := make([]float64, n)
	for i := range ev {
		ev[i] = a[i][i]
		if ev[i] < 0 && ev[i] > -1e-10 {
			ev[i] = 0
		}
	}
	slices.Sort(ev)
	return ev
}

func shapeAxisLength(ev float64) float64 {
	if ev < 0 {
		return math.NaN()
	}
	return math.Sqrt(ev) * 4
}

func shapeEigenRatio(small, large float64) float64 {
	if small < 0 || large < 0 {
		return math.NaN()
	}
	return math.Sqrt(small / large) // 0/0 = NaN for a single voxel, as numpy gives
}

// Marching cubes. Cube corners are numbered by their (dz, dy, dx) offsets:
//
//	0 (0,0,0)  1 (0,0,1)  2 (0,1,1)  3 (0,1,0)  4 (1,0,0)  5 (1,0,1)  6 (1,1,1)  7 (1,1,0)
//
// and edges join corners 0-1, 1-2, 2-3, 3-0, 4-5, 5-6, 6-7, 7-4, 0-4, 1-5, 2-6, 3-7.
// shapeMCEdgeMid holds each edge's midpoint in half-voxel units (dz, dy, dx).
var shapeMCEdgeMid = [12][3]int8{
	{0, 0, 1}, {0, 1, 2}, {0, 2, 1}, {0, 1, 0},
	{2, 0, 1}, {2, 1, 2}, {2, 2, 1}, {2, 1, 0},
	{1, 0, 0}, {1, 0, 2}, {1, 2, 2}, {1, 2, 0},
}

// shapeMCCases lists, for every cube index below 128 (bit k set when corner k is in the ROI), the
// triangles of PyRadiomics' marching-cubes case table as edge numbers in hexadecimal, three
// characters per triangle. An index ≥ 128 uses the entry of its complement with the orientation
// (volume sign) reversed. The triangle order and vertex order are those of PyRadiomics, so that
// floating-point sums agree.
var shapeMCCases = [128]string{
	"", "083", "190", "183198", "12a", "08312a", "92a029", "2832a8a98",
	"b23", "b2008b", "190b23", "b2119b98b", "3a1ba3", "a1008a8ba", "9033b9ba9", "98aba8",
	"478", "043473", "190478", "194147173", "12a478", "34730412a", "92a902478", "2a9297273479",
	"478b23", "b47b24204", "190478b23", "47b94bb29192", "3a1ba3478", "ba114b10447b", "4789033b9ba9", "47b4b99ba",
	"954", "954083", "054015", "854835315", "12a954", "08312a954", "2a5542240", "2a5325354834",
	"954b23", "b2008b954", "054015b23", "215258b28548", "3a1ba3954", "549a1008a8ba", "54050ba5bb03", "548a58ba8",
	"789579", "309539357", "780017715", "157173", "78957912a", "12a309395357", "0288258572a5", "2a5253357",
	"579789b23", "579972209b27", "b23018178157", "21b17b157", "7895793a1ba3", "5705097b0a10ba0", "ba003ba50078570", "ba557b",
	"65a", "08365a", "19065a", "18319865a", "165126", "165126083", "965906026", "598582526832",
	"b2365a", "b2008b65a", "190b2365a", "b2119b98b65a", "63b653513", "08b0b50515b6", "63b036065059", "65969bb98",
	"47865a", "04347365a", "19047865a", "19414717365a", "478165126", "043473165126", "478965906026", "739479329596269",
	"b2347865a", "b47b2420465a", "190b2347865a", "47b94bb2919265a", "47863b653513", "51b5b610b47b04b", "47863b036065059", "65969b4797b9",
	"a4964a", "a4964a083", "01aa60640", "18316886461a", "149124264", "149124264083", "024426", "832824426",
	"b23a4964a", "b2008ba4964a", "b2301aa60640", "64161a148b2118b", "964369139b63", "18b081b61149641", "63b036640", "86468b",
	"67a78a89a", "67a0a709a073", "67a1a7178018", "67a1a7173", "126168189678", "269129679309739", "078706602", "273267",
	"b2367a78a89a", "207b2709767a9a7", "67a1a7178018b23", "b2117ba61167", "896678169b63136", "09167b", "07870603bb60", "67b",
}

// shapeMCTris is shapeMCCases decoded: edge numbers, three per triangle.
var shapeMCTris = func() (t [128][]uint8) {
	for c, s := range shapeMCCases {
		for _, ch := range s {
			d := uint8(ch - '0')
			if ch >= 'a' {
				d = uint8(ch-'a') + 10
			}
			t[c] = append(t[c], d)
		}
	}
	return t
}()

// Cube index bits contributed by the four voxels of the cube's low-x face and high-x face. A face
// code packs the voxels (dz, dy) = (0,0), (0,1), (1,0), (1,1) in bits 0..3.
var shapeMCLowX, shapeMCHighX = func() (lowX, highX [16]uint8) {
	low := [4]uint8{1 << 0, 1 << 3, 1 << 4, 1 << 7}
	high := [4]uint8{1 << 1, 1 << 2, 1 << 5, 1 << 6}
	for code := 0; code < 16; code++ {
		for b := 0; b < 4; b++ {
			if code&(1<<b) != 0 {
				lowX[code] |= low[b]
				highX[code] |= high[b]
			}
		}
	}
	return lowX, highX
}()

// shapeMarchCubes visits the mesh triangles of the padded mask pm (sizes pd in (x, y, z) order) in
// PyRadiomics' order: cubes by z, y, x of their origin, triangles in table order. Vertices are
// given in doubled grid units (z, y, x); sign is -1 for triangles taken from a complemented case.
func shapeMarchCubes(pm []bool, pd [3]int, visit func(a, b, c [3]int32, sign float64)) {
	nx, ny, nz := pd[0], pd[1], pd[2]
	face := func(i0 int) uint8 { // i0: voxel (z, y, x); codes voxels (z..z+1, y..y+1, x)
		var c uint8
		if pm[i0] {
			c |= 1
		}
		if pm[i0+nx] {
			c |= 2
		}
		if pm[i0+nx*ny] {
			c |= 4
		}
		if pm[i0+nx*ny+nx] {
			c |= 8
		}
		return c
	}
	var v [3][3]int32
	for iz := 0; iz < nz-1; iz++ {
		for iy := 0; iy < ny-1; iy++ {
			row := (iz*ny + iy) * nx
			left := face(row)
			for ix := 0; ix < nx-1; ix++ {
				right := face(row + ix + 1)
				idx := shapeMCLowX[left] | shapeMCHighX[right]
				left = right
				sign := 1.0
				if idx&0x80 != 0 {
					idx ^= 0xff
					sign = -1
				}
				tris := shapeMCTris[idx]
				for t := 0; t+2 < len(tris); t += 3 {
					for k := 0; k < 3; k++ {
						e := shapeMCEdgeMid[tris[t+k]]
						v[k] = [3]int32{int32(2*iz) + int32(e[0]), int32(2*iy) + int32(e[1]), int32(2*ix) + int32(e[2])}
					}
					visit(v[0], v[1], v[2], sign)
				}
			}
		}
	}
}

// shapeHalfCoord converts a doubled grid coordinate to millimetres as PyRadiomics does:
// (index + offset) * spacing, where index + offset = h/2 exactly.
func shapeHalfCoord(h int32, s float64) float64 { return float64(h) * 0.5 * s }

func shapePhysical(h [3]int32, sp [3]float64) [3]float64 {
	return [3]float64{shapeHalfCoord(h[0], sp[0]), shapeHalfCoord(h[1], sp[1]), shapeHalfCoord(h[2], sp[2])}
}

// shapeMeshAreaVolume returns the mesh surface area (sum of triangle areas) and volume (sum of signed
// volumes of the tetrahedra spanned by each triangle and the grid origin).
func shapeMeshAreaVolume(pm []bool, pd [3]int, sp [3]float64) (area, volume float64) {
	shapeMarchCubes(pm, pd, func(ha, hb, hc [3]int32, sign float64) {
		a, b, c := shapePhysical(ha, sp), shapePhysical(hb, sp), shapePhysical(hc, sp)
		volume += sign * shapeDot(shapeCross(a, b), c)
		for d := 0; d < 3; d++ {
			a[d] -= c[d]
			b[d] -= c[d]
		}
		n := shapeCross(a, b)
		area += 0.5 * math.Sqrt(n[0]*n[0]+n[1]*n[1]+n[2]*n[2])
	})
	return area, volume / 6
}

func shapeCross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - b[1]*a[2], a[2]*b[0] - b[2]*a[0], a[0]*b[1] - b[0]*a[1]}
}

func shapeDot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// shapeBoundaryVertices returns the mesh vertices in doubled grid units (z, y, x): the midpoint of
// every grid edge joining an ROI voxel and a background voxel of the padded mask, once each.
func shapeBoundaryVertices(pm []bool, pd [3]int) [][3]int32 {
	nx, ny, nz := pd[0], pd[1], pd[2]
	steps := [3]int{nx * ny, nx, 1} // neighbour strides along z, y, x
	var out [][3]int32
	for z := 1; z < nz-1; z++ {
		for y := 1; y < ny-1; y++ {
			for x := 1; x < nx-1; x++ {
				i := (z*ny+y)*nx + x
				if !pm[i] {
					continue
				}
				c := [3]int32{int32(2 * z), int32(2 * y), int32(2 * x)}
				for a := 0; a < 3; a++ {
					for _, dir := range [2]int{-1, 1} {
						if !pm[i+dir*steps[a]] {
							v := c
							v[a] += int32(dir)
							out = append(out, v)
						}
					}
				}
			}
		}
	}
	return out
}

// shapeDist2 is the squared distance in PyRadiomics' evaluation order.
func shapeDist2(a, b [3]float64) float64 {
	dz, dy, dx := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return dz*dz + dy*dy + dx*dx
}

// shapeMeshDiameters returns the largest vertex distances between vertices sharing the z, y and x
// coordinate (Slice, Column, Row) and overall (index 3). dims bounds the doubled coordinates.
//
// Only extreme points of a point set can realise its diameter. Per plane of constant z (y, x),
// candidates are reduced to the row-wise extremes, then to the vertices of their convex hull, and
// the plane diameter is found among those. A vertex of the 3-D convex hull is also a hull vertex
// of each of its three axis planes, so the 3-D diameter is sought only among vertices that are
// hull vertices in all three: the result is the exact maximum over all vertex pairs.
func shapeMeshDiameters(verts [][3]int32, dims [3]int, sp [3]float64) (d [4]float64) {
	hullMark := make(map[[3]int32]uint8)
	var pts, hull []shapePt
	for p := 0; p < 3; p++ {
		q, r := (p+1)%3, (p+2)%3
		if q > r {
			q, r = r, q
		}
		np, nq := dims[p], dims[q]
		lo := make([]int32, np*nq)
		hi := make([]int32, np*nq)
		for i := range lo {
			lo[i], hi[i] = math.MaxInt32, -1
		}
		for _, v := range verts {
			k := int(v[p])*nq + int(v[q])
			lo[k] = min(lo[k], v[r])
			hi[k] = max(hi[k], v[r])
		}
		best := 0.0
		for hp := 0; hp < np; hp++ {
			pts = pts[:0]
			for hq := 0; hq < nq; hq++ {
				k := hp*nq + hq
				if hi[k] < 0 {
					continue
				}
				pts = append(pts, shapePt{int32(hq), lo[k]})
				if hi[k] != lo[k] {
					pts = append(pts, shapePt{int32(hq), hi[k]})
				}
			}
			if len(pts) == 0 {
				continue
			}
			hull = shapeHull2(pts, hull[:0])
			phys := make([][3]float64, len(hull))
			for i, h := range hull {
				var v [3]int32
				v[p], v[q], v[r] = int32(hp), h[0], h[1]
				hullMark[v] |= 1 << p
				phys[i] = shapePhysical(v, sp)
			}
			for i := range phys {
				for j := i + 1; j < len(phys); j++ {
					best = max(best, shapeDist2(phys[i], phys[j]))
				}
			}
		}
		d[p] = best
	}
	var cand [][3]float64
	for v, m := range hullMark {
		if m == 7 {
			cand = append(cand, shapePhysical(v, sp))
		}
	}
	d[3] = shapeFarthestPair2(cand, max(d[0], d[1], d[2]))
	for i := range d {
		d[i] = math.Sqrt(d[i])
	}
	return d
}

// shapeKDNode is a node of a k-d tree over 3-D points: the bounding box of pts[start:end] and,
// for an inner node, its two children (left < 0 for a leaf).
type shapeKDNode struct {
	lo, hi      [3]float64
	start, end  int
	left, right int
}

// shapeFarthestPair2 returns the largest squared distance (as shapeDist2 evaluates it) between
// two of pts, or best when no pair exceeds best. pts is reordered. Each point queries a k-d tree
// for its farthest partner, skipping boxes that cannot hold a point farther than the best so far;
// the bound carries a relative margin far above rounding error, so the result is the exact maximum
// of the pairwise values.
func shapeFarthestPair2(pts [][3]float64, best float64) float64 {
	if len(pts) < 2 {
		return best
	}
	var nodes []shapeKDNode
	var build func(start, end int) int
	build = func(start, end int) int {
		nd := shapeKDNode{lo: pts[start], hi: pts[start], start: start, end: end, left: -1, right: -1}
		for _, p := range pts[start+1 : end] {
			for a := 0; a < 3; a++ {
				nd.lo[a] = min(nd.lo[a], p[a])
				nd.hi[a] = max(nd.hi[a], p[a])
			}
		}
		i := len(nodes)
		nodes = append(nodes, nd)
		if end-start <= 8 {
			return i
		}
		axis := 0
		for a := 1; a < 3; a++ {
			if nd.hi[a]-nd.lo[a] > nd.hi[axis]-nd.lo[axis] {
				axis = a
			}
		}
		slices.SortFunc(pts[start:end], func(p, q [3]float64) int { return cmp.Compare(p[axis], q[axis]) })
		mid := (start + end) / 2
		l := build(start, mid)
		r := build(mid, end)
		nodes[i].left, nodes[i].right = l, r
		return i
	}
	build(0, len(pts))
	bound := func(a [3]float64, nd *shapeKDNode) float64 { // squared distance to the farthest box corner
		var s float64
		for k := 0; k < 3; k++ {
			e := max(math.Abs(a[k]-nd.lo[k]), math.Abs(nd.hi[k]-a[k]))
			s += e * e
		}
		return s * (1 + 1e-9)
	}
	var stack []int
	for _, a := range pts {
		stack = append(stack[:0], 0)
		for len(stack) > 0 {
			nd := &nodes[stack[len(stack)-1]]
			stack = stack[:len(stack)-1]
			if bound(a, nd) <= best {
				continue
			}
			if nd.left < 0 {
				for _, b := range pts[nd.start:nd.end] {
					best = max(best, shapeDist2(a, b))
				}
				continue
			}
			l, r := nd.left, nd.right
			if bound(a, &nodes[l]) > bound(a, &nodes[r]) {
				l, r = r, l
			}
			stack = append(stack, l, r) // the farther child is searched first
		}
	}
	return best
}

// shapePt is a 2-D lattice point.
type shapePt [2]int32

func shapeOrient2(o, a, b shapePt) int64 {
	return (int64(a[0])-int64(o[0]))*(int64(b[1])-int64(o[1])) - (int64(a[1])-int64(o[1]))*(int64(b[0])-int64(o[0]))
}

// shapeHull2 appends to out the vertices of the convex hull of pts (sorted lexicographically,
// distinct), without points on hull edges (Andrew's monotone chain, exact integer predicates).
func shapeHull2(pts []shapePt, out []shapePt) []shapePt {
	if len(pts) <= 2 {
		return append(out, pts...)
	}
	base := len(out)
	for _, p := range pts { // lower chain
		for len(out)-base >= 2 && shapeOrient2(out[len(out)-2], out[len(out)-1], p) <= 0 {
			out = out[:len(out)-1]
		}
		out = append(out, p)
	}
	lower := len(out)
	for i := len(pts) - 2; i >= 0; i-- { // upper chain
		p := pts[i]
		for len(out)-lower >= 1 && shapeOrient2(out[len(out)-2], out[len(out)-1], p) <= 0 {
			out = out[:len(out)-1]
		}
		out = append(out, p)
	}
	return out[:len(out)-1] // the last point repeats the first
}
