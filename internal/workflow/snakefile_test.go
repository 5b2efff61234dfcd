package workflow

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite workflow/Snakefile from the stage table")

// TestSnakefileMatchesTable: the committed workflow/Snakefile is what the stage table generates,
// byte for byte, so the two cannot disagree.
func TestSnakefileMatchesTable(t *testing.T) {
	path := filepath.Join(testutil.RepoRoot(t), filepath.FromSlash(SnakefilePath))
	want := Snakefile(pipeline.Table())
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date; run go test ./internal/workflow -update", SnakefilePath)
	}
	if Snakefile(pipeline.Table()) != want {
		t.Error("Snakefile is not deterministic")
	}
}

// genericTable is a table with what pipeline.Table() does not have yet: a gated course stage,
// course stages that need it, and a cohort stage after the courses.
func genericTable() []pipeline.Stage {
	on := func(*config.Config) bool { return true }
	return []pipeline.Stage{
		pipeline.Table()[0],
		{Name: "segmentation", Scope: pipeline.Course, Gate: pipeline.GateSeg, Sentinel: ".segmentation_done", Enabled: on},
		{Name: "dvh", Scope: pipeline.Course, Needs: []string{"segmentation"}, ThreadsKey: "scheduler.dvh_threads_per_job", Sentinel: ".dvh_done", Enabled: on},
		{Name: "radiomics", Scope: pipeline.Course, Needs: []string{"segmentation"}, ThreadsKey: "scheduler.radiomics_threads_per_job", Sentinel: ".radiomics_done", Enabled: on},
		{Name: "aggregate", Scope: pipeline.Cohort, Sentinel: filepath.Join("_RESULTS", ".aggregate_done"), Enabled: on},
	}
}

func TestSnakefileGenericTable(t *testing.T) {
	sf := Snakefile(genericTable())
	for _, want := range []string{
		"# Stages: organize (checkpoint: writes the course manifest); per course: segmentation, dvh, radiomics; after every course: aggregate.",
		"checkpoint organize:\n    output:\n        os.path.join(OUTDIR, \"_COURSES\", \"manifest.json\"),\n",
		"rule segmentation:\n    input:\n        _course_inputs(\"segmentation\"),\n",
		"    resources:\n        workers=lambda wildcards, threads: threads,\n        seg_workers=1,\n    log:\n        os.path.join(LOGS, \"segmentation\", \"{patient}_{course}.log\"),\n",
		"    \"dvh\": [\"segmentation\"],\n",
		"COHORT_SENTINELS = {\n    \"aggregate\": \"_RESULTS/.aggregate_done\",\n}\n",
		"rule aggregate:\n    input:\n        lambda wildcards: _course_targets([\"segmentation\", \"dvh\", \"radiomics\"]),\n    output:\n        os.path.join(OUTDIR, \"_RESULTS\", \".aggregate_done\"),\n",
		"\"{RTPIPELINE:q} aggregate --outdir {params.outdir:q} --max-workers {threads} --fail-soft {CONFIG_ARGS:q} > {log:q} 2>&1\"",
		"\"{RTPIPELINE:q} radiomics --outdir {params.outdir:q} --course {wildcards.patient:q}/{wildcards.course:q} --max-workers {threads} --fail-soft {CONFIG_ARGS:q} > {log:q} 2>&1\"",
		"lambda wildcards: _course_targets() + _cohort_targets(),",
	} {
		if !strings.Contains(sf, want) {
			t.Errorf("generated Snakefile lacks\n%s", want)
		}
	}
	// A rule per stage, rule all first.
	if i, j := strings.Index(sf, "rule all:"), strings.Index(sf, "checkpoint organize:"); i < 0 || j < i {
		t.Error("rule all is not the first rule")
	}
	if n := strings.Count(sf, "\nrule "); n != 5 {
		t.Errorf("%d rules, want 5 (all + 3 course stages + aggregate)", n)
	}
}

func TestSnakefileRejectsBadTables(t *testing.T) {
	good := genericTable()
	cases := map[string]func([]pipeline.Stage) []pipeline.Stage{
		"empty":             func([]pipeline.Stage) []pipeline.Stage { return nil },
		"course first":      func(tb []pipeline.Stage) []pipeline.Stage { return tb[1:] },
		"unknown need":      func(tb []pipeline.Stage) []pipeline.Stage { tb[2].Needs = []string{"nope"}; return tb },
		"later need":        func(tb []pipeline.Stage) []pipeline.Stage { tb[1].Needs = []string{"dvh"}; return tb },
		"cohort need":       func(tb []pipeline.Stage) []pipeline.Stage { tb[2].Needs = []string{"organize"}; return tb },
		"duplicate":         func(tb []pipeline.Stage) []pipeline.Stage { tb[3].Name = "dvh"; return tb },
		"bad name":          func(tb []pipeline.Stage) []pipeline.Stage { tb[3].Name = "radio-mics"; return tb },
		"absolute sentinel": func(tb []pipeline.Stage) []pipeline.Stage { tb[3].Sentinel = "/x"; return tb },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			tb := mutate(append([]pipeline.Stage(nil), good...))
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			Snakefile(tb)
		})
	}
}

// TestPlan: the plan is the configuration's own budget, threads and gate sizes.
func TestPlan(t *testing.T) {
	cfg := config.Default()
	cfg.Scheduler.DVHThreadsPerJob = 3
	cfg.Radiomics.Enabled = false
	for _, cores := range []int{1, 2, 8, 64} {
		p := NewPlan(genericTable(), cfg, cores)
		if p.Budget != cfg.WorkerBudget(cores) || p.Cores != cores {
			t.Errorf("cores %d: budget %d, want %d", cores, p.Budget, cfg.WorkerBudget(cores))
		}
		for _, s := range genericTable() {
			sp := p.Stages[s.Name]
			if sp.Threads != cfg.StageThreads(s.Name, cores) || sp.Enabled != s.Enabled(cfg) || sp.Gate != s.Gate {
				t.Errorf("cores %d, %s: %+v", cores, s.Name, sp)
			}
		}
		if p.Gates[pipeline.GateSeg] != cfg.SegWorkers(cores) || len(p.Gates) != 1 {
			t.Errorf("cores %d: gates %v", cores, p.Gates)
		}
	}
	p := NewPlan(pipeline.Table(), cfg, 8)
	if p.Stages["dvh"].Threads != 3 || p.Stages["organize"].Threads != 7 || p.Stages["radiomics"].Enabled {
		t.Errorf("plan of the stage table: %+v", p.Stages)
	}
	if p.OutputDir != cfg.OutputDir || p.DicomRoot != cfg.DicomRoot || p.LogsDir != "" {
		t.Errorf("folders: %+v", p)
	}
}
