// Package dvh computes dose-volume histograms of structure-set ROIs on RTDOSE grids, and the
// metrics derived from them. A DVH is a value with methods (D at a volume, V at a dose), kept
// apart from how it was computed (engine.go) and how it is tabulated (metrics.go).
package dvh

import (
	"math"
)

// DVH is the dose distribution of one ROI: a fine differential histogram (volume in cm³ per
// dose bin) plus exact extremes and mean.
type DVH struct {
	// VolumeCC is the ROI volume from its contours (cm³). The histogram holds the same total.
	VolumeCC float64
	// MinGy, MaxGy and MeanGy are exact over the sampled dose (not bin edges).
	MinGy, MaxGy, MeanGy float64
	// BinWidthGy is the width of Bins[i], which covers [i·w, (i+1)·w).
	BinWidthGy float64
	// Bins holds the volume (cm³) receiving a dose in each bin.
	Bins []float64
	// InsideDoseGridFraction is the share of the volume inside the dose grid; outside it the dose
	// is taken as 0 Gy and the metrics are flagged.
	InsideDoseGridFraction float64
}

// total is the histogram's volume (equal to VolumeCC up to rounding).
func (d *DVH) total() float64 {
	s := 0.0
	for _, b := range d.Bins {
		s += b
	}
	return s
}

// V returns the volume (cm³) receiving at least dose gy. Within a bin the volume is taken as
// evenly spread, so V is continuous and decreasing; V(≤ Dmin) = the whole volume and V(> Dmax) = 0.
func (d *DVH) V(gy float64) float64 {
	if d == nil || len(d.Bins) == 0 {
		return math.NaN()
	}
	if gy <= d.MinGy {
		return d.total()
	}
	if gy > d.MaxGy {
		return 0
	}
	w := d.BinWidthGy
	i := int(gy / w)
	if i >= len(d.Bins) {
		return 0
	}
	v := d.Bins[i] * (float64(i+1)*w - gy) / w
	for k := i + 1; k < len(d.Bins); k++ {
		v += d.Bins[k]
	}
	return v
}

// VPercent returns V(gy) as a percentage of the volume.
func (d *DVH) VPercent(gy float64) float64 {
	t := d.total()
	if t <= 0 {
		return math.NaN()
	}
	return 100 * d.V(gy) / t
}

// DVolume returns the minimum dose (Gy) received by the hottest cc cm³: the dose at which the
// cumulative DVH falls to cc, interpolated linearly within a bin and clamped to [Dmin, Dmax].
// It is NaN when cc exceeds the volume or is negative.
func (d *DVH) DVolume(cc float64) float64 {
	if d == nil || len(d.Bins) == 0 {
		return math.NaN()
	}
	t := d.total()
	if cc < 0 || cc > t*(1+1e-12) {
		return math.NaN()
	}
	if cc <= 0 {
		return d.MaxGy
	}
	if cc >= t {
		return d.MinGy
	}
	w := d.BinWidthGy
	acc := 0.0
	for k := len(d.Bins) - 1; k >= 0; k-- {
		b := d.Bins[k]
		if acc+b >= cc {
			if b <= 0 {
				return clamp(float64(k+1)*w, d.MinGy, d.MaxGy)
			}
			frac := (cc - acc) / b // share of this bin, counted from its top
			return clamp(float64(k+1)*w-frac*w, d.MinGy, d.MaxGy)
		}
		acc += b
	}
	return d.MinGy
}

// DPercent returns the minimum dose received by the hottest pct % of the volume: D(0 %) = Dmax,
// D(100 %) = Dmin; it never increases with pct.
func (d *DVH) DPercent(pct float64) float64 {
	if pct < 0 || pct > 100 {
		return math.NaN()
	}
	return d.DVolume(pct / 100 * d.total())
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

// Cumulative returns the cumulative DVH sampled every step Gy from 0 to just past Dmax: doses
// and volumes (cm³) receiving at least each dose.
func (d *DVH) Cumulative(step float64) (doses, volumes []float64) {
	if d == nil || len(d.Bins) == 0 || step <= 0 {
		return nil, nil
	}
	n := int(math.Ceil(d.MaxGy/step)) + 1
	for i := 0; i <= n; i++ {
		g := float64(i) * step
		doses = append(doses, g)
		volumes = append(volumes, d.V(g))
	}
	return doses, volumes
}
