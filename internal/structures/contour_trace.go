package structures

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// Geometry of traced contours, in voxels (index space of the slice).
const (
	// traceChamfer is how far from a saddle corner (a corner shared by two diagonal mask pixels
	// and nothing else) the contour cuts that corner, so that contours never touch. Pixel centres
	// lie at least (1 - traceChamfer)/√2 ≈ 0.64 voxel from the cut, so no centre changes side;
	// the cut costs the polygon traceChamfer²/2 = 0.005 pixel of area.
	traceChamfer = 0.1
	// traceBorderInset pulls contour edges that lie on the outer border of the image (the
	// pixel edges at -0.5 and n-0.5) this far inside, so that rounding in the written
	// coordinates cannot put them outside the image (which readers report as clipping).
	traceBorderInset = 1e-3
)

// SliceContour is one closed planar contour traced from a mask: the slice index k it lies on
// and its vertices in patient coordinates (mm), the closing edge from the last vertex back to
// the first implied.
type SliceContour struct {
	Slice  int
	Points []grid.Vec
}

// TraceMask traces the outlines of a mask (non-zero, non-NaN voxels inside) slice by slice as
// closed planar polygons on the mask's own grid, such that Rasterize of the polygons gives the
// mask back exactly.
//
// Each polygon follows pixel edges: its vertices are pixel corners, at half-integer indices
// (i ± 0.5, j ± 0.5) in the slice plane, so no pixel centre ever lies on or near a contour,
// and a centre is inside the polygons by the even-odd rule exactly when its pixel is in the
// mask. Islands give separate contours, and holes give separate contours inside their island,
// to be combined by the even-odd rule as Rasterize and most planning systems do. The mask lies
// on the same side of every edge, so holes run opposite to outlines and the non-zero winding
// rule gives the same result; readers that fill every contour and take the union (plastimatch
// without --xor-contours) fill the holes.
//
// Only corners are kept (no collinear vertices), and every contour has at least 4 vertices (a
// single voxel is its pixel square). Pixels touching only at a corner are outlined separately
// and the shared corner is cut off 0.1 voxel from it on each side, so contours never touch or
// cross (the polygon loses 0.005 pixel of area per cut). Edges on the image border are moved
// 0.001 voxel inwards so that the contours stay inside the image.
//
// The contours come ordered by slice, then by the raster position (j, then i) of their first
// vertex, which makes the output deterministic. Slices with no mask voxel give no contour.
func TraceMask(mask *imageio.Image) ([]SliceContour, error) {
	if mask == nil || mask.Grid == nil {
		return nil, errors.New("no mask")
	}
	g := mask.Grid
	if g.Size[0] <= 0 || g.Size[1] <= 0 || g.Size[2] <= 0 {
		return nil, fmt.Errorf("mask grid %v is empty", g.Size)
	}
	if len(mask.Data) != g.Voxels() {
		return nil, fmt.Errorf("mask holds %d values for a %v grid", len(mask.Data), g.Size)
	}
	var out []SliceContour
	var tr maskTracer
	for k := 0; k < g.Size[2]; k++ {
		for _, poly := range tr.traceSlice(mask.Data, nil, k, g.Size[0], g.Size[1]) {
			out = append(out, SliceContour{Slice: k, Points: slicePoints(g, k, poly)})
		}
	}
	return out, nil
}

// slicePoints maps a flat list of (x, y) index-space vertices of slice k to patient
// coordinates.
func slicePoints(g *grid.Grid, k int, xy []float64) []grid.Vec {
	o := g.Point(0, 0, k)
	ax := g.Axes[0].Scale(g.Spacing[0])
	ay := g.Axes[1].Scale(g.Spacing[1])
	pts := make([]grid.Vec, len(xy)/2)
	for p := range pts {
		x, y := xy[2*p], xy[2*p+1]
		pts[p] = grid.Vec{
			o[0] + x*ax[0] + y*ay[0],
			o[1] + x*ax[1] + y*ay[1],
			o[2] + x*ax[2] + y*ay[2],
		}
	}
	return pts
}

// Directions of travel along pixel edges, in index space (x = i, y = j). A directed edge has
// the mask on the side of rot(d) = (d+1) mod 4: east edges have the mask at +y, south edges at
// -x, west edges at -y and north edges at +x.
const (
	traceE = iota
	traceS
	traceW
	traceN
)

var (
	traceDX = [4]int{1, 0, -1, 0}
	traceDY = [4]int{0, 1, 0, -1}
)

// maskTracer holds the buffers reused from slice to slice.
type maskTracer struct {
	pad     []uint8 // mask pixels of the bounding box with a one-pixel empty border
	outs    []uint8 // per vertex: bit d set when a boundary edge leaves it in direction d
	visited []uint8 // per vertex: bit d set once that edge is part of a traced contour
}

