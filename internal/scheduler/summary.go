package scheduler

import (
	"encoding/json"
	"math"
	"path/filepath"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/version"
)

// SummaryFile is where Run writes the summary, relative to the output folder.
var SummaryFile = filepath.Join("_RESULTS", "run_summary.json")

// Summary is _RESULTS/run_summary.json: what a run did, per stage and per job. Its fields are
// written in declaration order.
type Summary struct {
	// Version is the rtpipeline version.
	Version string `json:"rtpipeline_version"`
	// Status is "ok", "failed" (a job failed, or a course could not go through its stages) or
	// "cancelled".
	Status string `json:"status"`
	// Started and Finished bound the run (UTC).
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// WallSeconds is Finished − Started.
	WallSeconds float64 `json:"wall_seconds"`
	// Cores is the number of cores the run was given; WorkerBudget the budget derived from it.
	Cores        int `json:"cores"`
	WorkerBudget int `json:"worker_budget"`
	// Gates lists the gates of the selected stages and how many jobs each admits.
	Gates []Gate `json:"gates"`
	// BusyThreadSeconds is the sum over the jobs that ran of threads × duration.
	BusyThreadSeconds float64 `json:"busy_thread_seconds"`
	// BudgetBusy is how busy the budget was: BusyThreadSeconds / (WallSeconds × WorkerBudget),
	// between 0 and 1.
	BudgetBusy float64 `json:"budget_busy_fraction"`
	// StagesSelected is --stages (empty = every enabled stage); CourseFilter and ForceRedo the
	// options of the same names.
	StagesSelected []string `json:"stages_selected"`
	CourseFilter   string   `json:"course_filter"`
	ForceRedo      bool     `json:"force_redo"`
	// Courses is the number of courses the run worked on; CoursesFailed those with a failed job
	// or a job skipped because an upstream stage failed.
	Courses       int `json:"courses"`
	CoursesFailed int `json:"courses_failed"`
	// Stages has one entry per stage of the run, in table order.
	Stages []StageSummary `json:"stages"`
	// Jobs has one record per job: cohort jobs before the courses, then every course in
	// manifest order with its stages in table order, then cohort jobs after the courses.
	Jobs []JobRecord `json:"jobs"`
}

// Gate is a resource gate and the number of jobs it admits at once.
type Gate struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// StageSummary counts one stage's jobs by status and times them.
type StageSummary struct {
	Stage   string `json:"stage"`
	Scope   string `json:"scope"`
	Threads int    `json:"threads"`
	Gate    string `json:"gate"`
	Jobs    int    `json:"jobs"`
	OK      int    `json:"ok"`
	Skipped int    `json:"skipped"`
	Failed  int    `json:"failed"`
	Resumed int    `json:"resumed"`
	// Cancelled counts jobs interrupted or never started because the run was cancelled.
	Cancelled int `json:"cancelled"`
	// WallSeconds spans the stage's first job start to its last job end (0 when none ran).
	WallSeconds float64 `json:"wall_seconds"`
	// JobSeconds sums the durations of its jobs; ThreadSeconds sums threads × duration.
	JobSeconds    float64 `json:"job_seconds"`
	ThreadSeconds float64 `json:"thread_seconds"`
}

// JobRecord is one job of the run.
type JobRecord struct {
	Stage string `json:"stage"`
	// Course is "<patient>/<course>", "" for cohort jobs.
	Course  string `json:"course"`
	Threads int    `json:"threads"`
	// Start and End are null for jobs that did not run.
	Start   *time.Time `json:"start"`
	End     *time.Time `json:"end"`
	Seconds float64    `json:"seconds"`
	Status  string     `json:"status"`
	Reason  string     `json:"reason"`
}

// Failed tells whether anything failed or the run was cancelled.
func (s *Summary) Failed() bool { return s.Status != StatusOK }

// Count returns how many jobs ended with status.
func (s *Summary) Count(status string) int {
	n := 0
	for _, j := range s.Jobs {
		if j.Status == status {
			n++
		}
	}
	return n
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func (r *runner) summary(jobs []*job, courses int, started, finished time.Time) *Summary {
	wall := finished.Sub(started).Seconds()
	s := &Summary{Version: version.Version, Status: StatusOK, Started: started.UTC(), Finished: finished.UTC(),
		WallSeconds: round3(wall), Cores: r.cores, WorkerBudget: r.budget, Gates: []Gate{},
		StagesSelected: append([]string{}, r.opts.Stages...), CourseFilter: r.opts.CourseFilter, ForceRedo: r.opts.ForceRedo,
		Courses: courses, Stages: []StageSummary{}, Jobs: []JobRecord{}}
	for _, g := range r.gateList {
		s.Gates = append(s.Gates, Gate{Name: g, Size: r.gates[g]})
	}
	stageAt := map[string]int{}
	first := map[string]time.Time{}
	last := map[string]time.Time{}
	for i := range r.table {
		st := &r.table[i]
		if !r.selected[st.Name] {
			continue
		}
		stageAt[st.Name] = len(s.Stages)
		s.Stages = append(s.Stages, StageSummary{Stage: st.Name, Scope: string(st.Scope), Threads: r.threadsOf(st), Gate: st.Gate})
	}
	failedCourse := map[string]bool{}
	busy := 0.0
	for _, j := range jobs {
		rec := JobRecord{Stage: j.stage.Name, Course: j.course, Threads: j.threads, Status: j.status, Reason: j.reason}
		ss := &s.Stages[stageAt[j.stage.Name]]
		ss.Jobs++
		switch j.status {
		case StatusOK:
			ss.OK++
		case StatusSkipped:
			ss.Skipped++
		case StatusFailed:
			ss.Failed++
		case StatusResumed:
			ss.Resumed++
		case StatusCancelled:
			ss.Cancelled++
		}
		if !j.start.IsZero() {
			st, en := j.start.UTC(), j.end.UTC()
			rec.Start, rec.End = &st, &en
			d := j.end.Sub(j.start).Seconds()
			rec.Seconds = round3(d)
			ss.JobSeconds += d
			ss.ThreadSeconds += d * float64(j.threads)
			busy += d * float64(j.threads)
			if f, ok := first[j.stage.Name]; !ok || j.start.Before(f) {
				first[j.stage.Name] = j.start
			}
			if l, ok := last[j.stage.Name]; !ok || j.end.After(l) {
				last[j.stage.Name] = j.end
			}
		}
		switch {
		case j.status == StatusCancelled:
			s.Status = StatusCancelled
		case j.status == StatusFailed || (j.status == StatusSkipped && j.root != ""):
			if s.Status == StatusOK {
				s.Status = StatusFailed
			}
			if j.course != "" {
				failedCourse[j.course] = true
			}
		}
		s.Jobs = append(s.Jobs, rec)
	}
	for i := range s.Stages {
		ss := &s.Stages[i]
		if f, ok := first[ss.Stage]; ok {
			ss.WallSeconds = round3(last[ss.Stage].Sub(f).Seconds())
		}
		ss.JobSeconds, ss.ThreadSeconds = round3(ss.JobSeconds), round3(ss.ThreadSeconds)
	}
	s.CoursesFailed = len(failedCourse)
	s.BusyThreadSeconds = round3(busy)
	if wall > 0 && r.budget > 0 {
		s.BudgetBusy = round3(min(busy/(wall*float64(r.budget)), 1))
	}
	return s
}

func writeSummary(outDir string, s *Summary) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(outDir, SummaryFile), append(data, '\n'), 0o644)
}
