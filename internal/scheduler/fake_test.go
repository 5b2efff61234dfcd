package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// rec records what the instrumented stages do, under one mutex with a logical clock: every begin
// and end gets the next sequence number, and the running threads, gate holders and courses are
// counted at each instant.
type rec struct {
	mu         sync.Mutex
	seq        int
	threads    int
	maxThreads int
	gates      map[string]int
	maxGates   map[string]int
	courses    map[string]int
	maxCourses int
	events     []ev
	runs       map[string]int
	filters    []string
}

type ev struct {
	seq    int
	start  bool
	stage  string
	course string
}

func newRec() *rec {
	return &rec{gates: map[string]int{}, maxGates: map[string]int{}, courses: map[string]int{}, runs: map[string]int{}}
}

func (r *rec) begin(st *pipeline.Stage, j pipeline.Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.events = append(r.events, ev{r.seq, true, st.Name, j.Course})
	r.runs[st.Name+" "+j.Course]++
	r.threads += j.Threads
	r.maxThreads = max(r.maxThreads, r.threads)
	if st.Gate != "" {
		r.gates[st.Gate]++
		r.maxGates[st.Gate] = max(r.maxGates[st.Gate], r.gates[st.Gate])
	}
	if j.Course != "" {
		r.courses[j.Course]++
		n := 0
		for _, c := range r.courses {
			if c > 0 {
				n++
			}
		}
		r.maxCourses = max(r.maxCourses, n)
	}
}

func (r *rec) end(st *pipeline.Stage, j pipeline.Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	r.events = append(r.events, ev{r.seq, false, st.Name, j.Course})
	r.threads -= j.Threads
	if st.Gate != "" {
		r.gates[st.Gate]--
	}
	if j.Course != "" {
		r.courses[j.Course]--
	}
}

// at is the sequence number of a stage's start or end for a course; 0 when it did not happen.
func (r *rec) at(start bool, stage, course string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.start == start && e.stage == stage && e.course == course {
			return e.seq
		}
	}
	return 0
}

func (r *rec) starts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.start {
			out = append(out, e.stage+" "+e.course)
		}
	}
	return out
}

func (r *rec) runCount(stage, course string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[stage+" "+course]
}

// behaviour is what an instrumented stage does between begin and end; nil = work(0).
type behaviour func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error)

// fakeStage is an instrumented course stage with sentinel .<name>_done.
func fakeStage(r *rec, name string, needs []string, gate string, b behaviour) pipeline.Stage {
	st := pipeline.Stage{Name: name, Scope: pipeline.Course, Needs: needs, Gate: gate, Sentinel: "." + name + "_done",
		Enabled: func(*config.Config) bool { return true }}
	if b == nil {
		b = work(0)
	}
	st.Run = func(ctx context.Context, j pipeline.Job) (pipeline.Outcome, error) {
		r.begin(&st, j)
		defer r.end(&st, j)
		return b(ctx, &st, j)
	}
	return st
}

// work is a well-behaved stage: it works for d (or until cancelled), then writes its output
// atomically, then its sentinel.
func work(d time.Duration) behaviour {
	return func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
		pipeline.Logger(ctx).Info("fake stage working", "stage", st.Name)
		if d > 0 {
			select {
			case <-ctx.Done():
				return pipeline.Outcome{Status: "failed", Reason: ctx.Err().Error()}, ctx.Err()
			case <-time.After(d):
			}
		}
		return finishOK(st, j)
	}
}

func finishOK(st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
	if err := fsutil.WriteFileAtomic(filepath.Join(j.CourseDir(), st.Name+".out"), []byte(st.Name+" "+j.Course+"\n"), 0o644); err != nil {
		return pipeline.Outcome{}, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(j.CourseDir(), st.Sentinel), []byte("ok\n"), 0o644); err != nil {
		return pipeline.Outcome{}, err
	}
	return pipeline.Outcome{Status: "ok"}, nil
}

