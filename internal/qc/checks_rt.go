package qc

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// sopClassVarianPlan is the private Varian plan class the original accepted as an RTPLAN.
const sopClassVarianPlan = "1.2.246.352.70.1.70"

// checkPlan checks RP.dcm: its SOP class and the structure set it was made on.
func checkPlan(c *course, rep *Report) {
	p := c.plan
	if !p.ok() {
		why := p.rel + " absent"
		if p.exists {
			why = p.rel + " unreadable"
		}
		rep.add(skipped("plan.sop_class", why))
		rep.add(skipped("plan.structure_reference", why))
		return
	}
	cls, mod := p.str(dicomio.TagSOPClassUID), p.str(dicomio.TagModality)
	ck := Check{ID: "plan.sop_class", Objects: []string{p.rel}, Details: map[string]any{"sop_class_uid": cls, "modality": mod}}
	switch {
	case cls == rt.SOPClassRTPlan || cls == rt.SOPClassRTIonPlan:
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%s is an RT plan (%s)", p.rel, cls)
		if !strings.EqualFold(mod, "RTPLAN") {
			ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s has the RT plan SOP class but Modality %q", p.rel, mod)
		}
	case cls == sopClassVarianPlan:
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s has the private Varian plan SOP class %s", p.rel, cls)
	default:
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s is not an RT plan: SOP class %q, modality %q", p.rel, cls, mod)
	}
	rep.add(ck)

	plan := rt.ParsePlan(&p.f.Dataset)
	ck = Check{ID: "plan.structure_reference", Objects: []string{p.rel}, Details: map[string]any{"referenced_structure_sets": nonNil(plan.ReferencedStructureSets)}}
	rsUID := ""
	if c.rs != nil {
		rsUID = c.rs.str(dicomio.TagSOPInstanceUID)
	}
	inCourse := map[string]string{}
	for _, o := range c.others {
		if strings.HasPrefix(o.rel, "DICOM/RTSTRUCT/") && o.ok() {
			inCourse[o.f.String(dicomio.TagSOPInstanceUID)] = o.rel
		}
	}
	switch {
	case len(plan.ReferencedStructureSets) == 0:
		ck.Status, ck.Message = StatusInfo, fmt.Sprintf("%s references no structure set", p.rel)
	case rsUID != "" && slices.Contains(plan.ReferencedStructureSets, rsUID):
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%s references %s", p.rel, c.rs.rel)
	default:
		var found, absent []string
		for _, u := range plan.ReferencedStructureSets {
			if rel, ok := inCourse[u]; ok {
				found = append(found, rel)
			} else {
				absent = append(absent, u)
			}
		}
		ck.Status = StatusWarning
		switch {
		case len(found) > 0:
			ck.Message = fmt.Sprintf("%s references %s, not RS.dcm", p.rel, strings.Join(found, ", "))
		default:
			ck.Message = fmt.Sprintf("%s references structure set %s, which is not in the course", p.rel, strings.Join(absent, ", "))
		}
	}
	rep.add(ck)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var doseCheckIDs = []string{"dose.sop_class", "dose.scaling", "dose.units", "dose.type", "dose.summation_type",
	"dose.plan_reference", "dose.grid"}

// checkDose checks the course dose RD.dcm, the one organize resolved (never the first file of
// DICOM/RTDOSE), and returns its grid (nil when unusable).
func checkDose(c *course, rep *Report) *grid.Grid {
	checkDoseSelection(c, rep)
	d := c.dose
	if !d.ok() {
		why := d.rel + " absent"
		if d.exists {
			why = d.rel + " unreadable"
		}
		for _, id := range doseCheckIDs {
			rep.add(skipped(id, why))
		}
		return nil
	}
	ds := &d.f.Dataset
	h := rt.ParseDose(ds)
	cls, mod := ds.String(dicomio.TagSOPClassUID), ds.String(dicomio.TagModality)
	obj := []string{d.rel}

	ck := Check{ID: "dose.sop_class", Objects: obj, Details: map[string]any{"sop_class_uid": cls, "modality": mod}}
	switch {
	case cls == rt.SOPClassRTDose && strings.EqualFold(mod, "RTDOSE"):
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%s is an RT dose", d.rel)
	case cls == rt.SOPClassRTDose || strings.EqualFold(mod, "RTDOSE"):
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s: SOP class %q and modality %q disagree", d.rel, cls, mod)
	default:
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s is not an RT dose: SOP class %q, modality %q", d.rel, cls, mod)
	}
	rep.add(ck)

	ck = Check{ID: "dose.scaling", Objects: obj}
	scaling, has := ds.Float(dicomio.TagDoseGridScaling)
	ck.Details = map[string]any{"dose_grid_scaling": scaling, "present": has}
	switch {
	case !has:
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has no DoseGridScaling: stored values cannot be converted to dose", d.rel)
	case !(scaling > 0) || math.IsInf(scaling, 0):
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has DoseGridScaling %v; it must be a positive number", d.rel, scaling)
	default:
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("DoseGridScaling %g", scaling)
	}
	rep.add(ck)

	ck = Check{ID: "dose.units", Objects: obj, Details: map[string]any{"dose_units": h.Units}}
	switch h.Units {
	case "GY":
		ck.Status, ck.Message = StatusPass, "DoseUnits GY"
	case "CGY":
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s has DoseUnits CGY (not a DICOM defined term); the pipeline converts to Gy", d.rel)
	case "RELATIVE":
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has DoseUnits RELATIVE: no absolute dose, no DVH in Gy", d.rel)
	case "":
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has no DoseUnits", d.rel)
	default:
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has unknown DoseUnits %q", d.rel, h.Units)
	}
	rep.add(ck)

	ck = Check{ID: "dose.type", Objects: obj, Details: map[string]any{"dose_type": h.Type}}
	switch h.Type {
	case "PHYSICAL":
		ck.Status, ck.Message = StatusPass, "DoseType PHYSICAL"
	case "EFFECTIVE":
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s is an EFFECTIVE (biologically weighted) dose", d.rel)
	case "ERROR":
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has DoseType ERROR (a dose difference, not a dose)", d.rel)
	case "":
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has no DoseType", d.rel)
	default:
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s has unknown DoseType %q", d.rel, h.Type)
	}
	rep.add(ck)

	ck = Check{ID: "dose.summation_type", Objects: obj, Details: map[string]any{"dose_summation_type": h.SummationType}}
	switch h.SummationType {
	case "PLAN", "PLAN_SUM", "MULTI_PLAN", "BRACHY":
		ck.Status, ck.Message = StatusPass, "DoseSummationType "+h.SummationType
	case "FRACTION", "FRACTION_SESSION":
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s is a %s dose: DVH metrics are per fraction", d.rel, h.SummationType)
	case "BEAM", "BEAM_SESSION", "CONTROL_POINT":
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s is a %s dose, a part of a plan; the course dose must be a whole plan (the DVH stage refuses it)", d.rel, h.SummationType)
	case "":
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s has no DoseSummationType", d.rel)
	default:
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s has unknown DoseSummationType %q", d.rel, h.SummationType)
	}
	rep.add(ck)

	checkDosePlanReference(c, rep, h)

	ck = Check{ID: "dose.grid", Objects: obj}
	g, gerr := h.Grid()
	ck.Details = map[string]any{"rows": h.Rows, "columns": h.Columns, "frames": h.Frames, "bits_allocated": h.BitsAllocated,
		"pixel_spacing_mm": h.PixelSpacing}
	var problems []string
	if gerr != nil {
		problems = append(problems, "invalid grid geometry: "+gerr.Error())
		g = nil
	}
	if h.BitsAllocated != 16 && h.BitsAllocated != 32 && h.BitsAllocated != 8 {
		problems = append(problems, fmt.Sprintf("BitsAllocated %d", h.BitsAllocated))
	}
	switch {
	case !d.f.HasPixelData:
		problems = append(problems, "no PixelData")
	case d.f.PixelDataLength >= 0 && h.Rows > 0 && h.Columns > 0 && h.Frames > 0 && h.BitsAllocated > 0:
		want := int64(h.Rows) * int64(h.Columns) * int64(h.Frames) * int64(h.BitsAllocated/8)
		if d.f.PixelDataLength < want {
			problems = append(problems, fmt.Sprintf("PixelData holds %d bytes, %d×%d×%d voxels of %d bits need %d", d.f.PixelDataLength, h.Columns, h.Rows, h.Frames, h.BitsAllocated, want))
		}
	}
	if g != nil {
		lo, hi := g.Bounds()
		ck.Details["size"] = g.Size
		ck.Details["spacing_mm"] = []float64{r4(g.Spacing[0]), r4(g.Spacing[1]), r4(g.Spacing[2])}
		ck.Details["bounds_mm"] = [][]float64{{r4(lo[0]), r4(lo[1]), r4(lo[2])}, {r4(hi[0]), r4(hi[1]), r4(hi[2])}}
		ck.Details["uneven_frames"] = g.SliceOffsets != nil
	}
	if len(problems) > 0 {
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s: %s", d.rel, strings.Join(problems, "; "))
		g = nil
	} else {
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%d×%d×%d grid", h.Columns, h.Rows, h.Frames)
	}
	rep.add(ck)
	return g
}

// checkDoseSelection ties RD.dcm to organize's dose selection recorded in case_metadata.json.
func checkDoseSelection(c *course, rep *Report) {
	ck := Check{ID: "dose.selection", Details: map[string]any{}}
	var others []string
	for _, o := range c.others {
		if strings.HasPrefix(o.rel, "DICOM/RTDOSE/") {
			others = append(others, o.rel)
		}
	}
	ck.Details["dose_files_in_course"] = nonNil(others)
	rdUID := c.dose.str(dicomio.TagSOPInstanceUID)
	ck.Details["rd_sop_instance_uid"] = rdUID
	if c.meta == nil {
		ck.Status = StatusInfo
		ck.Message = "no case metadata: the dose selection cannot be cross-checked"
		if c.dose.exists {
			ck.Message += fmt.Sprintf("; the checks use %s", c.dose.rel)
		}
		rep.add(ck)
		return
	}
	sel := c.meta.DoseSelection
	ck.Details["decision"], ck.Details["reason"] = sel.Decision, sel.Reason
	want := ""
	if c.meta.DoseGrid != nil {
		want = c.meta.DoseGrid.SOPInstanceUID
	}
	ck.Details["selected_sop_instance_uid"] = want
	switch {
	case sel.Decision == "no_dose" && c.dose.exists:
		ck.Status, ck.Objects = StatusFail, []string{c.dose.rel}
		ck.Message = fmt.Sprintf("organize selected no dose (%s) but %s exists (stale file?)", sel.Reason, c.dose.rel)
	case !c.dose.exists && sel.Decision != "" && sel.Decision != "no_dose":
		ck.Status = StatusFail
		ck.Message = fmt.Sprintf("organize selected a dose (%s) but %s is absent", sel.Decision, c.dose.rel)
	case !c.dose.exists:
		ck.Status = StatusInfo
		ck.Message = fmt.Sprintf("no dose: %s (%s)", sel.Decision, sel.Reason)
	case !c.dose.ok():
		ck.Status, ck.Objects = StatusFail, []string{c.dose.rel}
		ck.Message = fmt.Sprintf("%s cannot be read", c.dose.rel)
	case want != "" && rdUID != want:
		ck.Status, ck.Objects = StatusFail, []string{c.dose.rel}
		ck.Message = fmt.Sprintf("%s is SOP instance %s but organize selected %s (%s): stale or replaced dose", c.dose.rel, rdUID, want, sel.Decision)
	default:
		ck.Status, ck.Objects = StatusPass, []string{c.dose.rel}
		ck.Message = fmt.Sprintf("%s is the dose organize selected (%s: %s)", c.dose.rel, sel.Decision, sel.Reason)
		if len(others) > 0 {
			ck.Message += fmt.Sprintf("; the dose checks use it, not the first of the %d files in DICOM/RTDOSE", len(others))
		}
	}
	rep.add(ck)
}

// checkDosePlanReference checks that RD.dcm references RP.dcm (or, for a summed or plan-sum
// dose, the plans RP.dcm stands for).
func checkDosePlanReference(c *course, rep *Report, h *rt.Dose) {
	ck := Check{ID: "dose.plan_reference", Objects: []string{c.dose.rel}, Details: map[string]any{"referenced_plans": nonNil(h.ReferencedPlan)}}
	if !c.plan.ok() {
		if len(h.ReferencedPlan) == 0 {
			ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s references no plan and %s is absent", c.dose.rel, c.plan.rel)
		} else {
			ck.Status, ck.Message = StatusInfo, fmt.Sprintf("%s references plan %s; %s is absent", c.dose.rel, strings.Join(h.ReferencedPlan, ", "), c.plan.rel)
		}
		rep.add(ck)
		return
	}
	rpUID := c.plan.str(dicomio.TagSOPInstanceUID)
	ck.Details["rp_sop_instance_uid"] = rpUID
	// Plans RP.dcm stands for: itself, the plans a synthetic RP.dcm references, and the plans
	// of organize's dose selection.
	standsFor := map[string]bool{rpUID: true}
	for _, u := range rt.ParsePlan(&c.plan.f.Dataset).ReferencedPlans {
		standsFor[u] = true
	}
	for _, it := range c.plan.f.Seq(dicomio.TagReferencedRTPlanSequence) {
		if u := it.String(dicomio.TagReferencedSOPInstanceUID); u != "" {
			standsFor[u] = true
		}
	}
	if c.meta != nil {
		for _, u := range c.meta.DoseSelection.PlanUIDs {
			standsFor[u] = true
		}
	}
	var foreign []string
	for _, u := range h.ReferencedPlan {
		if !standsFor[u] {
			foreign = append(foreign, u)
		}
	}
	switch {
	case len(h.ReferencedPlan) == 0:
		ck.Status, ck.Message = StatusWarning, fmt.Sprintf("%s references no plan", c.dose.rel)
	case slices.Contains(h.ReferencedPlan, rpUID) && len(foreign) == 0:
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%s references %s", c.dose.rel, c.plan.rel)
	case len(foreign) == 0:
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%s references the plans %s stands for: %s", c.dose.rel, c.plan.rel, strings.Join(h.ReferencedPlan, ", "))
	default:
		ck.Status, ck.Objects = StatusFail, []string{c.dose.rel, c.plan.rel}
		ck.Message = fmt.Sprintf("%s references plan %s, not %s (%s)", c.dose.rel, strings.Join(foreign, ", "), c.plan.rel, rpUID)
	}
	rep.add(ck)
}

// forObject is the frame-of-reference information of one object.
type forObject struct {
	name     string
	uids     []string
	optional bool // RTPLAN: the frame of reference is optional
	// roiFoR maps an ROI to the frame of reference it references (RTSTRUCT only).
	roiFoR map[string]string
}

// checkFrameOfReference compares the frames of reference of the CT, the structure sets, the
// plan (when it has one) and the dose.
func checkFrameOfReference(c *course, rep *Report) {
	var objs []forObject
	ctFoR := map[string]int{}
	for _, s := range c.readableCT() {
		if rt.Classify(s.sopClass, s.modality) == rt.KindCT && s.frameOfRef != "" {
			ctFoR[s.frameOfRef]++
		}
	}
	if len(ctFoR) > 0 {
		objs = append(objs, forObject{name: c.ctDir, uids: []string{majorityKey(ctFoR)}})
	}
	for _, s := range c.structs {
		if s.hdr == nil {
			continue
		}
		o := forObject{name: s.rel, roiFoR: map[string]string{}}
		if u := s.str(dicomio.TagFrameOfReferenceUID); u != "" {
			o.uids = append(o.uids, u)
		}
		for _, u := range s.hdr.FrameOfReferenceUIDs {
			if !slices.Contains(o.uids, u) {
				o.uids = append(o.uids, u)
			}
		}
		for _, r := range s.hdr.ROIs {
			if r.FrameOfRef != "" {
				o.roiFoR[r.Name] = r.FrameOfRef
			}
		}
		objs = append(objs, o)
	}
	if c.plan.ok() {
		o := forObject{name: c.plan.rel, optional: true}
		if u := c.plan.str(dicomio.TagFrameOfReferenceUID); u != "" {
			o.uids = []string{u}
		}
		objs = append(objs, o)
	}
	if c.dose.ok() {
		o := forObject{name: c.dose.rel}
		if u := c.dose.str(dicomio.TagFrameOfReferenceUID); u != "" {
			o.uids = []string{u}
		}
		objs = append(objs, o)
	}
	ck := Check{ID: "frame_of_reference.consistency"}
	table := map[string][]string{}
	for _, o := range objs {
		table[o.name] = nonNil(o.uids)
	}
	ck.Details = map[string]any{"objects": table}
	// The reference: the CT's frame (everything is drawn on it), else the dose's, else the
	// first structure set's.
	ref := ""
	for _, want := range []string{c.ctDir, c.dose.rel} {
		for _, o := range objs {
			if o.name == want && len(o.uids) > 0 && ref == "" {
				ref = o.uids[0]
			}
		}
	}
	for _, o := range objs {
		if ref == "" && len(o.uids) > 0 {
			ref = o.uids[0]
		}
	}
	ck.Details["reference_frame_of_reference_uid"] = ref
	withFoR := 0
	for _, o := range objs {
		if len(o.uids) > 0 {
			withFoR++
		}
	}
	if withFoR < 2 {
		ck.Status, ck.Message = StatusInfo, "fewer than two objects with a frame of reference: nothing to compare"
		rep.add(ck)
		return
	}
	var fails, warns, infos []string
	for _, o := range objs {
		switch {
		case len(o.uids) == 0 && o.optional:
			infos = append(infos, o.name+" has no frame of reference (optional for a plan)")
		case len(o.uids) == 0 && o.name == c.dose.rel:
			fails = append(fails, o.name+" has no FrameOfReferenceUID")
			ck.Objects = append(ck.Objects, o.name)
		case len(o.uids) == 0:
			warns = append(warns, o.name+" names no frame of reference; its consistency cannot be verified")
			ck.Objects = append(ck.Objects, o.name)
		case !slices.Contains(o.uids, ref):
			fails = append(fails, fmt.Sprintf("%s is in frame of reference %s, not %s", o.name, strings.Join(o.uids, ", "), ref))
			ck.Objects = append(ck.Objects, o.name)
		default:
			var bad []string
			for name, u := range o.roiFoR {
				if u != ref {
					bad = append(bad, fmt.Sprintf("%q (%s)", name, u))
				}
			}
			sort.Strings(bad)
			if len(bad) > 0 {
				fails = append(fails, fmt.Sprintf("%s: ROIs referencing another frame of reference than %s: %s", o.name, ref, listSome(bad, 10)))
				ck.Objects = append(ck.Objects, o.name)
			} else if len(o.uids) > 1 {
				infos = append(infos, fmt.Sprintf("%s references several frames of reference (%s); its ROIs are in %s", o.name, strings.Join(o.uids, ", "), ref))
			}
		}
	}
	var parts []string
	switch {
	case len(fails) > 0:
		ck.Status = StatusFail
		parts = append(parts, fails...)
		parts = append(parts, warns...)
	case len(warns) > 0:
		ck.Status = StatusWarning
		parts = append(parts, warns...)
	case len(infos) > 0:
		ck.Status = StatusInfo
		parts = append(parts, fmt.Sprintf("all objects share frame of reference %s", ref))
		parts = append(parts, infos...)
	default:
		ck.Status = StatusPass
		var names []string
		for _, o := range objs {
			names = append(names, o.name)
		}
		parts = append(parts, fmt.Sprintf("%s share frame of reference %s", strings.Join(names, ", "), ref))
	}
	ck.Message = strings.Join(parts, "; ")
	rep.add(ck)
}

// idSource is the patient identity of one object (or a group of CT files).
type idSource struct {
	name  string
	files int
	id    identity
}

// normName normalises a person name for comparison: case, surrounding spaces and empty
// trailing components ("DOE^JOHN^^" = "doe^john") do not count.
func normName(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	parts := strings.Split(s, "^")
	for i := range parts {
		parts[i] = strings.Join(strings.Fields(parts[i]), " ")
	}
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, "^")
}

