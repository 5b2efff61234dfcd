package workflow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

func courseJob(t *testing.T, organized string) pipeline.Job {
	t.Helper()
	job := pipeline.Job{OutDir: t.TempDir(), Course: "P1/2020-01", Threads: 2, Config: config.Default()}
	os.MkdirAll(job.CourseDir(), 0o755)
	if organized != "" {
		os.WriteFile(filepath.Join(job.CourseDir(), organize.Sentinel), []byte(organized+"\n"), 0o644)
	}
	return job
}

func sentinel(t *testing.T, job pipeline.Job, st *pipeline.Stage) string {
	t.Helper()
	return firstLine(filepath.Join(job.CourseDir(), st.Sentinel))
}

func TestRunCourseOutcomes(t *testing.T) {
	st := &pipeline.Stage{Name: "probe", Scope: pipeline.Course, Sentinel: ".probe_done"}
	ctx := context.Background()
	writes := func(status string) RunFunc {
		return func(_ context.Context, job pipeline.Job) (pipeline.Outcome, error) {
			return pipeline.Outcome{Status: "ok"}, os.WriteFile(filepath.Join(job.CourseDir(), st.Sentinel), []byte(status+"\n"), 0o644)
		}
	}
	returns := func(o pipeline.Outcome, err error) RunFunc {
		return func(context.Context, pipeline.Job) (pipeline.Outcome, error) { return o, err }
	}

	// A course whose organisation failed is skipped without running the stage, whatever its
	// sentinel said before.
	for _, org := range []string{"failed: no CT", ""} {
		job := courseJob(t, org)
		os.WriteFile(filepath.Join(job.CourseDir(), st.Sentinel), []byte("ok\n"), 0o644)
		o, err := RunCourse(ctx, st, job, 0, func(context.Context, pipeline.Job) (pipeline.Outcome, error) {
			t.Fatal("ran a course that was not organised")
			return pipeline.Outcome{}, nil
		})
		if err != nil || o.Status != "skipped" || sentinel(t, job, st) != "skipped: upstream organize failed" {
			t.Errorf("organize %q: %+v %v, sentinel %q", org, o, err, sentinel(t, job, st))
		}
	}

	for _, c := range []struct {
		name   string
		run    RunFunc
		status string // of the outcome
		want   string // sentinel
	}{
		{"own sentinel stands", writes("skipped: no dose"), "ok", "skipped: no dose"},
		{"ok, nothing written", returns(pipeline.Outcome{}, nil), "ok", "ok"},
		{"skipped, nothing written", returns(pipeline.Outcome{Status: "skipped", Reason: "no\ndose"}, nil), "skipped", "skipped: no dose"},
		{"error, nothing written", returns(pipeline.Outcome{}, errors.New("bad\n  dose")), "failed", "failed: bad dose"},
		{"failed outcome, nothing written", returns(pipeline.Outcome{Status: "failed", Reason: "all ROIs failed"}, nil), "failed", "failed: all ROIs failed"},
		{"odd status", returns(pipeline.Outcome{Status: "degraded"}, nil), "failed", `failed: stage reported status "degraded"`},
		{"recorded failure keeps the stage's words", func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
			writes("failed: the stage's own words")(ctx, job)
			return pipeline.Outcome{Status: "failed", Reason: "other words"}, errors.New("other words")
		}, "failed", "failed: the stage's own words"},
		{"failure over an ok sentinel", func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
			writes("ok")(ctx, job)
			return pipeline.Outcome{}, errors.New("late error")
		}, "failed", "failed: late error"},
		{"panic", func(context.Context, pipeline.Job) (pipeline.Outcome, error) { panic("boom") }, "failed", "failed: panic: boom"},
	} {
		job := courseJob(t, "ok")
		os.WriteFile(filepath.Join(job.CourseDir(), st.Sentinel), []byte("ok\n"), 0o644) // stale
		o, err := RunCourse(ctx, st, job, 0, c.run)
		if err != nil || o.Status != c.status || sentinel(t, job, st) != c.want {
			t.Errorf("%s: %+v %v, sentinel %q, want %q", c.name, o, err, sentinel(t, job, st), c.want)
		}
	}

	// A job over its time limit fails with the limit as reason, whatever it wrote.
	job := courseJob(t, "ok")
	o, err := RunCourse(ctx, st, job, 20*time.Millisecond, func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
		<-ctx.Done()
		writes("failed: context deadline exceeded")(ctx, job)
		return pipeline.Outcome{Status: "failed", Reason: ctx.Err().Error()}, ctx.Err()
	})
	if err != nil || o.Status != "failed" || sentinel(t, job, st) != "failed: timed out after 20ms" {
		t.Errorf("time-out: %+v %v %q", o, err, sentinel(t, job, st))
	}

	// A job that succeeds, even past its limit, succeeded (as in the embedded scheduler).
	o, err = RunCourse(ctx, st, job, time.Millisecond, func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
		<-ctx.Done()
		return pipeline.Outcome{Status: "ok"}, nil
	})
	if err != nil || o.Status != "ok" || sentinel(t, job, st) != "ok" {
		t.Errorf("success past the limit: %+v %v %q", o, err, sentinel(t, job, st))
	}

	// An interrupted job leaves no sentinel and is an error.
	cctx, cancel := context.WithCancel(ctx)
	_, err = RunCourse(cctx, st, job, 0, func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
		cancel()
		writes("failed: context canceled")(ctx, job)
		return pipeline.Outcome{Status: "failed"}, ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || sentinel(t, job, st) != "" {
		t.Errorf("cancelled: %v %q", err, sentinel(t, job, st))
	}
}

func TestBlockedNamesTheFirstFailure(t *testing.T) {
	on := func(*config.Config) bool { return true }
	off := func(*config.Config) bool { return false }
	stages := map[string]*pipeline.Stage{
		"seg":  {Name: "seg", Scope: pipeline.Course, Sentinel: ".seg_done", Enabled: on},
		"crop": {Name: "crop", Scope: pipeline.Course, Needs: []string{"seg"}, Sentinel: ".crop_done", Enabled: on},
		"off":  {Name: "off", Scope: pipeline.Course, Sentinel: ".off_done", Enabled: off},
		"dvh":  {Name: "dvh", Scope: pipeline.Course, Needs: []string{"off", "seg", "crop"}, Sentinel: ".dvh_done", Enabled: on},
	}
	lookup := func(n string) (*pipeline.Stage, bool) { s, ok := stages[n]; return s, ok }
	for _, c := range []struct {
		seg, crop, off, want string
	}{
		{"ok", "ok", "", ""},
		{"skipped: no CT", "skipped: no CT", "", ""}, // skipped upstream stages do not block
		{"ok", "ok", "failed: x", ""},                // disabled stages do not block
		{"ok", "failed: boom", "", "crop"},
		{"failed: boom", "skipped: upstream seg failed", "", "seg"},
		{"ok", "skipped: upstream seg failed", "", "seg"}, // passed on as written
	} {
		job := courseJob(t, "ok")
		for n, s := range map[string]string{"seg": c.seg, "crop": c.crop, "off": c.off} {
			if s != "" {
				os.WriteFile(filepath.Join(job.CourseDir(), stages[n].Sentinel), []byte(s+"\n"), 0o644)
			}
		}
		if got := blocked(stages["dvh"], job, lookup); got != c.want {
			t.Errorf("%+v: blocked by %q", c, got)
		}
	}
}
