// Package qc is the quality-control stage of one organised course: it checks that the course's
// DICOM-RT objects (CT series, RTSTRUCT, RTPLAN, RTDOSE) are present, valid and consistent with
// each other, that the dose grid covers the targets, and that the structure sets are sane, and
// writes the result to <course>/qc_reports/qc_report.json.
//
// Every check has a fixed id, a category and one of four statuses (PASS, INFO, WARNING, FAIL);
// a check that does not apply (no CT, no dose, ...) is INFO with details.skipped = true, so every
// report holds the same checks. Categories and the course roll up to their worst status. The
// report is deterministic: checks are sorted, map keys are sorted by encoding/json, and nothing
// depends on the time, the worker count or the course's location. See docs/qc.md for every check
// and threshold.
package qc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// Sentinel marks a course's QC stage: "ok", "skipped: <reason>" or "failed: <reason>". It is
// removed when the stage starts and written last.
const Sentinel = ".qc_done"

// ReportDir and ReportName locate the report inside the course folder.
const (
	ReportDir  = "qc_reports"
	ReportName = "qc_report.json"
)

// SchemaVersion is the version of the report layout; QCVersion changes whenever a check or a
// threshold changes, so reports of different versions are not compared blindly.
const (
	SchemaVersion = 1
	QCVersion     = "1.0"
)

// Status is the outcome of a check, a category or a course.
type Status string

// The statuses, from best to worst. INFO is a pass with something worth knowing (or a check
// that did not apply); WARNING needs a look; FAIL means a downstream result would be wrong or
// impossible.
const (
	StatusPass    Status = "PASS"
	StatusInfo    Status = "INFO"
	StatusWarning Status = "WARNING"
	StatusFail    Status = "FAIL"
)

func (s Status) rank() int {
	switch s {
	case StatusInfo:
		return 1
	case StatusWarning:
		return 2
	case StatusFail:
		return 3
	}
	return 0
}

// Worst returns the worst of the statuses (PASS for none).
func Worst(list ...Status) Status {
	w := StatusPass
	for _, s := range list {
		if s.rank() > w.rank() {
			w = s
		}
	}
	return w
}

// Categories of checks, in report order.
const (
	CategoryFiles            = "files"
	CategoryCT               = "ct"
	CategoryPlan             = "plan"
	CategoryDose             = "dose"
	CategoryFrameOfReference = "frame_of_reference"
	CategoryPatient          = "patient"
	CategoryCoverage         = "coverage"
	CategoryStructures       = "structures"
)

var categoryOrder = []string{CategoryFiles, CategoryCT, CategoryPlan, CategoryDose, CategoryFrameOfReference,
	CategoryPatient, CategoryCoverage, CategoryStructures}

// Check is one quality check of a course.
type Check struct {
	// ID is "<category>.<name>", fixed for a check (see docs/qc.md).
	ID       string `json:"id"`
	Category string `json:"category"`
	Status   Status `json:"status"`
	// Message says what was found, naming the files and ROIs concerned.
	Message string `json:"message"`
	// Objects lists the files (relative to the course folder) or ROIs the status is about.
	Objects []string `json:"objects"`
	// Details holds the measured values and per-item findings.
	Details map[string]any `json:"details"`
}

// Report is qc_reports/qc_report.json.
type Report struct {
	SchemaVersion int    `json:"schema_version"`
	QCVersion     string `json:"qc_version"`
	PatientID     string `json:"patient_id"`
	CourseID      string `json:"course_id"`
	// StageStatus is "ok", "skipped" or "failed": whether the checks could run at all (a course
	// with FAIL checks is still a stage that ran "ok").
	StageStatus string `json:"stage_status"`
	Reason      string `json:"reason"`
	// OverallStatus is the worst status of all checks (FAIL when the stage failed, INFO when it
	// was skipped and nothing was checked).
	OverallStatus Status `json:"overall_status"`
	// CategoryStatus is the worst status per category.
	CategoryStatus map[string]Status `json:"category_status"`
	StatusCounts   map[Status]int    `json:"status_counts"`
	// Inputs names the objects checked (paths relative to the course, SOP instance UIDs).
	Inputs     Inputs     `json:"inputs"`
	Thresholds Thresholds `json:"thresholds"`
	Checks     []Check    `json:"checks"`
}

