// Package aggregate is the last stage of the pipeline: it gathers the per-course tables of every
// organised course (DVH metrics, radiomics, case metadata, fractions, QC reports) into cohort
// tables under OUT/_RESULTS (each as .xlsx, .csv and .parquet), documents their columns in
// _RESULTS/README.md and renders a self-contained cohort report, _RESULTS/report.html.
//
// Rows are keyed by patient_id and course_id (the first two columns of every table), come from
// courses in manifest order, and only from courses whose stage sentinel says "ok": a failed
// course's stale table is never aggregated. Each course's table is read once, from one file.
// The output is byte-identical for any worker count. See docs/aggregate.md.
package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/results"
)

// Output names, relative to the output folder.
const (
	// ResultsDir is the folder the cohort outputs are written to.
	ResultsDir = "_RESULTS"
	// Sentinel (in ResultsDir) holds "ok" or "failed: <reason>"; removed when a run starts and
	// written last.
	Sentinel = ".aggregate_done"
	// ReadmeFile documents every column of every table.
	ReadmeFile = "README.md"
	// ReportFile is the cohort report.
	ReportFile = "report.html"
	// SummaryFile is the Result as JSON.
	SummaryFile = "aggregate_summary.json"
)

// TableFormats are the file extensions every table is written with.
var TableFormats = []string{"xlsx", "csv", "parquet"}

// StageDef names a course stage and its sentinel file in the course folder.
type StageDef struct {
	Name     string
	Sentinel string
}

// Stages are the course stages whose status aggregate reads, in pipeline order. Their sentinels'
// first line is "ok", "skipped: <reason>" or "failed: <reason>".
var Stages = []StageDef{
	{"organize", ".organized"},
	{"dvh", ".dvh_done"},
	{"radiomics", ".radiomics_done"},
	{"qc", ".qc_done"},
}

// Stage statuses of StageStatus.Status.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
	StatusNotRun  = "not run"
)

// Options control an aggregation.
type Options struct {
	// Workers is the number of courses read (and of files written) in parallel; at least 1.
	// The output does not depend on it.
	Workers int
}

// Result summarises an aggregation; it is also written as _RESULTS/aggregate_summary.json.
type Result struct {
	// Dir is the _RESULTS folder.
	Dir string `json:"-"`
	// Patients is the number of distinct patient IDs among the courses.
	Patients int `json:"patients"`
	// Courses are the manifest's courses in its order, with their stage statuses.
	Courses []CourseStatus `json:"courses"`
	// Tables summarise each output table.
	Tables []TableSummary `json:"tables"`
	// Warnings are problems that did not stop the aggregation (unreadable tables, identity
	// mismatches, …).
	Warnings []string `json:"warnings"`
}

// CourseStatus is one course and the status of each stage (Stages order).
type CourseStatus struct {
	PatientID  string        `json:"patient_id"`
	PatientDir string        `json:"patient_dir"`
	CourseID   string        `json:"course_id"`
	Path       string        `json:"path"`
	Stages     []StageStatus `json:"stages"`
	// QCStatus is the roll-up of the course's QC report ("" when none was aggregated).
	QCStatus string `json:"qc_overall_status"`
}

// Stage returns the status of the named stage.
func (c CourseStatus) Stage(name string) StageStatus {
	for _, s := range c.Stages {
		if s.Stage == name {
			return s
		}
	}
	return StageStatus{Stage: name, Status: StatusNotRun}
}

