package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/aggregate"
	"github.com/rtpipeline/rtpipeline/internal/synth"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestOrganizeValidateAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 3, Seed: 2, Matrix: 32, MinSlices: 8, MaxSlices: 10, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "in", "dicom")
	out := filepath.Join(dir, "out")

	// validate writes nothing and lists the courses.
	stdout, stderr, code := run(t, "validate", root)
	if code != 0 || !strings.Contains(stdout, "courses") || !strings.Contains(stdout, "primary_boost_summed") {
		t.Fatalf("validate: code %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("validate created the output folder")
	}
	stdout, _, code = run(t, "validate", "--json", root)
	var rep struct {
		Summary struct{ Files, Courses int }
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Summary.Courses < 3 {
		t.Fatalf("validate --json: code %d, %q", code, stdout[:min(200, len(stdout))])
	}

	stdout, stderr, code = run(t, "organize", "--dicom-root", root, "--outdir", out, "--max-workers", "2", "--logs", filepath.Join(dir, "logs"))
	if code != 0 || !strings.Contains(stdout, "placed") {
		t.Fatalf("organize: code %d\n%s\n%s", code, stdout, stderr)
	}
	for _, p := range []string{"_COURSES/manifest.json", "_COURSES/organize_report.json", "Data/case_metadata.xlsx", "Data/fractions.csv"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("%s missing: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "organize.log")); err != nil {
		t.Errorf("log file: %v", err)
	}
	// The dvh stage on every organised course.
	stdout, stderr, code = run(t, "dvh", "--outdir", out, "--max-workers", "2")
	if code != 0 || strings.Count(stdout, ": ok (") != 3 {
		t.Fatalf("dvh: code %d\n%s\n%s", code, stdout, stderr)
	}
	metrics, _ := filepath.Glob(filepath.Join(out, "*", "*", "dvh_metrics.csv"))
	if len(metrics) != 3 {
		t.Errorf("%d dvh_metrics.csv files", len(metrics))
	}
	if _, _, code := run(t, "dvh", "--outdir", out, "--course", "NOBODY"); code == 0 {
		t.Error("dvh with an unknown course exited 0")
	}
	// Nothing to organise is an error; so is an unknown config key, naming it and the file.
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(empty, 0o755)
	if _, _, code := run(t, "organize", "--dicom-root", empty, "--outdir", filepath.Join(dir, "o2")); code == 0 {
		t.Error("organize of an empty folder exited 0")
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("scheduler:\n  dvh_thread_per_job: 3\n"), 0o644)
	_, stderr, code = run(t, "organize", "--config", bad, "--dicom-root", root, "--outdir", out)
	if code == 0 || !strings.Contains(stderr, "dvh_thread_per_job") || !strings.Contains(stderr, "bad.yaml") {
		t.Errorf("bad config: code %d, %q", code, stderr)
	}
}

func TestConfigShowAndDoctor(t *testing.T) {
	t.Setenv("RTPIPELINE_MAX_WORKERS", "3")
	stdout, _, code := run(t, "config", "show")
	if code != 0 || !strings.Contains(stdout, "max_workers: 3") || !strings.Contains(stdout, "env RTPIPELINE_MAX_WORKERS") {
		t.Fatalf("config show: %d\n%s", code, stdout)
	}
	stdout, _, code = run(t, "config", "show", "--max-workers", "5")
	if code != 0 || !strings.Contains(stdout, "max_workers: 5") || !strings.Contains(stdout, "flag --max-workers") {
		t.Fatalf("config show with flag: %d\n%s", code, stdout)
	}
	stdout, _, code = run(t, "doctor")
	for _, want := range []string{"rtpipeline", "CPU:", "TotalSegmentator", "nnUNetv2_predict", "snakemake", "dcm2niix", "plastimatch"} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("doctor output lacks %q (code %d)", want, code)
		}
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ { // the second run reuses the cohort and reorganises in place
		stdout, stderr, code := run(t, "demo", "--outdir", dir, "--patients", "4")
		if code != 0 {
			t.Fatalf("demo run %d: %d\n%s\n%s", i, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "output", "_COURSES", "manifest.json")); err != nil {
		t.Fatal(err)
	}
	// Every cohort result: each table in its three formats, the column README, the report and
	// the run summary.
	want := []string{"README.md", "report.html", "run_summary.json", ".aggregate_done"}
	for _, td := range aggregate.Tables() {
		for _, ext := range []string{".csv", ".xlsx", ".parquet"} {
			want = append(want, td.Name+ext)
		}
	}
	for _, f := range want {
		if _, err := os.Stat(filepath.Join(dir, "output", "_RESULTS", f)); err != nil {
			t.Errorf("demo did not write _RESULTS/%s: %v", f, err)
		}
	}
}

// TestOrganizeByteIdenticalAcrossMaxWorkers: `organize --max-workers 1` and `--max-workers 2`
// (with no reserved core, so 2 really means two workers) write byte-identical trees.
func TestOrganizeByteIdenticalAcrossMaxWorkers(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 18, Seed: 9, Matrix: 32, MinSlices: 8, MaxSlices: 12, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cfg.yaml")
	os.WriteFile(cfg, []byte("scheduler:\n  reserved_cores: 0\n"), 0o644)
	var trees []map[string][32]byte
	for _, w := range []string{"1", "2"} {
		out := filepath.Join(dir, "out"+w)
		if _, stderr, code := run(t, "organize", "--config", cfg, "--max-workers", w, "--dicom-root", filepath.Join(dir, "in", "dicom"), "--outdir", out); code != 0 {
			t.Fatalf("organize --max-workers %s: %s", w, stderr)
		}
		tree := map[string][32]byte{}
		filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(out, p)
				tree[rel] = sha256.Sum256(data)
			}
			return nil
		})
		trees = append(trees, tree)
	}
	if len(trees[0]) < 500 {
		t.Fatalf("only %d files", len(trees[0]))
	}
	for p, h := range trees[0] {
		if trees[1][p] != h {
			t.Errorf("%s differs between --max-workers 1 and 2", p)
		}
	}
	if len(trees[0]) != len(trees[1]) {
		t.Errorf("%d vs %d files", len(trees[0]), len(trees[1]))
	}
}