// Inputs are the course objects the checks read.
type Inputs struct {
	CTDir          string            `json:"ct_dir"`
	CTFiles        int               `json:"ct_files"`
	CTSeriesUID    string            `json:"ct_series_instance_uid"`
	RTStruct       map[string]string `json:"rtstruct"` // path -> SOP instance UID
	RTPlan         string            `json:"rtplan"`
	RTPlanUID      string            `json:"rtplan_sop_instance_uid"`
	RTDose         string            `json:"rtdose"`
	RTDoseUID      string            `json:"rtdose_sop_instance_uid"`
	DoseDecision   string            `json:"dose_selection_decision"`
	CaseMetadata   string            `json:"case_metadata"`
	OtherDoseFiles []string          `json:"other_dose_files"`
}

// Options control the QC stage of one course.
type Options struct {
	// Workers bounds the goroutines reading CT headers and checking ROIs; <= 0 means the number
	// of CPUs. It never changes the report.
	Workers int
}

// Result summarises a course's QC stage.
type Result struct {
	// Status is "ok", "skipped" or "failed" (the stage); Overall is the QC verdict.
	Status  string
	Reason  string
	Overall Status
	// Checks is the number of checks; Pass, Info, Warning and Fail count them by status.
	Checks                    int
	Pass, Info, Warning, Fail int
	// Report is the written report (nil when the stage failed before checking).
	Report *Report
}

// RunCourse runs every check on one organised course folder and writes
// qc_reports/qc_report.json (atomically) and the sentinel (last). The sentinel is removed first,
// so an interrupted run never leaves a stale "ok"; a run interrupted through ctx writes neither
// report nor sentinel. A course whose .organized says it failed is "skipped". Problems found in
// the data are checks, not errors: the error is non-nil only when the checks could not run or
// the report could not be written (the sentinel then says "failed: ...").
func RunCourse(ctx context.Context, courseDir string, opts Options) (*Result, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	st, err := os.Stat(courseDir)
	if err != nil {
		return &Result{Status: "failed", Reason: err.Error()}, fmt.Errorf("qc: %w", err)
	}
	if !st.IsDir() {
		err := fmt.Errorf("qc: %s is not a folder", courseDir)
		return &Result{Status: "failed", Reason: err.Error()}, err
	}
	if err := os.Remove(filepath.Join(courseDir, Sentinel)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return &Result{Status: "failed", Reason: err.Error()}, fmt.Errorf("qc: removing the sentinel: %w", err)
	}
	rep := newReport()
	res := &Result{Status: "ok"}
	runErr := run(ctx, courseDir, opts, rep)
	if cerr := ctx.Err(); cerr != nil {
		// An interrupted run is not an outcome: no report, no sentinel, so a rerun does it.
		return &Result{Status: "failed", Reason: cerr.Error()}, cerr
	}
	switch {
	case runErr != nil:
		rep.StageStatus, rep.Reason = "failed", runErr.Error()
	case rep.StageStatus == "skipped":
	default:
		rep.StageStatus = "ok"
	}
	rep.finish()
	res.Status, res.Reason, res.Report = rep.StageStatus, rep.Reason, rep
	res.Overall = rep.OverallStatus
	res.Checks = len(rep.Checks)
	res.Pass, res.Info, res.Warning, res.Fail = rep.StatusCounts[StatusPass], rep.StatusCounts[StatusInfo],
		rep.StatusCounts[StatusWarning], rep.StatusCounts[StatusFail]
	if res.Status == "ok" && res.Reason == "" {
		res.Reason = summary(rep)
		rep.Reason = res.Reason
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = fsutil.WriteFileAtomic(filepath.Join(courseDir, ReportDir, ReportName), append(data, '\n'), 0o644)
	}
	if err != nil && runErr == nil {
		runErr = fmt.Errorf("qc: writing the report: %w", err)
		res.Status, res.Reason = "failed", runErr.Error()
	}
	sentinel := "ok"
	switch res.Status {
	case "failed":
		sentinel = "failed: " + oneLine(res.Reason)
	case "skipped":
		sentinel = "skipped: " + oneLine(res.Reason)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(courseDir, Sentinel), []byte(sentinel+"\n"), 0o644); err != nil && runErr == nil {
		runErr = fmt.Errorf("qc: writing the sentinel: %w", err)
		res.Status, res.Reason = "failed", runErr.Error()
	}
	return res, runErr
}

