package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/synth"
	"github.com/rtpipeline/rtpipeline/internal/workflow"
)

// TestStageCommandsTakeTheSnakefileFlags: every stage of the table has a command that accepts the
// flags workflow/Snakefile passes it.
func TestStageCommandsTakeTheSnakefileFlags(t *testing.T) {
	root := NewRootCommand(&bytes.Buffer{}, &bytes.Buffer{})
	for i, s := range pipeline.Table() {
		cmd, _, err := root.Find([]string{s.Name})
		if err != nil || cmd == root {
			t.Errorf("stage %s has no command", s.Name)
			continue
		}
		want := []string{"outdir", "max-workers", "config"}
		switch {
		case i == 0:
			want = append(want, "dicom-root")
		case s.Scope == pipeline.Course:
			want = append(want, "course", "fail-soft")
		default:
			want = append(want, "fail-soft")
		}
		for _, f := range want {
			if cmd.Flags().Lookup(f) == nil && cmd.InheritedFlags().Lookup(f) == nil {
				t.Errorf("rtpipeline %s has no --%s", s.Name, f)
			}
		}
	}
}

func TestWorkflowSnakefileAndPlan(t *testing.T) {
	stdout, _, code := run(t, "workflow", "snakefile")
	if code != 0 || stdout != workflow.Snakefile(pipeline.Table()) {
		t.Errorf("workflow snakefile: code %d, text differs from the generator", code)
	}
	out := filepath.Join(t.TempDir(), "sub", "Snakefile")
	if _, stderr, code := run(t, "workflow", "snakefile", "--out", out); code != 0 {
		t.Fatal(stderr)
	}
	if data, _ := os.ReadFile(out); string(data) != workflow.Snakefile(pipeline.Table()) {
		t.Error("--out wrote something else")
	}

	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfgFile, []byte("scheduler:\n  reserved_cores: 2\n  dvh_threads_per_job: 5\nradiomics:\n  enabled: false\noutput_dir: /data/out\n"), 0o644)
	stdout, stderr, code := run(t, "workflow", "plan", "--cores", "16", "--config", cfgFile, "--max-workers", "12")
	var got workflow.Plan
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil {
		t.Fatalf("workflow plan: code %d\n%s\n%s", code, stdout, stderr)
	}
	cfg, err := config.Load(config.LoadOptions{File: cfgFile, Env: func(string) string { return "" },
		Overrides: []config.Override{{Key: "max_workers", Value: "12"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := workflow.NewPlan(pipeline.Table(), cfg, 16); !reflect.DeepEqual(got, want) {
		t.Errorf("plan %+v, want %+v", got, want)
	}
	if got.Budget != 12 || got.Stages["dvh"].Threads != 5 || got.Stages["radiomics"].Enabled || got.OutputDir != "/data/out" {
		t.Errorf("plan %+v", got)
	}
	if _, _, code := run(t, "workflow", "plan", "--cores", "0"); code == 0 {
		t.Error("--cores 0 accepted")
	}
}

// TestCourseStageFailSoft: a failed course is recorded in its sentinel; --fail-soft turns the exit
// code to 0; a course whose organisation failed is skipped, and one over its time limit fails,
// with the embedded scheduler's words.
func TestCourseStageFailSoft(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 3, Seed: 2, Matrix: 32, MinSlices: 8, MaxSlices: 10, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, stderr, code := run(t, "organize", "--dicom-root", filepath.Join(dir, "in", "dicom"), "--outdir", out, "--max-workers", "2"); code != 0 {
		t.Fatal(stderr)
	}
	courses, err := organize.ReadManifest(out)
	if err != nil || len(courses) < 3 {
		t.Fatalf("manifest: %v, %d courses", err, len(courses))
	}
	sentinel := func(c organize.ManifestCourse, name string) string {
		data, _ := os.ReadFile(filepath.Join(out, filepath.FromSlash(c.Path), name))
		return strings.TrimSpace(string(data))
	}
	broken, unorganised := courses[0], courses[1]
	os.WriteFile(filepath.Join(out, filepath.FromSlash(broken.Path), "RD.dcm"), []byte("not DICOM"), 0o644)
	os.WriteFile(filepath.Join(out, filepath.FromSlash(unorganised.Path), organize.Sentinel), []byte("failed: test\n"), 0o644)

	stdout, _, code := run(t, "dvh", "--outdir", out, "--course", broken.Path, "--max-workers", "3")
	if code == 0 || !strings.HasPrefix(sentinel(broken, ".dvh_done"), "failed: ") || !strings.Contains(stdout, broken.Path+": failed: ") {
		t.Errorf("failed course without --fail-soft: code %d, sentinel %q\n%s", code, sentinel(broken, ".dvh_done"), stdout)
	}
	if _, stderr, code := run(t, "dvh", "--outdir", out, "--course", broken.Path, "--max-workers", "3", "--fail-soft"); code != 0 || !strings.HasPrefix(sentinel(broken, ".dvh_done"), "failed: ") {
		t.Errorf("failed course with --fail-soft: code %d, sentinel %q\n%s", code, sentinel(broken, ".dvh_done"), stderr)
	}
	for _, stage := range []string{"dvh", "radiomics"} {
		stdout, stderr, code := run(t, stage, "--outdir", out, "--course", unorganised.Path, "--max-workers", "1")
		st, _ := pipeline.Lookup(stage)
		if code != 0 || sentinel(unorganised, st.Sentinel) != "skipped: upstream organize failed" || !strings.Contains(stdout, "skipped (upstream organize failed)") {
			t.Errorf("%s of a course not organised: code %d, sentinel %q\n%s%s", stage, code, sentinel(unorganised, st.Sentinel), stdout, stderr)
		}
	}
	ok := courses[2]
	if _, _, code := run(t, "dvh", "--outdir", out, "--course", ok.Path, "--timeout", "1ns", "--fail-soft"); code != 0 || sentinel(ok, ".dvh_done") != "failed: timed out after 1ns" {
		t.Errorf("--timeout: code %d, sentinel %q", code, sentinel(ok, ".dvh_done"))
	}
	if _, _, code := run(t, "dvh", "--outdir", out, "--course", "NOBODY", "--fail-soft"); code == 0 {
		t.Error("an unknown course exited 0 under --fail-soft")
	}
}

// TestJobWorkers: --max-workers N is exactly N workers, whatever the machine; without it, the budget.
func TestJobWorkers(t *testing.T) {
	g := &globalFlags{}
	cmd := &cobra.Command{}
	cmd.Flags().IntVar(&g.maxWorkers, "max-workers", 0, "")
	cfg := config.Default()
	if n, err := g.jobWorkers(cmd, cfg); err != nil || n != cfg.WorkerBudget(cores()) {
		t.Errorf("no flag: %d %v", n, err)
	}
	cmd.Flags().Set("max-workers", "64")
	if n, err := g.jobWorkers(cmd, cfg); err != nil || n != 64 {
		t.Errorf("--max-workers 64: %d %v", n, err)
	}
	cmd.Flags().Set("max-workers", "0")
	if _, err := g.jobWorkers(cmd, cfg); err == nil {
		t.Error("--max-workers 0 accepted")
	}
}
