package dvh

import (
	"math"

	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// computeDicompyler reproduces dicompyler-core 0.5.6's default DVH so results can be compared
// with older studies: contour planes snapped to the nearest dose plane (within 1 mm, at most 0.49
// of the plane spacing); on each plane, the dose-grid pixel centres inside the contours (even-odd)
// take the dose of that plane (the exact frame within 0.5 mm, else interpolated between frames);
// every pixel stands for a slab of the smallest plane spacing, without end caps; 1 cGy bins, with
// Dmin and Dmax at upper bin edges and Dmean from bin centres. Planes outside the dose grid add
// volume only: the histogram is rescaled to the total.
func computeDicompyler(pl *planeSet, dose *grid.Volume, res *Result) *Result {
	g := dose.Grid
	if math.Abs(pl.n.Dot(g.Axes[2])) < 1-1e-6 {
		res.Skipped = "the dicompyler method needs contours parallel to the dose planes"
		return res
	}
	if len(pl.planes) < 2 {
		res.Skipped = "single-plane ROI has zero thickness in the dicompyler method"
		return res
	}
	thick := math.Inf(1)
	for i := 1; i < len(pl.planes); i++ {
		thick = math.Min(thick, pl.planes[i].w-pl.planes[i-1].w)
	}
	nx, ny, nz := g.Size[0], g.Size[1], g.Size[2]
	// Positions of the dose frames along the plane normal.
	sign := pl.n.Dot(g.Axes[2])
	frames := make([]float64, nz)
	for k := range frames {
		frames[k] = g.Point(0, 0, k).Dot(pl.n)
	}
	pixel := g.Spacing[0] * g.Spacing[1] * thick / 1000 // cm³ per pixel
	const binW = 0.01
	var bins []float64
	counted, outsideVol := 0.0, 0.0
	plane := make([]float64, nx*ny)
	for _, p := range pl.planes {
		w := p.w
		// z-snap to the nearest dose frame.
		best, bk := math.Inf(1), -1
		for k, f := range frames {
			if d := math.Abs(f - w); d < best {
				best, bk = d, k
			}
		}
		if best <= math.Min(1, 0.49*pl.spacing) {
			w = frames[bk]
		}
		inGrid := w >= math.Min(frames[0], frames[nz-1])-1e-6 && w <= math.Max(frames[0], frames[nz-1])+1e-6
		if !inGrid {
			outsideVol += math.Abs(evenOddArea(p.polys)) * thick / 1000
			continue
		}
		// Dose plane at w.
		k0, k1, t := 0, 0, 0.0
		for k := 0; k < nz; k++ {
			if math.Abs(frames[k]-w) <= 0.5 {
				k0, k1, t = k, k, 0
				break
			}
			if k+1 < nz && (frames[k]-w)*(frames[k+1]-w) < 0 {
				k0, k1 = k, k+1
				t = (w - frames[k]) / (frames[k+1] - frames[k])
				break
			}
		}
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				plane[j*nx+i] = (1-t)*float64(dose.At(i, j, k0)) + t*float64(dose.At(i, j, k1))
			}
		}
		_ = sign
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				q := g.Point(i, j, k0)
				u, v := q.Dot(pl.a), q.Dot(pl.b)
				in := false
				for _, poly := range p.polys {
					if pointInPoly(u, v, poly) {
						in = !in
					}
				}
				if !in {
					continue
				}
				d := plane[j*nx+i]
				b := int(d / binW)
				for len(bins) <= b {
					bins = append(bins, 0)
				}
				bins[b] += pixel
				counted += pixel
			}
		}
	}
	if counted == 0 {
		res.Skipped = "no dose-grid pixel centre lies inside the contours"
		return res
	}
	total := counted + outsideVol
	for i := range bins {
		bins[i] *= total / counted
	}
	d := &DVH{VolumeCC: total, BinWidthGy: binW, Bins: bins, InsideDoseGridFraction: counted / total}
	first, last := -1, 0
	sum := 0.0
	for i, b := range bins {
		if b > 0 {
			if first < 0 {
				first = i
			}
			last = i
			sum += b * (float64(i) + 0.5) * binW
		}
	}
	d.MinGy, d.MaxGy, d.MeanGy = float64(first+1)*binW, float64(last+1)*binW, sum/total
	res.DVH = d
	return res
}
