package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// result is what a job's goroutine reports to the coordinator.
type result struct {
	j      *job
	status string
	reason string
	start  time.Time
	end    time.Time
	logErr error
}

func (r *runner) emit(e Event) {
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(e)
	}
}

// planned reports the jobs of a phase to OnEvent.
func (r *runner) planned(jobs []*job) {
	for _, j := range jobs {
		r.emit(Event{Kind: EventPlanned, Stage: j.stage.Name, Course: j.course, Threads: j.threads})
	}
}

// execute runs a phase's jobs to completion (or until ctx is cancelled and the running jobs
// have returned). Only this goroutine touches the coordinator state; each running job has a
// goroutine of its own that reports on r.done.
func (r *runner) execute(ctx context.Context, jobs []*job) {
	r.used, r.running, r.inflight = 0, 0, 0
	r.gateUsed = map[string]int{}
	r.ready = nil
	r.courseLeft = map[int]int{}
	r.courseStarted = map[int]bool{}
	r.done = make(chan result)
	for _, j := range jobs {
		j.waitOn = len(j.deps)
		if j.course != "" {
			r.courseLeft[j.courseIdx]++
		}
	}
	// Jobs settled by the plan, in topological order.
	for _, j := range jobs {
		if j.state == stateDone {
			continue
		}
		switch j.act {
		case actResume:
			r.finish(j, StatusResumed, j.why)
		case actSkip:
			r.skipUpstream(j, j.root)
		}
	}
	for _, j := range jobs {
		if j.state == statePending && j.act == actRun && j.waitOn == 0 {
			r.makeReady(j)
		}
	}
	for {
		if ctx.Err() == nil {
			r.dispatch(ctx)
		}
		if r.running == 0 {
			break
		}
		res := <-r.done
		r.used -= res.j.threads
		r.running--
		if res.j.gate != "" {
			r.gateUsed[res.j.gate]--
		}
		res.j.start, res.j.end = res.start, res.end
		if res.logErr != nil {
			slog.Warn("job log", "stage", res.j.stage.Name, "course", res.j.course, "err", res.logErr)
		}
		r.finish(res.j, res.status, res.reason)
	}
	for _, j := range jobs {
		switch {
		case j.state == stateDone:
		case ctx.Err() != nil:
			r.finish(j, StatusCancelled, "the run was cancelled before the job started")
		default:
			// Unreachable with a valid plan: every pending job's upstream jobs are in the phase.
			r.finish(j, StatusFailed, "internal error: the job's upstream jobs never finished")
		}
	}
}

// less orders ready jobs: earliest course of the manifest first, then earliest stage.
func less(a, b *job) bool {
	if a.courseIdx != b.courseIdx {
		return a.courseIdx < b.courseIdx
	}
	return a.stageIdx < b.stageIdx
}

func (r *runner) makeReady(j *job) {
	j.state = stateReady
	i := sort.Search(len(r.ready), func(i int) bool { return less(j, r.ready[i]) })
	r.ready = append(r.ready, nil)
	copy(r.ready[i+1:], r.ready[i:])
	r.ready[i] = j
}

// dispatch starts the jobs pick chooses.
func (r *runner) dispatch(ctx context.Context) {
	for _, j := range r.pick() {
		r.start(ctx, j)
	}
}

