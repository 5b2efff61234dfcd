package builtin

import (
	"context"
)

// bones thresholds bone inside the body, leaving metal out, and keeps the 3-D components that
// are large enough and do not look like contrast agent.
func (s *seg) bones(ctx context.Context) error {
	metal := make([]int, s.nz)
	if err := forSlices(ctx, s.nz, s.workers, func(k, _ int) {
		sl, hu := s.slice(k), s.hu(k)
		for i, v := range hu {
			if sl[i]&bitBody == 0 || v <= BoneHU {
				continue
			}
			if v > MetalHU {
				metal[k]++
				continue
			}
			sl[i] |= bitBone
		}
	}); err != nil {
		return err
	}
	v, err := components3D(ctx, s.lab, bitBone, s.nx, s.ny, s.nz, s.workers)
	if err != nil {
		return err
	}
	st := s.componentStats(v, true)
	var small, contrast int
	var smallCC, contrastCC, keptCC float64
	keep := make([]bool, v.ncomp)
	for c, cs := range st {
		mean := cs.huSum / float64(cs.n)
		switch {
		case cs.cc < minBoneCC*s.sizeScale:
			small++
			smallCC += cs.cc
		case cs.cc >= contrastMinCC*s.sizeScale && mean < contrastMeanHU && cs.huMax < contrastMaxHU:
			contrast++
			contrastCC += cs.cc
		default:
			keep[c] = true
			keptCC += cs.cc
		}
	}
	if err := s.keepComponents(ctx, v, bitBone, func(c int) bool { return keep[c] }); err != nil {
		return err
	}
	kept := 0
	for _, k := range keep {
		if k {
			kept++
		}
	}
	s.note(Bones, "%d component(s) above %.0f HU kept (%.1f cm³); %d smaller than %.2g cm³ dropped (%.1f cm³)",
		kept, BoneHU, keptCC, small, minBoneCC*s.sizeScale, smallCC)
	if contrast > 0 {
		s.note(Bones, "%d contrast-like component(s) dropped (mean below %.0f HU, no voxel above %.0f HU): %.1f cm³",
			contrast, contrastMeanHU, contrastMaxHU, contrastCC)
	}
	nm := 0
	for _, m := range metal {
		nm += m
	}
	if nm > 0 {
		s.note(Bones, "%d voxel(s) above %.0f HU treated as metal, not bone", nm, MetalHU)
	}
	return nil
}
