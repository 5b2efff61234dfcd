package scheduler

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// action is what the plan does with a job.
type action int

const (
	actRun    action = iota // run it
	actResume               // sentinel says ok: count it as resumed
	actSkip                 // an upstream stage failed: record "skipped: upstream <root> failed"
)

// state is where a job is in its life.
type state int

const (
	statePending state = iota
	stateReady
	stateRunning
	stateDone
)

// job is one stage of one course (or of the cohort).
type job struct {
	id        int // position in the run's job list (summary order)
	stage     *pipeline.Stage
	stageIdx  int // position in the stage table
	course    string
	courseIdx int // manifest position; -1 before the courses, beyond them after
	threads   int
	gate      string
	timeout   time.Duration
	sentinel  string
	deps      []*job
	down      []*job
	downSoft  []bool // downSoft[i]: down[i] waits for this job but runs whatever its outcome (Stage.After)

	act    action
	why    string // why it runs, or is resumed or skipped
	root   string // the failed stage behind actSkip
	waitOn int    // unfinished deps

	state     state
	status    string
	reason    string
	start     time.Time
	end       time.Time
	overtaken int
}

// runner holds a run's resolved options and, while jobs execute, the coordinator's state.
type runner struct {
	opts     Options
	cfg      *config.Config
	outDir   string
	logsDir  string
	cores    int
	budget   int
	table    []pipeline.Stage
	stageIdx map[string]int
	selected map[string]bool // selected and enabled stages
	gates    map[string]int
	gateList []string // gate names in table order

	maxOvertakes    int // < 0: no backfilling
	parallelCourses int // 0: unbounded

	// Coordinator state (execute).
	used          int
	gateUsed      map[string]int
	running       int
	ready         []*job
	courseLeft    map[int]int
	courseStarted map[int]bool
	inflight      int
	done          chan result
}

func newRunner(table []pipeline.Stage, opts Options) (*runner, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("scheduler: no configuration")
	}
	if cfg.OutputDir == "" {
		return nil, errors.New("scheduler: no output folder (output_dir)")
	}
	r := &runner{opts: opts, cfg: cfg, outDir: cfg.OutputDir, cores: resolveCores(opts.Cores), table: table,
		stageIdx: map[string]int{}, selected: map[string]bool{}, gates: map[string]int{}}
	r.budget = cfg.WorkerBudget(r.cores)
	r.logsDir = opts.LogsDir
	if r.logsDir == "" {
		r.logsDir = DefaultLogsDir(cfg)
	}
	switch {
	case opts.MaxOvertakes == 0:
		r.maxOvertakes = DefaultMaxOvertakes
	case opts.MaxOvertakes < 0:
		r.maxOvertakes = -1
	default:
		r.maxOvertakes = opts.MaxOvertakes
	}
	if pc := cfg.Scheduler.ParallelCourses; pc != nil && *pc > 0 {
		r.parallelCourses = *pc
	}

	firstCourse := -1
	for i := range table {
		s := &table[i]
		if _, dup := r.stageIdx[s.Name]; dup || s.Name == "" {
			return nil, fmt.Errorf("scheduler: stage %q appears twice in the table (or has no name)", s.Name)
		}
		if s.Run == nil || s.Enabled == nil {
			return nil, fmt.Errorf("scheduler: stage %q has no Run or Enabled", s.Name)
		}
		for _, n := range append(append([]string(nil), s.Needs...), s.After...) {
			if _, ok := r.stageIdx[n]; !ok {
				return nil, fmt.Errorf("scheduler: stage %q needs %q, which is not an earlier stage of the table", s.Name, n)
			}
		}
		if s.Scope == pipeline.Course && firstCourse < 0 {
			firstCourse = i
		}
		r.stageIdx[s.Name] = i
	}
	if len(opts.Stages) > 0 {
		for _, n := range opts.Stages {
			i, ok := r.stageIdx[n]
			if !ok {
				return nil, fmt.Errorf("unknown stage %q (stages: %s)", n, strings.Join(r.names(), ", "))
			}
			if !table[i].Enabled(cfg) {
				return nil, fmt.Errorf("stage %q is disabled by the configuration", n)
			}
			r.selected[n] = true
		}
	} else {
		for i := range table {
			if table[i].Enabled(cfg) {
				r.selected[table[i].Name] = true
			}
		}
	}
	for i := range table {
		s := &table[i]
		if s.Gate == "" || !r.selected[s.Name] {
			continue
		}
		if _, ok := r.gates[s.Gate]; !ok {
			// An unknown gate admits one job at a time.
			r.gates[s.Gate] = max(s.GateSize(cfg, r.cores), 1)
			r.gateList = append(r.gateList, s.Gate)
		}
	}
	for name, d := range opts.Timeouts {
		if _, ok := r.stageIdx[name]; !ok {
			return nil, fmt.Errorf("timeout for unknown stage %q", name)
		}
		if d < 0 {
			return nil, fmt.Errorf("negative timeout for stage %q", name)
		}
	}
	for name := range opts.Threads {
		if _, ok := r.stageIdx[name]; !ok {
			return nil, fmt.Errorf("threads for unknown stage %q", name)
		}
	}
	return r, nil
}