// TestDVHCalc: dvh-calc prints exactly roi_name, volume_cc and the requested metrics, lists
// skipped ROIs with a reason, and refuses unknown metrics.
func TestDVHCalc(t *testing.T) {
	root := testutil.SharedTestdata(t, "dicom-rt/nelms-dvh-analytical")
	rs := filepath.Join(root, "structures", "Sphere_10_0.dcm")
	rd := filepath.Join(root, "dose", "Linear_SupInf_2mm_Aligned.dcm")
	stdout, stderr, code := run(t, "dvh-calc", "--rtstruct", rs, "--rtdose", rd, "--format", "json",
		"--metrics", "Dmean,Dmin,Dmax,D99%,D95%,D5%,D1%,D0.03cc,V20Gy,V20Gy%")
	if code != 0 {
		t.Fatalf("%d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatal(err)
	}
	want := []string{"roi_name", "volume_cc", "Dmean", "Dmin", "Dmax", "D99%", "D95%", "D5%", "D1%", "D0.03cc", "V20Gy", "V20Gy%"}
	var sphere map[string]any
	for _, r := range rows {
		if _, skipped := r["skipped"]; skipped {
			if len(r) != 2 || r["roi_name"] != "POI_1" {
				t.Errorf("skipped row %v", r)
			}
			continue
		}
		sphere = r
	}
	if sphere == nil || len(sphere) != len(want) {
		t.Fatalf("rows %v", rows)
	}
	for _, k := range want {
		if _, ok := sphere[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	if math.Abs(sphere["Dmean"].(float64)-16) > 0.01 {
		t.Errorf("Dmean %v, want 16 Gy (the phantom centre)", sphere["Dmean"])
	}
	stdout, _, code = run(t, "dvh-calc", "--rtstruct", rs, "--rtdose", rd, "--roi", "sphere_10_0", "--metrics", "D95%,V20Gy")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 2 || lines[0] != "roi_name,volume_cc,D95%,V20Gy,skipped" {
		t.Fatalf("csv: %q", stdout)
	}
	if _, stderr, code := run(t, "dvh-calc", "--rtstruct", rs, "--rtdose", rd, "--metrics", "D95"); code == 0 || !strings.Contains(stderr, "unknown metric") {
		t.Errorf("bad metric accepted: %s", stderr)
	}
}
