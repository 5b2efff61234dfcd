package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// TestLimitsNeverExceeded: whatever the budget, gate size, backfilling and parallel_courses, at
// no instant do the running jobs hold more threads than the budget, more jobs a gate than its
// size, or more courses than parallel_courses; every job runs exactly once and after its
// course's upstream stages.
func TestLimitsNeverExceeded(t *testing.T) {
	tests := []struct {
		name            string
		budget, segGate int
		threads         map[string]int
		maxOvertakes    int
		parallelCourses int
		courses         int
	}{
		{"gpu-like", 4, 1, map[string]int{"seg": 2, "dvh": 1, "radiomics": 3, "qc": 1}, 0, 0, 8},
		{"two gpus, greedy backfill", 8, 2, map[string]int{"seg": 4, "dvh": 2, "radiomics": 3, "qc": 2}, 1000, 0, 12},
		{"no backfilling", 3, 1, map[string]int{"seg": 3, "dvh": 1, "radiomics": 2, "qc": 1}, -1, 0, 6},
		{"cpu seg fans out", 6, 6, map[string]int{"seg": 2, "dvh": 2, "radiomics": 4, "qc": 1}, 0, 0, 10},
		{"parallel courses", 5, 3, map[string]int{"seg": 1, "dvh": 2, "radiomics": 2, "qc": 1}, 0, 2, 9},
		{"budget 1", 1, 1, nil, 0, 0, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRec()
			cfg := testConfig(t, tc.segGate)
			if tc.parallelCourses > 0 {
				cfg.Scheduler.ParallelCourses = &tc.parallelCourses
			}
			cs := courses(tc.courses)
			table := []pipeline.Stage{
				organizeStage(r, cs),
				fakeStage(r, "seg", nil, pipeline.GateSeg, jitter()),
				fakeStage(r, "dvh", []string{"seg"}, "", jitter()),
				fakeStage(r, "radiomics", []string{"seg"}, pipeline.GateRadiomics, jitter()),
				fakeStage(r, "qc", []string{"dvh"}, "", jitter()),
			}
			sum := mustRun(t, table, Options{Config: cfg, Cores: tc.budget, Threads: tc.threads, MaxOvertakes: tc.maxOvertakes})
			if r.maxThreads > tc.budget {
				t.Errorf("%d threads ran at once, budget %d", r.maxThreads, tc.budget)
			}
			if r.maxGates[pipeline.GateSeg] > tc.segGate {
				t.Errorf("%d segmentation jobs at once, gate %d", r.maxGates[pipeline.GateSeg], tc.segGate)
			}
			if r.maxGates[pipeline.GateRadiomics] > 1 {
				t.Errorf("%d radiomics jobs at once, gate 1", r.maxGates[pipeline.GateRadiomics])
			}
			if tc.parallelCourses > 0 && r.maxCourses > tc.parallelCourses {
				t.Errorf("%d courses running at once, parallel_courses %d", r.maxCourses, tc.parallelCourses)
			}
			if sum.Status != StatusOK || sum.Count(StatusOK) != 1+4*tc.courses {
				t.Fatalf("status %s, %d ok jobs", sum.Status, sum.Count(StatusOK))
			}
			for _, c := range cs {
				for _, st := range []string{"seg", "dvh", "radiomics", "qc"} {
					if n := r.runCount(st, c.path()); n != 1 {
						t.Errorf("%s %s ran %d times", st, c.path(), n)
					}
				}
				for _, dep := range [][2]string{{"seg", "dvh"}, {"seg", "radiomics"}, {"dvh", "qc"}} {
					if r.at(false, dep[0], c.path()) > r.at(true, dep[1], c.path()) {
						t.Errorf("%s %s started before its %s ended", dep[1], c.path(), dep[0])
					}
				}
			}
			if r.at(false, "organize", "") > r.at(true, "seg", cs[0].path()) {
				t.Error("a course stage started before organize ended")
			}
		})
	}
}

// TestPipelining: a course's DVH starts while another course is still segmenting. Course B's
// segmentation does not end until course A's DVH has started; without per-course pipelining the
// run would wait for ever (the test gives up after a minute).
func TestPipelining(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := courses(2)
	a, b := cs[0].path(), cs[1].path()
	dvhAStarted := make(chan struct{})
	table := []pipeline.Stage{
		organizeStage(r, cs),
		fakeStage(r, "seg", nil, pipeline.GateSeg, func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			if j.Course == b {
				select {
				case <-dvhAStarted:
				case <-time.After(time.Minute):
					return pipeline.Outcome{}, errors.New("course A's DVH never started while B segmented")
				}
			}
			return finishOK(st, j)
		}),
		fakeStage(r, "dvh", []string{"seg"}, "", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			if j.Course == a {
				close(dvhAStarted)
			}
			return finishOK(st, j)
		}),
	}
	sum := mustRun(t, table, Options{Config: cfg, Cores: 4, Threads: map[string]int{"seg": 2, "dvh": 1}})
	if sum.Status != StatusOK {
		t.Fatalf("status %s: %+v", sum.Status, sum.Jobs)
	}
	if !(r.at(true, "dvh", a) < r.at(false, "seg", b)) {
		t.Errorf("DVH of %s did not start before segmentation of %s ended: %v", a, b, r.events)
	}
}