// StageStatus is a stage's sentinel for one course: ok, skipped, failed or "not run" (no
// sentinel), with the sentinel's reason.
type StageStatus struct {
	Stage  string `json:"stage"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// TableSummary describes one output table.
type TableSummary struct {
	Name    string `json:"name"`
	Rows    int    `json:"rows"`
	Columns int    `json:"columns"`
	// Courses is the number of courses whose rows (possibly none) were aggregated.
	Courses int `json:"courses"`
	// Skipped are the courses whose table was not aggregated, and why.
	Skipped []SkippedCourse `json:"skipped_courses"`
	// Dropped are the duplicate rows left out (see TableDef.Dedup).
	Dropped []string `json:"dropped_duplicates"`
	// Files are the written files, relative to the _RESULTS folder.
	Files []string `json:"files"`
}

// SkippedCourse is a course left out of a table.
type SkippedCourse struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// manifestCourse is one entry of _COURSES/manifest.json (organize.ManifestCourse).
type manifestCourse struct {
	Patient   string `json:"patient"`
	PatientID string `json:"patient_id"`
	Course    string `json:"course"`
	Path      string `json:"path"`
	Status    string `json:"status"`
}

// readManifest reads the course list; entries naming the same folder twice, or a folder outside
// the output, are left out with a warning.
func readManifest(outDir string) ([]manifestCourse, []string, error) {
	data, err := os.ReadFile(filepath.Join(outDir, "_COURSES", "manifest.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("course manifest: %w (run organize first)", err)
	}
	var m struct {
		Courses []manifestCourse `json:"courses"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, fmt.Errorf("course manifest: %w", err)
	}
	var out []manifestCourse
	var warnings []string
	seen := map[string]bool{}
	for _, c := range m.Courses {
		p := path.Clean(strings.ReplaceAll(c.Path, "\\", "/"))
		if c.Path == "" || path.IsAbs(p) || p == "." || p == ".." || strings.HasPrefix(p, "../") {
			warnings = append(warnings, fmt.Sprintf("manifest: course path %q is not a folder inside the output; left out", c.Path))
			continue
		}
		if seen[p] {
			warnings = append(warnings, fmt.Sprintf("manifest: course %s listed twice; aggregated once", p))
			continue
		}
		seen[p] = true
		c.Path = p
		if c.Patient == "" {
			c.Patient = path.Dir(p)
		}
		if c.Course == "" {
			c.Course = path.Base(p)
		}
		if c.PatientID == "" {
			c.PatientID = c.Patient
		}
		out = append(out, c)
	}
	return out, warnings, nil
}

