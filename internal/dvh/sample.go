package dvh

import (
	"math"
	"sort"

	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// region is the part of the dose grid around an ROI: index bounds, maximum dose and the largest
// dose change per mm along each grid axis.
type region struct {
	lo, hi [3]int
	maxGy  float64
	grad   [3]float64
}

func doseRegion(v *grid.Volume, corners []grid.Vec) region {
	g := v.Grid
	r := region{}
	for a := 0; a < 3; a++ {
		r.lo[a], r.hi[a] = g.Size[a]-1, 0
	}
	for _, c := range corners {
		fi, fj, fk := g.ContinuousIndex(c)
		for a, f := range [3]float64{fi, fj, fk} {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				f = 0
			}
			lo, hi := int(math.Floor(f))-1, int(math.Ceil(f))+1
			r.lo[a] = min(r.lo[a], max(lo, 0))
			r.hi[a] = max(r.hi[a], min(hi, g.Size[a]-1))
		}
	}
	nx, ny := g.Size[0], g.Size[1]
	spacing := g.Spacing
	if g.SliceOffsets != nil {
		spacing[2] = math.Inf(1)
		for k := 1; k < len(g.SliceOffsets); k++ {
			spacing[2] = math.Min(spacing[2], g.SliceOffsets[k]-g.SliceOffsets[k-1])
		}
	}
	for k := r.lo[2]; k <= r.hi[2]; k++ {
		for j := r.lo[1]; j <= r.hi[1]; j++ {
			row := v.Data[(k*ny+j)*nx:]
			for i := r.lo[0]; i <= r.hi[0]; i++ {
				d := float64(row[i])
				r.maxGy = math.Max(r.maxGy, d)
				if i < r.hi[0] {
					r.grad[0] = math.Max(r.grad[0], math.Abs(float64(row[i+1])-d)/spacing[0])
				}
				if j < r.hi[1] {
					r.grad[1] = math.Max(r.grad[1], math.Abs(float64(v.Data[(k*ny+j+1)*nx+i])-d)/spacing[1])
				}
				if k < r.hi[2] {
					r.grad[2] = math.Max(r.grad[2], math.Abs(float64(v.Data[((k+1)*ny+j)*nx+i])-d)/spacing[2])
				}
			}
		}
	}
	return r
}

