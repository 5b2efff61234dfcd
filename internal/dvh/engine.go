package dvh

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Methods of DVH computation.
const (
	// MethodExact models every contour as a slab of its plane spacing (half-spacing end caps at
	// the first and last plane), samples it finer than the dose grid and interpolates the dose
	// trilinearly. The default.
	MethodExact = "exact"
	// MethodDicompyler reproduces dicompyler-core 0.5.6: dose-grid pixel centres inside each
	// contour plane, slab thickness = the smallest plane spacing, no end caps, 1 cGy bins.
	MethodDicompyler = "dicompyler"
)

// Options control a DVH computation.
type Options struct {
	// Method is MethodExact (default) or MethodDicompyler.
	Method string
	// SinglePlaneThicknessMM is the slab thickness given to an ROI contoured on one plane only;
	// 0 means the dose grid spacing along the plane normal. SinglePlaneSource says where the
	// caller took it from (reported with the ROI).
	SinglePlaneThicknessMM float64
	SinglePlaneSource      string
	// MaxRamps bounds the sampling work per ROI (0 = 2·10⁷); large ROIs are then sampled more
	// coarsely, which costs them nothing in accuracy that matters.
	MaxRamps float64
}

// Result is the DVH of one ROI with what is needed to judge it.
type Result struct {
	DVH *DVH
	// Skipped is the reason an ROI has no DVH ("" when it has one).
	Skipped string
	// Planes is the number of distinct contour planes; PlaneSpacingMM their typical spacing.
	Planes         int
	PlaneSpacingMM float64
	// ThicknessNote explains the slab thickness of a single-plane ROI.
	ThicknessNote string
	// Warnings lists oddities met (non-planar contours, contours with fewer than 3 points...).
	Warnings []string
}

// ErrNoVolume is returned for ROIs without closed planar contours.
var ErrNoVolume = errors.New("no closed planar contour")

// Compute returns the DVH of an ROI on a dose volume (values in Gy).
func Compute(roi *rt.ROIContours, dose *grid.Volume, opt Options) *Result {
	res := &Result{}
	var closed []rt.Contour
	points, open, tiny := 0, 0, 0
	for _, c := range roi.Contours {
		switch c.Type {
		case rt.ContourClosedPlanar, "":
			if len(c.Points) < 3 {
				tiny++
				continue
			}
			closed = append(closed, c)
		case rt.ContourPoint:
			points++
		default:
			open++
		}
	}
	if tiny > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d contour(s) with fewer than 3 points ignored", tiny))
	}
	if len(closed) == 0 {
		switch {
		case points > 0:
			res.Skipped = "POINT ROI: a point has no volume"
		case open > 0:
			res.Skipped = "only open contours: no enclosed volume"
		case len(roi.Contours) == 0:
			res.Skipped = "empty ROI: no contours"
		default:
			res.Skipped = "no contour with at least 3 points"
		}
		return res
	}
	pl, warn := buildPlanes(closed, dose)
	res.Warnings = append(res.Warnings, warn...)
	res.Planes = len(pl.planes)
	res.PlaneSpacingMM = pl.spacing
	if opt.Method == MethodDicompyler {
		return computeDicompyler(pl, dose, res)
	}
	if len(pl.planes) == 1 {
		t := opt.SinglePlaneThicknessMM
		src := opt.SinglePlaneSource
		if t <= 0 {
			t = doseSpacingAlong(dose.Grid, pl.n)
			src = "dose grid spacing along the plane normal"
		}
		pl.planes[0].lo, pl.planes[0].hi = pl.planes[0].w-t/2, pl.planes[0].w+t/2
		res.ThicknessNote = fmt.Sprintf("single-plane ROI: slab thickness %.3g mm (%s)", t, src)
		res.PlaneSpacingMM = t
	}
	res.DVH = sampleExact(pl, dose, opt)
	return res
}

// plane is one contour plane of an ROI: its position w along the normal, its slab [lo, hi], and
// its contours in plane coordinates (u along basis a, v along basis b).
type plane struct {
	w, lo, hi float64
	polys     [][][2]float64
}