// pick removes from the ready list, and returns in priority order, the jobs to start now:
//
//   - a job whose gate is full, or whose course would exceed scheduler.parallel_courses, is
//     passed over (those limits do not depend on threads, so holding threads back would not
//     help it);
//   - a job that needs more threads than are free is passed over too, and every later job that
//     starts counts as overtaking it; once it has been overtaken MaxOvertakes times it reserves
//     the threads: nothing behind it starts until it has started (without backfilling, at once).
//
// It takes the picked jobs' threads and gate places; start does the rest.
func (r *runner) pick() []*job {
	free := r.budget - r.used
	var blocked, picked []*job
	keep := r.ready[:0]
	barrier := false
	newCourses := map[int]bool{}
	inflight := r.inflight
	for _, j := range r.ready {
		switch {
		case barrier || free == 0:
			keep = append(keep, j)
			continue
		case j.gate != "" && r.gateUsed[j.gate] >= r.gates[j.gate]:
			keep = append(keep, j)
			continue
		case r.parallelCourses > 0 && j.course != "" && !r.courseStarted[j.courseIdx] && !newCourses[j.courseIdx] && inflight >= r.parallelCourses:
			keep = append(keep, j)
			continue
		case j.threads > free:
			keep = append(keep, j)
			if r.maxOvertakes < 0 || j.overtaken >= r.maxOvertakes {
				barrier = true
			} else {
				blocked = append(blocked, j)
			}
			continue
		}
		free -= j.threads
		r.used += j.threads
		if j.gate != "" {
			r.gateUsed[j.gate]++
		}
		if j.course != "" && !r.courseStarted[j.courseIdx] && !newCourses[j.courseIdx] {
			newCourses[j.courseIdx] = true
			inflight++
		}
		for _, b := range blocked {
			b.overtaken++
			barrier = barrier || b.overtaken >= r.maxOvertakes
		}
		picked = append(picked, j)
	}
	clear(r.ready[len(keep):])
	r.ready = keep
	return picked
}

func (r *runner) start(ctx context.Context, j *job) {
	j.state = stateRunning
	r.running++
	if j.course != "" && !r.courseStarted[j.courseIdx] {
		r.courseStarted[j.courseIdx] = true
		r.inflight++
	}
	r.emit(Event{Kind: EventStarted, Stage: j.stage.Name, Course: j.course, Threads: j.threads})
	go func() { r.done <- r.runJob(ctx, j) }()
}

// finish records a job's outcome and passes it on: a failure (or an upstream failure) skips the
// course's downstream jobs; anything else but a cancellation counts as done for them. Cohort
// jobs after the courses wait for every course job, whatever its outcome.
func (r *runner) finish(j *job, status, reason string) {
	j.state, j.status, j.reason = stateDone, status, reason
	var d time.Duration
	if !j.start.IsZero() {
		d = j.end.Sub(j.start)
	}
	r.emit(Event{Kind: EventFinished, Stage: j.stage.Name, Course: j.course, Threads: j.threads, Status: status, Reason: reason, Duration: d})
	if j.course != "" {
		r.courseLeft[j.courseIdx]--
		if r.courseLeft[j.courseIdx] == 0 && r.courseStarted[j.courseIdx] {
			r.inflight--
		}
	}
	if status == StatusCancelled {
		return
	}
	root := ""
	switch {
	case status == StatusFailed:
		root = j.stage.Name
	case j.root != "" && status == StatusSkipped:
		root = j.root
	}
	for i, d := range j.down {
		if d.state == stateDone {
			continue
		}
		if root != "" && d.course != "" && !j.downSoft[i] {
			r.skipUpstream(d, root)
			continue
		}
		d.waitOn--
		if d.waitOn == 0 && d.state == statePending && d.act == actRun {
			r.makeReady(d)
		}
	}
}

// skipUpstream records "skipped: upstream <root> failed" in a course job's sentinel and passes
// the skip on.
func (r *runner) skipUpstream(j *job, root string) {
	j.root = root
	reason := "upstream " + root + " failed"
	if err := fsutil.WriteFileAtomic(j.sentinel, []byte("skipped: "+reason+"\n"), 0o644); err != nil {
		slog.Warn("recording a skipped job", "stage", j.stage.Name, "course", j.course, "err", err)
	}
	r.finish(j, StatusSkipped, reason)
}