// sampleExact integrates the dose over the ROI's slabs. Scan lines run along the plane's u axis.
// When u and the plane normal w are dose-grid axes (the usual case), the trilinear dose over a
// scan-line piece within one dose cell and a slab piece between two dose planes is bilinear in
// (u, w): each such piece adds an exact trapezoidal density (linear in u and w), so only the
// remaining in-plane direction v is sampled, on rows close enough that the dose changes by at
// most ε between them; the scan direction is chosen so that v is the in-plane axis with the
// smaller dose gradient. Otherwise (oblique contours or grids) points are sampled in u, v and w.
// Each plane's samples are rescaled to its exact even-odd polygon area, so the volume is exact for
// the contours as drawn.
func sampleExact(pl *planeSet, dose *grid.Volume, opt Options) *DVH {
	g := dose.Grid
	aligned := pl.scanAxis >= 0
	var corners []grid.Vec
	umin, umax, vmin, vmax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	maxArea := 0.0
	for _, p := range pl.planes {
		for _, poly := range p.polys {
			for _, q := range poly {
				umin, umax = math.Min(umin, q[0]), math.Max(umax, q[0])
				vmin, vmax = math.Min(vmin, q[1]), math.Max(vmax, q[1])
			}
		}
		maxArea = math.Max(maxArea, math.Abs(evenOddArea(p.polys)))
	}
	wlo, whi := pl.planes[0].lo, pl.planes[len(pl.planes)-1].hi
	for _, u := range []float64{umin, umax} {
		for _, v := range []float64{vmin, vmax} {
			for _, w := range []float64{wlo, whi} {
				corners = append(corners, pl.a.Scale(u).Add(pl.b.Scale(v)).Add(pl.n.Scale(w)))
			}
		}
	}
	reg := doseRegion(dose, corners)
	h := newHistogram(reg.maxGy)
	eps := math.Max(0.002*reg.maxGy, 0.005)
	spV := doseSpacingAlong(g, pl.b)
	spW := doseSpacingAlong(g, pl.n)
	var gradV float64
	if aligned {
		gradV = reg.grad[1-pl.scanAxis]
	} else {
		gradV = math.Max(reg.grad[0], math.Max(reg.grad[1], reg.grad[2]))
	}
	eqDiam := 2 * math.Sqrt(maxArea/math.Pi)
	hv := math.Min(spV/4, math.Max(eqDiam/50, 0.01))
	if gradV > 0 {
		hv = math.Min(hv, eps/gradV)
	}
	hv = math.Max(hv, math.Max(spV/64, 0.005))
	hu, hw := hv, math.Max(math.Min(spW/4, eps/math.Max(gradV, 1e-12)), spW/64)
	maxRamps := opt.MaxRamps
	if maxRamps <= 0 {
		maxRamps = 1e7
	}
	// Work estimate: rows × slab pieces × cells crossed per row.
	est := 0.0
	for _, p := range pl.planes {
		pieces, cells := 2.0, (umax-umin)/g.Spacing[max(pl.scanAxis, 0)]+2
		if !aligned {
			pieces, cells = math.Ceil((p.hi-p.lo)/hw), (umax-umin)/hu
		}
		est += (vmax - vmin) / hv * pieces * cells
	}
	if est > maxRamps {
		f := est / maxRamps
		if !aligned {
			f = math.Cbrt(f)
			hu *= f
			hw *= f
		}
		hv *= f
	}
	// Dose-plane positions along the normal, where the dose stops being linear in w.
	var planeW []float64
	if aligned {
		for k := 0; k < g.Size[2]; k++ {
			planeW = append(planeW, g.Point(0, 0, k).Dot(pl.n))
		}
		sort.Float64s(planeW)
	}
	volume := 0.0
	var cross []float64
	var rows [][][2]float64
	var rowV []float64
	rowA := make([]float64, max(g.Size[0], g.Size[1]))
	rowB := make([]float64, len(rowA))
	for _, p := range pl.planes {
		thick := p.hi - p.lo
		exact := math.Abs(evenOddArea(p.polys))
		volume += exact * thick
		pvmin, pvmax := math.Inf(1), math.Inf(-1)
		for _, poly := range p.polys {
			for _, q := range poly {
				pvmin, pvmax = math.Min(pvmin, q[1]), math.Max(pvmax, q[1])
			}
		}
		nrows := max(int(math.Ceil((pvmax-pvmin)/hv)), 1)
		step := (pvmax - pvmin) / float64(nrows)
		rows, rowV = rows[:0], rowV[:0]
		sampled := 0.0
		for j := 0; j < nrows; j++ {
			v := pvmin + (float64(j)+0.5)*step
			cross = crossings(p.polys, v, cross)
			var ivs [][2]float64
			for k := 0; k+1 < len(cross); k += 2 {
				if cross[k+1] > cross[k] {
					ivs = append(ivs, [2]float64{cross[k], cross[k+1]})
					sampled += (cross[k+1] - cross[k]) * step
				}
			}
			if len(ivs) > 0 {
				rows = append(rows, ivs)
				rowV = append(rowV, v)
			}
		}
		if sampled <= 0 || exact <= 0 {
			continue
		}
		scale := exact / sampled
		if aligned {
			// Slab pieces between consecutive dose planes.
			cuts := []float64{p.lo}
			for _, w := range planeW {
				if w > p.lo+1e-9 && w < p.hi-1e-9 {
					cuts = append(cuts, w)
				}
			}
			cuts = append(cuts, p.hi)
			for c := 0; c+1 < len(cuts); c++ {
				wa, wb := cuts[c], cuts[c+1]
				for r, ivs := range rows {
					addStrip(h, dose, pl, rowV[r], wa, wb, ivs, step*scale, rowA, rowB)
				}
			}
			continue
		}
		nw := max(int(math.Ceil(thick/hw)), 1)
		dw := thick / float64(nw)
		for sw := 0; sw < nw; sw++ {
			w := p.lo + (float64(sw)+0.5)*dw
			for r, ivs := range rows {
				base := pl.b.Scale(rowV[r]).Add(pl.n.Scale(w))
				for _, iv := range ivs {
					n := max(int(math.Ceil((iv[1]-iv[0])/hu)), 1)
					du := (iv[1] - iv[0]) / float64(n)
					for k := 0; k < n; k++ {
						q := base.Add(pl.a.Scale(iv[0] + (float64(k)+0.5)*du))
						d, inside := sampleInside(dose, q)
						h.point(d, du*step*dw*scale, inside)
					}
				}
			}
		}
	}
	d := h.finish(volume / 1000)
	if lo, hi, ok := extremes(pl, dose, reg); ok {
		d.MinGy, d.MaxGy = math.Min(d.MinGy, lo), math.Max(d.MaxGy, hi)
	}
	return d
}

