package scheduler

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// Plan is what a run would do: every job with its threads, gate and why it would run, be resumed
// or be skipped, plus the budget and gate sizes. DryRun builds it without running or writing
// anything.
type Plan struct {
	// Cores is the number of cores; WorkerBudget the budget; ReservedCores and MaxWorkers the
	// settings it comes from (MaxWorkers nil = no cap).
	Cores         int
	WorkerBudget  int
	ReservedCores int
	MaxWorkers    *int
	// MaxOvertakes is the backfilling bound (-1 = no backfilling).
	MaxOvertakes int
	// ParallelCourses is scheduler.parallel_courses (0 = no bound).
	ParallelCourses int
	// Gates lists the gates of the selected stages and their sizes.
	Gates []Gate
	// Jobs lists the jobs in the order of run_summary.json.
	Jobs []PlannedJob
	// CoursesPending is true when the course jobs are not known yet: organize runs first and
	// there is no manifest to read. ManifestNote says what the course list is based on.
	CoursesPending bool
	ManifestNote   string
	// LogsDir is the folder of the per-job logs.
	LogsDir string
}

// Actions of a planned job.
const (
	// ActionRun: the job would run.
	ActionRun = "run"
	// ActionResume: the job's sentinel says ok; it would be counted as resumed.
	ActionResume = "resume"
	// ActionSkip: an upstream stage failed; the job would record "skipped: upstream … failed".
	ActionSkip = "skip"
)

// PlannedJob is one job of a Plan.
type PlannedJob struct {
	Stage string
	// Course is "<patient>/<course>", "" for cohort jobs.
	Course   string
	Threads  int
	Gate     string
	Sentinel string
	Log      string
	// Action is ActionRun, ActionResume or ActionSkip; Reason says why.
	Action string
	Reason string
}

// DryRun plans a run of table with opts, as Run would, and returns the plan; it runs nothing and
// writes nothing. When organize is part of the run, the course jobs are planned from the
// existing manifest (organize may still add or change courses), or left pending without one.
func DryRun(table []pipeline.Stage, opts Options) (*Plan, error) {
	r, err := newRunner(table, opts)
	if err != nil {
		return nil, err
	}
	p := &Plan{Cores: r.cores, WorkerBudget: r.budget, ReservedCores: r.cfg.Scheduler.ReservedCores, MaxWorkers: r.cfg.MaxWorkers,
		MaxOvertakes: r.maxOvertakes, ParallelCourses: r.parallelCourses, LogsDir: r.logsDir}
	for _, g := range r.gateList {
		p.Gates = append(p.Gates, Gate{Name: g, Size: r.gates[g]})
	}
	jobs := r.preJobs()
	_, statErr := organize.ReadManifest(r.outDir)
	switch {
	case len(jobs) > 0 && errors.Is(statErr, fs.ErrNotExist):
		p.CoursesPending = true
		p.ManifestNote = "no course manifest yet: the course jobs are planned once organize has written it"
	default:
		courses, err := r.courses()
		if err != nil {
			return nil, err
		}
		if len(jobs) > 0 {
			p.ManifestNote = "course jobs planned from the existing manifest; organize runs first and may add or change courses"
		}
		jobs = append(jobs, r.courseJobs(courses, len(jobs))...)
	}
	for _, j := range jobs {
		pj := PlannedJob{Stage: j.stage.Name, Course: j.course, Threads: j.threads, Gate: j.gate, Sentinel: j.sentinel,
			Log: JobLogPath(r.logsDir, j.stage.Name, j.course), Reason: j.why}
		switch j.act {
		case actRun:
			pj.Action = ActionRun
		case actResume:
			pj.Action = ActionResume
		case actSkip:
			pj.Action = ActionSkip
		}
		p.Jobs = append(p.Jobs, pj)
	}
	return p, nil
}

