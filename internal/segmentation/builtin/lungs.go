package builtin

import (
	"context"
	"math"
	"strconv"
)

// lungs finds the lung candidates, removes the airways and splits the rest into left and
// right lungs.
func (s *seg) lungs(ctx context.Context) error {
	if err := forSlices(ctx, s.nz, s.workers, func(k, _ int) {
		sl, hu := s.slice(k), s.hu(k)
		for i, v := range hu {
			if sl[i]&bitBody != 0 && v < LungHU {
				sl[i] |= bitAir
			}
		}
	}); err != nil {
		return err
	}
	v, err := components3D(ctx, s.lab, bitAir, s.nx, s.ny, s.nz, s.workers)
	if err != nil {
		return err
	}
	st := s.componentStats(v, true)
	keep := s.selectLungCandidates(st)
	if err := s.keepComponents(ctx, v, bitAir, func(c int) bool { return keep[c] }); err != nil {
		return err
	}
	found := false
	for _, k := range keep {
		found = found || k
	}
	if !found {
		s.note(LungLeft, "no lung found")
		s.note(LungRight, "no lung found")
		s.note(Airways, "no lung found, so no airways tracked")
		return nil
	}
	s.airways()
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err = components3D(ctx, s.lab, bitAir, s.nx, s.ny, s.nz, s.workers)
	if err != nil {
		return err
	}
	st = s.componentStats(v, true)
	// side: 0 dropped, 1 left, 2 right, 3 split per slice.
	side := make([]int, v.ncomp)
	dropped, droppedCC, split := 0, 0.0, 0
	for c, cs := range st {
		left := float64(cs.nLeft) / float64(cs.n)
		switch {
		case cs.cc < minLungPartCC*s.sizeScale || float64(cs.below) > gasFraction*float64(cs.n):
			dropped++
			droppedCC += cs.cc
		case left >= 1-sideFraction:
			side[c] = 1
		case left <= sideFraction:
			side[c] = 2
		default:
			side[c] = 3
			split++
		}
	}
	if dropped > 0 {
		s.note(LungLeft, "%d air piece(s) of %.1f cm³ left over by the airway removal dropped (smaller than %.2g cm³ or gas-like)",
			dropped, droppedCC, minLungPartCC*s.sizeScale)
	}
	mid := s.midX
	cutSlices := make([]bool, s.nz)
	if err := forSlices(ctx, s.nz, s.workers, func(k, _ int) {
		sl := s.slice(k)
		var cuts map[int]float64
		v.each(k, func(r run, c int) {
			if side[c] == 0 {
				return
			}
			x0 := s.p0[k][0] + float64(r.j)*s.dj[0]
			row := sl[int(r.j)*s.nx:]
			cut := mid
			if side[c] == 3 {
				if cuts == nil {
					cuts = map[int]float64{}
				}
				var ok bool
				if cut, ok = cuts[c]; !ok {
					cut = s.cutPosition(v, k, c, mid)
					cuts[c] = cut
					cutSlices[k] = true
				}
			}
			for i := r.i0; i < r.i1; i++ {
				b := bitLungR
				switch side[c] {
				case 1:
					b = bitLungL
				case 3:
					if x0+float64(i)*s.di[0] > cut {
						b = bitLungL
					}
				}
				row[i] |= b
			}
		})
	}); err != nil {
		return err
	}
	if split > 0 {
		n := 0
		for _, c := range cutSlices {
			if c {
				n++
			}
		}
		s.note(LungLeft, "the lungs touch: %d component(s) cut at the emptiest position within %.0f mm of the midline on %d slice(s)",
			split, splitBandMM, n)
	}
	maxPx := int(maxLungHoleMM2 / (s.sx * s.sy))
	fills := make([][2]int, s.nz)
	if err := forSlices(ctx, s.nz, s.workers, func(k, w int) {
		sl := s.slice(k)
		fills[k][0] = fillHolesAvoiding(s.sc[w], sl, bitLungL, bitLungR|bitAirway, s.nx, s.ny, maxPx)
		fills[k][1] = fillHolesAvoiding(s.sc[w], sl, bitLungR, bitLungL|bitAirway, s.nx, s.ny, maxPx)
	}); err != nil {
		return err
	}
	var fl, fr int
	for _, f := range fills {
		fl += f[0]
		fr += f[1]
	}
	s.note(LungLeft, "patient left = x > %s mm (midline from %s); %d voxels of holes (vessels, nodules) filled per slice", fmtMM(mid), s.midSource, fl)
	s.note(LungRight, "patient right = x < %s mm (midline from %s); %d voxels of holes (vessels, nodules) filled per slice", fmtMM(mid), s.midSource, fr)
	return nil
}

