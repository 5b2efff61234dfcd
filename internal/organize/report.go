package organize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/results"
	"github.com/rtpipeline/rtpipeline/internal/version"
)

// manifest is _COURSES/manifest.json, the list of courses later stages work on.
type manifest struct {
	Courses []ManifestCourse `json:"courses"`
}

// ManifestCourse is one course of the manifest.
type ManifestCourse struct {
	Patient    string `json:"patient"`
	PatientID  string `json:"patient_id"`
	Course     string `json:"course"`
	Path       string `json:"path"`
	Complexity int    `json:"complexity"`
	Status     string `json:"status"`
}

// ReadManifest reads _COURSES/manifest.json of an output folder.
func ReadManifest(outDir string) ([]ManifestCourse, error) {
	data, err := os.ReadFile(filepath.Join(outDir, "_COURSES", "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m.Courses, nil
}

// writeManifest lists every course that has a sentinel on disk: those written now and, under a
// course filter, those organised earlier. Short courses come first when asked, so a scheduler
// working down the list finishes many courses early.
func writeManifest(res *Result, outcomes []*CourseOutcome, outDir string) error {
	var m manifest
	for _, oc := range outcomes {
		dir := filepath.Join(outDir, filepath.FromSlash(oc.Dir))
		status := oc.Status
		if !oc.Written {
			data, err := os.ReadFile(filepath.Join(dir, Sentinel))
			if err != nil {
				continue
			}
			status = strings.TrimSpace(string(data))
			oc.Complexity = countDICOM(filepath.Join(dir, "DICOM"))
		}
		m.Courses = append(m.Courses, ManifestCourse{Patient: oc.Course.Patient.Dir, PatientID: oc.Course.Patient.ID,
			Course: oc.Course.Name, Path: oc.Dir, Complexity: oc.Complexity, Status: status})
	}
	sort.SliceStable(m.Courses, func(i, j int) bool {
		a, b := m.Courses[i], m.Courses[j]
		if res.Options.PrioritizeShortCourses && a.Complexity != b.Complexity {
			return a.Complexity < b.Complexity
		}
		if a.Patient != b.Patient {
			return a.Patient < b.Patient
		}
		return a.Course < b.Course
	})
	if m.Courses == nil {
		m.Courses = []ManifestCourse{}
	}
	return writeJSON(filepath.Join(outDir, "_COURSES", "manifest.json"), m)
}

func countDICOM(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return max(n, 1)
}

func writeJSON(p string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeIfChanged(p, append(data, '\n'))
}

// Report is _COURSES/organize_report.json: the decisions for every course and the accounting of
// every input file.
type Report struct {
	Version  string            `json:"rtpipeline_version"`
	Input    string            `json:"input_root"`
	Options  ReportOptions     `json:"options"`
	Summary  ReportSummary     `json:"summary"`
	Warnings []string          `json:"warnings"`
	Skipped  []SkippedPath     `json:"skipped_paths"`
	Courses  []ReportCourse    `json:"courses"`
	Files    []*FileRecord     `json:"files"`
	Reasons  map[string]int    `json:"orphan_and_unreadable_reasons"`
	Patients map[string]string `json:"patient_folders"`
}

// ReportOptions echoes the options that shaped the result.
type ReportOptions struct {
	MergeCriteria      string  `json:"merge_criteria"`
	MaxDays            int     `json:"max_days"`
	BoostRxRatio       float64 `json:"boost_rx_ratio"`
	ReplanRxSimilarity float64 `json:"replan_rx_similarity"`
	MinDoseOverlap     float64 `json:"min_dose_overlap"`
	CourseFilter       string  `json:"course_filter,omitempty"`
}

// ReportSummary counts files by category, patients and courses.
type ReportSummary struct {
	Files         int `json:"files"`
	Placed        int `json:"placed"`
	Orphan        int `json:"orphan"`
	Duplicate     int `json:"duplicate"`
	Unreadable    int `json:"unreadable"`
	Patients      int `json:"patients"`
	Courses       int `json:"courses"`
	CoursesOK     int `json:"courses_ok"`
	CoursesFailed int `json:"courses_failed"`
}

// ReportCourse is one course's decisions.
type ReportCourse struct {
	PatientID    string   `json:"patient_id"`
	Path         string   `json:"path"`
	Kind         string   `json:"kind"`
	Key          string   `json:"key"`
	StartDate    string   `json:"start_date"`
	Status       string   `json:"status"`
	DoseDecision string   `json:"dose_decision"`
	DoseReason   string   `json:"dose_reason"`
	RxGy         float64  `json:"total_prescription_gy"`
	RxSource     string   `json:"rx_source"`
	CTSelection  string   `json:"ct_selection"`
	CTReason     string   `json:"ct_reason"`
	CTSeriesUID  string   `json:"ct_series_uid"`
	Plans        int      `json:"plans"`
	Doses        int      `json:"doses"`
	Structs      int      `json:"structure_sets"`
	Records      int      `json:"treatment_records"`
	Warnings     []string `json:"warnings"`
}

// BuildReport assembles the report (also used by validate, which writes nothing).
func BuildReport(res *Result, outcomes []*CourseOutcome) *Report {
	r := &Report{Version: version.Version, Input: res.Root, Files: res.Files, Warnings: append([]string{}, res.Warnings...),
		Skipped: append([]SkippedPath{}, res.inventorySkipped...), Reasons: map[string]int{}, Patients: map[string]string{},
		Options: ReportOptions{MergeCriteria: res.Options.MergeCriteria, MaxDays: res.Options.MaxDays, BoostRxRatio: res.Options.BoostRxRatio,
			ReplanRxSimilarity: res.Options.ReplanRxSimilarity, MinDoseOverlap: res.Options.MinDoseOverlap, CourseFilter: res.Options.CourseFilter}}
	for _, p := range res.Patients {
		r.Patients[p.ID] = p.Dir
	}
	for _, f := range res.Files {
		r.Summary.Files++
		switch f.Category {
		case CategoryPlaced:
			r.Summary.Placed++
		case CategoryOrphan:
			r.Summary.Orphan++
		case CategoryDuplicate:
			r.Summary.Duplicate++
		case CategoryUnreadable:
			r.Summary.Unreadable++
		}
		if f.Category == CategoryOrphan || f.Category == CategoryUnreadable {
			r.Reasons[reasonClass(f.Reason)]++
		}
	}
	r.Summary.Patients, r.Summary.Courses = len(res.Patients), len(res.Courses)
	status := map[*Course]string{}
	for _, oc := range outcomes {
		status[oc.Course] = oc.Status
	}
	for _, c := range res.Courses {
		rc := ReportCourse{PatientID: c.Patient.ID, Path: c.Patient.Dir + "/" + c.Name, Kind: c.Kind, Key: c.Key, StartDate: c.StartDate,
			Status: status[c], DoseDecision: c.Dose.Decision, DoseReason: c.Dose.Reason, RxGy: c.Rx.TotalGy, RxSource: c.Rx.Source,
			CTSelection: c.CTSelection, CTReason: c.CTReason, Plans: len(c.Plans), Doses: len(c.Doses), Structs: len(c.Structs),
			Records: len(c.Records), Warnings: append([]string{}, c.Warnings...)}
		if c.CT != nil {
			rc.CTSeriesUID = c.CT.UID
		}
		switch {
		case rc.Status == "ok":
			r.Summary.CoursesOK++
		case strings.HasPrefix(rc.Status, "failed"):
			r.Summary.CoursesFailed++
		}
		r.Courses = append(r.Courses, rc)
	}
	if r.Courses == nil {
		r.Courses = []ReportCourse{}
	}
	if r.Files == nil {
		r.Files = []*FileRecord{}
	}
	return r
}

// reasonClass shortens a reason to its kind (the text before the first colon or the first few
// words) for the summary counts.
func reasonClass(reason string) string {
	if i := strings.Index(reason, ":"); i > 0 && i < 60 {
		return reason[:i]
	}
	if len(reason) > 60 {
		return reason[:60]
	}
	return reason
}

func writeReport(res *Result, outcomes []*CourseOutcome, outDir string) error {
	return writeJSON(filepath.Join(outDir, "_COURSES", "organize_report.json"), BuildReport(res, outcomes))
}

// writeCohortTables writes Data/: one row per course (case_metadata), plan, dose, structure set,
// CT series and fraction, each as CSV and XLSX.
func writeCohortTables(res *Result, outcomes []*CourseOutcome, outDir string) error {
	courses := results.NewTable("case_metadata", "patient_id", "patient_dir", "course_id", "course_kind", "course_start_date", "course_end_date",
		"status", "dose_decision", "dose_reason", "total_prescription_gy", "rx_source", "planned_fractions", "delivered_fractions",
		"plan_label", "plan_sop_instance_uid", "technique_inferred", "beams_count", "beam_energies", "treatment_machines", "plan_intent",
		"ct_selection", "ct_series_uid", "ct_slices", "ct_slice_thickness_mm", "patient_position", "rtstruct_sop_instance_uid",
		"roi_count", "ptv_count", "ctv_count", "gtv_count", "oar_count", "dose_max_gy", "dose_mean_gy", "patient_sex", "patient_age_years",
		"warnings")
	plans := results.NewTable("plans", "patient_id", "course_id", "sop_instance_uid", "path", "plan_label", "plan_name", "plan_date",
		"approval_status", "plan_intent", "rx_gy", "rx_source", "fractions", "technique_inferred", "beams", "selected", "ct_study_uid", "patient_birth_date", "patient_sex")
	doses := results.NewTable("dosimetrics", "patient_id", "course_id", "sop_instance_uid", "path", "summation_type", "dose_units", "dose_type",
		"referenced_plan_uids", "rows", "columns", "frames", "dose_grid_scaling", "used")
	structs := results.NewTable("structure_sets", "patient_id", "course_id", "sop_instance_uid", "path", "label", "date", "primary", "roi_count", "rois")
	cts := results.NewTable("CT_images", "patient_id", "course_id", "series_instance_uid", "study_instance_uid", "slices", "slice_thickness_mm",
		"rows", "columns", "pixel_spacing_mm", "kvp", "manufacturer", "model", "convolution_kernel", "patient_position", "study_date")
	fractions := results.NewTable("fractions", FractionColumns...)
	for _, oc := range outcomes {
		if !oc.Written && !loadPreviousOutcome(outDir, oc) {
			continue
		}
		c := oc.Course
		rows := fractionRows(c)
		m := buildCaseMetadata(oc, rows)
		row := map[string]any{"patient_id": c.Patient.ID, "patient_dir": c.Patient.Dir, "course_id": c.Name, "course_kind": c.Kind,
			"course_start_date": c.StartDate, "course_end_date": c.EndDate, "status": oc.Status, "dose_decision": c.Dose.Decision,
			"dose_reason": c.Dose.Reason, "rx_source": c.Rx.Source, "planned_fractions": c.Rx.Fractions,
			"delivered_fractions": m.Fractions.Delivered, "ct_selection": m.CT.Selection, "ct_series_uid": m.CT.SeriesUID,
			"ct_slices": m.CT.Slices, "ct_slice_thickness_mm": m.CT.SliceThickness, "patient_sex": m.Patient.Sex,
			"warnings": strings.Join(m.Warnings, " | ")}
		if c.Rx.TotalGy > 0 {
			row["total_prescription_gy"] = c.Rx.TotalGy
		}
		if m.Patient.AgeYears != nil {
			row["patient_age_years"] = *m.Patient.AgeYears
		}
		if p := m.Plan; p != nil {
			row["plan_label"], row["plan_sop_instance_uid"], row["technique_inferred"] = p.Label, p.SOPInstanceUID, p.Technique
			row["beams_count"], row["beam_energies"], row["treatment_machines"], row["plan_intent"] = p.BeamsCount, strings.Join(p.Energies, ";"), strings.Join(p.Machines, ";"), p.Intent
			row["patient_position"] = p.PatientPosition
		}
		if row["patient_position"] == nil || row["patient_position"] == "" {
			row["patient_position"] = m.CT.PatientPosition
		}
		if s := m.StructureSet; s != nil {
			row["rtstruct_sop_instance_uid"], row["roi_count"], row["ptv_count"], row["ctv_count"], row["gtv_count"], row["oar_count"] = s.SOPInstanceUID, s.ROICount, s.PTVCount, s.CTVCount, s.GTVCount, s.OARCount
		}
		if g := m.DoseGrid; g != nil {
			row["dose_max_gy"], row["dose_mean_gy"] = g.MaxGy, g.MeanGy
		}
		courses.Add(row)
		studyOfCT := ""
		if c.CT != nil {
			studyOfCT = c.CT.StudyUID
		}
		for _, p := range m.Plans {
			e := findEntry(c.Plans, p.SOPInstanceUID)
			plans.Add(map[string]any{"patient_id": c.Patient.ID, "course_id": c.Name, "sop_instance_uid": p.SOPInstanceUID, "path": p.Path,
				"plan_label": p.Label, "plan_name": e.Obj.Plan.Name, "plan_date": p.Date, "approval_status": e.Obj.Plan.ApprovalStatus,
				"plan_intent": e.Obj.Plan.Intent, "rx_gy": p.RxGy, "rx_source": p.RxSource, "fractions": p.Fractions,
				"technique_inferred": p.Technique, "beams": len(e.Obj.Plan.Beams), "selected": p.Selected, "ct_study_uid": studyOfCT,
				"patient_birth_date": e.Obj.BirthDate, "patient_sex": e.Obj.Sex})
		}
		for _, d := range c.Doses {
			h := d.Obj.Dose
			doses.Add(map[string]any{"patient_id": c.Patient.ID, "course_id": c.Name, "sop_instance_uid": d.Obj.SOPInstanceUID, "path": d.Path,
				"summation_type": h.SummationType, "dose_units": h.Units, "dose_type": h.Type, "referenced_plan_uids": strings.Join(h.ReferencedPlan, ";"),
				"rows": h.Rows, "columns": h.Columns, "frames": h.Frames, "dose_grid_scaling": h.Scaling, "used": containsEntry(c.Dose.Sources, d)})
		}
		for _, s := range c.Structs {
			var names []string
			for _, r := range s.Obj.Struct.ROIs {
				names = append(names, r.Name)
			}
			structs.Add(map[string]any{"patient_id": c.Patient.ID, "course_id": c.Name, "sop_instance_uid": s.Obj.SOPInstanceUID, "path": s.Path,
				"label": s.Obj.Struct.Label, "date": s.Obj.Struct.Date, "primary": s == c.PrimaryStruct, "roi_count": len(names), "rois": strings.Join(names, ";")})
		}
		if c.CT != nil {
			ct := m.CT
			var ps string
			if len(ct.PixelSpacing) == 2 {
				ps = results.FormatCell(ct.PixelSpacing[0]) + ";" + results.FormatCell(ct.PixelSpacing[1])
			}
			cts.Add(map[string]any{"patient_id": c.Patient.ID, "course_id": c.Name, "series_instance_uid": ct.SeriesUID, "study_instance_uid": ct.StudyUID,
				"slices": ct.Slices, "slice_thickness_mm": ct.SliceThickness, "rows": ct.Rows, "columns": ct.Columns, "pixel_spacing_mm": ps,
				"kvp": ct.KVP, "manufacturer": ct.Manufacturer, "model": ct.Model, "convolution_kernel": ct.Kernel,
				"patient_position": ct.PatientPosition, "study_date": ct.StudyDate})
		}
		addFractionRows(fractions, rows, c)
	}
	for _, t := range []*results.Table{courses, plans, doses, structs, cts, fractions} {
		if err := writeTableIfChanged(t, filepath.Join(outDir, "Data", t.Name)); err != nil {
			return err
		}
	}
	return nil
}

// loadPreviousOutcome fills the outcome of a course a course filter left out of this run from
// what an earlier run wrote (its sentinel and case_metadata.json), so the cohort tables keep
// every organised course. It reports whether the course is on disk.
func loadPreviousOutcome(outDir string, oc *CourseOutcome) bool {
	dir := filepath.Join(outDir, filepath.FromSlash(oc.Dir))
	status, err := os.ReadFile(filepath.Join(dir, Sentinel))
	if err != nil {
		return false
	}
	oc.Status = strings.TrimSpace(string(status))
	if data, err := os.ReadFile(filepath.Join(dir, "metadata", "case_metadata.json")); err == nil {
		var m CaseMetadata
		if json.Unmarshal(data, &m) == nil {
			oc.DoseGrid = m.DoseGrid
		}
	}
	return true
}

func findEntry(list []*Entry, uid string) *Entry {
	for _, e := range list {
		if e.Obj.SOPInstanceUID == uid {
			return e
		}
	}
	return nil
}
