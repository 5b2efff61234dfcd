package qc

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

var (
	// targetName matches GTV, CTV, PTV and ITV at the start of a word of the ROI name.
	targetName = regexp.MustCompile(`(?i)(^|[^a-z])(gtv|ctv|ptv|itv)`)
	// notTargetName excludes helper structures derived from targets: rings, shells, avoidance
	// and optimisation structures, and subtractions such as "BRAIN - PTV" or "Lung-GTV".
	notTargetName = regexp.MustCompile(`(?i)(^|[^a-z])(ring|body|external|skin|avoid|shell|opt)|[a-z0-9)]\s*(-|minus)\s*(gtv|ctv|ptv|itv)`)
	// couchName marks couch and table structures, which touch the image edge by nature.
	couchName = regexp.MustCompile(`(?i)couch|table`)
)

// isTarget tells whether an ROI is a target volume: its name has a GTV/CTV/PTV/ITV word or its
// RTROIInterpretedType is GTV, CTV or PTV, and its name is not that of a helper structure
// (ring, body, external, skin, avoid, shell, opt, or a subtraction "X - PTV").
func isTarget(name, interpreted string) bool {
	if notTargetName.MatchString(name) {
		return false
	}
	switch strings.ToUpper(interpreted) {
	case "GTV", "CTV", "PTV":
		return true
	}
	return targetName.MatchString(name)
}

// roiResult is what the per-ROI work finds.
type roiResult struct {
	src        *structSource
	roi        *rt.ROIContours
	label      string // "RS.dcm: PTV"
	contours   int
	pointOnly  bool
	degenerate int
	crossing   []int // 1-based contour numbers
	touching   int
	unchecked  int
	sides      []string
	inPlane    bool
	target     bool
	couch      bool
	cov        *coverage
}

// coverage is how much of a target lies inside the dose grid.
type coverage struct {
	Points          int     `json:"points"`
	PointsInside    int     `json:"points_inside"`
	MaxOutsideMM    float64 `json:"max_outside_mm"`
	VolumeCC        float64 `json:"volume_cc"`
	InsideFraction  float64 `json:"inside_fraction"`
	OutsideFraction float64 `json:"outside_fraction"`
	Method          string  `json:"method"`
	Note            string  `json:"note,omitempty"`
	Status          Status  `json:"status"`
}

var structureCheckIDs = []string{"structures.empty_rois", "structures.degenerate_contours", "structures.self_intersections",
	"structures.duplicate_names", "structures.duplicate_roi_numbers", "structures.image_edge", "structures.image_references"}

// checkStructures runs the ROI checks (in parallel over ROIs) and the target coverage.
func checkStructures(ctx context.Context, c *course, rep *Report, th Thresholds, ctg *ctGeometry, dose *grid.Grid, workers int) error {
	if len(c.structs) == 0 {
		for _, id := range structureCheckIDs {
			rep.add(skipped(id, "no structure set (RS.dcm, RS_auto.dcm, RS_custom.dcm)"))
		}
		rep.add(skipped("coverage.targets_in_dose_grid", "no structure set"))
		return nil
	}
	var work []*roiResult
	for _, s := range c.structs {
		if s.file == nil {
			continue
		}
		for _, r := range s.file.ROIs {
			work = append(work, &roiResult{src: s, roi: r, label: s.rel + ": " + r.Name,
				target: isTarget(r.Name, r.InterpretedType), couch: couchName.MatchString(r.Name)})
		}
	}
	next := make(chan *roiResult)
	var wg sync.WaitGroup
	for range max(1, min(workers, len(work))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				analyseROI(r, th, ctg, dose)
			}
		}()
	}
	for _, r := range work {
		if ctx.Err() != nil {
			break
		}
		next <- r
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	unreadable := ""
	for _, s := range c.structs {
		if s.file == nil {
			unreadable += fmt.Sprintf("; %s not checked (unreadable)", s.rel)
		}
	}
	roiChecks(rep, work, unreadable)
	headerChecks(c, rep)
	edgeCheck(rep, work, ctg, th)
	referenceCheck(c, rep, ctg)
	coverageCheck(rep, work, dose, th)
	return nil
}