// readSentinel returns a stage's status from its sentinel file.
func readSentinel(dir string, st StageDef) StageStatus {
	data, err := os.ReadFile(filepath.Join(dir, st.Sentinel))
	if err != nil {
		return StageStatus{Stage: st.Name, Status: StatusNotRun}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	word, reason, _ := strings.Cut(line, ":")
	word, reason = strings.TrimSpace(word), strings.TrimSpace(reason)
	switch word {
	case StatusOK:
		return StageStatus{Stage: st.Name, Status: StatusOK, Reason: reason}
	case StatusSkipped:
		return StageStatus{Stage: st.Name, Status: StatusSkipped, Reason: reason}
	case StatusFailed:
		return StageStatus{Stage: st.Name, Status: StatusFailed, Reason: reason}
	}
	return StageStatus{Stage: st.Name, Status: StatusFailed, Reason: "unrecognised sentinel " + st.Sentinel + ": " + line}
}

// courseData is what one course contributes.
type courseData struct {
	mc       manifestCourse
	status   CourseStatus
	tables   map[string]*courseTable // by table name; nil entry = not aggregated
	skipped  map[string]string       // table name → why the course is left out
	qc       *qcReport
	dvhPNG   []byte
	warnings []string
}

// Run aggregates the courses of outDir (listed in _COURSES/manifest.json) into outDir/_RESULTS:
// the tables of Tables() as .xlsx, .csv and .parquet, README.md, report.html,
// aggregate_summary.json and, last, the .aggregate_done sentinel. Problems with single courses
// are warnings in the Result; the error is non-nil only when the manifest cannot be read, an
// output cannot be written or ctx is cancelled (the sentinel then says "failed: <reason>").
func Run(ctx context.Context, outDir string, opts Options) (Result, error) {
	resDir := filepath.Join(outDir, ResultsDir)
	res := Result{Dir: resDir}
	if err := os.MkdirAll(resDir, 0o755); err != nil {
		return res, err
	}
	if err := os.Remove(filepath.Join(resDir, Sentinel)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	err := run(ctx, outDir, resDir, max(opts.Workers, 1), &res)
	status := "ok"
	if err != nil {
		status = "failed: " + strings.Join(strings.Fields(err.Error()), " ")
	}
	if werr := fsutil.WriteFileAtomic(filepath.Join(resDir, Sentinel), []byte(status+"\n"), 0o644); werr != nil && err == nil {
		err = werr
	}
	return res, err
}

func run(ctx context.Context, outDir, resDir string, workers int, res *Result) error {
	courses, warnings, err := readManifest(outDir)
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, warnings...)
	data := readDataTables(outDir, &res.Warnings)
	per := make([]*courseData, len(courses))
	if err := parallel(ctx, workers, len(courses), func(i int) error {
		per[i] = readCourse(outDir, courses[i], data)
		return nil
	}); err != nil {
		return err
	}
	var tables []*results.Table
	for _, def := range Tables() {
		t, sum := merge(def, per)
		tables = append(tables, t)
		res.Tables = append(res.Tables, sum)
	}
	patients := map[string]bool{}
	res.Courses = []CourseStatus{}
	for _, cd := range per {
		patients[cd.mc.PatientID] = true
		res.Courses = append(res.Courses, cd.status)
		res.Warnings = append(res.Warnings, cd.warnings...)
	}
	res.Patients = len(patients)
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Write the tables, several files at once.
	type job struct {
		t   *results.Table
		ext string
	}
	var jobs []job
	for i, t := range tables {
		for _, ext := range TableFormats {
			jobs = append(jobs, job{t, ext})
			res.Tables[i].Files = append(res.Tables[i].Files, t.Name+"."+ext)
		}
	}
	if err := parallel(ctx, workers, len(jobs), func(i int) error {
		j := jobs[i]
		p := filepath.Join(resDir, j.t.Name+"."+j.ext)
		switch j.ext {
		case "csv":
			return j.t.WriteCSV(p)
		case "xlsx":
			return j.t.WriteXLSX(p)
		}
		return j.t.WriteParquet(p)
	}); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(resDir, ReadmeFile), []byte(Readme(tables)), 0o644); err != nil {
		return err
	}
	summary, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(resDir, SummaryFile), append(summary, '\n'), 0o644); err != nil {
		return err
	}
	var html bytes.Buffer
	if err := renderReport(&html, res, per); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(resDir, ReportFile), html.Bytes(), 0o644)
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the first error (by
// index, so the error does not depend on timing); it stops early when ctx is cancelled.
func parallel(ctx context.Context, workers, n int, fn func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// dataTables holds organize's cohort tables in Data/, read once and indexed by course.
type dataTables struct {
	caseMetadata *cohortTable
	caseIDCol    string // patient_dir, or patient_id for a table without it
	caseErr      string
	fractions    *cohortTable
	fractionsErr string
}

func readDataTables(outDir string, warnings *[]string) *dataTables {
	d := &dataTables{}
	if t, err := readTableFile(filepath.Join(outDir, "Data", "case_metadata.csv")); err != nil {
		d.caseErr = "Data/case_metadata.csv: " + errText(err)
		if !errors.Is(err, os.ErrNotExist) {
			*warnings = append(*warnings, d.caseErr)
		}
	} else {
		d.caseMetadata, d.caseIDCol = indexBy(t, "patient_dir", "patient_id")
	}
	if t, err := readTableFile(filepath.Join(outDir, "Data", "fractions.csv")); err != nil {
		d.fractionsErr = "Data/fractions.csv: " + errText(err)
		if !errors.Is(err, os.ErrNotExist) {
			*warnings = append(*warnings, d.fractionsErr)
		}
	} else {
		d.fractions, _ = indexBy(t, "patient_id")
	}
	return d
}

func errText(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "missing"
	}
	return err.Error()
}

// readCourse reads one course's stage statuses and tables.
func readCourse(outDir string, mc manifestCourse, data *dataTables) *courseData {
	dir := filepath.Join(outDir, filepath.FromSlash(mc.Path))
	cd := &courseData{mc: mc, tables: map[string]*courseTable{}, skipped: map[string]string{}}
	cd.status = CourseStatus{PatientID: mc.PatientID, PatientDir: mc.Patient, CourseID: mc.Course, Path: mc.Path}
	stage := map[string]StageStatus{}
	for _, st := range Stages {
		s := readSentinel(dir, st)
		stage[st.Name] = s
		cd.status.Stages = append(cd.status.Stages, s)
	}
	organized := stage["organize"].Status == StatusOK
	for _, def := range Tables() {
		s := stage[def.Stage]
		if def.Stage != "organize" && !organized {
			cd.skipped[def.Name] = "organize: " + describe(stage["organize"])
			continue
		}
		if s.Status != StatusOK {
			cd.skipped[def.Name] = def.Stage + ": " + describe(s)
			continue
		}
		t, why := readCourseTable(dir, def.Name, mc, data)
		switch {
		case t != nil:
			cd.tables[def.Name] = t
		case why != "" && why != noMRTable:
			cd.skipped[def.Name] = why
			cd.warnings = append(cd.warnings, fmt.Sprintf("%s: %s: %s", def.Name, mc.Path, why))
		}
	}
	if qt := cd.tables["qc_reports"]; qt != nil {
		cd.qc = qt.qc
		cd.status.QCStatus = qt.qc.Overall
	}
	if stage["dvh"].Status == StatusOK && organized {
		if png, err := os.ReadFile(filepath.Join(dir, "dvh.png")); err == nil && isPNG(png) {
			cd.dvhPNG = png
		}
	}
	return cd
}

// noMRTable is the skip reason of a course without MR radiomics (not a warning: most courses
// have no MR series).
const noMRTable = "no MR radiomics table (no MR series with total_mr masks)"

func describe(s StageStatus) string {
	if s.Reason != "" {
		return s.Status + ": " + s.Reason
	}
	return s.Status
}

func isPNG(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }

// readCourseTable reads a course's table from the first of its possible files. It returns the
// table, or nil and why not.
func readCourseTable(dir, name string, mc manifestCourse, data *dataTables) (*courseTable, string) {
	switch name {
	case "dvh_metrics":
		return firstFile(dir, "dvh_metrics.csv", "dvh_metrics.parquet")
	case "radiomics_ct":
		return firstFile(dir, "radiomics_ct.csv", "radiomics_ct.parquet")
	case "radiomics_mr":
		t, why := firstFile(dir, "MR/radiomics_mr.csv", "MR/radiomics_mr.parquet")
		if t == nil && strings.HasPrefix(why, "missing") {
			return nil, noMRTable
		}
		return t, why
	case "fractions":
		t, why := firstFile(dir, "fractions.csv", "fractions.parquet")
		if t != nil || !strings.HasPrefix(why, "missing") {
			return t, why
		}
		if data.fractions == nil {
			return nil, "no fractions.csv in the course and " + data.fractionsErr
		}
		return data.fractions.subset("Data/fractions.csv", mc.PatientID, mc.Course), ""
	case "case_metadata":
		if data.caseMetadata == nil {
			return nil, data.caseErr
		}
		id := mc.Patient
		if data.caseIDCol == "patient_id" {
			id = mc.PatientID
		}
		t := data.caseMetadata.subset("Data/case_metadata.csv", id, mc.Course)
		if len(t.rows) == 0 {
			return nil, "no row in Data/case_metadata.csv"
		}
		return t, ""
	case "qc_reports":
		return readQCReport(dir)
	}
	return nil, "unknown table"
}

// firstFile reads the first existing file of names (relative to dir, slash-separated).
func firstFile(dir string, names ...string) (*courseTable, string) {
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if _, err := os.Stat(p); err != nil {
			continue
		}
		t, err := readTableFile(p)
		if err != nil {
			return nil, n + ": " + err.Error()
		}
		t.file = n
		return t, ""
	}
	return nil, "missing " + strings.Join(names, " and ")
}