type planeSet struct {
	n, a, b grid.Vec
	planes  []*plane
	spacing float64
	// scanAxis is the dose-grid axis (0 or 1) the scan lines run along when the contour planes
	// are parallel to the dose planes, else -1.
	scanAxis int
}

// buildPlanes finds the contour planes and the slab of each. The normal comes from the contours
// (Newell's method on the largest one), so oblique structure sets work; the in-plane basis
// follows the dose grid's row direction so scan lines run along dose rows when they can.
func buildPlanes(contours []rt.Contour, dose *grid.Volume) (*planeSet, []string) {
	g := dose.Grid
	var warns []string
	best, bestArea := grid.Vec{}, 0.0
	for _, c := range contours {
		nv := newell(c.Points)
		if a := nv.Norm(); a > bestArea {
			best, bestArea = nv, a
		}
	}
	n := g.Axes[2]
	if bestArea > 1e-9 {
		n = best.Scale(1 / bestArea)
		if n.Dot(g.Axes[2]) < 0 {
			n = n.Scale(-1)
		}
		if math.Abs(n.Dot(g.Axes[2])) > 1-1e-6 {
			n = g.Axes[2] // snap: contours parallel to dose planes up to rounding
		}
	}
	// Scan along the in-plane dose axis with the larger gradient, so the sampled direction has
	// the smaller one.
	scanAxis := -1
	if n == g.Axes[2] {
		scanAxis = 0
		var corners []grid.Vec
		lo, hi := grid.Vec{math.Inf(1), math.Inf(1), math.Inf(1)}, grid.Vec{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
		for _, c := range contours {
			for _, p := range c.Points {
				for k := 0; k < 3; k++ {
					lo[k], hi[k] = math.Min(lo[k], p[k]), math.Max(hi[k], p[k])
				}
			}
		}
		for _, x := range []float64{lo[0], hi[0]} {
			for _, y := range []float64{lo[1], hi[1]} {
				for _, z := range []float64{lo[2], hi[2]} {
					corners = append(corners, grid.Vec{x, y, z})
				}
			}
		}
		if reg := doseRegion(dose, corners); reg.grad[1] > reg.grad[0] {
			scanAxis = 1
		}
	}
	axis := g.Axes[max(scanAxis, 0)]
	a := axis.Sub(n.Scale(axis.Dot(n)))
	if a.Norm() < 1e-6 {
		a = g.Axes[1].Sub(n.Scale(g.Axes[1].Dot(n)))
	}
	a = a.Scale(1 / a.Norm())
	b := n.Cross(a)
	type item struct {
		w    float64
		poly [][2]float64
	}
	items := make([]item, 0, len(contours))
	nonPlanar := 0
	for _, c := range contours {
		sum := 0.0
		for _, p := range c.Points {
			sum += p.Dot(n)
		}
		w := sum / float64(len(c.Points))
		poly := make([][2]float64, len(c.Points))
		for i, p := range c.Points {
			if math.Abs(p.Dot(n)-w) > 0.05 {
				nonPlanar++
			}
			poly[i] = [2]float64{p.Dot(a), p.Dot(b)}
		}
		items = append(items, item{w, poly})
	}
	if nonPlanar > 0 {
		warns = append(warns, fmt.Sprintf("%d contour points lie more than 0.05 mm off their contour plane", nonPlanar))
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].w < items[j].w })
	ps := &planeSet{n: n, a: a, b: b, scanAxis: scanAxis}
	for _, it := range items {
		if k := len(ps.planes); k > 0 && it.w-ps.planes[k-1].w < 0.01 {
			ps.planes[k-1].polys = append(ps.planes[k-1].polys, it.poly)
			continue
		}
		ps.planes = append(ps.planes, &plane{w: it.w, polys: [][][2]float64{it.poly}})
	}
	// Slabs: the typical spacing is the median gap; each plane reaches halfway to its neighbours,
	// and a gap wider than 1.5 spacings is a real gap, so both sides get half-spacing end caps.
	if len(ps.planes) > 1 {
		gaps := make([]float64, len(ps.planes)-1)
		for i := range gaps {
			gaps[i] = ps.planes[i+1].w - ps.planes[i].w
		}
		sorted := append([]float64(nil), gaps...)
		sort.Float64s(sorted)
		ps.spacing = sorted[len(sorted)/2]
		half := ps.spacing / 2
		for i, p := range ps.planes {
			p.lo, p.hi = p.w-half, p.w+half
			if i > 0 && gaps[i-1] <= 1.5*ps.spacing {
				p.lo = p.w - gaps[i-1]/2
			}
			if i < len(gaps) && gaps[i] <= 1.5*ps.spacing {
				p.hi = p.w + gaps[i]/2
			}
		}
	}
	return ps, warns
}