// addStrip adds one row (v fixed, strip width `strip` in v) of one slab piece [wa, wb] that lies
// between two dose planes, over the row's inside intervals: within each dose cell along u the
// dose is bilinear in (u, w), added as a trapezoidal density with the cell piece's exact mean.
func addStrip(h *histogram, dose *grid.Volume, pl *planeSet, v, wa, wb float64, ivs [][2]float64, strip float64, rowA, rowB []float64) {
	g := dose.Grid
	ax := pl.scanAxis
	o := 1 - ax
	n := g.Size
	base := pl.b.Scale(v)
	pa := base.Add(pl.n.Scale(wa))
	pb := base.Add(pl.n.Scale(wb))
	ia, ja, ka := g.ContinuousIndex(pa)
	_, _, kb := g.ContinuousIndex(pb)
	fa := [3]float64{ia, ja, ka}
	fu0 := fa[ax] // index along u at u = 0
	fo := fa[o]   // fixed in-plane index
	dir := pl.a.Dot(g.Axes[ax])
	sp := g.Spacing[ax]
	lw := wb - wa
	const e = 1e-6
	km, kM := math.Min(ka, kb), math.Max(ka, kb)
	inside := fo >= -e && fo <= float64(n[o]-1)+e && km >= -e && kM <= float64(n[2]-1)+e
	if !inside {
		for _, iv := range ivs {
			h.point(0, (iv[1]-iv[0])*lw*strip, false)
		}
		return
	}
	o0, to := splitIndex(fo, n[o])
	o1 := min(o0+1, n[o]-1)
	at := func(m, oi, k int) float64 {
		if ax == 0 {
			return float64(dose.At(m, oi, k))
		}
		return float64(dose.At(oi, m, k))
	}
	fill := func(row []float64, fk float64, lo, hi int) {
		k0, tk := splitIndex(fk, n[2])
		k1 := min(k0+1, n[2]-1)
		for m := lo; m <= hi; m++ {
			row[m] = (1-tk)*((1-to)*at(m, o0, k0)+to*at(m, o1, k0)) + tk*((1-to)*at(m, o0, k1)+to*at(m, o1, k1))
		}
	}
	nu := n[ax]
	interp := func(row []float64, f float64) float64 {
		m := int(math.Floor(f))
		if m >= nu-1 {
			return row[nu-1]
		}
		if m < 0 {
			return row[0]
		}
		t := f - float64(m)
		return row[m]*(1-t) + row[m+1]*t
	}
	for _, iv := range ivs {
		xa := fu0 + dir*iv[0]/sp
		xb := fu0 + dir*iv[1]/sp
		if xa > xb {
			xa, xb = xb, xa
		}
		perIndex := sp * lw * strip
		if xa < 0 {
			h.point(0, (math.Min(xb, 0)-xa)*perIndex, false)
			xa = math.Min(xb, 0)
		}
		if xb > float64(nu-1) {
			h.point(0, (xb-math.Max(xa, float64(nu-1)))*perIndex, false)
			xb = math.Max(xa, float64(nu-1))
		}
		if xb <= xa {
			continue
		}
		m0, m1 := int(math.Floor(xa)), min(int(math.Ceil(xb)), nu-1)
		fill(rowA, ka, m0, m1)
		fill(rowB, kb, m0, m1)
		for x := xa; x < xb; {
			next := math.Min(math.Floor(x)+1, xb)
			d00, d10 := interp(rowA, x), interp(rowA, next)
			d01, d11 := interp(rowB, x), interp(rowB, next)
			du := ((d10 - d00) + (d11 - d01)) / 2 // change along the piece in u
			dw := ((d01 - d00) + (d11 - d10)) / 2 // change across the slab piece in w
			mean := (d00 + d10 + d01 + d11) / 4
			A, B := math.Abs(du), math.Abs(dw)
			// A strongly bilinear cell (a hot corner) would push the trapezoid beyond its corners:
			// shrink the spreads so the range stays within them, keeping the exact mean.
			cmin := math.Min(math.Min(d00, d10), math.Min(d01, d11))
			cmax := math.Max(math.Max(d00, d10), math.Max(d01, d11))
			if room := 2 * math.Min(mean-cmin, cmax-mean); A+B > room {
				f := math.Max(room, 0) / (A + B)
				A, B = A*f, B*f
			}
			h.trapezoid(math.Max(mean-(A+B)/2, cmin), A, B, (next-x)*perIndex, true)
			x = next
		}
	}
}