// analyseROI does the per-ROI geometry: contour sanity, self-intersections, image-edge contact
// and, for targets, dose-grid coverage.
func analyseROI(r *roiResult, th Thresholds, ctg *ctGeometry, dose *grid.Grid) {
	r.contours = len(r.roi.Contours)
	planar := 0
	fiMin, fiMax, fjMin, fjMax, sMin, sMax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for ci, ct := range r.roi.Contours {
		if ct.Type == rt.ContourPoint {
			continue
		}
		planar++
		if ctg != nil {
			for _, p := range ct.Points {
				fi, fj, s := ctg.index(p)
				fiMin, fiMax = math.Min(fiMin, fi), math.Max(fiMax, fi)
				fjMin, fjMax = math.Min(fjMin, fj), math.Max(fjMax, fj)
				sMin, sMax = math.Min(sMin, s), math.Max(sMax, s)
			}
		}
		if ct.Type != rt.ContourClosedPlanar {
			continue
		}
		if len(ct.Points) < 3 {
			r.degenerate++
			continue
		}
		p := dedupe(project(ct.Points), 1e-6)
		if len(p) < 3 {
			r.degenerate++
			continue
		}
		si := selfIntersect(p, th.MaxSegmentPairTests)
		if si.crossing {
			r.crossing = append(r.crossing, ci+1)
		} else if si.touching {
			r.touching++
		}
		if !si.complete {
			r.unchecked++
		}
	}
	r.pointOnly = r.contours > 0 && planar == 0
	if ctg != nil && planar > 0 {
		m := th.EdgeMarginVoxels
		add := func(cond bool, side string, inPlane bool) {
			if cond {
				r.sides = append(r.sides, side)
				r.inPlane = r.inPlane || inPlane
			}
		}
		add(fiMin < m, "x_min", true)
		add(fiMax > float64(ctg.nx-1)-m, "x_max", true)
		add(fjMin < m, "y_min", true)
		add(fjMax > float64(ctg.ny-1)-m, "y_max", true)
		add(sMin < m*ctg.gap, "z_min", false)
		add(sMax > ctg.extent-m*ctg.gap, "z_max", false)
	}
	if r.target && dose != nil && !r.pointOnly && r.contours > 0 {
		r.cov = targetCoverage(r.roi, dose, th)
	}
}

// doseBox measures a point against the box of the dose grid's voxel centres: the fractional
// indices and the distance (mm) by which the point lies outside.
type doseBox struct {
	g        *grid.Grid
	lo, hi   [3]float64 // along each axis from the origin (mm)
	axesUnit [3]grid.Vec
}

func newDoseBox(g *grid.Grid) *doseBox {
	b := &doseBox{g: g}
	for a := 0; a < 3; a++ {
		b.axesUnit[a] = g.Axes[a].Scale(1 / g.Axes[a].Norm())
	}
	b.hi[0] = float64(g.Size[0]-1) * g.Spacing[0]
	b.hi[1] = float64(g.Size[1]-1) * g.Spacing[1]
	if g.SliceOffsets != nil {
		b.hi[2] = g.SliceOffsets[len(g.SliceOffsets)-1]
	} else {
		b.hi[2] = float64(g.Size[2]-1) * g.Spacing[2]
	}
	for a := 0; a < 3; a++ {
		if b.hi[a] < b.lo[a] {
			b.lo[a], b.hi[a] = b.hi[a], b.lo[a]
		}
	}
	return b
}

// outside returns the distance (mm) by which p lies outside the box (0 inside).
func (b *doseBox) outside(p grid.Vec) float64 {
	d := p.Sub(b.g.Origin)
	sum := 0.0
	for a := 0; a < 3; a++ {
		t := d.Dot(b.axesUnit[a])
		e := math.Max(0, math.Max(b.lo[a]-t, t-b.hi[a]))
		sum += e * e
	}
	return math.Sqrt(sum)
}

