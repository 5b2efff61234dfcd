package qc

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// ctGeometry is the CT volume the structure checks measure against.
type ctGeometry struct {
	origin  grid.Vec    // position of the first slice (lowest along the normal)
	axes    [3]grid.Vec // row direction, column direction, normal (unit)
	spacing [2]float64  // along axes[0] and axes[1] (mm)
	nx, ny  int
	gap     float64 // typical slice gap (mm); SliceThickness or 1 for one slice
	extent  float64 // distance from the first to the last slice along the normal (mm)
	slices  int
	series  string
	sops    map[string]bool
}

// index returns a point's fractional column and row indices and its distance along the normal
// from the first slice.
func (g *ctGeometry) index(p grid.Vec) (fi, fj, s float64) {
	d := p.Sub(g.origin)
	return d.Dot(g.axes[0]) / g.spacing[0], d.Dot(g.axes[1]) / g.spacing[1], d.Dot(g.axes[2])
}

var ctCheckIDs = []string{"ct.modality", "ct.series", "ct.frame_of_reference", "ct.orientation", "ct.image_geometry",
	"ct.slice_spacing", "ct.missing_slices", "ct.slice_alignment"}

// checkCT checks the CT folder and returns the geometry of its main series (nil when there is
// no usable CT).
func checkCT(c *course, rep *Report, th Thresholds) *ctGeometry {
	readable := c.readableCT()
	if len(readable) == 0 {
		for _, id := range ctCheckIDs {
			rep.add(skipped(id, "no readable CT image in "+c.ctDir))
		}
		return nil
	}
	// Modality: every file must be a single-frame CT image.
	ck := Check{ID: "ct.modality"}
	var cts []*ctSlice
	var notCT, oddModality, multi []string
	for _, s := range readable {
		k := rt.Classify(s.sopClass, s.modality)
		switch {
		case k != rt.KindCT:
			notCT = append(notCT, fmt.Sprintf("%s (%s, SOP class %s, modality %q)", s.rel, k, s.sopClass, s.modality))
			ck.Objects = append(ck.Objects, s.rel)
			continue
		case s.frames > 1:
			multi = append(multi, fmt.Sprintf("%s (%d frames)", s.rel, s.frames))
			ck.Objects = append(ck.Objects, s.rel)
		case !strings.EqualFold(s.modality, "CT"):
			oddModality = append(oddModality, fmt.Sprintf("%s (modality %q)", s.rel, s.modality))
		}
		cts = append(cts, s)
	}
	ck.Details = map[string]any{"ct_images": len(cts), "files": len(readable)}
	switch {
	case len(notCT) > 0 || len(multi) > 0:
		ck.Status = StatusFail
		var parts []string
		if len(notCT) > 0 {
			parts = append(parts, fmt.Sprintf("%s in %s not CT images: %s", plural(len(notCT), "file is", "files are"), c.ctDir, listSome(notCT, 5)))
			ck.Details["not_ct"] = capped(notCT, 50)
		}
		if len(multi) > 0 {
			parts = append(parts, fmt.Sprintf("multi-frame CT images are not supported by the image stages: %s", listSome(multi, 5)))
			ck.Details["multi_frame"] = capped(multi, 50)
		}
		ck.Message = strings.Join(parts, "; ")
	case len(oddModality) > 0:
		ck.Status = StatusWarning
		ck.Message = fmt.Sprintf("CT SOP class but Modality is not CT: %s", listSome(oddModality, 5))
		ck.Details["odd_modality"] = capped(oddModality, 50)
	default:
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%d CT images", len(cts))
	}
	rep.add(ck)
	if len(cts) == 0 {
		for _, id := range ctCheckIDs[1:] {
			rep.add(skipped(id, "no CT image in "+c.ctDir))
		}
		return nil
	}

	// One series; the geometry checks use the largest.
	bySeries := map[string]int{}
	for _, s := range cts {
		bySeries[s.seriesUID]++
	}
	main := majorityKey(bySeries)
	ck = Check{ID: "ct.series", Details: map[string]any{"series": bySeries, "main_series": main}}
	if len(bySeries) > 1 {
		var list []string
		for uid, n := range bySeries {
			list = append(list, fmt.Sprintf("%q (%d files)", uid, n))
		}
		sort.Strings(list)
		for _, s := range cts {
			if s.seriesUID != main {
				ck.Objects = append(ck.Objects, s.rel)
			}
		}
		ck.Objects = capped(ck.Objects, 50)
		ck.Status = StatusFail
		ck.Message = fmt.Sprintf("%s holds %d series: %s; the geometry checks use the largest", c.ctDir, len(bySeries), strings.Join(list, ", "))
	} else {
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("one series %s (%d images)", main, len(cts))
		if main == "" {
			ck.Status, ck.Message = StatusWarning, "the CT images carry no SeriesInstanceUID"
		}
	}
	rep.add(ck)
	var series []*ctSlice
	for _, s := range cts {
		if s.seriesUID == main {
			series = append(series, s)
		}
	}

	// Frame of reference.
	byFoR := map[string][]string{}
	for _, s := range series {
		byFoR[s.frameOfRef] = append(byFoR[s.frameOfRef], s.rel)
	}
	ck = Check{ID: "ct.frame_of_reference", Details: map[string]any{}}
	counts := map[string]int{}
	for k, v := range byFoR {
		counts[k] = len(v)
	}
	ck.Details["frames_of_reference"] = counts
	switch {
	case len(byFoR) > 1:
		ck.Status = StatusFail
		var list []string
		mainFoR := majorityKey(counts)
		for k, v := range byFoR {
			list = append(list, fmt.Sprintf("%q (%d files)", k, len(v)))
			if k != mainFoR {
				ck.Objects = append(ck.Objects, v...)
			}
		}
		sort.Strings(list)
		sort.Strings(ck.Objects)
		ck.Objects = capped(ck.Objects, 50)
		ck.Message = "the CT series has several frames of reference: " + strings.Join(list, ", ")
	case byFoR[""] != nil:
		ck.Status, ck.Message = StatusFail, "the CT images carry no FrameOfReferenceUID"
	default:
		ck.Status = StatusPass
		for k := range byFoR {
			ck.Message = "one frame of reference " + k
		}
	}
	rep.add(ck)

	// Orientation.
	ck = Check{ID: "ct.orientation"}
	orientKey := func(iop []float64) string {
		parts := make([]string, len(iop))
		for i, v := range iop {
			parts[i] = strconv.FormatFloat(math.Round(v*1e4)/1e4+0, 'f', 4, 64)
		}
		return strings.Join(parts, `\`)
	}
	var badIOP []string
	keys := map[string]int{}
	ref := map[string][]float64{}
	for _, s := range series {
		if !validIOP(s.iop) {
			badIOP = append(badIOP, fmt.Sprintf("%s (%v)", s.rel, s.iop))
			continue
		}
		k := orientKey(s.iop)
		keys[k]++
		ref[k] = s.iop
	}
	var refIOP []float64
	if len(keys) > 0 {
		refIOP = ref[majorityKey(keys)]
	}
	var offIOP []string
	var oriented []*ctSlice
	for _, s := range series {
		if !validIOP(s.iop) {
			ck.Objects = append(ck.Objects, s.rel)
			continue
		}
		same := true
		for i := range s.iop {
			if math.Abs(s.iop[i]-refIOP[i]) > th.CTCosineTol {
				same = false
			}
		}
		if !same {
			offIOP = append(offIOP, fmt.Sprintf("%s (%v)", s.rel, s.iop))
			ck.Objects = append(ck.Objects, s.rel)
			continue
		}
		oriented = append(oriented, s)
	}
	ck.Objects = capped(ck.Objects, 50)
	ck.Details = map[string]any{"image_orientation_patient": refIOP, "axial": refIOP != nil && isAxial(refIOP)}
	switch {
	case len(badIOP) > 0 || len(offIOP) > 0:
		ck.Status = StatusFail
		var parts []string
		if len(badIOP) > 0 {
			parts = append(parts, "missing or invalid ImageOrientationPatient: "+listSome(badIOP, 5))
		}
		if len(offIOP) > 0 {
			parts = append(parts, fmt.Sprintf("orientation differs from %v: %s", refIOP, listSome(offIOP, 5)))
		}
		ck.Message = strings.Join(parts, "; ")
	default:
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("all %d slices share ImageOrientationPatient %v", len(series), refIOP)
	}
	rep.add(ck)

	// Matrix and pixel spacing.
	ck = Check{ID: "ct.image_geometry"}
	var geomRef *ctSlice
	geomCount := map[string]int{}
	geomOf := func(s *ctSlice) string {
		return fmt.Sprintf("%dx%d %v", s.cols, s.rows, s.ps)
	}
	for _, s := range oriented {
		if s.rows > 0 && s.cols > 0 && len(s.ps) == 2 && s.ps[0] > 0 && s.ps[1] > 0 && len(s.ipp) == 3 {
			geomCount[geomOf(s)]++
		}
	}
	mainGeom := majorityKey(geomCount)
	var badGeom []string
	var usable []*ctSlice
	for _, s := range oriented {
		switch {
		case s.rows <= 0 || s.cols <= 0 || len(s.ps) != 2 || s.ps[0] <= 0 || s.ps[1] <= 0 || len(s.ipp) != 3:
			badGeom = append(badGeom, fmt.Sprintf("%s (rows %d, columns %d, PixelSpacing %v, ImagePositionPatient %v)", s.rel, s.rows, s.cols, s.ps, s.ipp))
			ck.Objects = append(ck.Objects, s.rel)
			continue
		case geomRef == nil && geomOf(s) == mainGeom:
			geomRef = s
		}
		usable = append(usable, s)
	}
	if geomRef != nil {
		var kept []*ctSlice
		for _, s := range usable {
			if s.rows != geomRef.rows || s.cols != geomRef.cols || math.Abs(s.ps[0]-geomRef.ps[0]) > th.CTPixelSpacingTolMM || math.Abs(s.ps[1]-geomRef.ps[1]) > th.CTPixelSpacingTolMM {
				badGeom = append(badGeom, fmt.Sprintf("%s (%s, expected %s)", s.rel, geomOf(s), geomOf(geomRef)))
				ck.Objects = append(ck.Objects, s.rel)
				continue
			}
			kept = append(kept, s)
		}
		usable = kept
		ck.Details = map[string]any{"rows": geomRef.rows, "columns": geomRef.cols, "pixel_spacing_mm": geomRef.ps}
	}
	ck.Objects = capped(ck.Objects, 50)
	if len(badGeom) > 0 {
		ck.Status = StatusFail
		ck.Message = "matrix size, pixel spacing or position differs or is missing: " + listSome(badGeom, 5)
	} else if geomRef != nil {
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("all slices are %dx%d with PixelSpacing %v mm", geomRef.cols, geomRef.rows, geomRef.ps)
	}
	if len(usable) == 0 {
		if ck.Status == "" {
			ck.Status, ck.Message = StatusFail, "no slice with a usable geometry"
		}
		rep.add(ck)
		for _, id := range []string{"ct.slice_spacing", "ct.missing_slices", "ct.slice_alignment"} {
			rep.add(skipped(id, "no CT slice with a consistent orientation and geometry"))
		}
		return nil
	}
	rep.add(ck)
	return checkSlices(c, rep, th, usable, refIOP, main, len(series))
}

// checkSlices checks the positions of the slices of one orientation and geometry.
func checkSlices(c *course, rep *Report, th Thresholds, ordered []*ctSlice, iop []float64, seriesUID string, seriesFiles int) *ctGeometry {
	row := grid.Vec{iop[0], iop[1], iop[2]}
	col := grid.Vec{iop[3], iop[4], iop[5]}
	row, col = row.Scale(1/row.Norm()), col.Scale(1/col.Norm())
	normal := row.Cross(col)
	normal = normal.Scale(1 / normal.Norm())
	for _, s := range ordered {
		s.pos = grid.Vec{s.ipp[0], s.ipp[1], s.ipp[2]}.Dot(normal)
	}
	sort.SliceStable(ordered, func(a, b int) bool {
		if ordered[a].pos != ordered[b].pos {
			return ordered[a].pos < ordered[b].pos
		}
		return ordered[a].rel < ordered[b].rel
	})
	first := ordered[0]
	n := len(ordered)
	geo := &ctGeometry{origin: grid.Vec{first.ipp[0], first.ipp[1], first.ipp[2]}, axes: [3]grid.Vec{row, col, normal},
		spacing: [2]float64{first.ps[1], first.ps[0]}, nx: first.cols, ny: first.rows, slices: n, series: seriesUID,
		sops: map[string]bool{}, extent: ordered[n-1].pos - first.pos}
	for _, s := range c.readableCT() {
		if s.sopUID != "" {
			geo.sops[s.sopUID] = true
		}
	}
	// Slice thickness.
	thick := map[string]int{}
	for _, s := range ordered {
		if s.hasThick {
			thick[strconv.FormatFloat(s.thickness, 'g', 6, 64)]++
		}
	}
	if n == 1 {
		geo.gap = 1
		if first.hasThick && first.thickness > 0 {
			geo.gap = first.thickness
		}
		rep.add(Check{ID: "ct.slice_spacing", Status: StatusInfo, Message: "one slice: the slice spacing is unknown",
			Details: map[string]any{"slices": 1, "slice_thickness_mm": thick}})
		missingSlicesCheck(c, rep, nil, seriesUID, seriesFiles)
		rep.add(Check{ID: "ct.slice_alignment", Status: StatusInfo, Message: "one slice: nothing to align", Details: map[string]any{"slices": 1}})
		return geo
	}
	gaps := make([]float64, n-1)
	for k := 1; k < n; k++ {
		gaps[k-1] = ordered[k].pos - ordered[k-1].pos
	}
	sorted := append([]float64(nil), gaps...)
	sort.Float64s(sorted)
	// The lower median: missing ordered make gaps larger, duplicates smaller; either stays a
	// minority in a usable series.
	typical := sorted[(len(sorted)-1)/2]
	var dups, uneven, missing []string
	var missingObjects, spacingObjects []string
	missingCount := 0
	for k, gap := range gaps {
		a, b := ordered[k], ordered[k+1]
		switch {
		case gap < th.CTDuplicatePositionMM:
			dups = append(dups, fmt.Sprintf("%s and %s at %.3f mm", a.rel, b.rel, b.pos))
			spacingObjects = append(spacingObjects, a.rel, b.rel)
		case typical < th.CTDuplicatePositionMM:
			// Most ordered share positions: spacing is meaningless, reported as duplicates.
		case math.Abs(gap-typical) <= th.CTGapRelTol*typical:
		default:
			m := math.Round(gap / typical)
			if m >= 2 && math.Abs(gap-m*typical) <= th.CTMissingSliceTol*typical {
				missingCount += int(m) - 1
				missing = append(missing, fmt.Sprintf("%s missing between %s and %s (gap %.3f mm = %g × %.3f mm)",
					plural(int(m)-1, "slice", "slices"), a.rel, b.rel, gap, m, typical))
				missingObjects = append(missingObjects, a.rel, b.rel)
			} else {
				uneven = append(uneven, fmt.Sprintf("gap %.3f mm between %s and %s", gap, a.rel, b.rel))
				spacingObjects = append(spacingObjects, a.rel, b.rel)
			}
		}
	}
	geo.gap = typical
	if typical < th.CTDuplicatePositionMM {
		geo.gap = 1
	}
	ck := Check{ID: "ct.slice_spacing", Details: map[string]any{"slices": n, "typical_gap_mm": r4(typical),
		"min_gap_mm": r4(sorted[0]), "max_gap_mm": r4(sorted[len(sorted)-1]), "slice_thickness_mm": thick,
		"extent_mm": r4(geo.extent)}, Objects: capped(slices.Compact(spacingObjects), 50)}
	switch {
	case len(dups) > 0 || len(uneven) > 0:
		ck.Status = StatusFail
		var parts []string
		if len(dups) > 0 {
			parts = append(parts, "slices sharing a position: "+listSome(dups, 5))
			ck.Details["duplicate_positions"] = capped(dups, 50)
		}
		if len(uneven) > 0 {
			parts = append(parts, fmt.Sprintf("uneven spacing (typical gap %.3f mm, tolerance %.2g%%): %s", typical, 100*th.CTGapRelTol, listSome(uneven, 5)))
			ck.Details["uneven_gaps"] = capped(uneven, 50)
		}
		ck.Message = strings.Join(parts, "; ")
	case len(thick) > 1:
		ck.Status = StatusWarning
		ck.Message = fmt.Sprintf("uniform spacing %.3f mm, but SliceThickness varies between slices: %v", typical, thick)
	default:
		ck.Status = StatusPass
		ck.Message = fmt.Sprintf("uniform slice spacing %.3f mm over %d slices", typical, n)
		if len(missing) > 0 {
			ck.Message += " (apart from the missing slices of ct.missing_slices)"
		}
		for t := range thick {
			if v, err := strconv.ParseFloat(t, 64); err == nil && math.Abs(v-typical) > th.CTGapRelTol*typical+1e-3 {
				ck.Status = StatusInfo
				ck.Message += fmt.Sprintf("; SliceThickness %s mm differs from the spacing (overlapping or gapped reconstruction)", t)
			}
		}
	}
	rep.add(ck)
	missingSlicesCheck(c, rep, &missingInfo{list: missing, objects: missingObjects, count: missingCount}, seriesUID, seriesFiles)

	// Alignment: every slice on the line through the first slice along the normal.
	ck = Check{ID: "ct.slice_alignment"}
	var shifted []string
	maxDrift := 0.0
	for _, s := range ordered[1:] {
		d := grid.Vec{s.ipp[0], s.ipp[1], s.ipp[2]}.Sub(geo.origin)
		drift := d.Sub(normal.Scale(d.Dot(normal))).Norm()
		maxDrift = math.Max(maxDrift, drift)
		if drift > th.CTTiltTolMM {
			shifted = append(shifted, fmt.Sprintf("%s (%.3f mm)", s.rel, drift))
			ck.Objects = append(ck.Objects, s.rel)
		}
	}
	ck.Objects = capped(ck.Objects, 50)
	ck.Details = map[string]any{"max_in_plane_shift_mm": r4(maxDrift)}
	if len(shifted) > 0 {
		ck.Status = StatusFail
		ck.Message = "slices shifted in-plane from the first slice's line along the normal (gantry tilt?), which the image readers refuse: " + listSome(shifted, 5)
	} else {
		ck.Status, ck.Message = StatusPass, "all slices lie on one line along the slice normal"
	}
	rep.add(ck)
	return geo
}

type missingInfo struct {
	list, objects []string
	count         int
}

// missingSlicesCheck reports gaps that are whole multiples of the spacing and files missing
// against organize's slice count.
func missingSlicesCheck(c *course, rep *Report, mi *missingInfo, seriesUID string, seriesFiles int) {
	ck := Check{ID: "ct.missing_slices", Details: map[string]any{"files_in_series": seriesFiles}}
	var parts []string
	if mi != nil && len(mi.list) > 0 {
		parts = append(parts, strings.Join(mi.list, "; "))
		ck.Objects = append(ck.Objects, mi.objects...)
		ck.Details["gaps"] = mi.list
		ck.Details["missing_in_gaps"] = mi.count
	}
	if c.meta != nil && c.meta.CT.Slices > 0 && (c.meta.CT.SeriesUID == "" || c.meta.CT.SeriesUID == seriesUID) {
		ck.Details["organized_slices"] = c.meta.CT.Slices
		if seriesFiles < c.meta.CT.Slices {
			parts = append(parts, fmt.Sprintf("organize placed %d slices but %s now holds %d of the series", c.meta.CT.Slices, c.ctDir, seriesFiles))
		}
	}
	if len(parts) > 0 {
		ck.Status, ck.Message = StatusFail, strings.Join(parts, "; ")
	} else {
		ck.Status, ck.Message = StatusPass, "no missing slices"
	}
	rep.add(ck)
}

func validIOP(iop []float64) bool {
	if len(iop) != 6 {
		return false
	}
	r := grid.Vec{iop[0], iop[1], iop[2]}
	c := grid.Vec{iop[3], iop[4], iop[5]}
	return math.Abs(r.Norm()-1) < 1e-2 && math.Abs(c.Norm()-1) < 1e-2 && math.Abs(r.Dot(c)) < 1e-2
}

func isAxial(iop []float64) bool {
	n := grid.Vec{iop[0], iop[1], iop[2]}.Cross(grid.Vec{iop[3], iop[4], iop[5]})
	return math.Abs(math.Abs(n[2])-1) < 1e-3
}
