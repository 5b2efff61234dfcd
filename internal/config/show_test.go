package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func show(t *testing.T, c *Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Show(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestShowDefaultGolden pins the exact output of `rtpipeline config show` for the defaults.
func TestShowDefaultGolden(t *testing.T) {
	golden := filepath.Join("testdata", "show_default.golden")
	got := show(t, Default())
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Show(Default()) differs from %s; run go test ./internal/config -update if intended:\n%s", golden, got)
	}
}

func TestShowSourcesAndStability(t *testing.T) {
	path := writeConfig(t, "scheduler:\n  dvh_threads_per_job: 3\nsegmentation:\n  device: cpu\n  workers: 2\n")
	opts := LoadOptions{
		File:      path,
		Env:       envOf(map[string]string{EnvMaxWorkers: "6"}),
		Overrides: []Override{{Key: "organize.merge_criteria", Value: "frame_of_reference", Source: "flag --merge-criteria"}},
	}
	c, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	out := show(t, c)
	for _, want := range []string{
		"max_workers: 6",
		"# env RTPIPELINE_MAX_WORKERS\n",
		"  dvh_threads_per_job: 3",
		"# file " + path + ":2\n",
		"  device: cpu",
		"# file " + path + ":4\n",
		"  max_workers: 2",
		"# file " + path + ":5\n",
		"  merge_criteria: frame_of_reference",
		"# flag --merge-criteria\n",
		"  qc_threads_per_job: 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Show output lacks %q:\n%s", want, out)
		}
	}
	for i := range 5 {
		c2, err := Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		if again := show(t, c2); again != out {
			t.Fatalf("run %d: Show output changed", i)
		}
	}
	// Sections and keys appear in registry order, each line under its section.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	n := 0
	for i := range registry {
		if !registry[i].section && registry[i].field == nil {
			continue
		}
		want := strings.Repeat("  ", depth(registry[i].name)) + leaf(registry[i].name) + ":"
		if n >= len(lines) || !strings.HasPrefix(lines[n], want) {
			t.Fatalf("line %d = %q, want it to start with %q", n+1, lines[n], want)
		}
		n++
	}
	if n != len(lines) {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
}

// Show's output is itself a valid config file that reproduces the same values, including strings
// YAML would otherwise read as numbers, booleans, nulls, comments or lists.
func TestShowRoundTrip(t *testing.T) {
	c, err := Load(LoadOptions{Env: noEnv, Overrides: []Override{
		{Key: "dicom_root", Value: "8", Source: "flag"},
		{Key: "output_dir", Value: "true", Source: "flag"},
		{Key: "logs_dir", Value: "/logs #1: x", Source: "flag"},
		{Key: "custom_structures", Value: "null", Source: "flag"},
		{Key: "environments.main", Value: "*star", Source: "flag"},
		{Key: "segmentation.temp_dir", Value: " spaced ", Source: "flag"},
		{Key: "custom_models.conda_activate", Value: "source /opt/a.sh && conda activate nn", Source: "flag"},
		{Key: "segmentation.roi_subset", Value: `["a, b", "[c]", "null", "it's", "é"]`, Source: "flag"},
		{Key: "segmentation.max_workers", Value: "all", Source: "flag"},
		{Key: "custom_models.max_workers", Value: "3", Source: "flag"},
		{Key: "aggregation.threads", Value: "5", Source: "flag"},
		{Key: "ct_cropping.superior_margin_cm", Value: "1.25", Source: "flag"},
		{Key: "organize.max_days", Value: "0", Source: "flag"},
		{Key: "radiomics_robustness.segmentation_perturbation.noise_levels", Value: "[0.5, 1e-3]", Source: "flag"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, show(t, c))
	back, err := Load(LoadOptions{File: path, Env: noEnv})
	if err != nil {
		t.Fatalf("Show output does not load: %v\n%s", err, show(t, c))
	}
	assertSameValues(t, back, c)
	if back.CustomStructures != "null" {
		t.Errorf("the literal string null became %q", back.CustomStructures)
	}
}

func TestDefaultYAMLLoads(t *testing.T) {
	c, err := Load(LoadOptions{File: writeConfig(t, string(DefaultYAML())), Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	assertSameValues(t, c, Default())
}
