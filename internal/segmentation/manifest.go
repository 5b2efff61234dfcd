package segmentation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// Manifest is the manifest.json of an output folder (Segmentation_TotalSegmentator,
// Segmentation_Builtin, an MR series' Segmentation_TotalSegmentator). It is rewritten atomically
// after every model, and a model is recorded only once all its masks are on disk, so a run killed
// half-way never leaves a model that looks complete.
type Manifest struct {
	// Backend is BackendBuiltin or BackendTotalSegmentator.
	Backend string `json:"backend"`
	// SourceDir is the image series segmented, relative to the output folder's parent.
	SourceDir string `json:"source_dir"`
	// SeriesKey identifies the series' instances (SHA-256 of its SOP instance UIDs).
	SeriesKey string `json:"series_key"`
	// GeneratedAt is when the manifest was last written (UTC, RFC 3339).
	GeneratedAt string `json:"generated_at"`
	// Models lists every completed model.
	Models []ManifestModel `json:"models"`
	// SkippedModels lists models that did not complete, with the reason.
	SkippedModels []SkippedModel `json:"skipped_models"`
}

// ManifestModel is one completed model of a Manifest.
type ManifestModel struct {
	// Model is the model or task name.
	Model string `json:"model"`
	// Signature hashes the series and the settings that change the output; a different one
	// re-runs the model.
	Signature string `json:"signature"`
	// Masks are the mask files, relative to the output folder.
	Masks []string `json:"masks"`
	// Command is the command line that produced the masks ("" for the built-in segmenter).
	Command string `json:"command,omitempty"`
	// Version is the tool's version.
	Version string `json:"version"`
	// CompletedAt is when the model finished (UTC, RFC 3339).
	CompletedAt string `json:"completed_at"`
	// DurationSec is how long it ran.
	DurationSec float64 `json:"duration_seconds"`
}

// SkippedModel is a model that did not complete.
type SkippedModel struct {
	Model  string `json:"model"`
	Reason string `json:"reason"`
}

// manifestLocks serialises read-modify-write cycles on one manifest within the process.
var manifestLocks sync.Map

func lockManifest(dir string) func() {
	v, _ := manifestLocks.LoadOrStore(filepath.Clean(dir), &sync.Mutex{})
	m := v.(*sync.Mutex)
	m.Lock()
	return m.Unlock
}

// ReadManifest reads dir/manifest.json; a missing or unreadable file gives an empty manifest.
func ReadManifest(dir string) *Manifest {
	m := &Manifest{}
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil || json.Unmarshal(data, m) != nil {
		return &Manifest{}
	}
	return m
}

// complete returns the model's recorded masks when its entry has this signature and a non-empty
// list of masks that are all on disk (inside dir); otherwise nil.
func (m *Manifest) complete(dir, model, sig string) []MaskFile {
	for _, e := range m.Models {
		if e.Model != model {
			continue
		}
		if e.Signature != sig || len(e.Masks) == 0 {
			return nil
		}
		var out []MaskFile
		for _, rel := range e.Masks {
			if rel == "" || filepath.IsAbs(rel) || strings.Contains(filepath.ToSlash(rel), "..") {
				return nil
			}
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
			roi := roiOfMask(model, filepath.Base(rel))
			if roi == "" {
				return nil
			}
			out = append(out, MaskFile{ROI: roi, Path: p})
		}
		sortMasks(out)
		return out
	}
	return nil
}

// entry returns the model's entry (nil when absent).
func (m *Manifest) entry(model string) *ManifestModel {
	for i := range m.Models {
		if m.Models[i].Model == model {
			return &m.Models[i]
		}
	}
	return nil
}

// recordModel stores a completed model in dir's manifest (replacing an earlier entry and any
// skip record) and writes it atomically.
func recordModel(dir string, head Manifest, e ManifestModel) error {
	unlock := lockManifest(dir)
	defer unlock()
	m := ReadManifest(dir)
	m.Backend, m.SourceDir, m.SeriesKey = head.Backend, head.SourceDir, head.SeriesKey
	kept := m.Models[:0]
	for _, x := range m.Models {
		if x.Model != e.Model {
			kept = append(kept, x)
		}
	}
	m.Models = append(kept, e)
	sort.SliceStable(m.Models, func(i, j int) bool { return m.Models[i].Model < m.Models[j].Model })
	m.SkippedModels = dropSkip(m.SkippedModels, e.Model)
	return writeManifest(dir, m)
}

// recordSkip notes a model that did not complete, removing its completed entry (its masks
// were cleared or are stale).
func recordSkip(dir string, head Manifest, model, reason string) error {
	unlock := lockManifest(dir)
	defer unlock()
	m := ReadManifest(dir)
	m.Backend, m.SourceDir, m.SeriesKey = head.Backend, head.SourceDir, head.SeriesKey
	kept := m.Models[:0]
	for _, x := range m.Models {
		if x.Model != model {
			kept = append(kept, x)
		}
	}
	m.Models = kept
	m.SkippedModels = append(dropSkip(m.SkippedModels, model), SkippedModel{Model: model, Reason: reason})
	return writeManifest(dir, m)
}

func dropSkip(list []SkippedModel, model string) []SkippedModel {
	out := list[:0]
	for _, s := range list {
		if s.Model != model {
			out = append(out, s)
		}
	}
	return out
}

func writeManifest(dir string, m *Manifest) error {
	if m.Models == nil {
		m.Models = []ManifestModel{}
	}
	if m.SkippedModels == nil {
		m.SkippedModels = []SkippedModel{}
	}
	m.GeneratedAt = nowUTC()
	return writeJSON(filepath.Join(dir, ManifestFile), m)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}

func nowUTC() string { return time.Now().UTC().Format(time.RFC3339) }

// relMasks lists mask paths relative to dir, with forward slashes.
func relMasks(dir string, masks []MaskFile) []string {
	out := make([]string, 0, len(masks))
	for _, m := range masks {
		rel, err := filepath.Rel(dir, m.Path)
		if err != nil {
			rel = filepath.Base(m.Path)
		}
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}
