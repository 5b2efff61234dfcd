package organize

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Result is the organisation decided for an inventory, before anything is written: patients,
// courses with their decisions, and the accounting of every input file.
type Result struct {
	Root     string
	Options  Options
	Patients []*Patient
	Courses  []*Course
	Files    []*FileRecord
	Warnings []string

	record           map[*Entry]*FileRecord
	inventorySkipped []SkippedPath
}

// Build decides patients, courses, dose, CT and prescription for an inventory. It reads no file.
func Build(inv *Inventory, opt Options) *Result {
	res := &Result{Root: inv.Root, Options: opt, record: map[*Entry]*FileRecord{}, inventorySkipped: inv.Skipped}
	for _, e := range inv.Entries {
		fr := &FileRecord{Path: e.Path}
		res.record[e] = fr
		res.Files = append(res.Files, fr)
		if e.Err != nil {
			fr.Category, fr.Reason = CategoryUnreadable, unreadableReason(e.Err)
			continue
		}
		o := e.Obj
		fr.Kind, fr.Modality, fr.SOPInstanceUID, fr.PatientID = string(o.Kind), o.Modality, o.SOPInstanceUID, o.PatientID
	}
	live := res.dedup(inv.Entries)
	byPatient := map[string][]*Entry{}
	var ids []string
	for _, e := range live {
		o := e.Obj
		switch {
		case o.Kind == rt.KindDirectory:
			res.orphan(e, "DICOMDIR media directory: an index of the export, not patient data")
			continue
		case strings.TrimSpace(o.PatientID) == "":
			res.orphan(e, "no PatientID (0010,0020): cannot be assigned to a patient")
			continue
		}
		if _, ok := byPatient[o.PatientID]; !ok {
			ids = append(ids, o.PatientID)
		}
		byPatient[o.PatientID] = append(byPatient[o.PatientID], e)
	}
	sort.Strings(ids)
	dirs := patientDirs(ids)
	for _, id := range ids {
		p := &Patient{ID: id, Dir: dirs[id], Entries: byPatient[id]}
		res.Patients = append(res.Patients, p)
		res.Courses = append(res.Courses, res.buildPatient(p, opt)...)
	}
	res.warnSharedStudies()
	for _, fr := range res.Files {
		if fr.Category == "" {
			fr.Category, fr.Reason = CategoryOrphan, "not linked to any course"
		}
	}
	return res
}

// buildPatient forms one patient's courses; an internal error (a panic on input nobody
// anticipated) costs only this patient, whose files are then reported as orphans.
func (r *Result) buildPatient(p *Patient, opt Options) (courses []*Course) {
	defer func() {
		if x := recover(); x != nil {
			courses = nil
			r.Warnings = append(r.Warnings, fmt.Sprintf("patient %q could not be organised (internal error: %v)", p.ID, x))
			for _, e := range p.Entries {
				fr := r.record[e]
				fr.Category, fr.Reason, fr.Courses = CategoryOrphan, fmt.Sprintf("patient could not be organised (internal error: %v)", x), nil
			}
		}
	}()
	return newPatientBuilder(r, p, opt).build()
}

func unreadableReason(err error) string {
	switch {
	case errors.Is(err, dicomio.ErrNotDICOM):
		return "not DICOM: " + err.Error()
	case errors.Is(err, dicomio.ErrTruncated):
		return "truncated or corrupt DICOM: " + err.Error()
	}
	return "unreadable: " + err.Error()
}

func (r *Result) orphan(e *Entry, reason string) {
	fr := r.record[e]
	if fr.Category == "" || fr.Category == CategoryOrphan {
		fr.Category, fr.Reason = CategoryOrphan, reason
	}
}

// place marks an entry as placed in a course (an entry may be placed in several courses, e.g.
// a CT shared by two courses).
func (r *Result) place(e *Entry, c *Course) {
	fr := r.record[e]
	fr.Category, fr.Reason = CategoryPlaced, ""
	name := c.Patient.Dir + "/" + c.Name
	for _, x := range fr.Courses {
		if x == name {
			return
		}
	}
	fr.Courses = append(fr.Courses, name)
}

