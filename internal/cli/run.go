package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/scheduler"
)

// runFlags are the flags of `rtpipeline run`.
type runFlags struct {
	dicomRoot, outDir, logs, cores, courseFilter string
	stages, timeouts                             []string
	dryRun, forceRedo                            bool
}

func (f *runFlags) overrides() []config.Override {
	var ov []config.Override
	if f.dicomRoot != "" {
		ov = append(ov, config.Override{Key: "dicom_root", Value: f.dicomRoot, Source: "flag --dicom-root"})
	}
	if f.outDir != "" {
		ov = append(ov, config.Override{Key: "output_dir", Value: f.outDir, Source: "flag --outdir"})
	}
	if f.logs != "" {
		ov = append(ov, config.Override{Key: "logs_dir", Value: f.logs, Source: "flag --logs"})
	}
	return ov
}

// options turns the flags into scheduler options.
func (f *runFlags) options(cfg *config.Config) (scheduler.Options, error) {
	n, err := parseCores(f.cores)
	if err != nil {
		return scheduler.Options{}, err
	}
	to, err := parseTimeouts(f.timeouts)
	if err != nil {
		return scheduler.Options{}, err
	}
	var stages []string
	for _, s := range f.stages {
		if s = strings.TrimSpace(s); s != "" {
			stages = append(stages, s)
		}
	}
	return scheduler.Options{Config: cfg, Cores: n, Stages: stages, CourseFilter: f.courseFilter, ForceRedo: f.forceRedo, Timeouts: to}, nil
}

// parseCores reads --cores: "all" (the CPU count) or a positive integer.
func parseCores(s string) (int, error) {
	if s == "" || strings.EqualFold(s, "all") {
		return runtime.NumCPU(), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--cores must be a positive integer or all, not %q", s)
	}
	return n, nil
}

// parseTimeouts reads --timeout STAGE=DURATION flags (0 = no limit).
func parseTimeouts(list []string) (map[string]time.Duration, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]time.Duration{}
	for _, item := range list {
		name, val, ok := strings.Cut(item, "=")
		d, err := time.ParseDuration(strings.TrimSpace(val))
		if !ok || err != nil || d < 0 {
			return nil, fmt.Errorf("--timeout %q: want STAGE=DURATION, e.g. dvh=30m (0 = no limit)", item)
		}
		out[strings.TrimSpace(name)] = d
	}
	return out, nil
}