// targetCoverage measures a target against the dose grid: the share of its contour points and
// of its rasterised volume inside the box of the dose voxel centres (where the DVH has dose),
// and how far it sticks out.
func targetCoverage(roi *rt.ROIContours, dose *grid.Grid, th Thresholds) *coverage {
	cv := &coverage{Method: "volume"}
	box := newDoseBox(dose)
	const insideTol = 1e-6 // mm, as the DVH engine's voxel-centre box
	var closed []rt.Contour
	for _, c := range roi.Contours {
		if c.Type != rt.ContourClosedPlanar || len(c.Points) < 3 {
			continue
		}
		closed = append(closed, c)
		for _, p := range c.Points {
			cv.Points++
			out := box.outside(p)
			if out <= insideTol {
				cv.PointsInside++
			}
			cv.MaxOutsideMM = math.Max(cv.MaxOutsideMM, out)
		}
	}
	if cv.Points == 0 {
		cv.Method, cv.Note, cv.Status = "none", "no closed contour", StatusInfo
		return cv
	}
	cv.InsideFraction = float64(cv.PointsInside) / float64(cv.Points)
	if frac, vol, note := volumeInside(roi, closed, box, th); note == "" {
		cv.InsideFraction, cv.VolumeCC = frac, vol
	} else {
		cv.Method, cv.Note = "points", note
	}
	cv.OutsideFraction = 1 - cv.InsideFraction
	cv.MaxOutsideMM = r4(cv.MaxOutsideMM)
	cv.InsideFraction, cv.OutsideFraction, cv.VolumeCC = r4(cv.InsideFraction), r4(cv.OutsideFraction), r4(cv.VolumeCC)
	switch {
	case cv.MaxOutsideMM <= th.CoveragePassMM:
		cv.Status = StatusPass
	case cv.MaxOutsideMM <= th.CoverageWarnMM && cv.OutsideFraction <= th.CoverageWarnOutsideFraction:
		cv.Status = StatusWarning
	default:
		cv.Status = StatusFail
	}
	return cv
}

// volumeInside rasterises the target on a lattice aligned with the dose grid, through its own
// contour planes, and returns the share of its volume whose voxel centres lie in the dose box.
// A non-empty note says why it could not (the caller then uses the contour points).
func volumeInside(roi *rt.ROIContours, closed []rt.Contour, box *doseBox, th Thresholds) (float64, float64, string) {
	ax := box.axesUnit
	origin := box.g.Origin
	var planes []float64
	uMin, uMax, vMin, vMax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, c := range closed {
		n := newellNormal(c.Points)
		if nn := n.Norm(); nn > 0 && math.Abs(n.Dot(ax[2]))/nn < 0.999 {
			return 0, 0, "contours not parallel to the dose planes"
		}
		w := 0.0
		for _, p := range c.Points {
			d := p.Sub(origin)
			u, v := d.Dot(ax[0]), d.Dot(ax[1])
			uMin, uMax, vMin, vMax = math.Min(uMin, u), math.Max(uMax, u), math.Min(vMin, v), math.Max(vMax, v)
			w += d.Dot(ax[2])
		}
		planes = append(planes, w/float64(len(c.Points)))
	}
	sort.Float64s(planes)
	uniq := planes[:1]
	for _, z := range planes[1:] {
		if z-uniq[len(uniq)-1] > 0.01 {
			uniq = append(uniq, z)
		}
	}
	h := th.CoverageRasterMM
	nu := func() int { return int(math.Ceil((uMax-uMin)/h)) + 1 }
	nv := func() int { return int(math.Ceil((vMax-vMin)/h)) + 1 }
	for nu()*nv()*len(uniq) > th.CoverageMaxVoxels {
		h *= 1.5
	}
	lat := &grid.Grid{
		Origin:  origin.Add(ax[0].Scale(uMin)).Add(ax[1].Scale(vMin)).Add(ax[2].Scale(uniq[0])),
		Axes:    ax,
		Spacing: [3]float64{h, h, 1},
		Size:    [3]int{nu(), nv(), len(uniq)},
	}
	if len(uniq) > 1 {
		offs := make([]float64, len(uniq))
		for k := range uniq {
			offs[k] = uniq[k] - uniq[0]
		}
		lat.SliceOffsets = offs
	}
	mask, _, err := structures.Rasterize(roi, &imageio.Image{Grid: lat})
	if err != nil {
		return 0, 0, "rasterisation failed: " + err.Error()
	}
	// Each plane stands for a slab reaching halfway to its neighbours (one plane: weight 1).
	thick := make([]float64, len(uniq))
	for k := range uniq {
		switch {
		case len(uniq) == 1:
			thick[k] = 1
		case k == 0:
			thick[k] = uniq[1] - uniq[0]
		case k == len(uniq)-1:
			thick[k] = uniq[k] - uniq[k-1]
		default:
			thick[k] = (uniq[k+1] - uniq[k-1]) / 2
		}
	}
	nx, ny := lat.Size[0], lat.Size[1]
	var total, inside float64
	for k := 0; k < lat.Size[2]; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				if mask.Data[(k*ny+j)*nx+i] == 0 {
					continue
				}
				total += thick[k]
				if box.outside(lat.Point(i, j, k)) <= 1e-6 {
					inside += thick[k]
				}
			}
		}
	}
	if total == 0 {
		return 0, 0, "the contours enclose no lattice voxel"
	}
	vol := total * h * h / 1000
	if len(uniq) == 1 {
		vol = 0 // a single plane has no thickness of its own
	}
	return inside / total, vol, ""
}