// extremes finds the exact minimum and maximum of the trilinear dose over the slab model of the
// ROI. Within a dose cell the dose is multilinear, so its extremes over the region lie at dose-grid
// nodes inside it, at grid-column points on the slab faces, or on the contour walls; the walls
// are sampled finely along every edge at the slab faces and at every dose plane between them.
func extremes(pl *planeSet, dose *grid.Volume, reg region) (lo, hi float64, ok bool) {
	g := dose.Grid
	lo, hi = math.Inf(1), math.Inf(-1)
	aligned := math.Abs(pl.n.Dot(g.Axes[2])) > 1-1e-9 && math.Abs(pl.a.Dot(g.Axes[0])) > 1-1e-9
	nodes := float64(reg.hi[0]-reg.lo[0]+1) * float64(reg.hi[1]-reg.lo[1]+1) * float64(len(pl.planes))
	if nodes > 2e6 {
		// Large ROIs: the sampled extremes are already within ε of the exact ones.
		return 0, 0, false
	}
	var cross []float64
	consider := func(q grid.Vec) {
		if d, inside := sampleInside(dose, q); inside {
			lo, hi, ok = math.Min(lo, d), math.Max(hi, d), true
		}
	}
	step := math.Min(g.Spacing[0], g.Spacing[1]) / 8
	for _, p := range pl.planes {
		// Heights to examine: the slab faces and every dose plane crossing the slab.
		ws := []float64{p.lo, p.hi}
		for k := reg.lo[2]; k <= reg.hi[2]; k++ {
			if w := g.Point(0, 0, k).Dot(pl.n); w > p.lo && w < p.hi {
				ws = append(ws, w)
			}
		}
		for _, w := range ws {
			for _, poly := range p.polys {
				for i := range poly {
					a, b := poly[i], poly[(i+1)%len(poly)]
					l := math.Hypot(b[0]-a[0], b[1]-a[1])
					n := max(int(math.Ceil(l/step)), 1)
					for s := 0; s < n; s++ {
						t := float64(s) / float64(n)
						u, v := a[0]+t*(b[0]-a[0]), a[1]+t*(b[1]-a[1])
						consider(pl.a.Scale(u).Add(pl.b.Scale(v)).Add(pl.n.Scale(w)))
					}
				}
			}
			// Grid columns inside the contours at this height (the nodes themselves when w is a
			// dose plane), found row by row with scan lines.
			for j := reg.lo[1]; j <= reg.hi[1]; j++ {
				rowStart := g.Point(reg.lo[0], j, 0)
				if !aligned {
					for i := reg.lo[0]; i <= reg.hi[0]; i++ {
						q := g.Point(i, j, 0)
						u, v := q.Dot(pl.a), q.Dot(pl.b)
						if insideAll(u, v, p.polys) {
							consider(pl.a.Scale(u).Add(pl.b.Scale(v)).Add(pl.n.Scale(w)))
						}
					}
					continue
				}
				v := rowStart.Dot(pl.b)
				cross = crossings(p.polys, v, cross)
				for c := 0; c+1 < len(cross); c += 2 {
					for i := reg.lo[0]; i <= reg.hi[0]; i++ {
						u := g.Point(i, j, 0).Dot(pl.a)
						if u >= cross[c] && u <= cross[c+1] {
							consider(pl.a.Scale(u).Add(pl.b.Scale(v)).Add(pl.n.Scale(w)))
						}
					}
				}
			}
		}
	}
	return lo, hi, ok
}

// insideAll is the even-odd test of a point against all contours of a plane.
func insideAll(u, v float64, polys [][][2]float64) bool {
	in := false
	for _, poly := range polys {
		if pointInPoly(u, v, poly) {
			in = !in
		}
	}
	return in
}

// sampleInside returns the trilinear dose at q and whether q lies inside the grid.
func sampleInside(dose *grid.Volume, q grid.Vec) (float64, bool) {
	g := dose.Grid
	fi, fj, fk := g.ContinuousIndex(q)
	const e = 1e-6
	if fi < -e || fj < -e || fk < -e || fi > float64(g.Size[0]-1)+e || fj > float64(g.Size[1]-1)+e || fk > float64(g.Size[2]-1)+e {
		return 0, false
	}
	return dose.SampleTrilinear(q), true
}

func splitIndex(f float64, n int) (int, float64) {
	if f <= 0 {
		return 0, 0
	}
	i := int(math.Floor(f))
	if i >= n-1 {
		return n - 1, 0
	}
	return i, f - float64(i)
}
