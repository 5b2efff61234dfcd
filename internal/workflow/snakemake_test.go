package workflow

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// snakemake runs Snakemake on a Snakefile in its own working folder and returns its output.
func snakemake(t *testing.T, snakefile, workdir string, args ...string) (string, error) {
	t.Helper()
	sm := testutil.Tool(t, "snakemake")
	cmd := exec.Command(sm, append([]string{"--snakefile", snakefile, "--directory", workdir, "--nocolor"}, args...)...)
	cmd.Env = append(os.Environ(), "RTPIPELINE_CONFIGFILE=", "RTPIPELINE_MAX_WORKERS=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fakeRtpipeline is a stand-in binary for the generic table: it prints a plan, organizes two
// courses, and records every stage call; segmentation jobs detect overlap (their gate admits one).
const fakeRtpipeline = `#!/bin/sh
set -eu
stage=$1; shift
out=""; course=""; workers=""
while [ $# -gt 0 ]; do
  case $1 in
    --outdir) out=$2; shift ;;
    --course) course=$2; shift ;;
    --max-workers) workers=$2; shift ;;
  esac
  shift
done
case $stage in
workflow)
  echo '{"cores": 4, "budget": 3, "dicom_root": "in", "output_dir": "out", "logs_dir": "logs",
    "stages": {"organize": {"threads": 3, "enabled": true}, "segmentation": {"threads": 1, "enabled": true, "gate": "seg_workers"},
      "dvh": {"threads": 2, "enabled": true}, "radiomics": {"threads": 1, "enabled": false}, "aggregate": {"threads": 3, "enabled": true}},
    "gates": {"seg_workers": 1}}' ;;
organize)
  for c in P2/C1 P1/C1; do mkdir -p "$out/$c"; echo ok > "$out/$c/.organized"; done
  mkdir -p "$out/_COURSES"
  echo '{"courses": [{"path": "P2/C1"}, {"path": "P1/C1"}]}' > "$out/_COURSES/manifest.json" ;;
segmentation)
  mkdir "$out/seg.lock" 2>/dev/null || echo overlap >> "$out/overlap"
  sleep 0.3
  rmdir "$out/seg.lock"
  echo "segmentation $course $workers" >> "$out/calls"; echo ok > "$out/$course/.segmentation_done" ;;
aggregate)
  echo "aggregate $workers" >> "$out/calls"; mkdir -p "$out/_RESULTS"; echo ok > "$out/_RESULTS/.aggregate_done" ;;
*)
  echo "$stage $course $workers" >> "$out/calls"; echo ok > "$out/$course/.${stage}_done" ;;
esac
`

// TestSnakemakeGenericTable runs the Snakefile of a table with a gated stage, needs and a cohort
// stage after the courses, on a fake rtpipeline: stages run in dependency order with the plan's
// threads, the gate admits one job at a time, disabled stages are not run, and the aggregation
// comes last.
func TestSnakemakeGenericTable(t *testing.T) {
	testutil.Tool(t, "snakemake")
	dir := t.TempDir()
	bin := filepath.Join(dir, "rtpipeline")
	sf := filepath.Join(dir, "Snakefile")
	os.WriteFile(bin, []byte(fakeRtpipeline), 0o755)
	os.WriteFile(sf, []byte(Snakefile(genericTable())), 0o644)
	out := filepath.Join(dir, "out")
	cfg := []string{"--config", "rtpipeline=" + bin, "outdir=" + out}

	dry, err := snakemake(t, sf, filepath.Join(dir, "wd"), append([]string{"-n", "--cores", "4"}, cfg...)...)
	if err != nil || !strings.Contains(dry, "checkpoint organize") {
		t.Fatalf("dry run: %v\n%s", err, dry)
	}
	log, err := snakemake(t, sf, filepath.Join(dir, "wd"), append([]string{"--cores", "4"}, cfg...)...)
	if err != nil {
		t.Fatalf("snakemake: %v\n%s", err, log)
	}
	if !strings.Contains(log, "Provided resources: seg_workers=1, workers=3") || !strings.Contains(log, "workers=2") {
		t.Errorf("job resources not shown as expected:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(out, "overlap")); err == nil {
		t.Error("two segmentation jobs ran at once through a gate of 1")
	}
	data, _ := os.ReadFile(filepath.Join(out, "calls"))
	calls := strings.Split(strings.TrimSpace(string(data)), "\n")
	pos := map[string]int{}
	for i, c := range calls {
		pos[c] = i
	}
	want := []string{"segmentation P1/C1 1", "segmentation P2/C1 1", "dvh P1/C1 2", "dvh P2/C1 2", "aggregate 3"}
	if got := slices.Sorted(slices.Values(calls)); !reflect.DeepEqual(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("calls %q, want %q", calls, want)
	}
	for _, c := range []string{"P1/C1", "P2/C1"} {
		if pos["dvh "+c+" 2"] < pos["segmentation "+c+" 1"] {
			t.Errorf("dvh of %s ran before its segmentation: %q", c, calls)
		}
	}
	if calls[len(calls)-1] != "aggregate 3" {
		t.Errorf("aggregate did not run last: %q", calls)
	}
	// Nothing left to do on a second run.
	log, err = snakemake(t, sf, filepath.Join(dir, "wd"), append([]string{"-n", "--cores", "4"}, cfg...)...)
	if err != nil || !strings.Contains(log, "Nothing to be done") {
		t.Errorf("second run: %v\n%s", err, log)
	}
}

// TestSnakemakeMatchesRun runs workflow/Snakefile with Snakemake on a synthetic cohort, one course
// of which fails its DVH (truncated RD.dcm), and the same cohort through the embedded scheduler
// (rtpipeline run) with another worker budget. Every output file must be byte-identical, apart
// from the exclusions listed at compareTrees, and both must lay out the same job logs.
func TestSnakemakeMatchesRun(t *testing.T) {
	testutil.Tool(t, "snakemake")
	if testing.Short() {
		t.Skip("builds rtpipeline and runs a cohort twice")
	}
	root := testutil.RepoRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "rtpipeline")
	build := exec.Command("go", "build", "-o", bin, "./cmd/rtpipeline")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rtp := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "RTPIPELINE_CONFIGFILE=", "RTPIPELINE_MAX_WORKERS=")
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("rtpipeline %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	in := filepath.Join(dir, "in")
	rtp(true, "synth", "--out", in, "--patients", "8", "--seed", "1", "--matrix", "32", "--min-slices", "8", "--max-slices", "10")
	// Radiomics stays on, with a light recipe (first order and GLCM on the original image).
	params := filepath.Join(dir, "params.yaml")
	os.WriteFile(params, []byte("setting:\n  binWidth: 25\nimageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n  glcm:\n"), 0o644)
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("radiomics:\n  enabled: true\n  params_file: "+params+"\n"), 0o644)
	// The course to break: the second of the manifest.
	breakCourse := func(out string) string {
		courses, err := organize.ReadManifest(out)
		if err != nil || len(courses) < 3 {
			t.Fatalf("manifest of %s: %v, %d courses", out, err, len(courses))
		}
		rd := filepath.Join(out, filepath.FromSlash(courses[1].Path), "RD.dcm")
		data, _ := os.ReadFile(rd)
		os.Remove(rd) // organize may have hard-linked it to the input
		os.WriteFile(rd, data[:300], 0o644)
		return courses[1].Path
	}

	// Snakemake, budget 1: the organize checkpoint first (as a target), break a course, then the rest.
	out1 := filepath.Join(dir, "out1")
	sf := filepath.Join(root, filepath.FromSlash(SnakefilePath))
	smArgs := []string{"--cores", "2", "--config", "dicom_root=" + filepath.Join(in, "dicom"), "outdir=" + out1,
		"rtpipeline=" + bin, "rtpipeline_config=" + cfg}
	if log, err := snakemake(t, sf, filepath.Join(dir, "wd"), append([]string{filepath.Join(out1, "_COURSES", "manifest.json")}, smArgs...)...); err != nil {
		t.Fatalf("snakemake organize: %v\n%s", err, log)
	}
	broken := breakCourse(out1)
	if log, err := snakemake(t, sf, filepath.Join(dir, "wd"), smArgs...); err != nil {
		t.Fatalf("snakemake: %v\n%s", err, log)
	}
	if s := firstLine(filepath.Join(out1, filepath.FromSlash(broken), ".dvh_done")); !strings.HasPrefix(s, "failed: ") {
		t.Errorf("broken course's DVH sentinel %q", s)
	}

	// The embedded scheduler, budget 2: organize, break the same course, the course stages (the
	// failed course makes the run exit non-zero).
	out2 := filepath.Join(dir, "out2")
	run := []string{"run", "--dicom-root", filepath.Join(in, "dicom"), "--outdir", out2, "--config", cfg, "--cores", "3"}
	rtp(true, append(run, "--stages", "organize")...)
	if b := breakCourse(out2); b != broken {
		t.Fatalf("manifests differ: broke %s and %s", broken, b)
	}
	var rest []string
	defaults := config.Default()
	defaults.Radiomics.Enabled = true // as the test's config file says
	for _, st := range pipeline.Table()[1:] {
		if st.Enabled(defaults) {
			rest = append(rest, st.Name)
		}
	}
	rtp(false, append(run, "--stages", strings.Join(rest, ","))...)

	compared := compareTrees(t, out1, out2)
	for _, want := range []string{"_COURSES/manifest.json", "dvh_metrics.csv", "dvh_curves.csv", "radiomics_ct.csv", ".dvh_done", ".radiomics_done",
		".segmentation_done", ".qc_done", "qc_report.json", "_RESULTS/dvh_metrics.csv", "_RESULTS/radiomics_ct.csv", "_RESULTS/qc_reports.parquet"} {
		if compared[want] == 0 {
			t.Errorf("no %s compared", want)
		}
	}
	t.Logf("compared: %v", compared)
}

// compareTrees requires the same files under a and b with the same bytes, once each root's path
// is replaced by "OUT" (failure reasons name the file that failed). Not compared:
//
//   - Logs/: job logs hold times; only their paths must match (Snakemake's are a subset of
//     rtpipeline run's, which adds run.log);
//   - _RESULTS/run_summary.json: rtpipeline run's timings, which Snakemake does not write;
//   - in metadata/radiomics_qc.json, metadata/segmentation*.json and the segmentation
//     manifests, the duration_seconds and generated_at/written_utc times (the rest is compared).
//
// It returns how many files of each name (each path under _COURSES/ and _RESULTS/; *.dcm for
// DICOM files) it compared.
func compareTrees(t *testing.T, a, b string) map[string]int {
	t.Helper()
	list := func(root string) map[string]bool {
		files := map[string]bool{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				files[filepath.ToSlash(rel)] = true
			}
			return err
		})
		return files
	}
	fa, fb := list(a), list(b)
	for rel := range fb {
		if !fa[rel] && !strings.HasPrefix(rel, "Logs/") && rel != "_RESULTS/run_summary.json" {
			t.Errorf("%s: only written by rtpipeline run", rel)
		}
	}
	counts := map[string]int{}
	for _, rel := range slices.Sorted(maps.Keys(fa)) {
		if !fb[rel] {
			t.Errorf("%s: only written by Snakemake", rel)
			continue
		}
		if strings.HasPrefix(rel, "Logs/") {
			counts["Logs/"]++
			continue
		}
		da, _ := os.ReadFile(filepath.Join(a, rel))
		db, _ := os.ReadFile(filepath.Join(b, rel))
		da, db = bytes.ReplaceAll(da, []byte(a), []byte("OUT")), bytes.ReplaceAll(db, []byte(b), []byte("OUT"))
		name := filepath.Base(rel)
		switch name {
		case "radiomics_qc.json", "segmentation.json", "segmentation_custom.json", "manifest.json":
			if !strings.HasPrefix(rel, "_COURSES/") {
				da, db = withoutDurations(t, da), withoutDurations(t, db)
			}
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs between Snakemake and rtpipeline run", rel)
		}
		switch {
		case strings.HasPrefix(rel, "_COURSES/") || strings.HasPrefix(rel, "_RESULTS/"):
			name = rel
		case filepath.Ext(name) == ".dcm":
			name = "*.dcm"
		}
		counts[name]++
	}
	return counts
}

// withoutDurations re-encodes a JSON document without its duration_seconds fields.
func withoutDurations(t *testing.T, data []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(any)
	strip = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "duration_seconds")
			delete(x, "generated_at")
			delete(x, "written_utc")
			delete(x, "completed_at")
			delete(x, "started_at")
			for _, e := range x {
				strip(e)
			}
		case []any:
			for _, e := range x {
				strip(e)
			}
		}
	}
	strip(v)
	out, _ := json.Marshal(v)
	return out
}