// Print writes the plan the way `snakemake -n` prints its DAG: one block per job that would run
// (stage, course, threads, gate, sentinel, log, reason), the jobs that would not run with the
// reason, the budget and gates, and a count of jobs per stage.
func (p *Plan) Print(w io.Writer) error {
	ew := &errWriter{w: w}
	mw := "null"
	if p.MaxWorkers != nil {
		mw = fmt.Sprint(*p.MaxWorkers)
	}
	fmt.Fprintf(ew, "Worker budget: %d threads (cores %d, scheduler.reserved_cores %d, max_workers %s)\n", p.WorkerBudget, p.Cores, p.ReservedCores, mw)
	var gates []string
	for _, g := range p.Gates {
		gates = append(gates, fmt.Sprintf("%s=%d", g.Name, g.Size))
	}
	if len(gates) == 0 {
		gates = []string{"none"}
	}
	fmt.Fprintf(ew, "Gates: %s\n", strings.Join(gates, ", "))
	switch {
	case p.MaxOvertakes < 0:
		fmt.Fprintln(ew, "Backfilling: off (strict priority order)")
	default:
		fmt.Fprintf(ew, "Backfilling: a ready job that does not fit may be overtaken %d times, then it reserves the threads\n", p.MaxOvertakes)
	}
	if p.ParallelCourses > 0 {
		fmt.Fprintf(ew, "Courses in flight: at most %d (scheduler.parallel_courses)\n", p.ParallelCourses)
	}
	fmt.Fprintf(ew, "Logs: %s\n", p.LogsDir)
	if p.ManifestNote != "" {
		fmt.Fprintf(ew, "Note: %s\n", p.ManifestNote)
	}
	var notRun []PlannedJob
	id := 0
	for _, j := range p.Jobs {
		if j.Action != ActionRun {
			notRun = append(notRun, j)
			continue
		}
		id++
		fmt.Fprintf(ew, "\nrule %s:\n", j.Stage)
		fmt.Fprintf(ew, "    jobid: %d\n", id)
		if j.Course != "" {
			fmt.Fprintf(ew, "    course: %s\n", j.Course)
		}
		fmt.Fprintf(ew, "    output: %s\n", j.Sentinel)
		fmt.Fprintf(ew, "    log: %s\n", j.Log)
		fmt.Fprintf(ew, "    reason: %s\n", j.Reason)
		fmt.Fprintf(ew, "    threads: %d\n", j.Threads)
		if j.Gate != "" {
			fmt.Fprintf(ew, "    resources: %s=1\n", j.Gate)
		}
	}
	if p.CoursesPending {
		fmt.Fprintln(ew, "\n(course jobs: pending until organize has written the manifest)")
	}
	if len(notRun) > 0 {
		fmt.Fprintln(ew, "\nNot run:")
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		for _, j := range notRun {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", j.Action, j.Stage, orCohort(j.Course), j.Reason)
		}
		tw.Flush()
	}
	fmt.Fprintln(ew, "\nJob stats:")
	var stats bytes.Buffer
	tw := tabwriter.NewWriter(&stats, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\trun\tresume\tskip\tthreads\tgate")
	var order []string
	type row struct{ run, resume, skip, threads int }
	rows := map[string]*row{}
	gateOf := map[string]string{}
	var total row
	for _, j := range p.Jobs {
		rw := rows[j.Stage]
		if rw == nil {
			rw = &row{threads: j.Threads}
			rows[j.Stage] = rw
			order = append(order, j.Stage)
			gateOf[j.Stage] = j.Gate
		}
		for _, x := range []*row{rw, &total} {
			switch j.Action {
			case ActionRun:
				x.run++
			case ActionResume:
				x.resume++
			case ActionSkip:
				x.skip++
			}
		}
	}
	for _, s := range order {
		rw := rows[s]
		g := gateOf[s]
		for _, pg := range p.Gates {
			if pg.Name == g {
				g = fmt.Sprintf("%s=%d", g, pg.Size)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", s, rw.run, rw.resume, rw.skip, rw.threads, g)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\n", total.run, total.resume, total.skip)
	tw.Flush()
	for _, line := range strings.SplitAfter(stats.String(), "\n") {
		fmt.Fprint(ew, strings.TrimRight(line, " \n"), strings.Repeat("\n", strings.Count(line, "\n")))
	}
	fmt.Fprintln(ew, "\nThis was a dry run: nothing was run or written.")
	return ew.err
}

func orCohort(course string) string {
	if course == "" {
		return "(cohort)"
	}
	return filepath.ToSlash(course)
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return len(b), nil
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, nil
}