// TestShortCoursesFirst: jobs start in manifest order (organize lists short courses first), a
// course's next stage before later courses' first stage.
func TestShortCoursesFirst(t *testing.T) {
	cs := []course{{patient: "P3", name: "C", complexity: 5}, {patient: "P1", name: "C", complexity: 10}, {patient: "P2", name: "C", complexity: 20}}
	tests := []struct {
		budget int
		want   []string // the first Started events
	}{
		{1, []string{"organize ", "seg P3/C", "dvh P3/C", "seg P1/C", "dvh P1/C", "seg P2/C", "dvh P2/C"}},
		{2, []string{"organize ", "seg P3/C", "seg P1/C"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("budget ", tc.budget), func(t *testing.T) {
			r := newRec()
			cfg := testConfig(t, 4)
			var mu sync.Mutex
			var started []string
			table := []pipeline.Stage{organizeStage(r, cs), fakeStage(r, "seg", nil, "", nil), fakeStage(r, "dvh", []string{"seg"}, "", nil)}
			mustRun(t, table, Options{Config: cfg, Cores: tc.budget, Threads: map[string]int{"seg": 1, "dvh": 1},
				OnEvent: func(e Event) {
					if e.Kind == EventStarted {
						mu.Lock()
						started = append(started, e.Stage+" "+e.Course)
						mu.Unlock()
					}
				}})
			if got := started[:len(tc.want)]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("start order %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFailureStaysInCourse: a stage that fails in any way (error, panic, failed outcome, own
// sentinel, timeout) fails only its course: the course's downstream stages record
// "skipped: upstream <stage> failed" and do not run, the other courses finish, and the summary
// reports the failure.
func TestFailureStaysInCourse(t *testing.T) {
	tests := []struct {
		name     string
		stage    string // the failing stage
		fail     behaviour
		timeout  time.Duration
		sentinel string // the failing stage's sentinel
		skipped  []string
		ok       []string // stages of the failing course that still succeed
	}{
		{"error", "seg", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			return pipeline.Outcome{}, errors.New("boom\nsecond line")
		}, 0, "failed: boom second line", []string{"dvh", "qc", "radiomics"}, nil},
		{"panic", "seg", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			panic("kaboom")
		}, 0, "failed: panic: kaboom", []string{"dvh", "qc", "radiomics"}, nil},
		{"failed outcome", "seg", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			return pipeline.Outcome{Status: "failed", Reason: "bad input"}, nil
		}, 0, "failed: bad input", []string{"dvh", "qc", "radiomics"}, nil},
		{"own sentinel kept", "seg", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			fsutil.WriteFileAtomic(filepath.Join(j.CourseDir(), st.Sentinel), []byte("failed: in the stage's words\n"), 0o644)
			return pipeline.Outcome{}, errors.New("generic")
		}, 0, "failed: in the stage's words", []string{"dvh", "qc", "radiomics"}, nil},
		{"ok sentinel contradicted", "seg", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			fsutil.WriteFileAtomic(filepath.Join(j.CourseDir(), st.Sentinel), []byte("ok\n"), 0o644)
			return pipeline.Outcome{}, errors.New("late error")
		}, 0, "failed: late error", []string{"dvh", "qc", "radiomics"}, nil},
		{"timeout", "seg", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			<-ctx.Done()
			fsutil.WriteFileAtomic(filepath.Join(j.CourseDir(), st.Sentinel), []byte("failed: "+ctx.Err().Error()+"\n"), 0o644)
			return pipeline.Outcome{}, ctx.Err()
		}, 20 * time.Millisecond, "failed: timed out after 20ms", []string{"dvh", "qc", "radiomics"}, nil},
		{"mid-chain", "dvh", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			return pipeline.Outcome{}, errors.New("no dose grid")
		}, 0, "failed: no dose grid", []string{"qc"}, []string{"seg", "radiomics"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRec()
			cfg := testConfig(t, 1)
			cs := courses(3)
			bad := cs[1].path()
			pick := func(name string) behaviour {
				if name != tc.stage {
					return jitter()
				}
				return func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
					if j.Course == bad {
						return tc.fail(ctx, st, j)
					}
					return jitter()(ctx, st, j)
				}
			}
			table := []pipeline.Stage{
				organizeStage(r, cs),
				fakeStage(r, "seg", nil, pipeline.GateSeg, pick("seg")),
				fakeStage(r, "dvh", []string{"seg"}, "", pick("dvh")),
				fakeStage(r, "radiomics", []string{"seg"}, "", pick("radiomics")),
				fakeStage(r, "qc", []string{"dvh"}, "", pick("qc")),
			}
			opts := Options{Config: cfg, Cores: 4, Threads: map[string]int{"seg": 2, "dvh": 1, "radiomics": 1, "qc": 1}}
			if tc.timeout > 0 {
				opts.Timeouts = map[string]time.Duration{tc.stage: tc.timeout}
			}
			sum, err := Run(context.Background(), table, opts)
			if err != nil {
				t.Fatalf("a job failure made Run fail: %v", err)
			}
			if got := sentinel(t, cfg, bad, tc.stage); got != tc.sentinel {
				t.Errorf("sentinel of the failed stage %q, want %q", got, tc.sentinel)
			}
			for _, st := range tc.skipped {
				if got, want := sentinel(t, cfg, bad, st), "skipped: upstream "+tc.stage+" failed"; got != want {
					t.Errorf("%s sentinel %q, want %q", st, got, want)
				}
				if r.runCount(st, bad) != 0 {
					t.Errorf("%s ran downstream of a failure", st)
				}
			}
			for _, st := range tc.ok {
				if got := sentinel(t, cfg, bad, st); got != "ok" {
					t.Errorf("%s of the failing course: %q, want ok (it does not need %s)", st, got, tc.stage)
				}
			}
			for _, c := range []string{cs[0].path(), cs[2].path()} {
				for _, st := range []string{"seg", "dvh", "radiomics", "qc"} {
					if got := sentinel(t, cfg, c, st); got != "ok" {
						t.Errorf("other course %s %s: %q", c, st, got)
					}
				}
			}
			if sum.Status != StatusFailed || !sum.Failed() || sum.CoursesFailed != 1 {
				t.Errorf("summary status %s, %d courses failed", sum.Status, sum.CoursesFailed)
			}
			if ss := stageSummary(t, sum, tc.stage); ss.Failed != 1 || ss.OK != 2 {
				t.Errorf("%s: %d failed, %d ok", tc.stage, ss.Failed, ss.OK)
			}
			if ss := stageSummary(t, sum, tc.skipped[0]); ss.Skipped != 1 {
				t.Errorf("%s: %d skipped", tc.skipped[0], ss.Skipped)
			}
		})
	}
}

