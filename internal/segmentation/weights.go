package segmentation

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrWeightsMissing reports a network whose weights are neither in place nor available from an
// archive or source folder; the model is skipped, not failed.
var ErrWeightsMissing = errors.New("model weights missing")

// extractedMarker marks a dataset folder the pipeline extracted from an archive, which
// retain_weights: false may delete again.
const extractedMarker = ".rtpipeline-extracted"

// lockFile is the flock file guarding a results folder: extraction and purging hold it
// exclusively, predictions share it.
const lockFile = ".rtpipeline-weights.lock"

// weightsLock is an flock(2) on a results folder's lock file.
type weightsLock struct{ f *os.File }

func openWeightsLock(root string) (*weightsLock, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(root, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	return &weightsLock{f: f}, nil
}

func (l *weightsLock) lock(how int) error {
	for {
		err := syscall.Flock(int(l.f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (l *weightsLock) unlock() { syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN) }
func (l *weightsLock) close()  { l.unlock(); l.f.Close() }
func (l *weightsLock) tryExclusive() bool {
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// weightsTarget is where one network's weights must be.
type weightsTarget struct {
	net    *NetworkSpec
	root   string // nnUNet_results (v2) or RESULTS_FOLDER/nnUNet/<configuration> (v1)
	target string // root/<dataset_directory>; "" when unchecked
}

// ensureWeights places the network's weights at t.target when missing: a symbolic link to
// source_directory, or the archive extracted safely (no absolute paths, no "..", no links). The
// caller holds the exclusive lock of t.root.
func ensureWeights(modelDir string, t weightsTarget) error {
	if t.target == "" {
		return nil
	}
	if st, err := os.Stat(t.target); err == nil && st.IsDir() {
		return nil
	}
	n := t.net
	if n.SourceDirectory != "" {
		src := resolvePath(modelDir, n.SourceDirectory)
		if st, err := os.Stat(src); err == nil && st.IsDir() {
			os.Remove(t.target) // a dangling link
			if err := os.Symlink(src, t.target); err != nil {
				return fmt.Errorf("linking weights %s: %w", src, err)
			}
			return nil
		}
		if n.Archive == "" {
			return fmt.Errorf("%w: network %s: source_directory %s does not exist", ErrWeightsMissing, n.ID, src)
		}
	}
	if n.Archive != "" {
		zipPath := resolvePath(modelDir, n.Archive)
		if _, err := os.Stat(zipPath); err != nil {
			return fmt.Errorf("%w: network %s: archive %s: %v", ErrWeightsMissing, n.ID, zipPath, err)
		}
		return extractWeights(zipPath, t.root, t.target)
	}
	return fmt.Errorf("%w: network %s: %s does not exist and the model gives no archive or source_directory", ErrWeightsMissing, n.ID, t.target)
}

// extractWeights unpacks a weights archive into a staging folder under root and moves the
// dataset folder into place: the archive's top-level folder named like the target, else its only
// top-level folder when that is a dataset folder (Dataset…, Task…), else the whole archive (a zip
// of trainer folders).
func extractWeights(zipPath, root, target string) error {
	stage, err := os.MkdirTemp(root, ".rtpipeline-extract-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := unzipSafe(zipPath, stage); err != nil {
		return fmt.Errorf("extracting %s: %w", zipPath, err)
	}
	entries, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "__MACOSX" {
			dirs = append(dirs, e.Name())
		}
	}
	src := stage
	want := filepath.Base(target)
	switch {
	case contains(dirs, want):
		src = filepath.Join(stage, want)
	case len(dirs) == 1 && (strings.HasPrefix(dirs[0], "Dataset") || strings.HasPrefix(dirs[0], "Task")):
		// A dataset folder under another name.
		src = filepath.Join(stage, dirs[0])
	}
	if err := os.WriteFile(filepath.Join(src, extractedMarker), []byte(zipPath+"\n"), 0o644); err != nil {
		return err
	}
	if src == stage {
		// The staging folder itself becomes the dataset folder; make it survive the deferred
		// removal.
		if err := os.Rename(stage, target); err != nil {
			return err
		}
		return nil
	}
	return os.Rename(src, target)
}

// unzipSafe extracts a zip archive into dest, refusing absolute paths, parent references and
// symbolic links.
func unzipSafe(zipPath, dest string) error {
	r, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, f := range r.File {
		name := strings.ReplaceAll(f.Name, `\`, "/")
		clean := path.Clean(name)
		if name == "" || path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, ":") {
			return fmt.Errorf("unsafe entry %q", f.Name)
		}
		mode := f.Mode()
		if mode&os.ModeSymlink != 0 || mode&(os.ModeDevice|os.ModeNamedPipe|os.ModeSocket) != 0 {
			return fmt.Errorf("entry %q is not a regular file or folder", f.Name)
		}
		p := filepath.Join(dest, filepath.FromSlash(clean))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeZipEntry(f, p); err != nil {
			return err
		}
	}
	return nil
}

func writeZipEntry(f *zip.File, p string) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, rc); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// purgeWeights removes the dataset folders the pipeline placed (extracted or linked), leaving
// archives and source folders alone.
func purgeWeights(targets []weightsTarget) []string {
	var removed []string
	for _, t := range targets {
		if t.target == "" {
			continue
		}
		st, err := os.Lstat(t.target)
		switch {
		case err != nil:
			continue
		case st.Mode()&os.ModeSymlink != 0 && t.net.SourceDirectory != "":
			if os.Remove(t.target) == nil {
				removed = append(removed, t.target)
			}
		case st.IsDir():
			if _, err := os.Stat(filepath.Join(t.target, extractedMarker)); err == nil && os.RemoveAll(t.target) == nil {
				removed = append(removed, t.target)
			}
		}
	}
	return removed
}

// resolvePath takes a relative path from dir.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, filepath.FromSlash(p))
}
