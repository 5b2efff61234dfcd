package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/scheduler"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// runCohort synthesises a tiny cohort and writes a configuration with no reserved core and
// radiomics on, with the demo's light recipe. It returns the DICOM root and the config path.
func runCohort(t *testing.T, dir string, patients int) (string, string) {
	t.Helper()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: patients, Seed: 2, Matrix: 32, MinSlices: 8, MaxSlices: 10, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	params := filepath.Join(dir, DemoRadiomicsParamsFile)
	if err := os.WriteFile(params, demoRadiomicsParams, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cfg.yaml")
	body := "scheduler:\n  reserved_cores: 0\nradiomics:\n  enabled: true\n  params_file: " + params + "\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "in", "dicom"), cfg
}

func readSummary(t *testing.T, out string) scheduler.Summary {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, scheduler.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s scheduler.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// durations are radiomics_qc.json's per-ROI timings, the only run-dependent bytes of a course.
var durations = regexp.MustCompile(`"duration_seconds": [0-9.e+-]+`)

// stamps matches the wall-clock fields of the segmentation reports and manifests.
var stamps = regexp.MustCompile(`"(started_at|generated_at|completed_at|written_utc)": "[^"]*"`)

// TestRunRealTableByteIdentical runs the real stage table (organize, dvh, radiomics with the
// demo's light recipe) through `rtpipeline run` with --max-workers 1 and 2: every course stage
// ends ok with its sentinel, and the two output trees are byte-identical apart from the logs,
// the run summary and the per-ROI timings of radiomics_qc.json.
func TestRunRealTableByteIdentical(t *testing.T) {
	dir := t.TempDir()
	root, cfg := runCohort(t, dir, 2)
	trees := map[string]map[string][32]byte{}
	for _, w := range []string{"1", "2"} {
		out := filepath.Join(dir, "out"+w)
		stdout, stderr, code := run(t, "run", "--config", cfg, "--cores", "2", "--max-workers", w, "--dicom-root", root, "--outdir", out)
		if code != 0 {
			t.Fatalf("run --max-workers %s: %d\n%s\n%s", w, code, stdout, stderr)
		}
		sum := readSummary(t, out)
		if sum.Status != "ok" || fmt.Sprint(sum.WorkerBudget) != w || sum.Courses != 2 || len(sum.Stages) != 6 {
			t.Fatalf("summary: %+v", sum)
		}
		for _, s := range sum.Stages {
			if s.Jobs != s.OK || (s.Scope == "course" && s.Jobs != 2) || (s.Scope != "course" && s.Jobs != 1) {
				t.Errorf("--max-workers %s, stage %s: %+v", w, s.Stage, s)
			}
		}
		tree := map[string][32]byte{}
		filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(out, p)
			rel = filepath.ToSlash(rel)
			if strings.HasPrefix(rel, "Logs/") || rel == "_RESULTS/run_summary.json" {
				return nil
			}
			data, _ := os.ReadFile(p)
			if strings.HasSuffix(rel, "radiomics_qc.json") || strings.HasSuffix(rel, "segmentation.json") || strings.HasSuffix(rel, "Segmentation_Builtin/manifest.json") {
				// Timings and wall-clock stamps are the only parts allowed to differ.
				data = durations.ReplaceAll(data, []byte(`"duration_seconds": 0`))
				data = stamps.ReplaceAll(data, []byte(`"$1": ""`))
			}
			tree[rel] = sha256.Sum256(data)
			return nil
		})
		trees[w] = tree
		for _, c := range sum.Jobs {
			if c.Course == "" {
				continue
			}
			st, _ := pipeline.Lookup(c.Stage)
			sentinel := st.Sentinel
			data, err := os.ReadFile(filepath.Join(out, c.Course, sentinel))
			if err != nil || string(data) != "ok\n" {
				t.Errorf("%s %s sentinel %q (%v)", c.Stage, c.Course, data, err)
			}
			if _, err := os.Stat(filepath.Join(out, "Logs", c.Stage, strings.ReplaceAll(c.Course, "/", "_")+".log")); err != nil {
				t.Errorf("job log: %v", err)
			}
		}
	}
	for _, want := range []string{"dvh_metrics.csv", "radiomics_ct.csv", "radiomics_ct.parquet"} {
		found := false
		for p := range trees["1"] {
			found = found || strings.HasSuffix(p, "/"+want)
		}
		if !found {
			t.Errorf("no %s in the output", want)
		}
	}
	if len(trees["1"]) != len(trees["2"]) {
		t.Errorf("%d vs %d files", len(trees["1"]), len(trees["2"]))
	}
	for p, h := range trees["1"] {
		if trees["2"][p] != h {
			t.Errorf("%s differs between --max-workers 1 and 2", p)
		}
	}
}