// TestAfterRunsDespiteFailure: a stage listed in After (DVH after segmentation) waits for it but
// still runs when it fails — a course with a manual structure set keeps its DVH — while a stage
// listed in Needs is skipped; and a stage after a rerun runs again.
func TestAfterRunsDespiteFailure(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := courses(2)
	bad := cs[0].path()
	segRun := 0
	var mu sync.Mutex
	seg := fakeStage(r, "seg", nil, pipeline.GateSeg, func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
		mu.Lock()
		segRun++
		mu.Unlock()
		if j.Course == bad {
			return pipeline.Outcome{}, errors.New("no model")
		}
		return work(2*time.Millisecond)(ctx, st, j)
	})
	dvh := fakeStage(r, "dvh", nil, "", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
		// The soft edge still orders: segmentation of the same course has finished.
		if s := sentinelFile(j.CourseDir(), ".seg_done"); s == "" {
			return pipeline.Outcome{}, errors.New("dvh started before segmentation finished")
		}
		return work(0)(ctx, st, j)
	})
	dvh.After = []string{"seg"}
	table := []pipeline.Stage{organizeStage(r, cs), seg, dvh, fakeStage(r, "needs_seg", []string{"seg"}, "", nil)}
	opts := Options{Config: cfg, Cores: 4, Threads: map[string]int{"seg": 1, "dvh": 1, "needs_seg": 1}}
	if _, err := Run(context.Background(), table, opts); err != nil {
		t.Fatal(err)
	}
	if got := sentinel(t, cfg, bad, "dvh"); got != "ok" {
		t.Errorf("dvh after a failed segmentation: %q, want ok", got)
	}
	if got := sentinel(t, cfg, bad, "needs_seg"); got != "skipped: upstream seg failed" {
		t.Errorf("hard dependant: %q", got)
	}
	// Rerun: the failed segmentation reruns, so the DVH after it reruns too; the other course resumes.
	before := r.runCount("dvh", bad)
	if _, err := Run(context.Background(), table, opts); err != nil {
		t.Fatal(err)
	}
	if r.runCount("dvh", bad) != before+1 || r.runCount("dvh", cs[1].path()) != 1 {
		t.Errorf("dvh runs after rerun: failed course %d (was %d), other %d", r.runCount("dvh", bad), before, r.runCount("dvh", cs[1].path()))
	}
}

