// Package pipeline is the table of rtpipeline's stages: what each needs, how many threads one
// job takes, which resource gate throttles it, its sentinel, and the code it runs. The embedded
// scheduler (internal/scheduler), the per-course commands and the Snakemake workflow
// (workflow/Snakefile, generated from this table) all read it, so they cannot disagree.
//
// A stage that is not implemented yet is absent from the table.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/rtpipeline/rtpipeline/internal/aggregate"
	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/dvh"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/qc"
	radstage "github.com/rtpipeline/rtpipeline/internal/radiomics/stage"
	"github.com/rtpipeline/rtpipeline/internal/segmentation"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

// Scope says whether a stage runs once per cohort or once per course.
type Scope string

// Stage scopes.
const (
	// Cohort stages run once: organize first (it produces the courses), aggregate last.
	Cohort Scope = "cohort"
	// Course stages run once per organised course.
	Course Scope = "course"
)

// Gates are named resource pools that bound how many jobs of the stages using them run at once,
// independently of threads (Snakemake resources of the same names).
const (
	GateSeg       = "seg_workers"
	GateCustomSeg = "custom_seg_workers"
	// GateRadiomics bounds the radiomics jobs running at once (radiomics.max_parallel_courses):
	// each job already fans out over its ROIs, and memory grows with every job.
	GateRadiomics = "radiomics_workers"
)

// Job is one unit of work: a stage for one course (or the cohort).
type Job struct {
	// OutDir is the output root (holding _COURSES/manifest.json).
	OutDir string
	// Course is the course's path relative to OutDir ("<patient>/<course>"); empty for cohort jobs.
	Course string
	// Threads is the number of workers the job may use; it uses exactly that many.
	Threads int
	// Config is the effective configuration.
	Config *config.Config
	// CourseFilter, for cohort jobs, limits the job to the courses of one patient or one course
	// ("P" or "P/C", IDs or folder names): organize writes only those. "" = every course.
	CourseFilter string
}

// CourseDir returns the course's folder.
func (j Job) CourseDir() string { return filepath.Join(j.OutDir, filepath.FromSlash(j.Course)) }

// Outcome is what a stage reports for one job. Status is "ok", "skipped" (nothing to do, e.g. a
// course without dose: not an error) or "failed"; Reason explains anything but a plain "ok".
type Outcome struct {
	Status string
	Reason string
}

// Stage is one row of the stage table.
type Stage struct {
	// Name is the stage's name, also its command (`rtpipeline <name>`) and Snakemake rule stem.
	Name string
	// Scope is Cohort or Course.
	Scope Scope
	// Needs are the stages that must have finished for the same course (or, for a cohort stage
	// after the courses, every course) before this one starts. organize is implicit for course
	// stages.
	Needs []string
	// After are stages of the same course this one waits for without depending on them: it
	// runs whatever their outcome (DVH, radiomics and QC after segmentation, so a course with a
	// manual structure set keeps them when segmentation fails). A rerun of one of them reruns
	// this stage too.
	After []string
	// ThreadsKey names the configuration key of the stage's thread cap ("" = the whole budget).
	ThreadsKey string
	// Gate is the resource gate the stage's jobs hold ("" = none).
	Gate string
	// Sentinel is the file (in the course folder, or for cohort stages in OutDir) whose first
	// line records the outcome: "ok", "skipped: <reason>" or "failed: <reason>".
	Sentinel string
	// Enabled tells whether the configuration turns the stage on.
	Enabled func(cfg *config.Config) bool
	// Run does the job. Stages write their own sentinel; the scheduler writes it only when Run
	// returns an error (failed) or when the stage is skipped because an upstream stage failed.
	Run func(ctx context.Context, job Job) (Outcome, error)
}

// Threads is the number of threads one job of the stage takes on a machine with `cores` cores:
// the stage's cap clipped to the worker budget.
func (s *Stage) Threads(cfg *config.Config, cores int) int { return cfg.StageThreads(s.Name, cores) }

