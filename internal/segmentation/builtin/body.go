package builtin

import (
	"context"
	"math"
)

// body thresholds, opens, keeps the largest 3-D component and fills holes per slice.
func (s *seg) body(ctx context.Context) error {
	thresholded := make([]int64, s.nz)
	if err := forSlices(ctx, s.nz, s.workers, func(k, w int) {
		sl, hu := s.slice(k), s.hu(k)
		n := int64(0)
		for i, v := range hu {
			if v > BodyHU {
				sl[i] |= bitWork
				n++
			}
		}
		thresholded[k] = n
		openSlice(s.sc[w], sl, bitWork, bitTmp, bitBody, s.nx, s.ny, s.sx, s.sy, OpeningMM)
	}); err != nil {
		return err
	}
	v, err := components3D(ctx, s.lab, bitBody, s.nx, s.ny, s.nz, s.workers)
	if err != nil {
		return err
	}
	best := v.largest()
	if best < 0 {
		s.note(Body, "no voxel above %.0f HU survives an opening of %.0f mm: no body", BodyHU, OpeningMM)
		clear(s.lab)
		return nil
	}
	keep := s.bodyComponents(v, best)
	// The trunk's centre in x per slice (the largest component, without arms), for the
	// trachea search, and its mean, the midline until the trachea gives a better one.
	n, sum := 0, 0.0
	for k := range s.nz {
		v.each(k, func(r run, c int) {
			if c == best {
				m := int(r.i1 - r.i0)
				x := s.p0[k][0] + float64(r.j)*s.dj[0] + float64(r.i0+r.i1-1)/2*s.di[0]
				s.bodyN[k] += m
				s.bodySX[k] += float64(m) * x
			}
		})
		n += s.bodyN[k]
		sum += s.bodySX[k]
	}
	s.midX, s.midSource = sum/float64(n), "the body's mean x"
	if err := s.keepComponents(ctx, v, bitBody, func(c int) bool { return keep[c] }); err != nil {
		return err
	}
	filled := make([]int, s.nz)
	kept := make([]int64, s.nz)
	if err := forSlices(ctx, s.nz, s.workers, func(k, w int) {
		sl := s.slice(k)
		filled[k] = fillHoles(s.sc[w], sl, bitBody, s.nx, s.ny, 0)
		for _, b := range sl {
			if b&bitWork != 0 && b&bitBody != 0 {
				kept[k]++
			}
		}
	}); err != nil {
		return err
	}
	var nThr, nKept int64
	nFilled := 0
	for k := range s.nz {
		nThr += thresholded[k]
		nKept += kept[k]
		nFilled += filled[k]
	}
	s.note(Body, "%d of %d voxels above %.0f HU kept (after a %.0f mm opening per slice); %d voxels of holes filled per slice",
		nKept, nThr, BodyHU, OpeningMM, nFilled)
	if err := s.describeRemoved(ctx); err != nil {
		return err
	}
	return nil
}

// bodyComponents decides which 3-D components of the opened threshold mask make the body: the
// largest, and any other holding at least extraBodyRelative of its volume that is not
// couch-like (arms beside the trunk, legs).
func (s *seg) bodyComponents(v *volumeRuns, best int) []bool {
	keep := make([]bool, v.ncomp)
	keep[best] = true
	if v.ncomp < 2 {
		return keep
	}
	st := s.componentStats(v, false)
	for c, cs := range st {
		if c != best && cs.cc >= extraBodyRelative*st[best].cc && s.couchSide(cs, st[best]) == "" {
			keep[c] = true
			s.note(Body, "a second component of %.1f cm³ (%.0f%% of the largest) kept as body (arm or leg)", cs.cc, 100*cs.cc/st[best].cc)
		}
	}
	return keep
}

// couchSide returns "posterior" or "anterior" when a component looks like the couch next to
// the body (flat along the patient's antero-posterior axis, wide along left-right, wholly
// behind or in front of the body), else "". Directions come from the voxels' patient
// coordinates, so a prone patient's couch is found anterior.
func (s *seg) couchSide(cs, body *runStats) string {
	thick := cs.hi[1] - cs.lo[1] + s.pixelExtent(1)
	width := cs.hi[0] - cs.lo[0] + s.pixelExtent(0)
	if thick > couchMaxThickMM || width < math.Max(couchMinWidthMM, couchMinWidthRel*(body.hi[0]-body.lo[0])) {
		return ""
	}
	switch {
	case cs.lo[1] >= body.hi[1]-couchOverlapMM:
		return "posterior"
	case cs.hi[1] <= body.lo[1]+couchOverlapMM:
		return "anterior"
	}
	return ""
}

// describeRemoved notes what of the threshold mask is not body (bitWork without bitBody): its
// 3-D components of at least 1 cm³, naming the couch among them, and then clears bitWork.
func (s *seg) describeRemoved(ctx context.Context) error {
	if err := forSlices(ctx, s.nz, s.workers, func(k, _ int) {
		sl := s.slice(k)
		for i, b := range sl {
			if b&bitBody != 0 {
				sl[i] = b &^ bitWork
			}
		}
	}); err != nil {
		return err
	}
	v, err := components3D(ctx, s.lab, bitWork, s.nx, s.ny, s.nz, s.workers)
	if err != nil {
		return err
	}
	body := newRunStats()
	var bodyRuns sliceRuns
	for k := range s.nz {
		bodyRuns = runsOf(bodyRuns, s.slice(k), bitBody, true, s.nx, s.ny)
		for _, r := range bodyRuns.runs {
			s.addRun(body, k, r, false, s.midX)
		}
	}
	st := s.componentStats(v, false)
	removed, removedCC := 0, 0.0
	for _, cs := range st {
		if cs.cc < 1 {
			continue
		}
		removed++
		removedCC += cs.cc
		if side := s.couchSide(cs, body); side != "" {
			s.note(Body, "couch removed: %.1f cm³, %.0f mm thick, %.0f mm wide, %s of the body (y %.0f..%.0f mm)",
				cs.cc, cs.hi[1]-cs.lo[1]+s.pixelExtent(1), cs.hi[0]-cs.lo[0]+s.pixelExtent(0), side, cs.lo[1], cs.hi[1])
		}
	}
	if removed > 0 {
		s.note(Body, "%d structure(s) of at least 1 cm³ above %.0f HU outside the body removed, %.1f cm³ in total", removed, BodyHU, removedCC)
	}
	return forSlices(ctx, s.nz, s.workers, func(k, _ int) {
		sl := s.slice(k)
		for i := range sl {
			sl[i] &^= bitWork
		}
	})
}

// pixelExtent is the extent of one pixel along patient axis a (mm).
func (s *seg) pixelExtent(a int) float64 {
	return math.Abs(s.di[a]) + math.Abs(s.dj[a])
}
