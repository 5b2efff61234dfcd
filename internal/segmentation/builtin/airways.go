package builtin

import (
	"math"
)

// Airway tracking. The trachea is a round air tube near the midline at the superior end of the
// lung candidates; it is followed slice by slice towards the feet. In each slice, the air
// components overlapping the airway of the previous slice are airway when they stay tube-sized
// (at most airwayGrowth times the area they continue plus airwaySlackMM2, and at most
// maxAirwayMM2); a larger one is lung that the airway has just entered, and that branch ends.
// Where the tube splits (two components of at least minBranchMM2), the carina is; the main
// bronchi are followed for bronchiMM further. A track counts only if it entered a lung or split
// at a carina, over at least minAirwayMM; otherwise the search resumes below it.
const (
	minSeedMM2       = 50.0
	maxSeedMM2       = 1200.0
	minSeedRoundness = 0.25 // smaller over larger eigenvalue of the in-plane covariance
	maxSeedOffsetMM  = 40.0 // from the body's centre in x
	airwayGrowth     = 2.5
	airwaySlackMM2   = 100.0
	maxAirwayMM2     = 2500.0
	minBranchMM2     = 20.0
	bronchiMM        = 50.0
	minAirwayMM      = 20.0
	maxTrackAttempts = 12
)

// comp2D is a 4-connected component of air in one slice.
type comp2D struct {
	runs      []run
	area      float64 // mm²
	cx        float64 // mean patient x, mm
	roundness float64
}

// airComps returns the components of bitAir in slice k.
func (s *seg) airComps(k int, sc *scratch) []comp2D {
	sc.runs = runsOf(sc.runs, s.slice(k), bitAir, true, s.nx, s.ny)
	var n int
	sc.comp, n, sc.parent = components2D(&sc.runs, s.ny, sc.parent, sc.comp)
	comps := make([]comp2D, n)
	type moments struct{ n, u, v, uu, vv, uv, x float64 }
	m := make([]moments, n)
	for r, ru := range sc.runs.runs {
		c := sc.comp[r]
		comps[c].runs = append(comps[c].runs, ru)
		cnt := float64(ru.i1 - ru.i0)
		// Sums over i in [i0, i1) of i and i².
		si := (float64(ru.i0) + float64(ru.i1-1)) * cnt / 2
		sii := sumSquares(int(ru.i1-1)) - sumSquares(int(ru.i0)-1)
		j := float64(ru.j)
		mm := &m[c]
		mm.n += cnt
		mm.u += si * s.sx
		mm.uu += sii * s.sx * s.sx
		mm.v += cnt * j * s.sy
		mm.vv += cnt * j * j * s.sy * s.sy
		mm.uv += si * s.sx * j * s.sy
		mm.x += cnt*(s.p0[k][0]+j*s.dj[0]) + si*s.di[0]
	}
	for c := range comps {
		mm := m[c]
		comps[c].area = mm.n * s.sx * s.sy
		comps[c].cx = mm.x / mm.n
		mu, mv := mm.u/mm.n, mm.v/mm.n
		a := mm.uu/mm.n - mu*mu + s.sx*s.sx/12
		b := mm.vv/mm.n - mv*mv + s.sy*s.sy/12
		c2 := mm.uv/mm.n - mu*mv
		tr, det := a+b, a*b-c2*c2
		disc := math.Sqrt(math.Max(0, tr*tr/4-det))
		if hi := tr/2 + disc; hi > 0 {
			comps[c].roundness = (tr/2 - disc) / hi
		}
	}
	return comps
}

func sumSquares(n int) float64 {
	if n < 0 {
		return 0
	}
	f := float64(n)
	return f * (f + 1) * (2*f + 1) / 6
}

// trackResult is one attempt at following the airways.
type trackResult struct {
	runs        map[int][]run
	slices      int // slices visited
	exploded    bool
	carina      bool
	carinaZ     float64
	lengthMM    float64
	trachX      float64 // sum of the trachea's x above the carina
	trachN      int
	startZ, end float64
}