// dedup keeps the first file (in path order) of every SOP instance and marks the others as
// duplicates, noting whether their bytes are identical to the kept copy.
func (r *Result) dedup(entries []*Entry) []*Entry {
	first := map[string]*Entry{}
	var live []*Entry
	for _, e := range entries {
		if e.Err != nil {
			continue
		}
		uid := e.Obj.SOPInstanceUID
		kept, ok := first[uid]
		if !ok {
			first[uid] = e
			live = append(live, e)
			continue
		}
		fr := r.record[e]
		fr.Category, fr.DuplicateOf = CategoryDuplicate, kept.Path
		same := false
		if e.Size == kept.Size {
			same, _ = fsutil.SameContent(e.Abs, kept.Abs)
		}
		fr.Identical = &same
		if same {
			fr.Reason = "same SOP instance as the kept copy, identical bytes"
		} else {
			fr.Reason = "same SOP instance UID as the kept copy but different bytes; the first copy in path order is kept"
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: SOP instance %s also in %s with different content; kept %s", e.Path, uid, kept.Path, kept.Path))
		}
	}
	return live
}

// patientDirs maps patient IDs to folder names. An ID that is already a safe name keeps it
// unless it clashes case-insensitively with another (file systems that ignore case would merge
// them): then every ID of the clash gets a short hash of the original ID, except the first
// unchanged one in byte order. Names of the output's own folders (Data, Logs, _COURSES, …) are
// never used.
func patientDirs(ids []string) map[string]string {
	safe := map[string]string{}
	groups := map[string][]string{}
	for _, id := range ids {
		s := fsutil.SafeName(id, 64)
		if reservedDir(s) {
			s = "patient_" + s
		}
		safe[id] = s
		groups[strings.ToLower(s)] = append(groups[strings.ToLower(s)], id)
	}
	out := map[string]string{}
	for _, members := range groups {
		sort.Strings(members)
		keptOne := false
		for _, id := range members {
			s := safe[id]
			if len(members) > 1 && (s != id || keptOne) {
				s = fmt.Sprintf("%s_%s", s, shortHash(id))
			} else if s == id {
				keptOne = true
			}
			out[id] = s
		}
	}
	return out
}

// reservedDir tells whether a folder name belongs to the output's own layout.
func reservedDir(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(l, "_") || l == "data" || l == "logs" || l == "data_snakemake_fallback" || l == "logs_snakemake_fallback"
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:3])
}

func (r *Result) warnSharedStudies() {
	studyPatients := map[string][]string{}
	for _, p := range r.Patients {
		seen := map[string]bool{}
		for _, e := range p.Entries {
			if u := e.Obj.StudyUID; u != "" && !seen[u] {
				seen[u] = true
				studyPatients[u] = append(studyPatients[u], p.ID)
			}
		}
	}
	var studies []string
	for u, ps := range studyPatients {
		if len(ps) > 1 {
			studies = append(studies, u)
		}
	}
	sort.Strings(studies)
	for _, u := range studies {
		r.Warnings = append(r.Warnings, fmt.Sprintf("study %s appears under several patient IDs %q; they are kept as separate patients — check whether they are one person", u, studyPatients[u]))
	}
}

// patientBuilder forms the courses of one patient.
type patientBuilder struct {
	res *Result
	p   *Patient
	opt Options

	plans, doses, structs, records, regs, others []*Entry
	series                                       map[string]*Series
	seriesOrder                                  []*Series
	sopSeries                                    map[string]*Series
	planByUID                                    map[string]*Entry
	structByUID                                  map[string]*Entry
	// doseLink is the plan each linked dose belongs to, as decided by linkPlans.
	doseLink map[*Entry]*Entry
}

func newPatientBuilder(res *Result, p *Patient, opt Options) *patientBuilder {
	b := &patientBuilder{res: res, p: p, opt: opt, series: map[string]*Series{}, sopSeries: map[string]*Series{},
		planByUID: map[string]*Entry{}, structByUID: map[string]*Entry{}, doseLink: map[*Entry]*Entry{}}
	for _, e := range p.Entries {
		o := e.Obj
		switch {
		case o.Kind.IsImage():
			if o.SeriesUID == "" {
				res.orphan(e, "image without SeriesInstanceUID")
				continue
			}
			s := b.series[o.SeriesUID]
			if s == nil {
				s = &Series{UID: o.SeriesUID, Kind: o.Kind, Modality: o.Modality, StudyUID: o.StudyUID,
					FrameOfRef: o.FrameOfReference, Description: o.SeriesDescription, Number: o.SeriesNumber}
				b.series[o.SeriesUID] = s
				b.seriesOrder = append(b.seriesOrder, s)
			}
			s.Slices = append(s.Slices, e)
			b.sopSeries[o.SOPInstanceUID] = s
		case o.Kind == rt.KindRTPlan:
			b.plans = append(b.plans, e)
			b.planByUID[o.SOPInstanceUID] = e
		case o.Kind == rt.KindRTDose:
			b.doses = append(b.doses, e)
		case o.Kind == rt.KindRTStruct:
			b.structs = append(b.structs, e)
			b.structByUID[o.SOPInstanceUID] = e
		case o.Kind == rt.KindRTRecord:
			b.records = append(b.records, e)
		case o.Kind == rt.KindRegistration:
			b.regs = append(b.regs, e)
		default:
			b.others = append(b.others, e)
		}
	}
	for _, s := range b.seriesOrder {
		sortSlices(s.Slices)
	}
	return b
}

