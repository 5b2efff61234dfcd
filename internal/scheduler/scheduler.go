// Package scheduler is rtpipeline's embedded scheduler: it runs the stage table
// (internal/pipeline) over a cohort on one machine, under one worker budget, the way Snakemake runs
// workflow/Snakefile — without Snakemake.
//
// The model (docs/scheduler.md has the whole story):
//
//   - The budget is config.WorkerBudget(cores). A job takes Stage.Threads threads (already clipped
//     to the budget) and uses exactly that many workers; the threads of the running jobs never
//     exceed the budget.
//   - A gate (Stage.Gate, e.g. seg_workers) admits Stage.GateSize jobs of its stages at once,
//     whatever their threads.
//   - The cohort stages before the course stages (organize) run first; the course list is then
//     read from _COURSES/manifest.json. Every course goes through the course stages in
//     dependency order (Stage.Needs), independently of the other courses: a course's DVH starts
//     as soon as its own upstream stages are done. Cohort stages after the course stages
//     (aggregation) wait for every course.
//   - Among the ready jobs the earliest course of the manifest (short courses first) wins, then
//     the earliest stage. A ready job that does not fit in the free threads may be overtaken by
//     later jobs that fit (backfilling), at most Options.MaxOvertakes times; then it reserves
//     the threads and nothing behind it starts until it has started.
//   - A failed job fails only its course: the course's downstream stages record
//     "skipped: upstream <stage> failed"; the other courses go on.
//   - A course stage whose sentinel says "ok" is resumed (not run) unless Options.ForceRedo or an
//     upstream stage of the course runs again in this run.
package scheduler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// Job statuses, in run_summary.json, events and the dry run.
const (
	// StatusOK: the job ran and succeeded.
	StatusOK = "ok"
	// StatusSkipped: the stage had nothing to do (e.g. no dose), or an upstream stage of the
	// course failed and the job did not run.
	StatusSkipped = "skipped"
	// StatusFailed: the job ran and failed (error, panic, timeout, or a failed outcome).
	StatusFailed = "failed"
	// StatusResumed: the job's sentinel already said "ok"; it was not run.
	StatusResumed = "resumed"
	// StatusCancelled: the run was cancelled before the job finished (or started).
	StatusCancelled = "cancelled"
)

// DefaultMaxOvertakes is the backfilling bound used when Options.MaxOvertakes is 0: a ready job
// that does not fit in the free threads lets at most this many later jobs start ahead of it.
const DefaultMaxOvertakes = 4

// Default time limits of one job (Options.Timeouts overrides them per stage; 0 = none).
const (
	// DefaultCourseTimeout applies to course stages without a configuration key of their own
	// (dvh, qc, crop_ct, structures, …): one course takes seconds to minutes, so a job still
	// running after two hours is taken to be hung.
	DefaultCourseTimeout = 2 * time.Hour
	// DefaultRadiomicsTimeout applies to radiomics and radiomics_robustness: every ROI already has
	// radiomics.roi_timeout_seconds, and a course with many large ROIs on few threads may
	// legitimately take hours.
	DefaultRadiomicsTimeout = 12 * time.Hour
)

// Options control a run.
type Options struct {
	// Config is the effective configuration (dicom_root, output_dir, the budget, threads and
	// gates). Required.
	Config *config.Config
	// Cores is the number of logical cores the run may use; <= 0 means runtime.NumCPU().
	Cores int
	// Stages, when not empty, restricts the run to the named stages. Stages left out are neither
	// run nor waited for: a selected stage whose upstream output is missing reports that as its
	// own failure (an unselected upstream stage whose sentinel says failed still skips it).
	// Empty = every stage the configuration enables.
	Stages []string
	// CourseFilter limits the run to one patient ("P") or one course ("P/C"), by patient ID or
	// folder name; organize then writes only those courses. "" = every course.
	CourseFilter string
	// ForceRedo runs course stages (and cohort stages after them) even when their sentinel
	// already says "ok".
	ForceRedo bool
	// Timeouts sets the time limit of one job per stage name, overriding DefaultTimeout;
	// 0 = no limit.
	Timeouts map[string]time.Duration
	// Threads overrides the threads of one job per stage name (still clipped to [1, budget]).
	// Nil = Stage.Threads, i.e. the configuration. Tests use it; the CLI does not.
	Threads map[string]int
	// MaxOvertakes bounds backfilling: how many later jobs may start ahead of a ready job that
	// does not fit in the free threads before it reserves them. 0 = DefaultMaxOvertakes;
	// negative = no backfilling (strict priority order).
	MaxOvertakes int
	// LogsDir is the folder of the per-job logs; "" = DefaultLogsDir(Config).
	LogsDir string
	// OnEvent, when set, is told when a job is planned, starts and finishes. It is called from one
	// goroutine at a time and must return quickly.
	OnEvent func(Event)
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds. Every job is Planned once and Finished once; only jobs that run are Started.
const (
	// EventPlanned: the job is part of the run.
	EventPlanned EventKind = iota
	// EventStarted: the job started.
	EventStarted
	// EventFinished: the job is done (ok, skipped, failed, resumed or cancelled).
	EventFinished
)

// Event reports one job's progress to Options.OnEvent.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Stage is the stage name.
	Stage string
	// Course is "<patient>/<course>", "" for cohort jobs.
	Course string
	// Threads is the job's threads.
	Threads int
	// Status (Finished only) is one of the Status constants.
	Status string
	// Reason (Finished only) explains any status but a plain "ok".
	Reason string
	// Duration (Finished only) is how long the job ran; 0 when it did not run.
	Duration time.Duration
}

