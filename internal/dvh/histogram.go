package dvh

import "math"

// histogram accumulates dose distributions in O(1) per contribution: a uniform distribution over
// [a, b] adds its density to every bin it covers through a difference array, plus the partial
// first and last bins directly.
type histogram struct {
	width   float64
	direct  []float64 // volume added to single bins
	density []float64 // difference array of the per-bin volume of fully covered bins
	// lin and con are difference arrays of piecewise-linear densities: bin j receives
	// (Σ lin)·j + Σ con.
	lin, con []float64
	weight   float64
	inside   float64
	sum      float64 // Σ weight × mean dose, for the exact mean
	min      float64
	max      float64
}

func newHistogram(maxDose float64) *histogram {
	w := math.Max(maxDose, 1e-3) / 50000
	n := int(math.Ceil(maxDose/w)) + 3
	return &histogram{width: w, direct: make([]float64, n), density: make([]float64, n+1), lin: make([]float64, n+1), con: make([]float64, n+1),
		min: math.Inf(1), max: math.Inf(-1)}
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
	for _, arr := range []*[]float64{&h.density, &h.lin, &h.con} {
		e := make([]float64, n+1)
		copy(e, *arr)
		*arr = e
	}
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

// trapezoid adds volume w whose dose is lo + U[0,A] + U[0,B] (the sum of two independent
// uniform spreads: a linear dose over a rectangle), whose density is a trapezoid. Its density is
// piecewise linear, so it is added exactly through slope changes at its four corners.
func (h *histogram) trapezoid(lo, A, B, w float64, inside bool) {
	if A > B {
		A, B = B, A
	}
	if A <= 1e-4*h.width || A <= 1e-9*B {
		h.ramp(lo, lo+B, w, inside) // one spread negligible: a uniform ramp
		return
	}
	if w <= 0 {
		return
	}
	h.weight += w
	if inside {
		h.inside += w
	}
	h.sum += w * (lo + (A+B)/2)
	h.min = math.Min(h.min, lo)
	h.max = math.Max(h.max, lo+A+B)
	s := w / (A * B) // slope of the rising edge
	h.slope(lo, s)
	h.slope(lo+A, -s)
	h.slope(lo+B, -s)
	h.slope(lo+A+B, s)
}

// slope adds s·(x − p)₊ to the density: its integral over the bin holding p directly, and its
// integrals over later bins, which grow linearly with the bin index, through two difference arrays.
func (h *histogram) slope(p, s float64) {
	i := h.bin(p)
	w := h.width
	top := float64(i+1) * w
	h.direct[i] += s * (top - p) * (top - p) / 2
	if i+1 < len(h.lin) {
		h.lin[i+1] += s * w * w
		h.con[i+1] += s * w * (w/2 - p)
	}
}

// point adds volume w at one dose.
func (h *histogram) point(d, w float64, inside bool) { h.ramp(d, d, w, inside) }

// finish converts the accumulated volume (mm³) into a DVH in cm³, scaled so the histogram holds
// exactly volumeCC.
func (h *histogram) finish(volumeCC float64) *DVH {
	bins := make([]float64, len(h.direct))
	run, lin, con := 0.0, 0.0, 0.0
	last := 0
	for i := range bins {
		run += h.density[i]
		lin += h.lin[i]
		con += h.con[i]
		bins[i] = h.direct[i] + run + lin*float64(i) + con
		if bins[i] < 0 && bins[i] > -1e-9*h.weight {
			bins[i] = 0 // rounding of cancelling slopes
		}
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