// sortSlices orders slices along the slice normal (from ImageOrientationPatient), falling back to
// InstanceNumber, then path; the sort is stable so equal keys keep walk order.
func sortSlices(slices []*Entry) {
	geometric := true
	for _, e := range slices {
		if len(e.Obj.ImagePosition) != 3 || len(e.Obj.ImageOrientation) != 6 {
			geometric = false
			break
		}
	}
	key := func(e *Entry) float64 {
		o := e.Obj
		if geometric {
			n := normal(o.ImageOrientation)
			return n[0]*o.ImagePosition[0] + n[1]*o.ImagePosition[1] + n[2]*o.ImagePosition[2]
		}
		if o.HasInstanceNumber {
			return float64(o.InstanceNumber)
		}
		return math.Inf(1)
	}
	sort.SliceStable(slices, func(i, j int) bool {
		ki, kj := key(slices[i]), key(slices[j])
		if ki != kj {
			return ki < kj
		}
		return slices[i].Path < slices[j].Path
	})
}

func normal(iop []float64) [3]float64 {
	r, c := iop[0:3], iop[3:6]
	return [3]float64{r[1]*c[2] - r[2]*c[1], r[2]*c[0] - r[0]*c[2], r[0]*c[1] - r[1]*c[0]}
}

// unit is one plan with what it links to: the seed of a course.
type unit struct {
	plan      *Entry
	doses     []*Entry
	strct     *Entry
	structHow string
	key       string
	date      string
}

func (b *patientBuilder) build() []*Course {
	units, planOf := b.linkPlans()
	var courses []*Course
	// Plan courses: group units by key, optionally split by date span.
	groups := map[string][]*unit{}
	var keys []string
	for _, u := range units {
		if _, ok := groups[u.key]; !ok {
			keys = append(keys, u.key)
		}
		groups[u.key] = append(groups[u.key], u)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for i, part := range splitByDays(groups[k], b.opt.MaxDays) {
			key := k
			if i > 0 {
				key = fmt.Sprintf("%s#%d", k, i+1)
			}
			courses = append(courses, b.planCourse(key, part))
		}
	}
	_ = planOf
	// Structure sets no plan refers to: join a plan course of the same study / frame of reference,
	// else form RTSTRUCT-only courses.
	usedStruct := map[*Entry]bool{}
	for _, c := range courses {
		for _, s := range c.Structs {
			usedStruct[s] = true
		}
	}
	rsGroups := map[string][]*Entry{}
	var rsKeys []string
	for _, s := range b.structs {
		if usedStruct[s] {
			continue
		}
		if c := b.courseForObject(courses, s); c != nil {
			c.Structs = append(c.Structs, s)
			continue
		}
		ct, _, _ := b.selectCT(s)
		k := b.structKey(s, ct)
		if _, ok := rsGroups[k]; !ok {
			rsKeys = append(rsKeys, k)
		}
		rsGroups[k] = append(rsGroups[k], s)
	}
	sort.Strings(rsKeys)
	for _, k := range rsKeys {
		courses = append(courses, b.structCourse(k, rsGroups[k]))
	}
	// CT-only courses: only for a patient with neither plans nor structure sets.
	if len(b.plans) == 0 && len(b.structs) == 0 {
		for _, s := range b.seriesOrder {
			if s.Kind == rt.KindCT {
				courses = append(courses, b.ctCourse(s))
			}
		}
	}
	b.attachRemaining(courses)
	b.name(courses)
	for _, c := range courses {
		b.placeCourse(c)
	}
	return courses
}

