// Package fsutil holds the file-system primitives every stage relies on: atomic writes, hard links
// with a copy fallback, and names that are safe as folder names.
package fsutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// WriteFileAtomic writes data to a temporary file in the target's directory, syncs it and renames
// it over path, so a reader (or a rerun after a crash) sees either the old file or the whole new
// one, never a part.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic is WriteFileAtomic for content produced by a function.
func WriteAtomic(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LinkOrCopy places src at dst: a hard link when both are on one file system, else an atomic
// copy. An existing dst with the same content is left alone; one with other content is replaced.
// It reports whether dst is a hard link to src.
func LinkOrCopy(src, dst string) (linked bool, err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	si, err := os.Stat(src)
	if err != nil {
		return false, err
	}
	if di, err := os.Stat(dst); err == nil {
		if os.SameFile(si, di) {
			return true, nil
		}
		if same, _ := SameContent(src, dst); same {
			return false, nil
		}
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".link-tmp")
	os.Remove(tmp)
	if err := os.Link(src, tmp); err == nil {
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return false, err
		}
		return true, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	return false, WriteAtomic(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// SameContent tells whether two files hold the same bytes.
func SameContent(a, b string) (bool, error) {
	ai, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	bi, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	if ai.Size() != bi.Size() {
		return false, nil
	}
	ha, err := FileSHA256(a)
	if err != nil {
		return false, err
	}
	hb, err := FileSHA256(b)
	if err != nil {
		return false, err
	}
	return ha == hb, nil
}

// FileSHA256 returns the hex SHA-256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// SafeName turns an identifier (a patient ID, a UID, a label) into a name usable as one path
// component on every common file system and tool: accents are dropped ("Ünï" becomes "Uni"),
// ASCII letters, digits, '.', '-' and '_' are kept, every other character becomes '_', leading
// dots are replaced, and the result is at most maxLen bytes. An empty or all-dot input becomes
// "_". Different inputs can map to one name; callers that need uniqueness resolve clashes.
func SafeName(s string, maxLen int) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue // combining accent of the previous letter
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	for strings.HasPrefix(out, ".") {
		out = "_" + out[1:]
	}
	if maxLen > 0 && len(out) > maxLen {
		out = out[:maxLen]
	}
	if out == "" {
		out = "_"
	}
	return out
}

// ErrEscapesRoot reports a path that resolves outside the directory it must stay in.
var ErrEscapesRoot = errors.New("path escapes its root")

// Within tells whether path is root or lies inside it, after cleaning both.
func Within(root, path string) bool {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(path))
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}