// GateSize is the number of jobs the stage's gate admits at once (0 when the stage has no gate).
func (s *Stage) GateSize(cfg *config.Config, cores int) int {
	switch s.Gate {
	case GateSeg:
		return cfg.SegWorkers(cores)
	case GateCustomSeg:
		return cfg.CustomSegWorkers(cores)
	case GateRadiomics:
		return max(cfg.Radiomics.MaxParallelCourses, 1)
	}
	return 0
}

// loggerKey is the context key of a job's logger.
type loggerKey struct{}

// WithLogger returns a copy of ctx that carries the logger of one job. The embedded scheduler
// gives every job one that writes to the job's log file (Logs/<stage>/<patient>_<course>.log).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the job logger carried by ctx, else slog.Default(). Stage code logs through it
// so that its messages land in the job's own log.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// Table returns the stages in pipeline order.
func Table() []Stage {
	return []Stage{
		{
			Name:     "organize",
			Scope:    Cohort,
			Sentinel: filepath.Join("_COURSES", "manifest.json"),
			Enabled:  func(*config.Config) bool { return true },
			Run:      runOrganize,
		},
		{
			Name:     "segmentation",
			Scope:    Course,
			Gate:     GateSeg,
			Sentinel: segmentation.Sentinel,
			Enabled:  func(*config.Config) bool { return true },
			Run:      runSegmentation,
		},
		{
			Name:     "segmentation_custom",
			Scope:    Course,
			Gate:     GateCustomSeg,
			Sentinel: segmentation.CustomSentinel,
			Enabled:  func(c *config.Config) bool { return c.CustomModels.Enabled },
			Run:      runSegmentationCustom,
		},
		{
			Name:     "structures",
			Scope:    Course,
			After:    []string{"segmentation", "segmentation_custom"},
			Sentinel: structures.Sentinel,
			Enabled:  func(c *config.Config) bool { return c.CustomStructures != "" },
			Run:      runStructures,
		},
		{
			Name:       "dvh",
			Scope:      Course,
			After:      []string{"segmentation", "segmentation_custom", "structures"},
			ThreadsKey: "scheduler.dvh_threads_per_job",
			Sentinel:   dvh.Sentinel,
			Enabled:    func(*config.Config) bool { return true },
			Run:        runDVH,
		},
		{
			Name:       "radiomics",
			Scope:      Course,
			ThreadsKey: "scheduler.radiomics_threads_per_job",
			After:      []string{"segmentation", "segmentation_custom", "structures"},
			Gate:       GateRadiomics,
			Sentinel:   radstage.Sentinel,
			Enabled:    func(c *config.Config) bool { return c.Radiomics.Enabled },
			Run:        runRadiomics,
		},
		{
			Name:       "qc",
			Scope:      Course,
			ThreadsKey: "scheduler.qc_threads_per_job",
			Sentinel:   qc.Sentinel,
			Enabled:    func(*config.Config) bool { return true },
			Run:        runQC,
		},
		{
			Name:       "aggregate",
			Scope:      Cohort,
			ThreadsKey: "aggregation.threads",
			Sentinel:   filepath.Join("_RESULTS", aggregate.Sentinel),
			Enabled:    func(*config.Config) bool { return true },
			Run:        runAggregate,
		},
	}
}

func runSegmentation(ctx context.Context, job Job) (Outcome, error) {
	res, err := segmentation.RunCourse(ctx, job.CourseDir(), segmentation.OptionsFromConfig(job.Config, job.Threads))
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	return outcome(res.Status, res.Reason), nil
}

func runSegmentationCustom(ctx context.Context, job Job) (Outcome, error) {
	res, err := segmentation.RunCustomCourse(ctx, job.CourseDir(), segmentation.CustomOptionsFromConfig(job.Config, job.Threads))
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	return outcome(res.Status, res.Reason), nil
}

func runStructures(ctx context.Context, job Job) (Outcome, error) {
	res, err := structures.RunCourse(ctx, job.CourseDir(), structures.Options{Workers: job.Threads, DefinitionsFile: job.Config.CustomStructures})
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	return outcome(res.Status, res.Reason), nil
}

