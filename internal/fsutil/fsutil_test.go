package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSafeName(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"SYN001", 64, "SYN001"},
		{"PAT/7 B", 64, "PAT_7_B"},
		{"Ünï-09", 64, "Uni-09"},
		{"..", 64, "_."},
		{".hidden", 64, "_hidden"},
		{"", 64, "_"},
		{"a\\b:c*?", 64, "a_b_c__"},
		{"1.2.840.113619.2.55", 8, "1.2.840."},
	}
	for _, c := range cases {
		if got := SafeName(c.in, c.max); got != c.want {
			t.Errorf("SafeName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWithin(t *testing.T) {
	cases := []struct {
		root, path string
		want       bool
	}{
		{"/a/b", "/a/b/c", true},
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/bc", false},
		{"/a/b", "/a/b/../c", false},
		{"/a/b", "/a", false},
	}
	for _, c := range cases {
		if got := Within(c.root, c.path); got != c.want {
			t.Errorf("Within(%q, %q) = %v", c.root, c.path, got)
		}
	}
}

func TestLinkOrCopyAndAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := WriteFileAtomic(src, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "sub", "dst")
	linked, err := LinkOrCopy(src, dst)
	if err != nil || !linked {
		t.Fatalf("linked=%v err=%v", linked, err)
	}
	// A second call leaves the link alone.
	if linked, err = LinkOrCopy(src, dst); err != nil || !linked {
		t.Fatalf("relink linked=%v err=%v", linked, err)
	}
	// A different file at dst is replaced.
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("other"), 0o644)
	if _, err := LinkOrCopy(other, dst); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(dst); string(data) != "other" {
		t.Fatalf("dst holds %q", data)
	}
	if data, _ := os.ReadFile(src); string(data) != "hello" {
		t.Fatalf("source changed to %q", data)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}