// checkIdentity requires one patient (PatientID, PatientName, PatientBirthDate) across the
// course's objects: the CT files, the structure sets, RP.dcm, RD.dcm and every RT object under
// DICOM/.
func checkIdentity(c *course, rep *Report) {
	var srcs []idSource
	// CT files grouped by identity.
	ctGroups := map[identity][]string{}
	for _, s := range c.readableCT() {
		ctGroups[s.id] = append(ctGroups[s.id], s.rel)
	}
	var ctIDs []identity
	for id := range ctGroups {
		ctIDs = append(ctIDs, id)
	}
	sort.Slice(ctIDs, func(a, b int) bool { return ctGroups[ctIDs[a]][0] < ctGroups[ctIDs[b]][0] })
	for _, id := range ctIDs {
		files := ctGroups[id]
		name := fmt.Sprintf("%s (%d files)", c.ctDir, len(files))
		if len(ctGroups) > 1 {
			name = fmt.Sprintf("%s: %s", c.ctDir, listSome(files, 3))
		}
		srcs = append(srcs, idSource{name: name, files: len(files), id: id})
	}
	add := func(o *object) {
		if o.ok() {
			srcs = append(srcs, idSource{name: o.rel, files: 1, id: identityOf(&o.f.Dataset)})
		}
	}
	for _, s := range c.structs {
		add(s.object)
	}
	add(c.plan)
	add(c.dose)
	for _, o := range c.others {
		add(o)
	}
	ck := Check{ID: "patient.identity"}
	if len(srcs) == 0 {
		rep.add(skipped("patient.identity", "no readable object"))
		return
	}
	// Reference: per field, the value carried by most files (ties: the earliest source, CT
	// first); an empty value is "not stated" and never the reference unless all are empty.
	refOf := func(get func(identity) string, norm func(string) string) string {
		count := map[string]int{}
		firstSeen := map[string]int{}
		for i, s := range srcs {
			v := norm(get(s.id))
			if v == "" {
				continue
			}
			count[v] += s.files
			if _, ok := firstSeen[v]; !ok {
				firstSeen[v] = i
			}
		}
		best, bestN := "", 0
		for v, n := range count {
			if n > bestN || (n == bestN && firstSeen[v] < firstSeen[best]) {
				best, bestN = v, n
			}
		}
		return best
	}
	ident := func(s string) string { return strings.TrimSpace(s) }
	fields := []struct {
		name string
		get  func(identity) string
		norm func(string) string
	}{
		{"PatientID", func(i identity) string { return i.ID }, ident},
		{"PatientName", func(i identity) string { return i.Name }, normName},
		{"PatientBirthDate", func(i identity) string { return i.BirthDate }, ident},
	}
	var mismatches, missing []string
	refs := map[string]string{}
	objects := map[string]bool{}
	for _, f := range fields {
		ref := refOf(f.get, f.norm)
		refs[f.name] = ref
		if ref == "" {
			continue
		}
		var agree []string
		for _, s := range srcs {
			if f.norm(f.get(s.id)) == ref {
				agree = append(agree, s.name)
			}
		}
		for _, s := range srcs {
			v := f.norm(f.get(s.id))
			switch {
			case v == ref:
			case v == "":
				missing = append(missing, fmt.Sprintf("%s has no %s", s.name, f.name))
			default:
				mismatches = append(mismatches, fmt.Sprintf("%s has %s %q, not %q (%s)", s.name, f.name, f.get(s.id), ref, listSome(agree, 3)))
				objects[s.name] = true
			}
		}
	}
	if c.meta != nil && c.meta.PatientID != "" && refs["PatientID"] != "" && c.meta.PatientID != refs["PatientID"] {
		mismatches = append(mismatches, fmt.Sprintf("case_metadata.json has PatientID %q, the objects %q", c.meta.PatientID, refs["PatientID"]))
		objects["metadata/case_metadata.json"] = true
	}
	for o := range objects {
		ck.Objects = append(ck.Objects, o)
	}
	sort.Strings(ck.Objects)
	per := map[string]map[string]string{}
	for _, s := range srcs {
		per[s.name] = map[string]string{"patient_id": s.id.ID, "patient_name": s.id.Name, "patient_birth_date": s.id.BirthDate}
	}
	ck.Details = map[string]any{"reference": map[string]string{"patient_id": refs["PatientID"], "patient_name": refs["PatientName"],
		"patient_birth_date": refs["PatientBirthDate"]}, "objects": per}
	switch {
	case len(mismatches) > 0:
		ck.Status, ck.Message = StatusFail, "patient identity differs between objects: "+strings.Join(mismatches, "; ")
		if len(missing) > 0 {
			ck.Details["missing"] = missing
		}
	case len(missing) > 0:
		ck.Status = StatusInfo
		ck.Message = fmt.Sprintf("one patient (%s, %s) where stated; %s", refs["PatientID"], refs["PatientName"], listSome(missing, 5))
		ck.Details["missing"] = missing
	default:
		ck.Status = StatusPass
		ck.Message = fmt.Sprintf("%s agree on patient %s (%s", plural(len(srcs), "object", "objects"), refs["PatientID"], refs["PatientName"])
		if refs["PatientBirthDate"] != "" {
			ck.Message += ", born " + refs["PatientBirthDate"]
		}
		ck.Message += ")"
	}
	rep.add(ck)
}