// roiChecks reports empty ROIs, degenerate contours and self-intersections.
func roiChecks(rep *Report, work []*roiResult, unreadable string) {
	var empty, degenerate, crossing, touching, unchecked []string
	ckEmpty := Check{ID: "structures.empty_rois"}
	ckDeg := Check{ID: "structures.degenerate_contours"}
	ckSelf := Check{ID: "structures.self_intersections"}
	for _, r := range work {
		if r.contours == 0 {
			empty = append(empty, r.label)
			ckEmpty.Objects = append(ckEmpty.Objects, r.label)
		}
		if r.degenerate > 0 {
			degenerate = append(degenerate, fmt.Sprintf("%s (%s)", r.label, plural(r.degenerate, "contour", "contours")))
			ckDeg.Objects = append(ckDeg.Objects, r.label)
		}
		if len(r.crossing) > 0 {
			nums := make([]string, len(r.crossing))
			for i, n := range r.crossing {
				nums[i] = fmt.Sprint(n)
			}
			crossing = append(crossing, fmt.Sprintf("%s (contour %s of %d)", r.label, listSome(nums, 5), r.contours))
			ckSelf.Objects = append(ckSelf.Objects, r.label)
		}
		if r.touching > 0 {
			touching = append(touching, fmt.Sprintf("%s (%s)", r.label, plural(r.touching, "contour", "contours")))
		}
		if r.unchecked > 0 {
			unchecked = append(unchecked, fmt.Sprintf("%s (%s)", r.label, plural(r.unchecked, "contour", "contours")))
		}
	}
	ckEmpty.Details = map[string]any{"rois_checked": len(work), "empty": nonNil(empty)}
	if len(empty) > 0 {
		ckEmpty.Status = StatusWarning
		ckEmpty.Message = fmt.Sprintf("%s without contours: %s (no DVH or radiomics for them)", plural(len(empty), "ROI", "ROIs"), listSome(empty, 10))
	} else {
		ckEmpty.Status, ckEmpty.Message = StatusPass, fmt.Sprintf("all %d ROIs have contours", len(work))
	}
	ckEmpty.Message += unreadable
	rep.add(ckEmpty)

	ckDeg.Details = map[string]any{"rois": nonNil(degenerate)}
	if len(degenerate) > 0 {
		ckDeg.Status = StatusWarning
		ckDeg.Message = "CLOSED_PLANAR contours with fewer than 3 distinct points (ignored by DVH and rasterisation): " + listSome(degenerate, 10)
	} else {
		ckDeg.Status, ckDeg.Message = StatusPass, "every closed contour has at least 3 distinct points"
	}
	ckDeg.Message += unreadable
	rep.add(ckDeg)

	ckSelf.Details = map[string]any{"crossing": nonNil(crossing), "touching": nonNil(touching), "not_fully_checked": nonNil(unchecked)}
	switch {
	case len(crossing) > 0:
		ckSelf.Status = StatusWarning
		ckSelf.Message = "self-intersecting contours (edges cross; the even-odd fill leaves part of the area out): " + listSome(crossing, 10)
	case len(touching) > 0 || len(unchecked) > 0:
		ckSelf.Status = StatusInfo
		var parts []string
		if len(touching) > 0 {
			parts = append(parts, "contours touching themselves without crossing (keyhole or repeated vertices): "+listSome(touching, 10))
		}
		if len(unchecked) > 0 {
			parts = append(parts, "contours not fully checked (pair-test cap): "+listSome(unchecked, 10))
		}
		ckSelf.Message = strings.Join(parts, "; ")
	default:
		ckSelf.Status, ckSelf.Message = StatusPass, "no self-intersecting contour"
	}
	ckSelf.Message += unreadable
	rep.add(ckSelf)
}