// TestRunCommand: dry run, resume, course filter, stage selection and flag errors of
// `rtpipeline run`.
func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	root, cfg := runCohort(t, dir, 2)
	out := filepath.Join(dir, "out")
	base := []string{"run", "--config", cfg, "--cores", "3", "--dicom-root", root, "--outdir", out}

	// Dry run before anything exists: organize would run, courses are pending; nothing written.
	stdout, stderr, code := run(t, append(base, "--dry-run")...)
	if code != 0 || !strings.Contains(stdout, "rule organize:") || !strings.Contains(stdout, "Worker budget: 3 threads (cores 3") ||
		!strings.Contains(stdout, "radiomics_workers=1") || !strings.Contains(stdout, "pending until organize") {
		t.Fatalf("dry run: %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the dry run created the output folder")
	}

	if stdout, stderr, code = run(t, base...); code != 0 {
		t.Fatalf("run: %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "ok: 2 courses (0 failed)") || !strings.Contains(stdout, "run_summary.json") {
		t.Errorf("run output:\n%s", stdout)
	}

	// Dry run after: course jobs resume; with --force-redo they run, with threads and gates.
	stdout, _, _ = run(t, append(base, "--dry-run")...)
	if !strings.Contains(stdout, "resume  dvh") || strings.Contains(stdout, "rule dvh:") {
		t.Errorf("dry run after a run:\n%s", stdout)
	}
	stdout, _, _ = run(t, append(base, "--dry-run", "--force-redo", "--stages", "dvh,radiomics")...)
	for _, want := range []string{"rule dvh:", "    threads: 3\n", "rule radiomics:", "    resources: radiomics_workers=1\n", "reason: force-redo"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run --force-redo lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "rule organize:") {
		t.Errorf("organize planned although not selected:\n%s", stdout)
	}

	// A rerun resumes every course stage.
	if _, stderr, code = run(t, base...); code != 0 {
		t.Fatalf("rerun: %s", stderr)
	}
	sum := readSummary(t, out)
	// organize runs every time; segmentation, dvh, radiomics and qc of 2 courses and the
	// aggregation are resumed.
	if sum.Count(scheduler.StatusResumed) != 9 || sum.Count(scheduler.StatusOK) != 1 {
		t.Errorf("rerun: %d resumed, %d ok", sum.Count(scheduler.StatusResumed), sum.Count(scheduler.StatusOK))
	}

	// One course, dvh only, forced.
	courses, _ := filepath.Glob(filepath.Join(out, "*", "*", ".dvh_done"))
	one, _ := filepath.Rel(out, filepath.Dir(courses[0]))
	one = filepath.ToSlash(one)
	if _, stderr, code = run(t, append(base, "--stages", "dvh", "--course-filter", one, "--force-redo")...); code != 0 {
		t.Fatalf("dvh of %s: %s", one, stderr)
	}
	sum = readSummary(t, out)
	if len(sum.Jobs) != 1 || sum.Jobs[0].Course != one || sum.Jobs[0].Status != "ok" || sum.CourseFilter != one {
		t.Errorf("filtered run jobs %+v", sum.Jobs)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stages", "nope"}, `unknown stage "nope"`},
		{[]string{"--cores", "zero"}, "--cores"},
		{[]string{"--timeout", "dvh"}, "STAGE=DURATION"},
		{[]string{"--course-filter", "NOBODY", "--stages", "dvh"}, "no course of the manifest"},
	} {
		_, stderr, code := run(t, append(base, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: code %d, %q", tc.args, code, stderr)
		}
	}
}

// TestParseCores covers --cores.
func TestParseCores(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{{"all", cores(), true}, {"ALL", cores(), true}, {"", cores(), true}, {"4", 4, true}, {"0", 0, false}, {"-2", 0, false}, {"x", 0, false}} {
		n, err := parseCores(tc.in)
		if (err == nil) != tc.ok || (tc.ok && n != tc.want) {
			t.Errorf("%q: %d, %v", tc.in, n, err)
		}
	}
	var buf bytes.Buffer
	printSummary(&buf, "OUT", "OUT/Logs", &scheduler.Summary{Status: "failed", Jobs: []scheduler.JobRecord{{Stage: "dvh", Course: "P/C", Status: "failed", Reason: "boom"}}})
	if !strings.Contains(buf.String(), "failed: dvh P/C: boom (log: OUT/Logs/dvh/P_C.log)") {
		t.Errorf("summary:\n%s", buf.String())
	}
}