func (r *runner) names() []string {
	var out []string
	for _, s := range r.table {
		out = append(out, s.Name)
	}
	return out
}

// isPre tells whether table[i] is a cohort stage before every course stage.
func (r *runner) isPre(i int) bool {
	if r.table[i].Scope != pipeline.Cohort {
		return false
	}
	for k := 0; k < i; k++ {
		if r.table[k].Scope == pipeline.Course {
			return false
		}
	}
	return true
}

// threadsOf is the threads of one job of s.
func (r *runner) threadsOf(s *pipeline.Stage) int {
	n := s.Threads(r.cfg, r.cores)
	if t, ok := r.opts.Threads[s.Name]; ok {
		n = t
	}
	return min(max(n, 1), r.budget)
}

func (r *runner) timeoutOf(s *pipeline.Stage) time.Duration {
	if d, ok := r.opts.Timeouts[s.Name]; ok {
		return d
	}
	return DefaultTimeout(s, r.cfg)
}

func (r *runner) newJob(id, stageIdx int, course string, courseIdx int) *job {
	s := &r.table[stageIdx]
	j := &job{id: id, stage: s, stageIdx: stageIdx, course: course, courseIdx: courseIdx, threads: r.threadsOf(s),
		gate: s.Gate, timeout: r.timeoutOf(s)}
	if course == "" {
		j.sentinel = filepath.Join(r.outDir, s.Sentinel)
	} else {
		j.sentinel = filepath.Join(r.outDir, filepath.FromSlash(course), s.Sentinel)
	}
	return j
}