// sentinelFile is the first line of a sentinel ("" when absent).
func sentinelFile(dir, name string) string {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0])
}

// TestCourseNotOrganized: a course whose organisation failed goes no further, and says why.
func TestCourseNotOrganized(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := courses(2)
	cs[0].status = "failed: no CT"
	table := []pipeline.Stage{organizeStage(r, cs), fakeStage(r, "seg", nil, "", nil), fakeStage(r, "dvh", []string{"seg"}, "", nil)}
	sum := mustRun(t, table, Options{Config: cfg, Cores: 2})
	for _, st := range []string{"seg", "dvh"} {
		if got := sentinel(t, cfg, cs[0].path(), st); got != "skipped: upstream organize failed" {
			t.Errorf("%s: %q", st, got)
		}
		if got := sentinel(t, cfg, cs[1].path(), st); got != "ok" {
			t.Errorf("other course %s: %q", st, got)
		}
	}
	if sum.Status != StatusFailed || sum.CoursesFailed != 1 || r.runCount("seg", cs[0].path()) != 0 {
		t.Errorf("status %s, %d courses failed", sum.Status, sum.CoursesFailed)
	}
}

// TestResume: a rerun skips stages whose sentinel says ok and reruns failed, skipped and missing
// ones, and the downstream of a stage that runs again; --force-redo reruns everything.
func TestResume(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := courses(3)
	a, b, c := cs[0].path(), cs[1].path(), cs[2].path()
	var failB sync.Mutex
	failing := true
	table := []pipeline.Stage{
		organizeStage(r, cs),
		fakeStage(r, "seg", nil, pipeline.GateSeg, nil),
		fakeStage(r, "dvh", []string{"seg"}, "", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			failB.Lock()
			f := failing
			failB.Unlock()
			if f && j.Course == b {
				return pipeline.Outcome{}, errors.New("transient")
			}
			return finishOK(st, j)
		}),
		fakeStage(r, "qc", []string{"dvh"}, "", nil),
		fakeStage(r, "radiomics", []string{"seg"}, "", func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
			if j.Course == c {
				fsutil.WriteFileAtomic(filepath.Join(j.CourseDir(), st.Sentinel), []byte("skipped: no structure set\n"), 0o644)
				return pipeline.Outcome{Status: "skipped", Reason: "no structure set"}, nil
			}
			return finishOK(st, j)
		}),
	}
	opts := Options{Config: cfg, Cores: 3, Threads: map[string]int{"seg": 1, "dvh": 1, "qc": 1, "radiomics": 1}}
	sum := mustRun(t, table, opts)
	if sum.Status != StatusFailed || sentinel(t, cfg, b, "qc") != "skipped: upstream dvh failed" {
		t.Fatalf("first run: %s, qc of B %q", sum.Status, sentinel(t, cfg, b, "qc"))
	}
	failB.Lock()
	failing = false
	failB.Unlock()

	type counts struct{ ok, skipped, failed, resumed int }
	get := func(s *Summary, st string) counts {
		ss := stageSummary(t, s, st)
		return counts{ss.OK, ss.Skipped, ss.Failed, ss.Resumed}
	}
	sum = mustRun(t, table, opts)
	want := map[string]counts{"seg": {0, 0, 0, 3}, "dvh": {1, 0, 0, 2}, "qc": {1, 0, 0, 2}, "radiomics": {0, 1, 0, 2}}
	for st, w := range want {
		if got := get(sum, st); got != w {
			t.Errorf("rerun %s: %+v, want %+v", st, got, w)
		}
	}
	if sum.Status != StatusOK || r.runCount("dvh", b) != 2 || r.runCount("dvh", a) != 1 || r.runCount("radiomics", c) != 2 {
		t.Errorf("rerun: status %s, dvh B ran %d, dvh A %d, radiomics C %d", sum.Status, r.runCount("dvh", b), r.runCount("dvh", a), r.runCount("radiomics", c))
	}
	if sum.Count(StatusResumed) != 9 {
		t.Errorf("%d resumed jobs, want 9", sum.Count(StatusResumed))
	}

	// A stage that runs again takes its course's downstream stages with it.
	os.Remove(filepath.Join(cfg.OutputDir, a, ".seg_done"))
	sum = mustRun(t, table, opts)
	for _, st := range []string{"seg", "dvh", "qc", "radiomics"} {
		if n := r.runCount(st, a); n != 2 {
			t.Errorf("after removing seg's sentinel of A, %s of A ran %d times in all, want 2", st, n)
		}
	}
	if r.runCount("seg", b) != 1 {
		t.Error("seg of B reran")
	}

	// --force-redo runs everything.
	opts.ForceRedo = true
	sum = mustRun(t, table, opts)
	if sum.Count(StatusResumed) != 0 || r.runCount("seg", b) != 2 || r.runCount("qc", c) != 2 {
		t.Errorf("force-redo: %d resumed, seg B ran %d times", sum.Count(StatusResumed), r.runCount("seg", b))
	}
}

