package qc

import (
	"math"
	"sort"

	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// pt2 is a contour vertex projected onto its plane.
type pt2 struct{ x, y float64 }

// newellNormal returns the (unnormalised) normal of a planar polygon by Newell's method; its
// length is twice the polygon's area.
func newellNormal(pts []grid.Vec) grid.Vec {
	var n grid.Vec
	for i := range pts {
		a, b := pts[i], pts[(i+1)%len(pts)]
		n[0] += (a[1] - b[1]) * (a[2] + b[2])
		n[1] += (a[2] - b[2]) * (a[0] + b[0])
		n[2] += (a[0] - b[0]) * (a[1] + b[1])
	}
	return n
}

// project maps a planar contour to 2-D by dropping the coordinate of the normal's largest
// component (an affine map of the plane, so intersections are preserved).
func project(pts []grid.Vec) []pt2 {
	n := newellNormal(pts)
	drop := 2
	if math.Abs(n[0]) >= math.Abs(n[1]) && math.Abs(n[0]) >= math.Abs(n[2]) {
		drop = 0
	} else if math.Abs(n[1]) >= math.Abs(n[2]) {
		drop = 1
	}
	out := make([]pt2, len(pts))
	for i, p := range pts {
		switch drop {
		case 0:
			out[i] = pt2{p[1], p[2]}
		case 1:
			out[i] = pt2{p[2], p[0]}
		default:
			out[i] = pt2{p[0], p[1]}
		}
	}
	return out
}

// dedupe removes consecutive repeated vertices (within tol) and a closing vertex equal to the
// first.
func dedupe(p []pt2, tol float64) []pt2 {
	out := make([]pt2, 0, len(p))
	for _, q := range p {
		if len(out) > 0 && math.Abs(q.x-out[len(out)-1].x) <= tol && math.Abs(q.y-out[len(out)-1].y) <= tol {
			continue
		}
		out = append(out, q)
	}
	for len(out) > 1 && math.Abs(out[0].x-out[len(out)-1].x) <= tol && math.Abs(out[0].y-out[len(out)-1].y) <= tol {
		out = out[:len(out)-1]
	}
	return out
}

// intersection is the self-intersection finding of one contour.
type intersection struct {
	// crossing: two edges cross properly (a figure-eight or bow-tie).
	crossing bool
	// touching: edges touch without crossing: a vertex on another edge, a repeated vertex,
	// collinear overlapping edges or a spike (keyhole contours touch by construction).
	touching bool
	// complete is false when the pair-test cap stopped the search.
	complete bool
	pairs    int
}

// selfIntersect tests a closed polygon (vertices without the closing repeat) for intersecting
// edges. Broad phase: sort and sweep along x (edges sorted by their smallest x; an edge is
// tested against the active edges whose x-range still overlaps and whose y-range overlaps), so
// the cost is O(n log n) plus the number of candidate pairs, O(n²) only in degenerate layouts;
// at most maxPairs pairs are tested. Narrow phase: exact orientation tests with a tolerance of
// 1e-12 of the squared extent of the contour.
func selfIntersect(p []pt2, maxPairs int) intersection {
	res := intersection{complete: true}
	n := len(p)
	if n < 3 {
		return res
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, q := range p {
		minX, maxX = math.Min(minX, q.x), math.Max(maxX, q.x)
		minY, maxY = math.Min(minY, q.y), math.Max(maxY, q.y)
	}
	ext := math.Max(maxX-minX, maxY-minY)
	eps := 1e-12 * ext * ext
	type seg struct {
		i              int
		x0, x1, y0, y1 float64
	}
	segs := make([]seg, n)
	for i := range n {
		a, b := p[i], p[(i+1)%n]
		segs[i] = seg{i: i, x0: math.Min(a.x, b.x), x1: math.Max(a.x, b.x), y0: math.Min(a.y, b.y), y1: math.Max(a.y, b.y)}
	}
	// Adjacent edges share a vertex; they intersect beyond it only when they fold back on each
	// other (a spike).
	for i := range n {
		a, b, c := p[i], p[(i+1)%n], p[(i+2)%n]
		if math.Abs(orient(a, b, c)) <= eps && (b.x-a.x)*(c.x-b.x)+(b.y-a.y)*(c.y-b.y) < 0 {
			res.touching = true
		}
	}
	if n == 3 {
		return res
	}
	order := make([]seg, n)
	copy(order, segs)
	sort.Slice(order, func(a, b int) bool {
		if order[a].x0 != order[b].x0 {
			return order[a].x0 < order[b].x0
		}
		return order[a].i < order[b].i
	})
	active := make([]seg, 0, 64)
	for _, s := range order {
		keep := active[:0]
		for _, a := range active {
			if a.x1 >= s.x0-1e-9*ext {
				keep = append(keep, a)
			}
		}
		active = keep
		for _, a := range active {
			if a.y1 < s.y0-1e-9*ext || s.y1 < a.y0-1e-9*ext {
				continue
			}
			d := (a.i - s.i + n) % n
			if d == 1 || d == n-1 {
				continue // adjacent: handled above
			}
			res.pairs++
			if res.pairs > maxPairs {
				res.complete = false
				return res
			}
			cross, touch := segmentsIntersect(p[a.i], p[(a.i+1)%n], p[s.i], p[(s.i+1)%n], eps)
			if cross {
				res.crossing = true
			} else if touch {
				res.touching = true
			}
		}
		active = append(active, s)
	}
	return res
}

func orient(a, b, c pt2) float64 { return (b.x-a.x)*(c.y-a.y) - (b.y-a.y)*(c.x-a.x) }

// onSegment tells whether c, collinear with ab, lies within ab's bounding box.
func onSegment(a, b, c pt2, tol float64) bool {
	return c.x >= math.Min(a.x, b.x)-tol && c.x <= math.Max(a.x, b.x)+tol && c.y >= math.Min(a.y, b.y)-tol && c.y <= math.Max(a.y, b.y)+tol
}

// segmentsIntersect tells whether segments ab and cd cross properly, or touch.
func segmentsIntersect(a, b, c, d pt2, eps float64) (cross, touch bool) {
	o1, o2 := orient(a, b, c), orient(a, b, d)
	o3, o4 := orient(c, d, a), orient(c, d, b)
	s := func(v float64) int {
		switch {
		case v > eps:
			return 1
		case v < -eps:
			return -1
		}
		return 0
	}
	s1, s2, s3, s4 := s(o1), s(o2), s(o3), s(o4)
	if s1*s2 < 0 && s3*s4 < 0 {
		return true, false
	}
	tol := math.Sqrt(eps)
	if (s1 == 0 && onSegment(a, b, c, tol)) || (s2 == 0 && onSegment(a, b, d, tol)) ||
		(s3 == 0 && onSegment(c, d, a, tol)) || (s4 == 0 && onSegment(c, d, b, tol)) {
		return false, true
	}
	return false, false
}
