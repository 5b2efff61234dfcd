package workflow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// RunFunc runs one job of a stage; Stage.Run has this signature.
type RunFunc func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error)

// RunCourse runs one course job of st and leaves its outcome in the stage's sentinel by the rules
// of the embedded scheduler (internal/scheduler), so that Snakemake and `rtpipeline run` leave the
// same sentinels:
//
//   - when an upstream stage of the course failed (organize, whose course sentinel is .organized,
//     or an enabled stage of st.Needs), the job does not run and the sentinel reads
//     "skipped: upstream <stage> failed", naming the stage that failed first;
//   - otherwise a stale sentinel is removed and run (st.Run when nil) does the job, within
//     timeout (0 = none), a panic counting as a failure. The stage writes the sentinel itself;
//     when it did not, or wrote no failure for a failed outcome, RunCourse writes "ok",
//     "skipped: <reason>" or "failed: <reason>" ("failed: timed out after <timeout>" on a time-out).
//
// The returned outcome's Status is "ok", "skipped" or "failed". The error is non-nil only when
// the outcome could not be recorded or ctx was cancelled (the sentinel is then removed, so a
// rerun does the job again): a failed outcome is a result, not an error, so that a caller running
// many courses (Snakemake, the course loop of the stage commands) carries on with the others.
func RunCourse(ctx context.Context, st *pipeline.Stage, job pipeline.Job, timeout time.Duration, run RunFunc) (pipeline.Outcome, error) {
	if run == nil {
		run = st.Run
	}
	sentinel := filepath.Join(job.CourseDir(), st.Sentinel)
	if up := Blocked(st, job); up != "" {
		o := pipeline.Outcome{Status: "skipped", Reason: "upstream " + up + " failed"}
		os.Remove(sentinel)
		return o, record(sentinel, o, false)
	}
	os.Remove(sentinel) // a stale sentinel must not pass for this run's outcome
	jctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		jctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	o, err := safeRun(jctx, run, job)
	if cerr := ctx.Err(); cerr != nil {
		os.Remove(sentinel)
		return pipeline.Outcome{Status: "failed", Reason: "cancelled while running"}, cerr
	}
	timedOut := errors.Is(jctx.Err(), context.DeadlineExceeded) // counts only for a job that did not succeed
	switch {
	case err == nil && (o.Status == "" || o.Status == "ok"):
		o.Status = "ok"
	case err == nil && o.Status == "skipped":
	case timedOut:
		o = pipeline.Outcome{Status: "failed", Reason: fmt.Sprintf("timed out after %s", timeout)}
	default:
		if o.Reason == "" && err != nil {
			o.Reason = err.Error()
		}
		if o.Reason == "" {
			o.Reason = fmt.Sprintf("stage reported status %q", o.Status)
		}
		o.Status = "failed"
	}
	if werr := record(sentinel, o, timedOut); werr != nil {
		return pipeline.Outcome{Status: "failed", Reason: "recording the outcome: " + werr.Error()}, werr
	}
	return o, nil
}

// safeRun calls the stage, turning a panic into a failure.
func safeRun(ctx context.Context, run RunFunc, job pipeline.Job) (o pipeline.Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			o, err = pipeline.Outcome{Status: "failed", Reason: fmt.Sprintf("panic: %v", p)}, fmt.Errorf("panic: %v", p)
		}
	}()
	return run(ctx, job)
}

// record makes a sentinel agree with an outcome: what the stage wrote stands unless it is missing,
// or the outcome is a failure and the sentinel does not say so, or the job timed out.
func record(path string, o pipeline.Outcome, timedOut bool) error {
	cur := firstLine(path)
	want := o.Status
	switch o.Status {
	case "ok":
		if cur != "" {
			return nil
		}
	case "skipped":
		if cur != "" {
			return nil
		}
		want += ": " + oneLine(o.Reason)
	default:
		if strings.HasPrefix(cur, "failed") && !timedOut {
			return nil
		}
		want += ": " + oneLine(o.Reason)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, []byte(want+"\n"), 0o644)
}

// Blocked returns the upstream stage whose failure keeps a course job of st from running, or "".
// A course not organised ("organize") blocks every course stage. An enabled stage of st.Needs
// blocks when its sentinel says "failed", and passes on the stage named by its own
// "skipped: upstream <stage> failed", so the reason always names the stage that failed first.
// Skipped upstream stages ("skipped: no dose", …) do not block, and neither do disabled ones.
func Blocked(st *pipeline.Stage, job pipeline.Job) string { return blocked(st, job, pipeline.Lookup) }

func blocked(st *pipeline.Stage, job pipeline.Job, lookup func(string) (*pipeline.Stage, bool)) string {
	if s := firstLine(filepath.Join(job.CourseDir(), organize.Sentinel)); s != "ok" {
		return "organize"
	}
	for _, name := range st.Needs {
		need, ok := lookup(name)
		if !ok || (job.Config != nil && !need.Enabled(job.Config)) {
			continue
		}
		s := firstLine(filepath.Join(job.CourseDir(), need.Sentinel))
		if strings.HasPrefix(s, "failed") {
			return name
		}
		if up, ok := strings.CutPrefix(s, "skipped: upstream "); ok {
			if up, ok := strings.CutSuffix(up, " failed"); ok {
				return up
			}
		}
	}
	return ""
}

// firstLine is the first line of a sentinel, trimmed ("" when absent or unreadable).
func firstLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		return strings.TrimSpace(sc.Text())
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