// newell returns the polygon normal scaled by twice its area (Newell's method).
func newell(pts []grid.Vec) grid.Vec {
	var nv grid.Vec
	for i := range pts {
		p, q := pts[i], pts[(i+1)%len(pts)]
		nv[0] += (p[1] - q[1]) * (p[2] + q[2])
		nv[1] += (p[2] - q[2]) * (p[0] + q[0])
		nv[2] += (p[0] - q[0]) * (p[1] + q[1])
	}
	return nv
}

// doseSpacingAlong is the dose grid spacing along direction n (the axis it is closest to).
func doseSpacingAlong(g *grid.Grid, n grid.Vec) float64 {
	best, sp := -1.0, g.Spacing[2]
	for ax := 0; ax < 3; ax++ {
		c := math.Abs(g.Axes[ax].Dot(n))
		s := g.Spacing[ax]
		if ax == 2 && g.SliceOffsets != nil {
			s = (g.SliceOffsets[len(g.SliceOffsets)-1] - g.SliceOffsets[0]) / float64(len(g.SliceOffsets)-1)
		}
		if c > best {
			best, sp = c, s
		}
	}
	return sp
}

// polyArea is the signed shoelace area of a polygon.
func polyArea(p [][2]float64) float64 {
	s := 0.0
	for i := range p {
		q, r := p[i], p[(i+1)%len(p)]
		s += q[0]*r[1] - r[0]*q[1]
	}
	return s / 2
}

// pointInPoly is the even-odd test of a point against one polygon.
func pointInPoly(x, y float64, p [][2]float64) bool {
	in := false
	for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
		yi, yj := p[i][1], p[j][1]
		if (yi > y) != (yj > y) {
			xc := p[i][0] + (y-yi)/(yj-yi)*(p[j][0]-p[i][0])
			if x < xc {
				in = !in
			}
		}
	}
	return in
}

// evenOddArea is the area enclosed under the even-odd rule, assuming contours do not cross each
// other (nested holes and islands): each contour counts positive or negative by how many other
// contours contain it.
func evenOddArea(polys [][][2]float64) float64 {
	total := 0.0
	for i, p := range polys {
		depth := 0
		for j, q := range polys {
			if i != j && pointInPoly(p[0][0], p[0][1], q) {
				depth++
			}
		}
		a := math.Abs(polyArea(p))
		if depth%2 == 1 {
			a = -a
		}
		total += a
	}
	return total
}

// crossings returns the sorted u positions where the line v = y crosses the plane's contours;
// consecutive pairs bound the inside intervals (even-odd).
func crossings(polys [][][2]float64, y float64, buf []float64) []float64 {
	buf = buf[:0]
	for _, p := range polys {
		for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
			yi, yj := p[i][1], p[j][1]
			if (yi > y) != (yj > y) {
				buf = append(buf, p[i][0]+(y-yi)/(yj-yi)*(p[j][0]-p[i][0]))
			}
		}
	}
	sort.Float64s(buf)
	return buf
}

// ComputeAll computes the DVHs of several ROIs with up to workers goroutines; results keep the
// ROI order whatever the worker count.
func ComputeAll(rois []*rt.ROIContours, dose *grid.Volume, opt Options, workers int) []*Result {
	out := make([]*Result, len(rois))
	next := make(chan int)
	done := make(chan struct{})
	for w := 0; w < max(workers, 1); w++ {
		go func() {
			for i := range next {
				out[i] = Compute(rois[i], dose, opt)
			}
			done <- struct{}{}
		}()
	}
	for i := range rois {
		next <- i
	}
	close(next)
	for w := 0; w < max(workers, 1); w++ {
		<-done
	}
	return out
}