// runJob runs one job in its own goroutine: per-job log, time limit, panic recovery, sentinel.
func (r *runner) runJob(ctx context.Context, j *job) result {
	res := result{j: j, start: time.Now()}
	var jctx context.Context
	var cancel context.CancelFunc
	if j.timeout > 0 {
		jctx, cancel = context.WithTimeout(ctx, j.timeout)
	} else {
		jctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	log, closeLog, err := openJobLog(JobLogPath(r.logsDir, j.stage.Name, j.course))
	res.logErr = err
	defer closeLog()
	jctx = pipeline.WithLogger(jctx, log)
	courseJob := j.course != ""
	if courseJob {
		// A stale sentinel ("failed", "skipped", or "ok" under force-redo) must not pass for this
		// run's outcome, nor survive an interruption.
		os.Remove(j.sentinel)
	}
	log.Info("job started", "stage", j.stage.Name, "course", j.course, "threads", j.threads, "gate", j.gate,
		"timeout", j.timeout.String(), "reason", j.why)
	pj := pipeline.Job{OutDir: r.outDir, Course: j.course, Threads: j.threads, Config: r.cfg}
	if !courseJob {
		pj.CourseFilter = r.opts.CourseFilter
	}
	o, runErr := safeRun(jctx, j, pj, log)
	res.end = time.Now()

	timedOut := ctx.Err() == nil && errors.Is(jctx.Err(), context.DeadlineExceeded)
	switch {
	case runErr == nil && (o.Status == "" || o.Status == StatusOK):
		res.status, res.reason = StatusOK, o.Reason
	case runErr == nil && o.Status == StatusSkipped:
		res.status, res.reason = StatusSkipped, o.Reason
	case ctx.Err() != nil:
		res.status, res.reason = StatusCancelled, "cancelled while running"
	case timedOut:
		res.status, res.reason = StatusFailed, fmt.Sprintf("timed out after %s", j.timeout)
	default:
		res.status, res.reason = StatusFailed, o.Reason
		if res.reason == "" && runErr != nil {
			res.reason = runErr.Error()
		}
		if res.reason == "" {
			res.reason = fmt.Sprintf("stage reported status %q", o.Status)
		}
	}
	if runErr != nil {
		log.Error("job error", "err", runErr)
	}
	if courseJob {
		if err := recordSentinel(j.sentinel, res.status, res.reason, timedOut); err != nil {
			log.Error("recording the outcome", "err", err)
			if res.status != StatusCancelled {
				res.status, res.reason = StatusFailed, "recording the outcome: "+err.Error()
			}
		}
	}
	log.Info("job finished", "status", res.status, "reason", res.reason, "seconds", res.end.Sub(res.start).Seconds())
	return res
}

// recordSentinel makes a course job's sentinel agree with its outcome. The stage normally wrote
// it; the scheduler writes it when the stage did not (or, for a failure, wrote something else
// than a failure), replaces it with the time limit on a timeout, and removes it when the job was
// cancelled, so an interrupted job never looks done and a rerun does it again.
func recordSentinel(path, status, reason string, timedOut bool) error {
	cur := firstLine(path)
	var want string
	switch status {
	case StatusOK:
		if cur != "" {
			return nil
		}
		want = "ok"
	case StatusSkipped:
		if cur != "" {
			return nil
		}
		want = "skipped: " + oneLine(reason)
	case StatusFailed:
		if strings.HasPrefix(cur, "failed") && !timedOut {
			return nil
		}
		want = "failed: " + oneLine(reason)
	case StatusCancelled:
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, []byte(want+"\n"), 0o644)
}

// safeRun calls the stage, turning a panic into a failure (with its stack in the job log).
// Panics in goroutines the stage starts itself cannot be recovered here.
func safeRun(ctx context.Context, j *job, pj pipeline.Job, log *slog.Logger) (o pipeline.Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			o, err = pipeline.Outcome{Status: StatusFailed, Reason: fmt.Sprintf("panic: %v", p)}, fmt.Errorf("panic: %v", p)
		}
	}()
	return j.stage.Run(ctx, pj)
}

// openJobLog creates (truncating) a job's log file and a text logger writing to it. When the
// file cannot be created the logger discards and the error is returned for a warning.
func openJobLog(path string) (*slog.Logger, func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil)), func() {}, err
	}
	f, err := os.Create(path)
	if err != nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil)), func() {}, err
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})), func() { f.Close() }, nil
}
