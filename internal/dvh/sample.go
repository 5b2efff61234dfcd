package dvh

import (
	"math"

	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// histogram accumulates dose distributions in O(1) per contribution: a uniform distribution over
// [a, b] adds its density to every bin it covers through a difference array, plus the partial
// first and last bins directly.
type histogram struct {
	width   float64
	direct  []float64 // volume added to single bins
	density []float64 // difference array of the per-bin volume of fully covered bins
	weight  float64
	inside  float64
	sum     float64 // Σ weight × mean dose, for the exact mean
	min     float64
	max     float64
}

func newHistogram(maxDose float64) *histogram {
	w := math.Max(maxDose, 1e-3) / 50000
	n := int(math.Ceil(maxDose/w)) + 3
	return &histogram{width: w, direct: make([]float64, n), density: make([]float64, n+1), min: math.Inf(1), max: math.Inf(-1)}
}

func (h *histogram) bin(d float64) int {
	i := int(d / h.width)
	if i < 0 {
		return 0
	}
	if i >= len(h.direct) {
		h.grow(i + 1)
	}
	return i
}

// grow extends the histogram when a dose exceeds the expected maximum (never for doses from
// the region's voxels, but interpolation can touch the next voxel).
func (h *histogram) grow(n int) {
	n += n / 4
	d := make([]float64, n)
	copy(d, h.direct)
	h.direct = d
	e := make([]float64, n+1)
	copy(e, h.density)
	h.density = e
}

// ramp adds volume w whose dose runs linearly from a to b (uniformly distributed between them).
func (h *histogram) ramp(a, b, w float64, inside bool) {
	if w <= 0 {
		return
	}
	if a > b {
		a, b = b, a
	}
	h.weight += w
	if inside {
		h.inside += w
	}
	h.sum += w * (a + b) / 2
	h.min = math.Min(h.min, a)
	h.max = math.Max(h.max, b)
	ia, ib := h.bin(a), h.bin(b)
	if ia == ib || b-a < 1e-12 {
		h.direct[ia] += w
		return
	}
	rho := w / (b - a)
	h.direct[ia] += rho * (float64(ia+1)*h.width - a)
	h.direct[ib] += rho * (b - float64(ib)*h.width)
	if ib > ia+1 {
		h.density[ia+1] += rho * h.width
		h.density[ib] -= rho * h.width
	}
}

// point adds volume w at one dose.
func (h *histogram) point(d, w float64, inside bool) { h.ramp(d, d, w, inside) }

// finish converts the accumulated volume (mm³) into a DVH in cm³, scaled so the histogram holds
// exactly volumeCC.
func (h *histogram) finish(volumeCC float64) *DVH {
	bins := make([]float64, len(h.direct))
	run := 0.0
	last := 0
	for i := range bins {
		run += h.density[i]
		bins[i] = h.direct[i] + run
		if bins[i] > 0 {
			last = i
		}
	}
	bins = bins[:last+1]
	scale := 0.0
	if h.weight > 0 {
		scale = volumeCC / h.weight
	}
	for i := range bins {
		bins[i] *= scale
	}
	d := &DVH{VolumeCC: volumeCC, BinWidthGy: h.width, Bins: bins}
	if h.weight > 0 {
		d.MinGy, d.MaxGy, d.MeanGy = h.min, h.max, h.sum/h.weight
		d.InsideDoseGridFraction = h.inside / h.weight
	}
	return d
}

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

// sampleExact integrates the dose over the ROI's slabs. Scan lines run along the plane's u axis;
// when that axis is a dose-grid axis (the usual case) the trilinear dose along a scan line is
// piecewise linear between voxel centres, so each piece adds an exact ramp to the histogram and
// only v (rows) and w (sub-planes across each slab) are sampled, at steps small enough that the
// dose changes by at most ε between samples. Otherwise points along u are sampled too. Each
// plane's samples are rescaled to its exact even-odd polygon area, so the volume is exact for the
// contours as drawn.
func sampleExact(pl *planeSet, dose *grid.Volume, opt Options) *DVH {
	g := dose.Grid
	aligned := math.Abs(pl.n.Dot(g.Axes[2])) > 1-1e-9 && math.Abs(pl.a.Dot(g.Axes[0])) > 1-1e-9
	// Region and extents.
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
	// Step sizes: fine enough for the ROI's size and for the dose gradient (ε between samples),
	// never finer than 1/64 of a dose voxel, within the work budget.
	eps := math.Max(0.002*reg.maxGy, 0.005)
	spV := doseSpacingAlong(g, pl.b)
	spW := doseSpacingAlong(g, pl.n)
	gradV, gradW, gradU := reg.grad[1], reg.grad[2], reg.grad[0]
	if !aligned {
		m := math.Max(reg.grad[0], math.Max(reg.grad[1], reg.grad[2]))
		gradU, gradV, gradW = m, m, m
	}
	eqDiam := 2 * math.Sqrt(maxArea/math.Pi)
	hv := math.Min(spV/4, math.Max(eqDiam/50, 0.01))
	if gradV > 0 {
		hv = math.Min(hv, eps/gradV)
	}
	hv = math.Max(hv, math.Max(spV/64, 0.005))
	hu := hv
	if !aligned && gradU > 0 {
		hu = math.Max(math.Min(spV/4, eps/gradU), spV/64)
	}
	hw := spW / 4
	if gradW > 0 {
		hw = math.Min(hw, eps/gradW)
	}
	hw = math.Max(hw, spW/64)
	maxRamps := opt.MaxRamps
	if maxRamps <= 0 {
		maxRamps = 2e7
	}
	cellU := g.Spacing[0]
	if !aligned {
		cellU = hu
	}
	est := 0.0
	for _, p := range pl.planes {
		est += (vmax - vmin) / hv * math.Ceil((p.hi-p.lo)/hw) * ((umax-umin)/cellU + 2)
	}
	if est > maxRamps {
		f := math.Sqrt(est / maxRamps)
		hv *= f
		hw *= f
		if !aligned {
			hu *= f
		}
	}
	volume := 0.0
	var cross []float64
	var rows [][][2]float64
	var rowV []float64
	rowDose := make([]float64, g.Size[0])
	for _, p := range pl.planes {
		thick := p.hi - p.lo
		exact := math.Abs(evenOddArea(p.polys))
		volume += exact * thick
		// Rows of this plane and their inside intervals.
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
		nw := max(int(math.Ceil(thick/hw)), 1)
		dw := thick / float64(nw)
		for s := 0; s < nw; s++ {
			w := p.lo + (float64(s)+0.5)*dw
			for r, ivs := range rows {
				v := rowV[r]
				base := pl.b.Scale(v).Add(pl.n.Scale(w))
				wt := step * dw * scale
				if aligned {
					addAlignedRow(h, dose, base, pl.a, ivs, wt, rowDose)
					continue
				}
				for _, iv := range ivs {
					n := max(int(math.Ceil((iv[1]-iv[0])/hu)), 1)
					du := (iv[1] - iv[0]) / float64(n)
					for k := 0; k < n; k++ {
						u := iv[0] + (float64(k)+0.5)*du
						q := base.Add(pl.a.Scale(u))
						d, inside := sampleInside(dose, q)
						h.point(d, du*wt, inside)
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

// addAlignedRow adds the exact piecewise-linear dose along one scan line (u along the grid's
// first axis) over the given u intervals. rowDose is scratch space of the grid's width.
func addAlignedRow(h *histogram, dose *grid.Volume, base, a grid.Vec, ivs [][2]float64, wt float64, rowDose []float64) {
	g := dose.Grid
	nx, ny, nz := g.Size[0], g.Size[1], g.Size[2]
	fi0, fj, fk := g.ContinuousIndex(base)
	dir := a.Dot(g.Axes[0]) // +1 or -1: u runs along or against the first axis
	const e = 1e-6
	rowInside := fj >= -e && fk >= -e && fj <= float64(ny-1)+e && fk <= float64(nz-1)+e
	if !rowInside {
		for _, iv := range ivs {
			h.point(0, (iv[1]-iv[0])*wt, false)
		}
		return
	}
	j0, tj := splitIndex(fj, ny)
	k0, tk := splitIndex(fk, nz)
	j1, k1 := min(j0+1, ny-1), min(k0+1, nz-1)
	w00, w10, w01, w11 := (1-tj)*(1-tk), tj*(1-tk), (1-tj)*tk, tj*tk
	fill := func(lo, hi int) {
		for i := lo; i <= hi; i++ {
			rowDose[i] = w00*float64(dose.At(i, j0, k0)) + w10*float64(dose.At(i, j1, k0)) +
				w01*float64(dose.At(i, j0, k1)) + w11*float64(dose.At(i, j1, k1))
		}
	}
	sp := g.Spacing[0]
	for _, iv := range ivs {
		// Index coordinates of the interval ends, ordered.
		ia := fi0 + dir*iv[0]/sp
		ib := fi0 + dir*iv[1]/sp
		if ia > ib {
			ia, ib = ib, ia
		}
		lenPerIndex := sp * wt
		// Outside parts.
		if ia < 0 {
			out := math.Min(ib, 0) - ia
			h.point(0, out*lenPerIndex, false)
			ia = math.Min(ib, 0)
		}
		if ib > float64(nx-1) {
			out := ib - math.Max(ia, float64(nx-1))
			h.point(0, out*lenPerIndex, false)
			ib = math.Max(ia, float64(nx-1))
		}
		if ib <= ia {
			continue
		}
		m0 := int(math.Floor(ia))
		m1 := min(int(math.Ceil(ib)), nx-1)
		fill(m0, m1)
		at := func(f float64) float64 {
			m := int(math.Floor(f))
			if m >= nx-1 {
				return rowDose[nx-1]
			}
			t := f - float64(m)
			return rowDose[m]*(1-t) + rowDose[m+1]*t
		}
		x := ia
		for x < ib {
			next := math.Min(math.Floor(x)+1, ib)
			h.ramp(at(x), at(next), (next-x)*lenPerIndex, true)
			x = next
		}
	}
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