// preJobs are the selected cohort stages before the course stages. They run every time: organize
// re-indexes the input (headers only) and rewrites only what changed, which is how new or
// changed input reaches the courses, and it resumes unchanged courses itself.
func (r *runner) preJobs() []*job {
	var jobs []*job
	for i := range r.table {
		if !r.isPre(i) || !r.selected[r.table[i].Name] {
			continue
		}
		j := r.newJob(len(jobs), i, "", -1)
		j.why = "cohort stages before the courses run every time (organize re-indexes the input and rewrites only what changed)"
		for _, p := range jobs {
			link(p, j)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// courses reads the manifest and applies the course filter.
func (r *runner) courses() ([]organize.ManifestCourse, error) {
	all, err := organize.ReadManifest(r.outDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no course manifest in %s (run the organize stage first)", r.outDir)
		}
		return nil, fmt.Errorf("reading the course manifest of %s: %w", r.outDir, err)
	}
	var out []organize.ManifestCourse
	for _, c := range all {
		if MatchCourse(r.opts.CourseFilter, c) {
			out = append(out, c)
		}
	}
	if r.opts.CourseFilter != "" && len(out) == 0 {
		return nil, fmt.Errorf("no course of the manifest matches %q", r.opts.CourseFilter)
	}
	return out, nil
}

func link(up, down *job) { linkEdge(up, down, false) }

// linkSoft makes down wait for up without inheriting up's failure (Stage.After).
func linkSoft(up, down *job) { linkEdge(up, down, true) }

func linkEdge(up, down *job, soft bool) {
	down.deps = append(down.deps, up)
	up.down = append(up.down, down)
	up.downSoft = append(up.downSoft, soft)
}

// courseJobs plans the course stages of every course and the cohort stages after them. Job ids
// start at firstID. Jobs come in manifest order, each course's stages in table order, which is
// a topological order.
func (r *runner) courseJobs(courses []organize.ManifestCourse, firstID int) []*job {
	var jobs []*job
	byStage := map[string][]*job{}
	add := func(j *job) {
		j.id = firstID + len(jobs)
		jobs = append(jobs, j)
		byStage[j.stage.Name] = append(byStage[j.stage.Name], j)
	}
	for ci, c := range courses {
		mine := map[string]*job{}
		for i := range r.table {
			s := &r.table[i]
			if s.Scope != pipeline.Course || !r.selected[s.Name] {
				continue
			}
			j := r.newJob(0, i, c.Path, ci)
			mine[s.Name] = j
			add(j)
			r.planCourseJob(j, c, mine)
		}
	}
	var post []*job
	for i := range r.table {
		s := &r.table[i]
		if s.Scope != pipeline.Cohort || r.isPre(i) || !r.selected[s.Name] {
			continue
		}
		j := r.newJob(0, i, "", len(courses)+len(post))
		needs := s.Needs
		if len(needs) == 0 {
			for k := range r.table {
				if r.table[k].Scope == pipeline.Course {
					needs = append(needs, r.table[k].Name)
				}
			}
		}
		for _, n := range needs {
			for _, up := range byStage[n] {
				link(up, j)
			}
		}
		rerun := ""
		for _, up := range j.deps {
			if up.act == actRun {
				rerun = up.stage.Name
				break
			}
		}
		switch s := firstLine(j.sentinel); {
		case r.opts.ForceRedo:
			j.act, j.why = actRun, "force-redo"
		case rerun != "":
			j.act, j.why = actRun, fmt.Sprintf("course jobs of %s run in this run", rerun)
		case s == "ok":
			j.act, j.why = actResume, "sentinel says ok and no course job runs"
		case s == "":
			j.act, j.why = actRun, "missing sentinel"
		default:
			j.act, j.why = actRun, "sentinel says "+s
		}
		post = append(post, j)
		add(j)
	}
	return jobs
}

// planCourseJob decides whether a course job runs, is resumed or is skipped, and links it to the
// same course's upstream jobs of this run (mine).
func (r *runner) planCourseJob(j *job, c organize.ManifestCourse, mine map[string]*job) {
	if c.Status != "ok" {
		j.act, j.root, j.why = actSkip, "organize", "upstream organize failed"
		return
	}
	rerun := ""
	for _, n := range j.stage.Needs {
		up := &r.table[r.stageIdx[n]]
		if !up.Enabled(r.cfg) {
			continue // a disabled stage neither blocks nor is waited for
		}
		if uj, ok := mine[n]; ok {
			link(uj, j)
			switch uj.act {
			case actSkip:
				j.act, j.root, j.why = actSkip, uj.root, "upstream "+uj.root+" failed"
				return
			case actRun:
				if rerun == "" {
					rerun = n
				}
			}
			continue
		}
		if up.Scope != pipeline.Course {
			continue
		}
		// Not part of this run: its recorded outcome may still block the course.
		s := firstLine(filepath.Join(r.outDir, filepath.FromSlash(c.Path), up.Sentinel))
		if strings.HasPrefix(s, "failed") {
			j.act, j.root, j.why = actSkip, n, "upstream "+n+" failed"
			return
		}
		if rest, ok := strings.CutPrefix(s, "skipped: upstream "); ok {
			if root, ok := strings.CutSuffix(rest, " failed"); ok {
				j.act, j.root, j.why = actSkip, root, "upstream "+root+" failed"
				return
			}
		}
	}
	// Stages the job runs after without depending on their success (e.g. DVH after
	// segmentation: a manual structure set still gives DVHs when segmentation fails).
	for _, n := range j.stage.After {
		up := &r.table[r.stageIdx[n]]
		if !up.Enabled(r.cfg) {
			continue
		}
		if uj, ok := mine[n]; ok {
			linkSoft(uj, j)
			if uj.act == actRun && rerun == "" {
				rerun = n
			}
		}
	}
	switch s := firstLine(j.sentinel); {
	case r.opts.ForceRedo:
		j.act, j.why = actRun, "force-redo"
	case rerun != "":
		j.act, j.why = actRun, "upstream "+rerun+" runs again"
	case s == "ok":
		j.act, j.why = actResume, "sentinel says ok"
	case s == "":
		j.act, j.why = actRun, "missing sentinel"
	default:
		j.act, j.why = actRun, "sentinel says "+s
	}
}
