package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAggregateCommand(t *testing.T) {
	out := t.TempDir()
	if _, _, code := run(t, "aggregate", "--outdir", out); code == 0 {
		t.Fatal("aggregate without a manifest succeeded")
	}
	if err := os.MkdirAll(filepath.Join(out, "_COURSES"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "_COURSES", "manifest.json"), []byte(`{"courses": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, "aggregate", "--outdir", out, "--max-workers", "2")
	if code != 0 || !strings.Contains(stdout, "dvh_metrics: 0 rows") || !strings.Contains(stdout, "report.html") {
		t.Fatalf("aggregate: code %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"dvh_metrics.xlsx", "qc_reports.parquet", "case_metadata.csv", "README.md", "report.html", ".aggregate_done"} {
		if _, err := os.Stat(filepath.Join(out, "_RESULTS", f)); err != nil {
			t.Error(err)
		}
	}
}