// linkPlans resolves doses to plans and plans to structure sets, and returns one unit per plan.
// Doses that cannot be linked become orphans with the reason.
func (b *patientBuilder) linkPlans() ([]*unit, map[*Entry]*unit) {
	byPlan := map[*Entry]*unit{}
	var units []*unit
	for _, pe := range b.plans {
		u := &unit{plan: pe, date: pe.Obj.Plan.Date}
		u.strct, u.structHow = b.planStruct(pe)
		byPlan[pe] = u
		units = append(units, u)
	}
	for _, de := range b.doses {
		d := de.Obj.Dose
		var target *unit
		var missing []string
		for _, ref := range d.ReferencedPlan {
			if pe, ok := b.planByUID[ref]; ok {
				if target == nil {
					target = byPlan[pe]
				}
			} else {
				missing = append(missing, ref)
			}
		}
		if target == nil && len(d.ReferencedPlan) == 0 {
			// No reference at all: accept the single plan sharing study and frame of reference.
			var cands []*unit
			for _, u := range units {
				po := u.plan.Obj
				if po.StudyUID == de.Obj.StudyUID && po.FrameOfReference != "" && po.FrameOfReference == de.Obj.FrameOfReference {
					cands = append(cands, u)
				}
			}
			if len(cands) == 1 {
				target = cands[0]
				b.res.Warnings = append(b.res.Warnings, fmt.Sprintf("%s: RTDOSE has no ReferencedRTPlanSequence; linked to the only plan of its study and frame of reference (%s)", de.Path, cands[0].plan.Path))
			} else {
				b.res.orphan(de, fmt.Sprintf("RTDOSE has no ReferencedRTPlanSequence and %d candidate plans share its study and frame of reference", len(cands)))
				continue
			}
		}
		if target == nil {
			b.res.orphan(de, fmt.Sprintf("RTDOSE references RTPLAN %s, which is not in the input", strings.Join(missing, ", ")))
			continue
		}
		target.doses = append(target.doses, de)
		b.doseLink[de] = target.plan
	}
	for _, u := range units {
		u.key = b.unitKey(u)
	}
	return units, byPlan
}

// planStruct finds the structure set a plan was made on: the one its
// ReferencedStructureSetSequence names; failing that, the only structure set of the plan's
// study and frame of reference.
func (b *patientBuilder) planStruct(pe *Entry) (*Entry, string) {
	p := pe.Obj.Plan
	for _, ref := range p.ReferencedStructureSets {
		if s, ok := b.structByUID[ref]; ok {
			return s, "referenced_by_plan"
		}
	}
	var cands []*Entry
	for _, s := range b.structs {
		if s.Obj.StudyUID == pe.Obj.StudyUID && contains(structFORs(s), pe.Obj.FrameOfReference) {
			cands = append(cands, s)
		}
	}
	if len(cands) == 1 {
		how := "same_study_and_frame"
		if len(p.ReferencedStructureSets) > 0 {
			how = "referenced_missing_same_study_and_frame"
		}
		return cands[0], how
	}
	if len(p.ReferencedStructureSets) > 0 {
		return nil, "referenced_missing"
	}
	return nil, "none"
}

func structFORs(s *Entry) []string {
	fors := append([]string(nil), s.Obj.Struct.FrameOfReferenceUIDs...)
	if f := s.Obj.FrameOfReference; f != "" && !contains(fors, f) {
		fors = append(fors, f)
	}
	return fors
}