func runQC(ctx context.Context, job Job) (Outcome, error) {
	res, err := qc.RunCourse(ctx, job.CourseDir(), qc.Options{Workers: job.Threads})
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	return outcome(res.Status, res.Reason), nil
}

func runAggregate(ctx context.Context, job Job) (Outcome, error) {
	if _, err := aggregate.Run(ctx, job.OutDir, aggregate.Options{Workers: job.Threads}); err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	return Outcome{Status: "ok"}, nil
}

// Lookup returns the stage of that name.
func Lookup(name string) (*Stage, bool) {
	for _, s := range Table() {
		if s.Name == name {
			return &s, true
		}
	}
	return nil, false
}

func runOrganize(ctx context.Context, job Job) (Outcome, error) {
	cfg := job.Config
	ro := organize.RunOptions{Options: OrganizeOptions(cfg, job.Threads), IndexWorkers: min(cfg.IndexWorkers(job.Threads), job.Threads)}
	ro.CourseFilter = job.CourseFilter
	res, outcomes, err := organize.Run(ctx, cfg.DicomRoot, job.OutDir, ro)
	if res != nil {
		s := organize.BuildReport(res, outcomes).Summary
		Logger(ctx).Info("organize", "files", s.Files, "placed", s.Placed, "orphan", s.Orphan, "duplicate", s.Duplicate,
			"unreadable", s.Unreadable, "patients", s.Patients, "courses", s.Courses, "courses_ok", s.CoursesOK, "courses_failed", s.CoursesFailed)
	}
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	if res == nil {
		return Outcome{Status: "failed", Reason: "organize produced no result"}, errors.New("organize produced no result")
	}
	return Outcome{Status: "ok"}, nil
}

func runDVH(ctx context.Context, job Job) (Outcome, error) {
	res, err := dvh.RunCourse(ctx, job.CourseDir(), dvh.StageOptions{Workers: job.Threads})
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	Logger(ctx).Info("dvh", "status", res.Status, "reason", res.Reason, "rows", res.Rows, "workers", job.Threads)
	return outcome(res.Status, res.Reason), nil
}

func runRadiomics(ctx context.Context, job Job) (Outcome, error) {
	opts, err := radstage.OptionsFromConfig(job.Config, job.Threads)
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, fmt.Errorf("radiomics options: %w", err)
	}
	res, err := radstage.RunCourse(ctx, job.CourseDir(), opts)
	if err != nil {
		return Outcome{Status: "failed", Reason: err.Error()}, err
	}
	Logger(ctx).Info("radiomics", "status", res.Status, "reason", res.Reason, "ct_rows", res.CTRows, "mr_rows", res.MRRows,
		"rows_ok", res.OK, "rows_skipped", res.Skipped, "rows_failed", res.Failed, "workers", opts.Workers)
	return outcome(res.Status, res.Reason), nil
}

// outcome maps a stage's own status words onto the scheduler's three.
func outcome(status, reason string) Outcome {
	switch status {
	case "ok", "degraded":
		return Outcome{Status: "ok", Reason: reason}
	case "skipped":
		return Outcome{Status: "skipped", Reason: reason}
	}
	return Outcome{Status: "failed", Reason: reason}
}

// OrganizeOptions maps the configuration onto organize.Options for a job of `workers` threads.
func OrganizeOptions(cfg *config.Config, workers int) organize.Options {
	o := organize.DefaultOptions()
	oc := cfg.Organize
	o.MergeCriteria = string(oc.MergeCriteria)
	o.MaxDays = -1
	if oc.MaxDays != nil {
		o.MaxDays = *oc.MaxDays
	}
	o.Hardlink = oc.Hardlink
	o.ReplanKeywords, o.BoostKeywords = oc.ReplanKeywords, oc.BoostKeywords
	o.BoostRxRatio, o.ReplanRxSimilarity, o.MinDoseOverlap = oc.BoostRxRatio, oc.ReplanRxSimilarity, oc.MinDoseOverlap
	o.PrioritizeShortCourses = cfg.Scheduler.PrioritizeShortCourses
	o.Workers = max(workers, 1)
	return o
}