// jitter is a short, deterministic per-job pause (0–2 ms) that shuffles completions.
func jitter() behaviour {
	return func(ctx context.Context, st *pipeline.Stage, j pipeline.Job) (pipeline.Outcome, error) {
		h := fnv.New32a()
		h.Write([]byte(st.Name + j.Course))
		return work(time.Duration(h.Sum32()%3)*time.Millisecond)(ctx, st, j)
	}
}

// course is one course of the fake organize stage's manifest.
type course struct {
	patient, name string
	complexity    int
	status        string // "" = ok
}

func (c course) path() string { return c.patient + "/" + c.name }

// organizeStage is a fake organize: it writes the course folders with their .organized sentinel
// and _COURSES/manifest.json listing the courses in the given order (short courses first, as
// organize orders them).
func organizeStage(r *rec, courses []course) pipeline.Stage {
	st := pipeline.Stage{Name: "organize", Scope: pipeline.Cohort, Sentinel: filepath.Join("_COURSES", "manifest.json"),
		Enabled: func(*config.Config) bool { return true }}
	st.Run = func(ctx context.Context, j pipeline.Job) (pipeline.Outcome, error) {
		r.begin(&st, j)
		defer r.end(&st, j)
		r.mu.Lock()
		r.filters = append(r.filters, j.CourseFilter)
		r.mu.Unlock()
		type entry struct {
			Patient    string `json:"patient"`
			PatientID  string `json:"patient_id"`
			Course     string `json:"course"`
			Path       string `json:"path"`
			Complexity int    `json:"complexity"`
			Status     string `json:"status"`
		}
		var m struct {
			Courses []entry `json:"courses"`
		}
		for _, c := range courses {
			status := c.status
			if status == "" {
				status = "ok"
			}
			if err := fsutil.WriteFileAtomic(filepath.Join(j.OutDir, c.patient, c.name, ".organized"), []byte(status+"\n"), 0o644); err != nil {
				return pipeline.Outcome{}, err
			}
			m.Courses = append(m.Courses, entry{c.patient, c.patient, c.name, c.path(), c.complexity, status})
		}
		data, _ := json.MarshalIndent(m, "", "  ")
		if err := fsutil.WriteFileAtomic(filepath.Join(j.OutDir, "_COURSES", "manifest.json"), data, 0o644); err != nil {
			return pipeline.Outcome{}, err
		}
		return pipeline.Outcome{Status: "ok"}, nil
	}
	return st
}

// testConfig is the default configuration with no reserved core (so Cores is the budget), the
// seg_workers gate set to segGate and output in a fresh folder.
func testConfig(t *testing.T, segGate int) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.OutputDir = t.TempDir()
	cfg.Scheduler.ReservedCores = 0
	cfg.Segmentation.MaxWorkers = config.Workers{Mode: config.WorkersFixed, N: segGate}
	return cfg
}

func courses(n int) []course {
	var out []course
	for i := 1; i <= n; i++ {
		out = append(out, course{patient: fmt.Sprintf("P%02d", i), name: "C1", complexity: i})
	}
	return out
}

func sentinel(t *testing.T, cfg *config.Config, course, stage string) string {
	t.Helper()
	return firstLine(filepath.Join(cfg.OutputDir, filepath.FromSlash(course), "."+stage+"_done"))
}

// tree lists every file under dir (relative, sorted).
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// tempFiles lists leftover atomic-write temporaries under dir.
func tempFiles(t *testing.T, dir string) []string {
	var out []string
	for _, f := range tree(t, dir) {
		if strings.Contains(filepath.Base(f), ".tmp-") {
			out = append(out, f)
		}
	}
	return out
}

// mustRun runs the table and fails the test on a run error.
func mustRun(t *testing.T, table []pipeline.Stage, opts Options) *Summary {
	t.Helper()
	sum, err := Run(context.Background(), table, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return sum
}

func stageSummary(t *testing.T, s *Summary, name string) StageSummary {
	t.Helper()
	for _, ss := range s.Stages {
		if ss.Stage == name {
			return ss
		}
	}
	t.Fatalf("no stage %s in the summary", name)
	return StageSummary{}
}