// DefaultLogsDir is the folder of the per-job logs: logs_dir when the configuration sets it
// (config file, environment or flag), else <output_dir>/Logs, so that a run's logs stay with its
// output instead of landing in the working directory.
func DefaultLogsDir(cfg *config.Config) string {
	if cfg.Provenance()["logs_dir"] != "default" && cfg.LogsDir != "" {
		return cfg.LogsDir
	}
	return filepath.Join(cfg.OutputDir, "Logs")
}

// JobLogPath is the log of one job: <logs>/<stage>/<patient>_<course>.log for course jobs,
// <logs>/<stage>.log for cohort jobs (the paths of workflow/Snakefile).
func JobLogPath(logsDir, stage, course string) string {
	if course == "" {
		return filepath.Join(logsDir, stage+".log")
	}
	return filepath.Join(logsDir, stage, strings.ReplaceAll(course, "/", "_")+".log")
}

// DefaultTimeout is the time limit of one job of st: segmentation.timeout_seconds for stages of
// the seg_workers gate, custom_models.timeout_seconds for custom_seg_workers (0 there = none),
// DefaultRadiomicsTimeout for radiomics and radiomics_robustness, DefaultCourseTimeout for other
// course stages, and none for cohort stages, whose time grows with the cohort.
func DefaultTimeout(st *pipeline.Stage, cfg *config.Config) time.Duration {
	switch {
	case st.Gate == pipeline.GateSeg:
		return time.Duration(cfg.Segmentation.TimeoutSeconds) * time.Second
	case st.Gate == pipeline.GateCustomSeg:
		return time.Duration(cfg.CustomModels.TimeoutSeconds) * time.Second
	case st.Scope == pipeline.Cohort:
		return 0
	case st.Name == "radiomics" || st.Name == "radiomics_robustness":
		return DefaultRadiomicsTimeout
	}
	return DefaultCourseTimeout
}

// MatchCourse tells whether a manifest course matches a course filter: "" matches every course,
// "P" every course of the patient with ID or folder name P, "P/C" the course C of that patient.
// The same rule as organize's --course-filter (a patient ID may itself contain '/').
func MatchCourse(filter string, c organize.ManifestCourse) bool {
	if filter == "" || filter == c.Path || filter == c.Patient || filter == c.PatientID {
		return true
	}
	p, course, ok := strings.Cut(filter, "/")
	return ok && (p == c.Patient || p == c.PatientID) && course == c.Course
}

// Run runs the stages of table (pipeline.Table(), or instrumented stages in tests) over the
// cohort and writes _RESULTS/run_summary.json. Job failures do not make Run fail: they are in
// the summary, whose Status is then "failed". The error is non-nil when the run could not be
// carried out (invalid options, no manifest to read) or was cancelled (ctx.Err()); the summary
// is returned, and written, whenever jobs were planned.
func Run(ctx context.Context, table []pipeline.Stage, opts Options) (*Summary, error) {
	r, err := newRunner(table, opts)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	var all []*job

	// Phase 1: the cohort stages that produce the course list (organize).
	pre := r.preJobs()
	all = append(all, pre...)
	r.planned(pre)
	r.execute(ctx, pre)
	preOK := true
	for _, j := range pre {
		preOK = preOK && (j.status == StatusOK || j.status == StatusSkipped || j.status == StatusResumed)
	}

	// Phase 2: the course stages, then the cohort stages after them.
	var runErr error
	var nCourses int
	switch {
	case ctx.Err() != nil:
		runErr = ctx.Err()
	case !preOK:
		// organize failed: no course list to work on; the summary says why.
	default:
		courses, err := r.courses()
		if err != nil {
			runErr = err
			break
		}
		nCourses = len(courses)
		rest := r.courseJobs(courses, len(all))
		all = append(all, rest...)
		r.planned(rest)
		r.execute(ctx, rest)
		if ctx.Err() != nil {
			runErr = ctx.Err()
		}
	}
	sum := r.summary(all, nCourses, started, time.Now())
	if len(all) > 0 {
		if err := writeSummary(r.outDir, sum); err != nil && runErr == nil {
			runErr = fmt.Errorf("writing the run summary: %w", err)
		}
	}
	return sum, runErr
}

// resolveCores resolves Options.Cores.
func resolveCores(n int) int {
	if n <= 0 {
		return runtime.NumCPU()
	}
	return n
}

// firstLine is the first line of a sentinel, trimmed; "" when the file is absent or empty.
func firstLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line)
}

// oneLine folds a reason onto one line, as sentinels need.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