// selectLungCandidates decides which air components inside the body may be lung (with the
// airways still attached), and notes why others are not.
func (s *seg) selectLungCandidates(st []*runStats) []bool {
	keep := make([]bool, len(st))
	gasLike := func(cs *runStats) bool { return float64(cs.below) > gasFraction*float64(cs.n) }
	minCC := minLungCC * s.sizeScale
	best := -1
	for c, cs := range st {
		if cs.cc >= minCC && !gasLike(cs) && (best < 0 || cs.n > st[best].n) {
			best = c
		}
	}
	var small, gas, below int
	var smallCC, gasCC, belowCC float64
	for c, cs := range st {
		switch {
		case gasLike(cs) && cs.cc >= minCC:
			gas++
			gasCC += cs.cc
		case best < 0 || cs.cc < minCC || cs.cc < minLungRelative*st[best].cc:
			small++
			smallCC += cs.cc
		case cs.superior < st[best].inferior:
			below++
			belowCC += cs.cc
		default:
			keep[c] = true
		}
	}
	kept, keptCC := 0, 0.0
	for c, k := range keep {
		if k {
			kept++
			keptCC += st[c].cc
		}
	}
	for _, name := range []string{LungLeft, LungRight} {
		s.note(name, "%d of %d air component(s) below %.0f HU inside the body kept as lung (%.1f cm³ with the airways)",
			kept, len(st), LungHU, keptCC)
		if gas > 0 {
			s.note(name, "%d gas-like component(s) (more than %.0f%% of voxels below %.0f HU: bowel, stomach or rectal gas) not lung: %.1f cm³",
				gas, 100*gasFraction, GasHU, gasCC)
		}
		if below > 0 {
			s.note(name, "%d component(s) wholly inferior to the main lung volume not lung: %.1f cm³", below, belowCC)
		}
		if small > 0 {
			s.note(name, "%d small component(s) not lung: %.1f cm³", small, smallCC)
		}
	}
	return keep
}

// cutPosition returns the x of the cut between touching lungs in slice k for component c: the
// centre of the 2 mm wide band, within splitBandMM of the midline, that holds the fewest of the
// component's voxels (the nearest to the midline among equals).
func (s *seg) cutPosition(v *volumeRuns, k, c int, mid float64) float64 {
	const bin = 2.0
	nb := int(2 * splitBandMM / bin)
	counts := make([]int, nb)
	lo := mid - splitBandMM
	v.each(k, func(r run, cc int) {
		if cc != c {
			return
		}
		x0 := s.p0[k][0] + float64(r.j)*s.dj[0]
		for i := r.i0; i < r.i1; i++ {
			b := int(math.Floor((x0 + float64(i)*s.di[0] - lo) / bin))
			if b >= 0 && b < nb {
				counts[b]++
			}
		}
	})
	best := -1
	for b := range nb {
		if best < 0 || counts[b] < counts[best] ||
			counts[b] == counts[best] && math.Abs(float64(b)+0.5-float64(nb)/2) < math.Abs(float64(best)+0.5-float64(nb)/2) {
			best = b
		}
	}
	return lo + (float64(best)+0.5)*bin
}

// fillHolesAvoiding fills the holes of bit (as fillHoles) that contain no pixel with an avoid
// bit.
func fillHolesAvoiding(sc *scratch, s []uint8, bit, avoid uint8, nx, ny, maxPixels int) int {
	sc.runs = runsOf(sc.runs, s, bit, false, nx, ny)
	var n int
	sc.comp, n, sc.parent = components2D(&sc.runs, ny, sc.parent, sc.comp)
	if cap(sc.flag) < n {
		sc.flag = make([]bool, n)
	}
	bad := sc.flag[:n]
	clear(bad)
	size := make([]int, n)
	for r, ru := range sc.runs.runs {
		c := sc.comp[r]
		size[c] += int(ru.i1 - ru.i0)
		if ru.j == 0 || int(ru.j) == ny-1 || ru.i0 == 0 || int(ru.i1) == nx {
			bad[c] = true
			continue
		}
		if bad[c] {
			continue
		}
		row := s[int(ru.j)*nx:]
		for i := ru.i0; i < ru.i1; i++ {
			if row[i]&avoid != 0 {
				bad[c] = true
				break
			}
		}
	}
	filled := 0
	for r, ru := range sc.runs.runs {
		c := sc.comp[r]
		if bad[c] || (maxPixels > 0 && size[c] > maxPixels) {
			continue
		}
		row := s[int(ru.j)*nx:]
		for i := ru.i0; i < ru.i1; i++ {
			row[i] |= bit
		}
		filled += int(ru.i1 - ru.i0)
	}
	return filled
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