func contains(list []string, v string) bool {
	if v == "" {
		return false
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// unitKey is the grouping key of a plan.
func (b *patientBuilder) unitKey(u *unit) string {
	var ct *Series
	if u.strct != nil {
		ct, _, _ = b.selectCT(u.strct)
	}
	study, fr := "", ""
	switch {
	case ct != nil:
		study, fr = ct.StudyUID, ct.FrameOfRef
	case u.strct != nil:
		study = firstNonEmpty(first(u.strct.Obj.Struct.ReferencedStudies), u.strct.Obj.StudyUID)
		fr = first(structFORs(u.strct))
	}
	po := u.plan.Obj
	var doseFOR, doseStudy string
	if len(u.doses) > 0 {
		doseFOR, doseStudy = u.doses[0].Obj.FrameOfReference, u.doses[0].Obj.StudyUID
	}
	study = firstNonEmpty(study, po.StudyUID, doseStudy)
	fr = firstNonEmpty(po.FrameOfReference, fr, doseFOR)
	if b.opt.MergeCriteria == MergeFrameOfReference {
		if fr != "" {
			return "FOR:" + fr
		}
		return "STUDY:" + study
	}
	if study != "" {
		return "STUDY:" + study
	}
	if fr != "" {
		return "FOR:" + fr
	}
	return "SOP:" + po.SOPInstanceUID
}

func (b *patientBuilder) structKey(s *Entry, ct *Series) string {
	study := s.Obj.StudyUID
	if ct != nil {
		study = ct.StudyUID
	}
	fr := first(structFORs(s))
	if b.opt.MergeCriteria == MergeFrameOfReference && fr != "" {
		return "FOR:" + fr
	}
	if study != "" {
		return "STUDY:" + study
	}
	if fr != "" {
		return "FOR:" + fr
	}
	return "SOP:" + s.Obj.SOPInstanceUID
}

func first(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return l[0]
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// splitByDays splits units into clusters whose plan dates lie within maxDays of the cluster's
// first date (maxDays < 0: no split). Undated plans stay in the first cluster.
func splitByDays(units []*unit, maxDays int) [][]*unit {
	sorted := append([]*unit(nil), units...)
	sort.SliceStable(sorted, func(i, j int) bool { return dateKey(sorted[i].date) < dateKey(sorted[j].date) })
	if maxDays < 0 {
		return [][]*unit{sorted}
	}
	var out [][]*unit
	var undated []*unit
	start := 0
	for _, u := range sorted {
		d, ok := dayNumber(u.date)
		if !ok {
			undated = append(undated, u)
			continue
		}
		if len(out) == 0 || d-start > maxDays {
			out = append(out, nil)
			start = d
		}
		out[len(out)-1] = append(out[len(out)-1], u)
	}
	if len(out) == 0 {
		out = [][]*unit{nil}
	}
	out[0] = append(out[0], undated...)
	return out
}

func (b *patientBuilder) planCourse(key string, units []*unit) *Course {
	c := &Course{Patient: b.p, Key: key, Kind: CourseKindPlan}
	for _, u := range units {
		c.Plans = append(c.Plans, u.plan)
		c.Doses = append(c.Doses, u.doses...)
		if u.strct != nil && !containsEntry(c.Structs, u.strct) {
			c.Structs = append(c.Structs, u.strct)
		}
	}
	sortEntriesByDate(c.Plans)
	c.Dose, c.Rx = b.selectDose(c)
	// The course's structure set is the one the chosen plan was made on.
	var primaryPlan *Entry
	if len(c.Dose.Plans) > 0 {
		primaryPlan = c.Dose.Plans[0]
	} else if len(c.Plans) > 0 {
		primaryPlan = c.Plans[0]
	}
	for _, u := range units {
		if u.plan == primaryPlan {
			c.PrimaryStruct, c.StructResolution = u.strct, u.structHow
		}
	}
	if c.PrimaryStruct == nil && len(c.Structs) > 0 {
		c.PrimaryStruct, c.StructResolution = c.Structs[0], "other_plan_of_course"
	}
	b.chooseCourseCT(c)
	return c
}

func (b *patientBuilder) structCourse(key string, structs []*Entry) *Course {
	sortEntriesByDate(structs)
	c := &Course{Patient: b.p, Key: key, Kind: CourseKindRTStructOnly, Structs: structs, PrimaryStruct: structs[0],
		StructResolution: "first_structure_set"}
	c.Dose = DoseSelection{Decision: DoseNone, Reason: "no RTPLAN for this structure set"}
	c.Rx = Prescription{Source: rt.RxSourceNone}
	b.chooseCourseCT(c)
	return c
}

func (b *patientBuilder) ctCourse(s *Series) *Course {
	c := &Course{Patient: b.p, Key: "CT:" + s.UID, Kind: CourseKindCTOnly, CT: s, CTSelection: CTFallbackLargest,
		CTReason: "patient has no RTPLAN or RTSTRUCT; each CT series is its own course"}
	c.Dose = DoseSelection{Decision: DoseNone, Reason: "no RTPLAN"}
	c.Rx = Prescription{Source: rt.RxSourceNone}
	return c
}

// chooseCourseCT sets the course CT from its primary structure set, or the largest CT series of
// the course's study when there is no structure set.
func (b *patientBuilder) chooseCourseCT(c *Course) {
	if c.PrimaryStruct != nil {
		c.CT, c.CTSelection, c.CTReason = b.selectCT(c.PrimaryStruct)
		switch {
		case c.CTSelection == CTUnresolvedReference:
			c.Warnings = append(c.Warnings, "CT not chosen: "+c.CTReason)
		case strings.Contains(c.CTReason, "images referenced by the contours are not in the input"):
			c.Warnings = append(c.Warnings, "structure set "+c.PrimaryStruct.Path+": "+strings.TrimPrefix(c.CTReason[strings.Index(c.CTReason, ";")+1:], " "))
		}
		if c.CTSelection != CTNone {
			return
		}
	}
	study, fr := b.courseStudyFrame(c)
	var best *Series
	for _, s := range b.seriesOrder {
		inCourse := s.StudyUID == study
		if b.opt.MergeCriteria == MergeFrameOfReference {
			inCourse = fr != "" && s.FrameOfRef == fr
		}
		if s.Kind != rt.KindCT || !inCourse {
			continue
		}
		if best == nil || len(s.Slices) > len(best.Slices) || (len(s.Slices) == len(best.Slices) && s.UID < best.UID) {
			best = s
		}
	}
	if best != nil {
		c.CT, c.CTSelection = best, CTFallbackLargest
		c.CTReason = fmt.Sprintf("no structure-set image reference; largest CT series of the course study (%d slices)", len(best.Slices))
		return
	}
	c.CTSelection, c.CTReason = CTNone, "no CT series found for this course"
}

func (b *patientBuilder) courseStudyFrame(c *Course) (study, fr string) {
	for _, e := range append(append(append([]*Entry{}, c.Structs...), c.Plans...), c.Doses...) {
		if study == "" {
			study = e.Obj.StudyUID
		}
		if fr == "" {
			if e.Obj.Struct != nil {
				fr = first(structFORs(e))
			} else {
				fr = e.Obj.FrameOfReference
			}
		}
	}
	return study, fr
}

// selectCT resolves the CT series a structure set was drawn on. It fails closed: when the
// structure set names images and none of them is in the export, no CT is chosen rather than
// guessing one that may not match the contours.
func (b *patientBuilder) selectCT(s *Entry) (*Series, string, string) {
	ss := s.Obj.Struct
	refs := map[string]bool{}
	for _, u := range ss.ReferencedSeries {
		refs[u] = true
	}
	for _, sop := range ss.ReferencedImages {
		if se, ok := b.sopSeries[sop]; ok {
			refs[se.UID] = true
		}
	}
	if len(ss.ReferencedSeries) == 0 && len(ss.ReferencedImages) == 0 {
		return nil, CTNone, "structure set references no images"
	}
	var hits []*Series
	var nonCT []string
	for _, se := range b.seriesOrder {
		if !refs[se.UID] {
			continue
		}
		if se.Kind == rt.KindCT {
			hits = append(hits, se)
		} else {
			nonCT = append(nonCT, string(se.Kind)+" "+se.UID)
		}
	}
	missingImages := 0
	for _, sop := range ss.ReferencedImages {
		if _, ok := b.sopSeries[sop]; !ok {
			missingImages++
		}
	}
	imageNote := ""
	if missingImages > 0 {
		imageNote = fmt.Sprintf("; %d of %d images referenced by the contours are not in the input", missingImages, len(ss.ReferencedImages))
	}
	switch len(hits) {
	case 0:
		var missing []string
		for u := range refs {
			if b.series[u] == nil {
				missing = append(missing, u)
			}
		}
		sort.Strings(missing)
		reason := fmt.Sprintf("structure set %s references image series %s not found in the input", s.Path, strings.Join(missing, ", "))
		if len(missing) == 0 && len(nonCT) > 0 {
			reason = fmt.Sprintf("structure set %s references only non-CT series (%s)", s.Path, strings.Join(nonCT, ", "))
		}
		if len(ss.ReferencedSeries) == 0 && len(missing) == 0 && len(nonCT) == 0 {
			reason = fmt.Sprintf("structure set %s references %d images, none of them in the input", s.Path, len(ss.ReferencedImages))
		}
		return nil, CTUnresolvedReference, reason
	case 1:
		return hits[0], CTReferenced, "series referenced by the structure set" + imageNote
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if len(hits[i].Slices) != len(hits[j].Slices) {
			return len(hits[i].Slices) > len(hits[j].Slices)
		}
		return hits[i].UID < hits[j].UID
	})
	return hits[0], CTReferencedMulti, fmt.Sprintf("structure set references %d CT series; chose the one with most slices (%d), then lowest UID", len(hits), len(hits[0].Slices)) + imageNote
}

// courseForObject finds the course an unlinked object belongs to: same study under same_ct_study,
// same frame of reference under frame_of_reference.
func (b *patientBuilder) courseForObject(courses []*Course, e *Entry) *Course {
	fors := []string{e.Obj.FrameOfReference}
	if e.Obj.Struct != nil {
		fors = structFORs(e)
	}
	for _, c := range courses {
		study, fr := b.courseStudyFrame(c)
		if c.CT != nil {
			study, fr = c.CT.StudyUID, c.CT.FrameOfRef
		}
		if b.opt.MergeCriteria == MergeFrameOfReference {
			if contains(fors, fr) {
				return c
			}
		} else if e.Obj.StudyUID != "" && e.Obj.StudyUID == study {
			return c
		}
	}
	return nil
}

// attachRemaining places records, registrations, other objects and image series that are not a
// course CT, or records why they stay orphans.
func (b *patientBuilder) attachRemaining(courses []*Course) {
	planCourse := map[string]*Course{}
	for _, c := range courses {
		for _, p := range c.Plans {
			planCourse[p.Obj.SOPInstanceUID] = c
		}
	}
	for _, r := range b.records {
		var c *Course
		for _, ref := range r.Obj.Record.ReferencedPlan {
			if c = planCourse[ref]; c != nil {
				break
			}
		}
		if c == nil && len(r.Obj.Record.ReferencedPlan) == 0 && len(courses) == 1 {
			c = courses[0]
		}
		if c == nil {
			if len(r.Obj.Record.ReferencedPlan) > 0 {
				b.res.orphan(r, fmt.Sprintf("treatment record references RTPLAN %s, which is not in the input", strings.Join(r.Obj.Record.ReferencedPlan, ", ")))
			} else {
				b.res.orphan(r, "treatment record references no plan and the patient has several courses")
			}
			continue
		}
		c.Records = append(c.Records, r)
	}
	courseFORs := func(c *Course) []string {
		var out []string
		if c.CT != nil {
			out = appendUniq(out, c.CT.FrameOfRef)
		}
		for _, s := range c.Structs {
			for _, f := range structFORs(s) {
				out = appendUniq(out, f)
			}
		}
		for _, e := range append(append([]*Entry{}, c.Plans...), c.Doses...) {
			out = appendUniq(out, e.Obj.FrameOfReference)
		}
		return out
	}
	regSeries := map[*Course][]string{}
	for _, r := range b.regs {
		attached := false
		for _, c := range courses {
			cf := courseFORs(c)
			for _, f := range r.Obj.Reg.FrameOfReferenceUIDs {
				if contains(cf, f) {
					c.Regs = append(c.Regs, r)
					regSeries[c] = append(regSeries[c], r.Obj.Reg.ReferencedSeries...)
					for _, sop := range r.Obj.Reg.ReferencedImages {
						if se, ok := b.sopSeries[sop]; ok {
							regSeries[c] = append(regSeries[c], se.UID)
						}
					}
					attached = true
					break
				}
			}
		}
		if !attached {
			b.res.orphan(r, "registration relates no frame of reference of any course")
		}
	}
	for _, o := range b.others {
		var c *Course
		for _, ref := range o.Obj.ReferencedPlans {
			if c = planCourse[ref]; c != nil {
				break
			}
		}
		if c == nil {
			c = b.courseForObject(courses, o)
		}
		if c == nil {
			b.res.orphan(o, fmt.Sprintf("%s object not linked to any course (no plan reference, study or frame of reference in common)", o.Obj.Kind))
			continue
		}
		c.Others = append(c.Others, o)
	}
	// Image series: the course CT is placed by the course; others become related series of every
	// course that references them (structure set, registration) or shares their study / frame.
	for _, s := range b.seriesOrder {
		var homes []*Course
		for _, c := range courses {
			if c.CT == s {
				homes = append(homes, c)
				continue
			}
			related := contains(regSeries[c], s.UID)
			for _, st := range c.Structs {
				if contains(st.Obj.Struct.ReferencedSeries, s.UID) {
					related = true
				}
			}
			if !related {
				study, fr := b.courseStudyFrame(c)
				if c.CT != nil {
					study, fr = c.CT.StudyUID, c.CT.FrameOfRef
				}
				if b.opt.MergeCriteria == MergeFrameOfReference {
					related = fr != "" && s.FrameOfRef == fr
				} else {
					related = s.StudyUID != "" && s.StudyUID == study
				}
			}
			if related {
				c.Related = append(c.Related, s)
				homes = append(homes, c)
			}
		}
		if len(homes) == 0 {
			for _, e := range s.Slices {
				b.res.orphan(e, fmt.Sprintf("%s series %s is not referenced by any course and shares no study with one", s.Kind, s.UID))
			}
		}
	}
}

func appendUniq(l []string, v string) []string {
	if v == "" || contains(l, v) {
		return l
	}
	return append(l, v)
}

// name assigns folder names: YYYY-MM of the course start; a clash within the patient gets the
// first six hex digits of a hash of the course key, so names do not depend on which other courses
// exist, then a counter if even that clashes.
func (b *patientBuilder) name(courses []*Course) {
	for _, c := range courses {
		c.StartDate, c.EndDate = b.courseDates(c)
	}
	sort.SliceStable(courses, func(i, j int) bool {
		di, dj := dateKey(courses[i].StartDate), dateKey(courses[j].StartDate)
		if di != dj {
			return di < dj
		}
		return courses[i].Key < courses[j].Key
	})
	used := map[string]bool{}
	for _, c := range courses {
		base := "0000-00"
		if len(c.StartDate) >= 7 {
			base = c.StartDate[:7]
		}
		name := base
		if used[name] {
			name = base + "_" + shortHash(c.Key)
			for n := 2; used[name]; n++ {
				name = fmt.Sprintf("%s_%s_%d", base, shortHash(c.Key), n)
			}
		}
		used[name] = true
		c.Name = name
	}
}

// courseDates returns the course start (earliest plan date, else structure set, study or series
// date) and end (latest treatment date, else latest plan date), as YYYY-MM-DD.
func (b *patientBuilder) courseDates(c *Course) (string, string) {
	var starts, ends []string
	for _, p := range c.Plans {
		if d := normDate(p.Obj.Plan.Date); d != "" {
			starts = append(starts, d)
			ends = append(ends, d)
		}
	}
	if len(starts) == 0 {
		for _, s := range c.Structs {
			if d := normDate(s.Obj.Struct.Date); d != "" {
				starts = append(starts, d)
			}
		}
	}
	if len(starts) == 0 {
		var e *Entry
		if c.CT != nil && len(c.CT.Slices) > 0 {
			e = c.CT.Slices[0]
		} else if len(c.Structs) > 0 {
			e = c.Structs[0]
		}
		if e != nil {
			if d := normDate(firstNonEmpty(e.Obj.StudyDate, e.Obj.SeriesDate, e.Obj.AcquisitionDate)); d != "" {
				starts = append(starts, d)
			}
		}
	}
	for _, r := range c.Records {
		if d := normDate(firstNonEmpty(r.Obj.Record.Date, r.Obj.SeriesDate, r.Obj.ContentDate)); d != "" {
			ends = append(ends, d)
		}
	}
	sort.Strings(starts)
	sort.Strings(ends)
	var s, e string
	if len(starts) > 0 {
		s = starts[0]
	}
	if len(ends) > 0 {
		e = ends[len(ends)-1]
	} else {
		e = s
	}
	return s, e
}

// placeCourse records every object of the course as placed.
func (b *patientBuilder) placeCourse(c *Course) {
	for _, list := range [][]*Entry{c.Plans, c.Doses, c.Structs, c.Records, c.Regs, c.Others} {
		for _, e := range list {
			b.res.place(e, c)
		}
	}
	if c.CT != nil {
		for _, e := range c.CT.Slices {
			b.res.place(e, c)
		}
	}
	for _, s := range c.Related {
		for _, e := range s.Slices {
			b.res.place(e, c)
		}
	}
}

func containsEntry(list []*Entry, e *Entry) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// sortEntriesByDate orders plans (or structure sets) by their own date and time, then path.
func sortEntriesByDate(list []*Entry) {
	key := func(e *Entry) string {
		o := e.Obj
		switch {
		case o.Plan != nil:
			return dateKey(o.Plan.Date) + o.Plan.Time
		case o.Struct != nil:
			return dateKey(o.Struct.Date) + o.Struct.Time
		}
		return dateKey(o.StudyDate)
	}
	sort.SliceStable(list, func(i, j int) bool {
		ki, kj := key(list[i]), key(list[j])
		if ki != kj {
			return ki < kj
		}
		return list[i].Path < list[j].Path
	})
}
