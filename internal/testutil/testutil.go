// Package testutil locates the shared public test data and offers helpers used by several
// packages' tests.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// SharedTestdata returns ../shared/testdata/<sub> next to the repository (or under
// $RTPIPELINE_TESTDATA when set). When the folder is absent the test is skipped with a message, or
// fails when RTPIPELINE_REQUIRE_TESTDATA=1 (as in CI).
func SharedTestdata(t testing.TB, sub string) string {
	t.Helper()
	base := os.Getenv("RTPIPELINE_TESTDATA")
	if base == "" {
		base = filepath.Join(RepoRoot(t), "..", "shared", "testdata")
	}
	dir := filepath.Join(base, sub)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("RTPIPELINE_REQUIRE_TESTDATA") == "1" {
			t.Fatalf("shared test data %s is required (RTPIPELINE_REQUIRE_TESTDATA=1) but absent: %v", dir, err)
		}
		t.Skipf("shared test data %s absent; skipping (set RTPIPELINE_TESTDATA or place ../shared/testdata)", dir)
	}
	return dir
}

// Tool returns the path of an external program, skipping the test when it is not installed,
// unless RTPIPELINE_REQUIRE_TOOLS=1 makes that a failure.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("RTPIPELINE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (RTPIPELINE_REQUIRE_TOOLS=1) but not installed", name)
		}
		t.Skipf("%s not installed; skipping", name)
	}
	return p
}