// traceSlice traces slice k of a volume of nx × ny slices. Voxel (i, j, k) is data[idx] with
// idx = (k*ny+j)*nx+i, or data[pair[idx]] when pair is not nil. It returns each contour as a
// flat list x0, y0, x1, y1, ... of index-space vertices.
func (t *maskTracer) traceSlice(data []float64, pair []int, k, nx, ny int) [][]float64 {
	base := k * nx * ny
	// Bounding box of the slice's mask pixels.
	i0, i1, j0, j1 := nx, -1, ny, -1
	for j := 0; j < ny; j++ {
		row := base + j*nx
		first, last := -1, -1
		if pair == nil {
			for i, v := range data[row : row+nx] {
				if inMask(v) {
					if first < 0 {
						first = i
					}
					last = i
				}
			}
		} else {
			for i, p := range pair[row : row+nx] {
				if inMask(data[p]) {
					if first < 0 {
						first = i
					}
					last = i
				}
			}
		}
		if first < 0 {
			continue
		}
		i0, i1 = min(i0, first), max(i1, last)
		j0, j1 = min(j0, j), j
	}
	if i1 < 0 {
		return nil
	}
	w, h := i1-i0+1, j1-j0+1
	// Padded pixels: pixel (i, j) of the box is pad[(j+1)*pw + i+1].
	pw, ph := w+2, h+2
	t.pad = traceReset(t.pad, pw*ph)
	for j := 0; j < h; j++ {
		row := base + (j0+j)*nx + i0
		dst := t.pad[(j+1)*pw+1 : (j+1)*pw+1+w]
		if pair == nil {
			for i, v := range data[row : row+w] {
				if inMask(v) {
					dst[i] = 1
				}
			}
		} else {
			for i, p := range pair[row : row+w] {
				if inMask(data[p]) {
					dst[i] = 1
				}
			}
		}
	}
	// Vertex (a, b), a in 0..w and b in 0..h, is the corner shared by box pixels (a-1, b-1),
	// (a, b-1), (a-1, b) and (a, b); its index-space position is (i0+a-0.5, j0+b-0.5).
	vw, vh := w+1, h+1
	t.outs = traceReset(t.outs, vw*vh)
	t.visited = traceReset(t.visited, vw*vh)
	for b := 0; b < vh; b++ {
		up, down := t.pad[b*pw:(b+1)*pw], t.pad[(b+1)*pw:(b+2)*pw]
		outs := t.outs[b*vw : (b+1)*vw]
		for a := range outs {
			tl, tr, bl, br := up[a], up[a+1], down[a], down[a+1]
			outs[a] = (br&^tr)<<traceE | (bl&^br)<<traceS | (tl&^bl)<<traceW | (tr&^tl)<<traceN
		}
	}
	// Image border in index space, pulled inwards.
	xlo, xhi := -0.5+traceBorderInset, float64(nx)-0.5-traceBorderInset
	ylo, yhi := -0.5+traceBorderInset, float64(ny)-0.5-traceBorderInset
	clamp := func(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }
	var polys [][]float64
	for v0, outs := range t.outs {
		for todo := outs &^ t.visited[v0]; todo != 0; todo = t.outs[v0] &^ t.visited[v0] {
			d0 := bits.TrailingZeros8(todo)
			a, b, d := v0%vw, v0/vw, d0
			var xy []float64
			for {
				v := b*vw + a
				t.visited[v] |= 1 << d
				a, b = a+traceDX[d], b+traceDY[d]
				v = b*vw + a
				nd := d
				o := t.outs[v]
				saddle := bits.OnesCount8(o) == 2
				if saddle {
					nd = (d + 1) & 3 // keep following the same pixel
				} else {
					nd = bits.TrailingZeros8(o)
				}
				if nd != d {
					x, y := float64(i0+a)-0.5, float64(j0+b)-0.5
					if saddle {
						xy = append(xy,
							x-traceChamfer*float64(traceDX[d]), y-traceChamfer*float64(traceDY[d]),
							x+traceChamfer*float64(traceDX[nd]), y+traceChamfer*float64(traceDY[nd]))
					} else {
						xy = append(xy, clamp(x, xlo, xhi), clamp(y, ylo, yhi))
					}
				}
				d = nd
				if v == v0 && d == d0 {
					break
				}
			}
			polys = append(polys, xy)
		}
	}
	return polys
}

// traceReset returns a zeroed slice of length n, reusing buf when it is large enough.
func traceReset(buf []uint8, n int) []uint8 {
	if cap(buf) < n {
		return make([]uint8, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}