// TestCancellation: cancelling the run stops it: no new jobs, running ones are cancelled and
// waited for, none leaves a sentinel claiming ok or an output without its ok sentinel, nor a
// temporary file; the summary says cancelled, and a rerun completes the cohort.
func TestCancellation(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := courses(6)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trigger := cs[2].path()
	var cancelled sync.Once
	slow := func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
		if st.Name == "dvh" && j.Course == trigger {
			cancelled.Do(cancel)
		}
		select {
		case <-ctx.Done():
			// Like the real stages: a failure sentinel of its own, no output.
			fsutil.WriteFileAtomic(filepath.Join(j.CourseDir(), st.Sentinel), []byte("failed: "+ctx.Err().Error()+"\n"), 0o644)
			return pipeline.Outcome{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		return finishOK(st, j)
	}
	table := []pipeline.Stage{
		organizeStage(r, cs),
		fakeStage(r, "seg", nil, pipeline.GateSeg, slow),
		fakeStage(r, "dvh", []string{"seg"}, "", slow),
		fakeStage(r, "qc", []string{"dvh"}, "", slow),
	}
	opts := Options{Config: cfg, Cores: 3, Threads: map[string]int{"seg": 1, "dvh": 1, "qc": 1}}
	sum, err := Run(ctx, table, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	if sum == nil || sum.Status != StatusCancelled || stageSummary(t, sum, "qc").Cancelled == 0 {
		t.Fatalf("summary %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(cfg.OutputDir, SummaryFile)); err != nil {
		t.Errorf("no run summary after a cancelled run: %v", err)
	}
	if s := sentinel(t, cfg, trigger, "dvh"); s != "" {
		t.Errorf("the cancelled job left sentinel %q", s)
	}
	for _, c := range cs {
		for _, st := range []string{"seg", "dvh", "qc"} {
			s := sentinel(t, cfg, c.path(), st)
			_, outErr := os.Stat(filepath.Join(cfg.OutputDir, c.path(), st+".out"))
			if s != "" && s != "ok" {
				t.Errorf("%s %s: sentinel %q after cancellation", st, c.path(), s)
			}
			if (s == "ok") != (outErr == nil) {
				t.Errorf("%s %s: sentinel %q but output present %v", st, c.path(), s, outErr == nil)
			}
		}
	}
	if tmp := tempFiles(t, cfg.OutputDir); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	sum = mustRun(t, table, opts)
	if sum.Status != StatusOK {
		t.Fatalf("rerun after cancellation: %s", sum.Status)
	}
	for _, c := range cs {
		for _, st := range []string{"seg", "dvh", "qc"} {
			if s := sentinel(t, cfg, c.path(), st); s != "ok" {
				t.Errorf("after the rerun %s %s: %q", st, c.path(), s)
			}
		}
	}
}

// TestLogsAndSummary: every job that runs has its own log with the scheduler's lines and the
// stage's own messages; run_summary.json has its fields in a fixed order and consistent counts.
func TestLogsAndSummary(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := courses(2)
	table := []pipeline.Stage{organizeStage(r, cs), fakeStage(r, "seg", nil, pipeline.GateSeg, nil), fakeStage(r, "dvh", []string{"seg"}, "", nil)}
	sum := mustRun(t, table, Options{Config: cfg, Cores: 2, Threads: map[string]int{"seg": 2, "dvh": 1}})
	for _, p := range []string{"Logs/organize.log", "Logs/seg/P01_C1.log", "Logs/dvh/P02_C1.log"} {
		data, err := os.ReadFile(filepath.Join(cfg.OutputDir, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"job started", "job finished", "status=ok"} {
			if !bytes.Contains(data, []byte(want)) {
				t.Errorf("%s lacks %q:\n%s", p, want, data)
			}
		}
		if strings.Contains(p, "/seg/") && !bytes.Contains(data, []byte("fake stage working")) {
			t.Errorf("%s lacks the stage's own message:\n%s", p, data)
		}
	}
	data, err := os.ReadFile(filepath.Join(cfg.OutputDir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"rtpipeline_version", "status", "started", "finished", "wall_seconds", "cores", "worker_budget", "gates",
		"busy_thread_seconds", "budget_busy_fraction", "stages_selected", "course_filter", "force_redo", "courses", "courses_failed", "stages", "jobs"}
	if got := topKeys(t, data); !reflect.DeepEqual(got, keys) {
		t.Errorf("summary keys %q, want %q", got, keys)
	}
	var back Summary
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.WorkerBudget != 2 || back.Courses != 2 || len(back.Jobs) != 5 || back.Status != StatusOK {
		t.Errorf("summary %+v", back)
	}
	if back.BudgetBusy <= 0 || back.BudgetBusy > 1 {
		t.Errorf("budget busy fraction %v", back.BudgetBusy)
	}
	if !reflect.DeepEqual(back.Gates, []Gate{{pipeline.GateSeg, 1}}) {
		t.Errorf("gates %+v", back.Gates)
	}
	seg := stageSummary(t, sum, "seg")
	if seg.Jobs != 2 || seg.OK != 2 || seg.Threads != 2 || seg.Gate != pipeline.GateSeg || seg.ThreadSeconds < seg.JobSeconds {
		t.Errorf("seg summary %+v", seg)
	}
	for _, j := range back.Jobs {
		if j.Start == nil || j.End == nil || j.End.Before(*j.Start) {
			t.Errorf("job %+v without a sane start and end", j)
		}
	}
	if back.Jobs[0].Stage != "organize" || back.Jobs[1].Course != "P01/C1" || back.Jobs[1].Stage != "seg" || back.Jobs[2].Stage != "dvh" {
		t.Errorf("job order %+v", back.Jobs)
	}
	// A rerun resumes: no start or end for those jobs.
	sum = mustRun(t, table, Options{Config: cfg, Cores: 2})
	for _, j := range sum.Jobs[1:] {
		if j.Status != StatusResumed || j.Start != nil {
			t.Errorf("rerun job %+v", j)
		}
	}
}

// topKeys returns the top-level keys of a JSON object in document order.
func topKeys(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestSelectionAndFilter: --stages runs only the named stages (an unselected upstream that failed
// still skips the course; a missing upstream output is the stage's own failure), the course
// filter reaches organize and limits the course jobs, and bad selections are errors.
func TestSelectionAndFilter(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := []course{{patient: "P1", name: "A", complexity: 1}, {patient: "P1", name: "B", complexity: 2}, {patient: "P2", name: "A", complexity: 3}}
	needSeg := func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
		if _, err := os.Stat(filepath.Join(j.CourseDir(), "seg.out")); err != nil {
			return pipeline.Outcome{}, errors.New("segmentation output missing")
		}
		return finishOK(st, j)
	}
	table := []pipeline.Stage{organizeStage(r, cs), fakeStage(r, "seg", nil, "", nil), fakeStage(r, "dvh", []string{"seg"}, "", needSeg)}
	disabled := fakeStage(r, "off", nil, "", nil)
	disabled.Enabled = func(*config.Config) bool { return false }
	table = append(table, disabled)

	// Only dvh, without organize or seg: a manifest is needed first.
	if _, err := Run(context.Background(), table, Options{Config: cfg, Cores: 2, Stages: []string{"dvh"}}); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("dvh without a manifest: %v", err)
	}
	// organize with a filter: organize sees it, only P1's courses get jobs.
	sum := mustRun(t, table, Options{Config: cfg, Cores: 2, Stages: []string{"organize", "seg"}, CourseFilter: "P1"})
	if r.filters[len(r.filters)-1] != "P1" || sum.Courses != 2 || r.runCount("seg", "P2/A") != 0 || r.runCount("seg", "P1/B") != 1 {
		t.Errorf("filter P1: organize saw %q, %d courses, seg of P2 ran %d", r.filters, sum.Courses, r.runCount("seg", "P2/A"))
	}
	// One course by P/C, dvh only: its seg output exists, so dvh succeeds; seg does not run.
	sum = mustRun(t, table, Options{Config: cfg, Cores: 2, Stages: []string{"dvh"}, CourseFilter: "P1/B"})
	if sum.Status != StatusOK || len(sum.Jobs) != 1 || r.runCount("seg", "P1/B") != 1 {
		t.Errorf("dvh of P1/B: %+v", sum.Jobs)
	}
	// dvh of P2/A, whose seg never ran: the stage's own error.
	sum = mustRun(t, table, Options{Config: cfg, Cores: 2, Stages: []string{"dvh"}, CourseFilter: "P2/A"})
	if sum.Status != StatusFailed || sentinel(t, cfg, "P2/A", "dvh") != "failed: segmentation output missing" {
		t.Errorf("dvh without upstream output: %s, %q", sum.Status, sentinel(t, cfg, "P2/A", "dvh"))
	}
	// An unselected upstream that failed skips the course.
	fsutil.WriteFileAtomic(filepath.Join(cfg.OutputDir, "P1", "A", ".seg_done"), []byte("failed: earlier\n"), 0o644)
	sum = mustRun(t, table, Options{Config: cfg, Cores: 2, Stages: []string{"dvh"}, CourseFilter: "P1"})
	if sentinel(t, cfg, "P1/A", "dvh") != "skipped: upstream seg failed" || r.runCount("dvh", "P1/A") != 0 {
		t.Errorf("dvh of P1/A after seg failed earlier: %q", sentinel(t, cfg, "P1/A", "dvh"))
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Config: cfg, Stages: []string{"nope"}}, `unknown stage "nope"`},
		{Options{Config: cfg, Stages: []string{"off"}}, "disabled"},
		{Options{Config: cfg, Stages: []string{"dvh"}, CourseFilter: "P9"}, `no course of the manifest matches "P9"`},
		{Options{Config: cfg, Timeouts: map[string]time.Duration{"nope": time.Second}}, "unknown stage"},
	} {
		if _, err := Run(context.Background(), table, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.opts.Stages, err, tc.want)
		}
	}
}

// TestDryRun: the plan lists every job with its threads, gate and reason, the budget and gate
// sizes, and writes nothing.
func TestDryRun(t *testing.T) {
	r := newRec()
	cfg := testConfig(t, 1)
	cs := courses(3)
	table := []pipeline.Stage{
		organizeStage(r, cs),
		fakeStage(r, "seg", nil, pipeline.GateSeg, nil),
		fakeStage(r, "dvh", []string{"seg"}, "", nil),
	}
	opts := Options{Config: cfg, Cores: 4, Threads: map[string]int{"seg": 4, "dvh": 2}}

	// Before organize: course jobs pending.
	p, err := DryRun(table, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.Print(&out)
	if !p.CoursesPending || !strings.Contains(out.String(), "pending until organize") || !strings.Contains(out.String(), "rule organize:") {
		t.Errorf("dry run before organize:\n%s", out.String())
	}
	if files := tree(t, cfg.OutputDir); len(files) != 0 {
		t.Fatalf("dry run wrote %v", files)
	}

	mustRun(t, table, opts)
	os.Remove(filepath.Join(cfg.OutputDir, "P02", "C1", ".dvh_done"))
	fsutil.WriteFileAtomic(filepath.Join(cfg.OutputDir, "P03", "C1", ".seg_done"), []byte("failed: GPU out of memory\n"), 0o644)
	before := tree(t, cfg.OutputDir)
	p, err = DryRun(table, opts)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := p.Print(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Worker budget: 4 threads (cores 4, scheduler.reserved_cores 0, max_workers null)",
		"Gates: seg_workers=1",
		"rule dvh:\n    jobid: 2\n    course: P02/C1\n",
		"    reason: missing sentinel\n    threads: 2\n",
		"rule seg:\n    jobid: 3\n    course: P03/C1\n",
		"    reason: sentinel says failed: GPU out of memory\n    threads: 4\n    resources: seg_workers=1\n",
		"rule dvh:\n    jobid: 4\n    course: P03/C1\n",
		"reason: upstream seg runs again",
		"resume  seg  P01/C1  sentinel says ok",
		"Job stats:",
		"This was a dry run",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dry run lacks %q:\n%s", want, text)
		}
	}
	stats := map[string][4]int{}
	for _, j := range p.Jobs {
		s := stats[j.Stage]
		switch j.Action {
		case ActionRun:
			s[0]++
		case ActionResume:
			s[1]++
		}
		s[3] = j.Threads
		stats[j.Stage] = s
	}
	if stats["seg"] != [4]int{1, 2, 0, 4} || stats["dvh"] != [4]int{2, 1, 0, 2} || stats["organize"] != [4]int{1, 0, 0, 4} {
		t.Errorf("plan %v", stats)
	}
	if after := tree(t, cfg.OutputDir); !reflect.DeepEqual(before, after) {
		t.Errorf("dry run changed the output: %v → %v", before, after)
	}
	if r.runCount("organize", "") != 1 {
		t.Error("dry run ran organize")
	}
}

// TestPick: the dispatch policy on hand-made ready lists.
func TestPick(t *testing.T) {
	type rj struct {
		name      string
		course    int
		threads   int
		gate      string
		overtaken int
	}
	tests := []struct {
		name            string
		budget, used    int
		maxOvertakes    int
		gateUsed        int // of "g" (size 1)
		parallelCourses int
		started         []int // courses already in flight
		ready           []rj
		want            []string
		wantOvertaken   map[string]int
	}{
		{"all fit, in order", 4, 0, 4, 0, 0, nil,
			[]rj{{"a", 0, 1, "", 0}, {"b", 1, 2, "", 0}, {"c", 2, 1, "", 0}, {"d", 3, 1, "", 0}}, []string{"a", "b", "c"}, nil},
		{"backfill around a wide job", 4, 2, 4, 0, 0, nil,
			[]rj{{"wide", 0, 4, "", 0}, {"s1", 1, 1, "", 0}, {"s2", 2, 1, "", 0}}, []string{"s1", "s2"}, map[string]int{"wide": 2}},
		{"overtaken enough: reservation", 4, 2, 4, 0, 0, nil,
			[]rj{{"wide", 0, 4, "", 4}, {"s1", 1, 1, "", 0}}, nil, map[string]int{"wide": 4}},
		{"reservation only behind it", 4, 1, 2, 0, 0, nil,
			[]rj{{"first", 0, 1, "", 0}, {"wide", 1, 4, "", 1}, {"s1", 2, 1, "", 0}, {"s2", 3, 1, "", 0}}, []string{"first", "s1"}, map[string]int{"wide": 2}},
		{"no backfilling", 4, 2, -1, 0, 0, nil,
			[]rj{{"wide", 0, 3, "", 0}, {"s1", 1, 1, "", 0}}, nil, nil},
		{"full gate is passed over", 4, 0, 4, 1, 0, nil,
			[]rj{{"gated", 0, 1, "g", 0}, {"s1", 1, 1, "", 0}}, []string{"s1"}, map[string]int{"gated": 0}},
		{"gate fills within one pick", 4, 0, 4, 0, 0, nil,
			[]rj{{"g1", 0, 1, "g", 0}, {"g2", 1, 1, "g", 0}, {"s1", 2, 1, "", 0}}, []string{"g1", "s1"}, nil},
		{"parallel courses", 8, 0, 4, 0, 2, []int{5},
			[]rj{{"new1", 0, 1, "", 0}, {"new2", 1, 1, "", 0}, {"started", 5, 1, "", 0}}, []string{"new1", "started"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &runner{budget: tc.budget, used: tc.used, maxOvertakes: tc.maxOvertakes, parallelCourses: tc.parallelCourses,
				gates: map[string]int{"g": 1}, gateUsed: map[string]int{"g": tc.gateUsed}, courseStarted: map[int]bool{}}
			for _, c := range tc.started {
				r.courseStarted[c] = true
				r.inflight++
			}
			byName := map[string]*job{}
			for i, x := range tc.ready {
				j := &job{stage: &pipeline.Stage{Name: x.name}, course: fmt.Sprint("P", x.course), courseIdx: x.course, stageIdx: i,
					threads: x.threads, gate: x.gate, overtaken: x.overtaken}
				byName[x.name] = j
				r.ready = append(r.ready, j)
			}
			var got []string
			for _, j := range r.pick() {
				got = append(got, j.stage.Name)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("picked %q, want %q", got, tc.want)
			}
			if len(r.ready)+len(got) != len(tc.ready) {
				t.Errorf("%d left ready", len(r.ready))
			}
			for n, w := range tc.wantOvertaken {
				if byName[n].overtaken != w {
					t.Errorf("%s overtaken %d times, want %d", n, byName[n].overtaken, w)
				}
			}
		})
	}
}

// TestTimeouts: the defaults come from the configuration keys where they exist.
func TestTimeouts(t *testing.T) {
	cfg := testConfig(t, 1)
	cfg.Segmentation.TimeoutSeconds = 60
	cfg.CustomModels.TimeoutSeconds = 0
	for _, tc := range []struct {
		st   pipeline.Stage
		want time.Duration
	}{
		{pipeline.Stage{Name: "segmentation", Scope: pipeline.Course, Gate: pipeline.GateSeg}, time.Minute},
		{pipeline.Stage{Name: "segmentation_custom", Scope: pipeline.Course, Gate: pipeline.GateCustomSeg}, 0},
		{pipeline.Stage{Name: "radiomics", Scope: pipeline.Course}, DefaultRadiomicsTimeout},
		{pipeline.Stage{Name: "dvh", Scope: pipeline.Course}, DefaultCourseTimeout},
		{pipeline.Stage{Name: "organize", Scope: pipeline.Cohort}, 0},
	} {
		if got := DefaultTimeout(&tc.st, cfg); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.st.Name, got, tc.want)
		}
	}
}