func newRunCommand(g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run --dicom-root IN --outdir OUT [--config FILE] [--cores N|all] [--max-workers N] [--stages LIST] [--course-filter P[/C]] [--dry-run] [--force-redo]",
		Short: "Run the whole pipeline over a cohort with the embedded scheduler",
		Long: `run organises IN into courses under OUT, then runs every enabled stage on every course, as
Snakemake runs workflow/Snakefile but without it: all jobs share one worker budget
(min(max_workers, cores - scheduler.reserved_cores)), each job takes its stage's threads, gates
such as seg_workers bound how many jobs of a stage run at once, and each course moves to its next
stage as soon as its own upstream stages are done, short courses first.

A stage whose sentinel already says "ok" is not run again (--force-redo runs it). A failed job
fails only its course: that course's later stages record "skipped: upstream <stage> failed",
the other courses go on, and the exit code is non-zero. Ctrl-C stops starting jobs, cancels the
running ones and waits for them; a rerun resumes.

Each job logs to <logs>/<stage>/<patient>_<course>.log (logs: logs_dir when set, else OUT/Logs);
OUT/_RESULTS/run_summary.json records every job, per-stage counts and times, and how busy the
budget was. --dry-run prints the jobs that would run, with threads, gates and reasons, and runs
nothing. See docs/scheduler.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(cmd, f.overrides()...)
			if err != nil {
				return err
			}
			opts, err := f.options(cfg)
			if err != nil {
				return err
			}
			if f.dryRun {
				plan, err := scheduler.DryRun(pipeline.Table(), opts)
				if err != nil {
					return err
				}
				return plan.Print(g.stdout)
			}
			sum, err := g.runPipeline(cmd, cfg, opts)
			if err != nil {
				return err
			}
			return summaryError(sum, cfg.OutputDir)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dicomRoot, "dicom-root", "", "folder holding the DICOM export (default: dicom_root of the config)")
	fl.StringVar(&f.outDir, "outdir", "", "output folder (default: output_dir of the config)")
	fl.StringVar(&f.logs, "logs", "", "folder of the job logs (default: logs_dir when set, else OUT/Logs)")
	fl.StringVar(&f.cores, "cores", "all", "machine cores to use: N or all (the CPU count); the budget is derived from it")
	fl.StringSliceVar(&f.stages, "stages", nil, "run only these stages, comma-separated (default: every enabled stage)")
	fl.StringVar(&f.courseFilter, "course-filter", "", "only PATIENT or PATIENT/COURSE (IDs or folder names)")
	fl.BoolVarP(&f.dryRun, "dry-run", "n", false, "print the jobs that would run, with threads, gates and reasons; run nothing")
	fl.BoolVar(&f.forceRedo, "force-redo", false, "run stages whose sentinel already says ok")
	fl.StringArrayVar(&f.timeouts, "timeout", nil, "time limit of one job of a stage, STAGE=DURATION (e.g. dvh=30m; 0 = none); repeatable")
	return cmd
}

// summaryError is the command's error for a run whose jobs did not all succeed.
func summaryError(sum *scheduler.Summary, outDir string) error {
	switch sum.Status {
	case scheduler.StatusOK:
		return nil
	case scheduler.StatusCancelled:
		return fmt.Errorf("run cancelled")
	}
	n := sum.Count(scheduler.StatusFailed)
	return fmt.Errorf("%d job(s) failed, %d course(s) affected (see %s)", n, sum.CoursesFailed, filepath.Join(outDir, scheduler.SummaryFile))
}

// runPipeline runs the stage table through the scheduler with a progress display on stderr and
// prints the outcome on stdout. run and demo share it.
func (g *globalFlags) runPipeline(cmd *cobra.Command, cfg *config.Config, opts scheduler.Options) (*scheduler.Summary, error) {
	if opts.LogsDir == "" {
		opts.LogsDir = scheduler.DefaultLogsDir(cfg)
	}
	tty := isTerminal(g.stderr)
	console := &switchWriter{w: g.stderr}
	disp := newRunDisplay(g.stderr, tty)
	if tty {
		console.set(disp.pool) // log lines above the bars
	}
	gl := *g
	gl.stderr, gl.logs = console, opts.LogsDir
	closeLog, err := gl.setupLogging("run")
	if err != nil {
		return nil, err
	}
	defer closeLog()
	opts.OnEvent = disp.event
	budget := cfg.WorkerBudget(max(opts.Cores, 1))
	slog.Info("run", "output", cfg.OutputDir, "cores", opts.Cores, "budget", budget, "logs", opts.LogsDir)
	sum, runErr := scheduler.Run(cmd.Context(), pipeline.Table(), opts)
	disp.finish()
	console.set(g.stderr)
	if sum != nil && len(sum.Jobs) > 0 {
		printSummary(g.stdout, cfg.OutputDir, opts.LogsDir, sum)
	}
	if runErr != nil && cmd.Context().Err() != nil {
		runErr = fmt.Errorf("run interrupted (%w): run the same command again to resume", runErr)
	}
	return sum, runErr
}

// printSummary writes the per-stage counts, the failed jobs and where to look.
func printSummary(w io.Writer, outDir, logsDir string, sum *scheduler.Summary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tjobs\tok\tskipped\tfailed\tresumed\tcancelled\tthreads\twall")
	for _, s := range sum.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1fs\n", s.Stage, s.Jobs, s.OK, s.Skipped, s.Failed, s.Resumed, s.Cancelled, s.Threads, s.WallSeconds)
	}
	tw.Flush()
	for _, j := range sum.Jobs {
		if j.Status == scheduler.StatusFailed {
			name := j.Stage
			if j.Course != "" {
				name += " " + j.Course
			}
			fmt.Fprintf(w, "failed: %s: %s (log: %s)\n", name, j.Reason, scheduler.JobLogPath(logsDir, j.Stage, j.Course))
		}
	}
	fmt.Fprintf(w, "%s: %d courses (%d failed) in %.1fs; budget %d threads on %d cores, %.0f%% busy\n",
		sum.Status, sum.Courses, sum.CoursesFailed, sum.WallSeconds, sum.WorkerBudget, sum.Cores, 100*sum.BudgetBusy)
	fmt.Fprintf(w, "summary: %s\nlogs: %s\n", filepath.Join(outDir, scheduler.SummaryFile), logsDir)
}

// switchWriter is a writer whose destination can change (the progress display while it is
// drawn, stderr afterwards).
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

// runDisplay shows the run's progress: on a terminal one bar per stage with done / total,
// running, queued, failed and an ETA; otherwise one log line per job start and end.
type runDisplay struct {
	mu      sync.Mutex
	tty     bool
	pool    *mpb.Progress
	stages  map[string]*stageProgress
	started map[string]bool
}

// stageProgress is one stage's counters; its bar reads them.
type stageProgress struct {
	bar                          *mpb.Bar
	total, done, running, failed int
	ranSeconds                   float64
	ran                          int
	complete                     bool
}

func newRunDisplay(w io.Writer, tty bool) *runDisplay {
	d := &runDisplay{tty: tty, stages: map[string]*stageProgress{}, started: map[string]bool{}}
	if tty {
		d.pool = mpb.New(mpb.WithOutput(w), mpb.WithWidth(30))
	}
	return d
}

// event is the scheduler's OnEvent.
func (d *runDisplay) event(e scheduler.Event) {
	if !d.tty {
		switch {
		case e.Kind == scheduler.EventStarted:
			slog.Info("job started", "stage", e.Stage, "course", e.Course, "threads", e.Threads)
		case e.Kind == scheduler.EventFinished && (e.Duration > 0 || e.Status == scheduler.StatusSkipped):
			level := slog.LevelInfo
			if e.Status == scheduler.StatusFailed {
				level = slog.LevelWarn
			}
			slog.Log(context.Background(), level, "job finished", "stage", e.Stage, "course", e.Course, "status", e.Status, "reason", e.Reason,
				"seconds", fmt.Sprintf("%.1f", e.Duration.Seconds()))
		}
		return
	}
	// Events come from one goroutine. d.mu guards the counters the decorators read; it is never
	// held while calling into mpb, whose render goroutine calls the decorators.
	sp := d.stages[e.Stage]
	if sp == nil {
		sp = &stageProgress{}
		bar := d.pool.AddBar(0,
			mpb.PrependDecorators(decor.Name(e.Stage, decor.WC{W: 12, C: decor.DindentRight}), decor.Any(d.counts(sp), decor.WC{W: 10})),
			mpb.AppendDecorators(decor.Any(d.detail(sp))))
		d.mu.Lock()
		sp.bar = bar
		d.stages[e.Stage] = sp
		d.mu.Unlock()
	}
	key := e.Stage + " " + e.Course
	d.mu.Lock()
	total, done, complete := -1, -1, false
	switch e.Kind {
	case scheduler.EventPlanned:
		sp.total++
		total = sp.total
	case scheduler.EventStarted:
		sp.running++
		d.started[key] = true
	case scheduler.EventFinished:
		if d.started[key] {
			sp.running--
			sp.ran++
			sp.ranSeconds += e.Duration.Seconds()
		}
		sp.done++
		if e.Status == scheduler.StatusFailed {
			sp.failed++
		}
		done = sp.done
		if sp.done == sp.total && !sp.complete {
			sp.complete, complete = true, true
		}
	}
	d.mu.Unlock()
	switch {
	case total >= 0:
		sp.bar.SetTotal(int64(total), false)
	case complete:
		sp.bar.SetTotal(int64(done), true)
	case done >= 0:
		sp.bar.SetCurrent(int64(done))
	}
}

func (d *runDisplay) counts(sp *stageProgress) decor.DecorFunc {
	return func(decor.Statistics) string {
		d.mu.Lock()
		defer d.mu.Unlock()
		return fmt.Sprintf("%d/%d", sp.done, sp.total)
	}
}

func (d *runDisplay) detail(sp *stageProgress) decor.DecorFunc {
	return func(decor.Statistics) string {
		d.mu.Lock()
		defer d.mu.Unlock()
		queued := sp.total - sp.done - sp.running
		s := fmt.Sprintf("running %d  queued %d", sp.running, queued)
		if sp.failed > 0 {
			s += fmt.Sprintf("  failed %d", sp.failed)
		}
		switch {
		case sp.complete:
			s += "  done"
		case sp.ran > 0 && sp.running+queued > 0:
			// Mean job time × jobs left, spread over the jobs running side by side.
			left := sp.ranSeconds / float64(sp.ran) * float64(sp.running+queued) / float64(max(sp.running, 1))
			s += "  ETA " + time.Duration(left*float64(time.Second)).Round(time.Second).String()
		}
		return s
	}
}

// finish completes every bar and waits for the display to be drawn.
func (d *runDisplay) finish() {
	if !d.tty {
		return
	}
	var open []*stageProgress
	d.mu.Lock()
	for _, sp := range d.stages {
		if !sp.complete {
			sp.complete = true
			open = append(open, sp)
		}
	}
	d.mu.Unlock()
	for _, sp := range open {
		sp.bar.SetTotal(-1, true)
	}
	d.pool.Wait()
}