// headerChecks reports duplicate ROI names and numbers per structure set.
func headerChecks(c *course, rep *Report) {
	ckName := Check{ID: "structures.duplicate_names"}
	ckNum := Check{ID: "structures.duplicate_roi_numbers"}
	var dupNames, dupNums []string
	for _, s := range c.structs {
		if s.hdr == nil {
			continue
		}
		names := map[string][]string{}
		nums := map[int][]string{}
		var order []string
		var numOrder []int
		for _, r := range s.hdr.ROIs {
			k := strings.ToLower(strings.TrimSpace(r.Name))
			if names[k] == nil {
				order = append(order, k)
			}
			names[k] = append(names[k], r.Name)
			if nums[r.Number] == nil {
				numOrder = append(numOrder, r.Number)
			}
			nums[r.Number] = append(nums[r.Number], r.Name)
		}
		for _, k := range order {
			if len(names[k]) > 1 {
				dupNames = append(dupNames, fmt.Sprintf("%s: %q × %d", s.rel, names[k][0], len(names[k])))
				ckName.Objects = append(ckName.Objects, s.rel+": "+names[k][0])
			}
		}
		for _, n := range numOrder {
			if len(nums[n]) > 1 {
				dupNums = append(dupNums, fmt.Sprintf("%s: ROI number %d (%s)", s.rel, n, strings.Join(nums[n], ", ")))
				ckNum.Objects = append(ckNum.Objects, s.rel)
			}
		}
	}
	ckName.Details = map[string]any{"duplicates": nonNil(dupNames)}
	if len(dupNames) > 0 {
		ckName.Status = StatusWarning
		ckName.Message = "duplicate ROI names (case-insensitive) within a structure set: " + listSome(dupNames, 10)
	} else {
		ckName.Status, ckName.Message = StatusPass, "ROI names are unique within each structure set"
	}
	rep.add(ckName)
	ckNum.Details = map[string]any{"duplicates": nonNil(dupNums)}
	if len(dupNums) > 0 {
		ckNum.Status = StatusFail
		ckNum.Message = "duplicate ROI numbers (contours cannot be assigned to their ROI): " + listSome(dupNums, 10)
	} else {
		ckNum.Status, ckNum.Message = StatusPass, "ROI numbers are unique within each structure set"
	}
	rep.add(ckNum)
}

// edgeCheck reports ROIs that reach a face of the CT volume.
func edgeCheck(rep *Report, work []*roiResult, ctg *ctGeometry, th Thresholds) {
	if ctg == nil {
		rep.add(skipped("structures.image_edge", "no usable CT geometry"))
		return
	}
	ck := Check{ID: "structures.image_edge"}
	type entry struct {
		ROI     string   `json:"roi"`
		Sides   []string `json:"cropped_sides"`
		InPlane bool     `json:"inplane_cropped"`
		Target  bool     `json:"target"`
		Couch   bool     `json:"ignore_for_status"`
	}
	var entries []entry
	var warn, info []string
	for _, r := range work {
		if len(r.sides) == 0 {
			continue
		}
		entries = append(entries, entry{ROI: r.label, Sides: r.sides, InPlane: r.inPlane, Target: r.target, Couch: r.couch})
		desc := fmt.Sprintf("%s (%s)", r.label, strings.Join(r.sides, ", "))
		if !r.couch && (r.inPlane || r.target) {
			warn = append(warn, desc)
			ck.Objects = append(ck.Objects, r.label)
		} else {
			info = append(info, desc)
		}
	}
	if entries == nil {
		entries = []entry{}
	}
	ck.Details = map[string]any{"rois": entries, "ct_size": []int{ctg.nx, ctg.ny, ctg.slices}, "margin_voxels": th.EdgeMarginVoxels}
	switch {
	case len(warn) > 0:
		ck.Status = StatusWarning
		ck.Message = "ROIs cut by the image edge (in-plane, or a target at any face): " + listSome(warn, 10)
		if len(info) > 0 {
			ck.Message += fmt.Sprintf("; also touching the first/last slice or couch: %s", listSome(info, 10))
		}
	case len(info) > 0:
		ck.Status = StatusInfo
		ck.Message = "ROIs reaching the first/last CT slice (or couch structures at the edge): " + listSome(info, 10)
	default:
		ck.Status, ck.Message = StatusPass, "no ROI touches the faces of the CT volume"
	}
	rep.add(ck)
}