// airways finds and labels the trachea and main bronchi inside the lung candidates (bitAir),
// removing them from bitAir.
func (s *seg) airways() {
	order, axial := s.superiorOrder()
	if !axial {
		s.note(Airways, "slices are not axial (normal %v): airways not tracked", s.g.Axes[2])
		return
	}
	sc := &scratch{}
	plane := make([]int16, s.nxy)
	attempts := 0
	for si := 0; si < len(order) && attempts < maxTrackAttempts; si++ {
		k := order[si]
		if s.bodyN[k] == 0 {
			continue
		}
		bodyX := s.bodySX[k] / float64(s.bodyN[k])
		var seeds []comp2D
		for _, c := range s.airComps(k, sc) {
			if c.area >= minSeedMM2 && c.area <= maxSeedMM2 && c.roundness >= minSeedRoundness && math.Abs(c.cx-bodyX) <= maxSeedOffsetMM {
				seeds = append(seeds, c)
			}
		}
		if len(seeds) == 0 {
			continue
		}
		attempts++
		tr := s.track(order[si:], seeds, sc, plane)
		if tr.exploded || tr.carina {
			if tr.lengthMM >= minAirwayMM {
				s.applyAirways(tr)
				return
			}
		}
		si += max(0, tr.slices-1)
	}
	s.note(Airways, "no trachea or main bronchus found (%d candidate track(s) rejected)", attempts)
}

// track follows the airways from seeds on order[0] through the following slices of order.
func (s *seg) track(order []int, seeds []comp2D, sc *scratch, plane []int16) trackResult {
	res := trackResult{runs: map[int][]run{}, startZ: s.p0[order[0]][2]}
	prev := seeds
	for idx, k := range order {
		cur := seeds
		if idx > 0 {
			cur = nil
			for p, c := range prev {
				for _, r := range c.runs {
					row := plane[int(r.j)*s.nx:]
					for i := r.i0; i < r.i1; i++ {
						row[i] = int16(p + 1)
					}
				}
			}
			touched := make([]bool, len(prev))
			for _, c := range s.airComps(k, sc) {
				clear(touched)
				overlap := false
				for _, r := range c.runs {
					row := plane[int(r.j)*s.nx:]
					for i := r.i0; i < r.i1; i++ {
						if p := row[i]; p > 0 {
							touched[p-1] = true
							overlap = true
						}
					}
				}
				if !overlap {
					continue
				}
				ref := 0.0
				for p, t := range touched {
					if t {
						ref += prev[p].area
					}
				}
				if c.area <= airwayGrowth*ref+airwaySlackMM2 && c.area <= maxAirwayMM2 {
					cur = append(cur, c)
				} else {
					res.exploded = true
				}
			}
			for _, c := range prev {
				for _, r := range c.runs {
					clear(plane[int(r.j)*s.nx+int(r.i0) : int(r.j)*s.nx+int(r.i1)])
				}
			}
		}
		if len(cur) == 0 {
			break
		}
		z := s.p0[k][2]
		if !res.carina && idx > 0 {
			big := 0
			for _, c := range cur {
				if c.area >= minBranchMM2 {
					big++
				}
			}
			if big >= 2 {
				res.carina, res.carinaZ = true, z
			}
		}
		if res.carina && math.Abs(z-res.carinaZ) > bronchiMM {
			break
		}
		if !res.carina {
			for _, c := range cur {
				res.trachX += c.cx
				res.trachN++
			}
		}
		for _, c := range cur {
			res.runs[k] = append(res.runs[k], c.runs...)
		}
		res.slices = idx + 1
		res.lengthMM = math.Abs(z - res.startZ)
		res.end = z
		prev = cur
	}
	if res.slices == 0 {
		res.slices = 1
	}
	return res
}

// applyAirways labels a validated track and moves the midline to the trachea.
func (s *seg) applyAirways(tr trackResult) {
	n := 0
	vol := 0.0
	for k, runs := range tr.runs {
		sl := s.slice(k)
		for _, r := range runs {
			row := sl[int(r.j)*s.nx:]
			for i := r.i0; i < r.i1; i++ {
				row[i] = row[i]&^bitAir | bitAirway
			}
			n += int(r.i1 - r.i0)
			vol += float64(r.i1-r.i0) * s.voxelCC(k)
		}
	}
	desc := "no carina in the image"
	if tr.carina {
		desc = "carina at z = " + fmtMM(tr.carinaZ)
	}
	entered := "the bronchi did not reach a lung within the limits"
	if tr.exploded {
		entered = "the airways enter the lungs"
	}
	s.note(Airways, "followed from z = %s to z = %s mm over %d slices (%s; %s); %.1f cm³ removed from the lungs",
		fmtMM(tr.startZ), fmtMM(tr.end), len(tr.runs), desc, entered, vol)
	if tr.trachN > 0 {
		s.midX, s.midSource = tr.trachX/float64(tr.trachN), "the trachea's mean x"
	}
}

func fmtMM(v float64) string {
	return trimFloat(math.Round(v*10) / 10)
}
