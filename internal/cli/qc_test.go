package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/qc"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// TestQCCommand: qc writes a report and an "ok" sentinel per organised course, prints one line
// per course, and refuses a --course that matches nothing.
func TestQCCommand(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 2, Seed: 4, Matrix: 32, MinSlices: 8, MaxSlices: 10, Workers: 2,
		Scenarios: []string{synth.ScenarioSingleCourse, synth.ScenarioMissingDose}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, stderr, code := run(t, "organize", "--dicom-root", filepath.Join(dir, "in", "dicom"), "--outdir", out, "--max-workers", "2"); code != 0 {
		t.Fatal(stderr)
	}
	stdout, stderr, code := run(t, "qc", "--outdir", out, "--max-workers", "2")
	if code != 0 {
		t.Fatalf("qc: code %d\n%s\n%s", code, stdout, stderr)
	}
	reports, _ := filepath.Glob(filepath.Join(out, "*", "*", qc.ReportDir, qc.ReportName))
	if len(reports) != 2 || strings.Count(stdout, ": ok (") != 2 {
		t.Fatalf("%d reports; output:\n%s", len(reports), stdout)
	}
	for _, r := range reports {
		rep, err := qc.ReadReport(filepath.Dir(filepath.Dir(r)))
		if err != nil || rep.StageStatus != "ok" || len(rep.Checks) < 30 {
			t.Errorf("%s: %v %+v", r, err, rep)
		}
	}
	if _, _, code := run(t, "qc", "--outdir", out, "--course", "NOBODY"); code == 0 {
		t.Error("qc with an unknown course exited 0")
	}
}