// referenceCheck reports structure sets whose image references miss the course CT.
func referenceCheck(c *course, rep *Report, ctg *ctGeometry) {
	if ctg == nil {
		rep.add(skipped("structures.image_references", "no usable CT"))
		return
	}
	ck := Check{ID: "structures.image_references"}
	var problems []string
	per := map[string]any{}
	for _, s := range c.structs {
		if s.hdr == nil {
			continue
		}
		var missing []string
		for _, u := range s.hdr.ReferencedImages {
			if !ctg.sops[u] {
				missing = append(missing, u)
			}
		}
		seriesOK := len(s.hdr.ReferencedSeries) == 0
		for _, u := range s.hdr.ReferencedSeries {
			if u == ctg.series {
				seriesOK = true
			}
		}
		per[s.rel] = map[string]any{"referenced_images": len(s.hdr.ReferencedImages), "missing_images": len(missing),
			"referenced_series": nonNil(s.hdr.ReferencedSeries)}
		if !seriesOK {
			problems = append(problems, fmt.Sprintf("%s references series %s, not the course CT %s", s.rel, strings.Join(s.hdr.ReferencedSeries, ", "), ctg.series))
			ck.Objects = append(ck.Objects, s.rel)
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d of %d referenced images are not in %s (e.g. %s)", s.rel, len(missing), len(s.hdr.ReferencedImages), c.ctDir, missing[0]))
			if seriesOK {
				ck.Objects = append(ck.Objects, s.rel)
			}
		}
	}
	ck.Details = map[string]any{"structure_sets": per}
	if len(problems) > 0 {
		ck.Status, ck.Message = StatusWarning, strings.Join(problems, "; ")
	} else {
		ck.Status, ck.Message = StatusPass, "every image the structure sets reference is in the course CT"
	}
	rep.add(ck)
}

// coverageCheck reports whether the dose grid covers every target.
func coverageCheck(rep *Report, work []*roiResult, dose *grid.Grid, th Thresholds) {
	if dose == nil {
		rep.add(skipped("coverage.targets_in_dose_grid", "no usable dose grid"))
		return
	}
	ck := Check{ID: "coverage.targets_in_dose_grid", Status: StatusPass}
	targets := map[string]*coverage{}
	var fails, warns, oks []string
	for _, r := range work {
		if !r.target || r.cov == nil {
			continue
		}
		cv := r.cov
		targets[r.label] = cv
		desc := fmt.Sprintf("%s (%.1f%% of the volume outside, up to %.1f mm)", r.label, 100*cv.OutsideFraction, cv.MaxOutsideMM)
		switch cv.Status {
		case StatusFail:
			fails = append(fails, desc)
			ck.Objects = append(ck.Objects, r.label)
		case StatusWarning:
			warns = append(warns, desc)
			ck.Objects = append(ck.Objects, r.label)
		default:
			oks = append(oks, r.label)
		}
		ck.Status = Worst(ck.Status, cv.Status)
	}
	ck.Details = map[string]any{"targets": targets, "dose_box": "box of the dose voxel centres (the DVH takes 0 Gy outside it)"}
	switch {
	case len(targets) == 0:
		ck.Status, ck.Message = StatusInfo, "no target ROI (GTV, CTV, PTV, ITV) with closed contours"
	case len(fails) > 0 || len(warns) > 0:
		var parts []string
		if len(fails) > 0 {
			parts = append(parts, "targets sticking out of the dose grid: "+listSome(fails, 10))
		}
		if len(warns) > 0 {
			parts = append(parts, "targets slightly outside the dose grid: "+listSome(warns, 10))
		}
		ck.Message = strings.Join(parts, "; ")
	default:
		ck.Message = fmt.Sprintf("the dose grid covers %s", listSome(oks, 10))
		if ck.Status == StatusInfo {
			ck.Message = "targets without closed contours: " + listSome(oks, 10)
		}
	}
	rep.add(ck)
}