func summary(rep *Report) string {
	var parts []string
	for _, s := range []Status{StatusFail, StatusWarning, StatusInfo, StatusPass} {
		if n := rep.StatusCounts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	msg := fmt.Sprintf("%s: %d checks (%s)", rep.OverallStatus, len(rep.Checks), strings.Join(parts, ", "))
	var bad []string
	for _, c := range rep.Checks {
		if c.Status == StatusFail {
			bad = append(bad, c.ID)
		}
	}
	if len(bad) > 0 {
		msg += "; FAIL: " + strings.Join(bad, ", ")
	}
	return msg
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func newReport() *Report {
	return &Report{SchemaVersion: SchemaVersion, QCVersion: QCVersion, CategoryStatus: map[string]Status{},
		StatusCounts: map[Status]int{}, Thresholds: DefaultThresholds(), Checks: []Check{},
		Inputs: Inputs{RTStruct: map[string]string{}, OtherDoseFiles: []string{}}}
}

// add appends a check; nil slices and maps become empty ones so the JSON is uniform.
func (r *Report) add(c Check) {
	if c.Objects == nil {
		c.Objects = []string{}
	}
	if c.Details == nil {
		c.Details = map[string]any{}
	}
	if i := strings.IndexByte(c.ID, '.'); i > 0 && c.Category == "" {
		c.Category = c.ID[:i]
	}
	r.Checks = append(r.Checks, c)
}

// finish sorts the checks and computes the roll-ups.
func (r *Report) finish() {
	order := map[string]int{}
	for i, c := range categoryOrder {
		order[c] = i
	}
	sort.SliceStable(r.Checks, func(a, b int) bool {
		ca, cb := r.Checks[a], r.Checks[b]
		oa, oka := order[ca.Category]
		ob, okb := order[cb.Category]
		if !oka {
			oa = len(order)
		}
		if !okb {
			ob = len(order)
		}
		if oa != ob {
			return oa < ob
		}
		if ca.Category != cb.Category {
			return ca.Category < cb.Category
		}
		return ca.ID < cb.ID
	})
	r.OverallStatus = StatusPass
	for _, s := range []Status{StatusPass, StatusInfo, StatusWarning, StatusFail} {
		r.StatusCounts[s] = 0
	}
	for _, c := range r.Checks {
		r.CategoryStatus[c.Category] = Worst(r.CategoryStatus[c.Category], c.Status)
		r.OverallStatus = Worst(r.OverallStatus, c.Status)
		r.StatusCounts[c.Status]++
	}
	switch r.StageStatus {
	case "failed":
		r.OverallStatus = StatusFail
	case "skipped":
		r.OverallStatus = StatusInfo // nothing was checked
	}
}

// ReadReport reads a course's qc_report.json.
func ReadReport(courseDir string) (*Report, error) {
	data, err := os.ReadFile(filepath.Join(courseDir, ReportDir, ReportName))
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(courseDir, ReportDir, ReportName), err)
	}
	return &r, nil
}

// Find returns the check with the given id, or nil.
func (r *Report) Find(id string) *Check {
	for i := range r.Checks {
		if r.Checks[i].ID == id {
			return &r.Checks[i]
		}
	}
	return nil
}
