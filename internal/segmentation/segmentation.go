// Package segmentation runs automatic segmentation on organised courses: the built-in segmenter,
// the external TotalSegmentator CLI, and custom nnU-Net models (nnUNetv2_predict, the v1
// nnUNet_predict, ensembles). Every backend writes one NIfTI mask per ROI on the grid of the
// image it was given, a manifest.json that makes reruns resume (a model whose recorded outputs
// are all on disk is not run again), and the course stages turn the masks into RTSTRUCTs
// (RS_auto.dcm, Segmentation_CustomModels/<name>/rtstruct.dcm).
//
// External programs run through internal/extproc: in their own process group, with a timeout,
// their output in a log file, and killed with all their children on timeout or cancellation.
//
// The exact command lines are documented in docs/segmentation.md ("Backends").
package segmentation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/extproc"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// Sentinels of the two course stages. The first line is "ok", "failed: <reason>" or
// "skipped: <reason>".
const (
	// Sentinel marks a course's segmentation stage.
	Sentinel = ".segmentation_done"
	// CustomSentinel marks a course's custom-model stage.
	CustomSentinel = ".custom_models_done"
)

// Output folders and files inside a course (or an MR series folder).
const (
	// DirBuiltin holds the built-in segmenter's masks, builtin--<roi>.nii.gz.
	DirBuiltin = "Segmentation_Builtin"
	// DirTotalSegmentator holds TotalSegmentator's masks, <model>--<roi>.nii.gz.
	DirTotalSegmentator = "Segmentation_TotalSegmentator"
	// DirCustomModels holds one folder per custom model, <name>/<name>--<roi>.nii.gz.
	DirCustomModels = "Segmentation_CustomModels"
	// AutoRTSTRUCT is the course's automatic structure set, built from the primary model's masks.
	AutoRTSTRUCT = "RS_auto.dcm"
	// ManifestFile records, per output folder, what each model produced.
	ManifestFile = "manifest.json"
	// QCFile is the course-level report of the segmentation stage.
	QCFile = "metadata/segmentation.json"
	// CustomQCFile is the course-level report of the custom-model stage.
	CustomQCFile = "metadata/segmentation_custom.json"
)

// Backend names as recorded in manifests and reports.
const (
	BackendBuiltin          = "builtin"
	BackendTotalSegmentator = "totalsegmentator"
)

// DefaultTotalSegmentator is the TotalSegmentator command looked up on PATH.
const DefaultTotalSegmentator = "TotalSegmentator"

// Input is one image to segment.
type Input struct {
	// CTDir is the folder of the image series' DICOM files (a course's DICOM/CT, or an MR
	// series' MR/<uid>/DICOM).
	CTDir string
	// CTImage is the series read from CTDir; nil = the backend reads it.
	CTImage *imageio.Image
	// SOPInstanceUIDs are the series' instances in slice order; they identify the input in the
	// manifest so that a changed series is segmented again. nil = read with CTImage.
	SOPInstanceUIDs []string
	// OutDir receives the masks and manifest.json.
	OutDir string
	// Threads is how many threads the job may use (at least 1).
	Threads int
}

// MaskFile is one ROI mask written by a backend.
type MaskFile struct {
	// ROI is the ROI name (the file name without the model prefix and extension).
	ROI string
	// Path is the mask's NIfTI file.
	Path string
}

// ModelResult is what one model (a TotalSegmentator task, the built-in segmenter) produced.
type ModelResult struct {
	// Model is the model or task name: "builtin", "total", "total_mr", an extra task.
	Model string
	// Masks are the model's masks, by ROI name.
	Masks []MaskFile
	// Resumed is true when the outputs of an earlier run were complete and nothing ran.
	Resumed bool
	// Command is the shell-quoted command line that ran ("" for the built-in segmenter and
	// resumed models).
	Command string
	// Version is the tool's version ("unknown" when it cannot be told).
	Version string
	// Duration is how long the model ran.
	Duration time.Duration
	// Err is the model's failure, nil when it succeeded.
	Err error
}

// Output is what a Segmenter produced for one Input.
type Output struct {
	// Backend is BackendBuiltin or BackendTotalSegmentator.
	Backend string
	// Models lists every model in the order run; the first is the primary one whose masks
	// become the automatic RTSTRUCT.
	Models []ModelResult
}

// Primary returns the first model's result (nil when there is none).
func (o *Output) Primary() *ModelResult {
	if len(o.Models) == 0 {
		return nil
	}
	return &o.Models[0]
}

// Segmenter segments one image series.
type Segmenter interface {
	// Segment writes one mask per ROI into in.OutDir, resuming complete earlier outputs. The
	// error is non-nil when any model failed; Output still lists every model with its Err.
	Segment(ctx context.Context, in Input) (Output, error)
}

// Options configure the segmentation stage; OptionsFromConfig fills them from the
// configuration.
type Options struct {
	// Backend is config.BackendAuto, BackendBuiltin or BackendTotalSegmentator.
	Backend config.Backend
	// Device is the TotalSegmentator device: gpu, cpu, mps (cuda is passed as gpu).
	Device string
	// Fast adds --fast.
	Fast bool
	// Force re-runs models whose outputs are complete.
	Force bool
	// ROISubset adds --roi_subset (applies to the total task only).
	ROISubset []string
	// ExtraModels are further TotalSegmentator tasks; names ending in _mr run on MR series.
	ExtraModels []string
	// ForceSplit adds --force_split.
	ForceSplit bool
	// NrThreadsResample and NrThreadsSave set --nr_thr_resamp / --nr_thr_saving; 0 = derived
	// from Threads.
	NrThreadsResample, NrThreadsSave int
	// NumProcPreprocessing and NumProcExport set TOTALSEG_NUM_PROCESSES_PREPROCESSING and
	// TOTALSEG_NUM_PROCESSES_SEGMENTATION_EXPORT when the environment does not; 0 = 1.
	NumProcPreprocessing, NumProcExport int
	// TempDir is the scratch folder for inputs and raw outputs; "" = the system's.
	TempDir string
	// Timeout bounds one TotalSegmentator run; 0 = no limit.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL when a run is stopped; 0 = extproc's default.
	Grace time.Duration
	// Threads is how many threads a job may use; 0 = 1.
	Threads int
	// Command is the TotalSegmentator program; "" = DefaultTotalSegmentator.
	Command string
	// WeightsDir sets TOTALSEG_WEIGHTS_PATH (and nnUNet_results/raw/preprocessed) when the
	// environment does not; "" = TotalSegmentator's own default (~/.totalsegmentator).
	WeightsDir string
	// Env is the base environment of the external programs; nil = os.Environ().
	Env []string
	// Builtin replaces the built-in segmenter (tests); nil = builtin.Segment.
	Builtin BuiltinFunc
}

// OptionsFromConfig maps the segmentation section onto Options for a job of `threads` threads.
func OptionsFromConfig(cfg *config.Config, threads int) Options {
	s := cfg.Segmentation
	o := Options{
		Backend:     s.Backend,
		Device:      string(s.Device),
		Fast:        s.Fast,
		Force:       s.Force,
		ROISubset:   append([]string(nil), s.ROISubset...),
		ExtraModels: append([]string(nil), s.ExtraModels...),
		ForceSplit:  s.ForceSplit,
		TempDir:     s.TempDir,
		Timeout:     time.Duration(s.TimeoutSeconds) * time.Second,
		Threads:     threads,
		Command:     s.Command,
		WeightsDir:  s.WeightsDir,
	}
	if s.NrThreadsResample != nil {
		o.NrThreadsResample = *s.NrThreadsResample
	}
	if s.NrThreadsSave != nil {
		o.NrThreadsSave = *s.NrThreadsSave
	}
	if s.NumProcPreprocessing != nil {
		o.NumProcPreprocessing = *s.NumProcPreprocessing
	}
	if s.NumProcExport != nil {
		o.NumProcExport = *s.NumProcExport
	}
	return o
}

func (o *Options) env() []string {
	if o.Env != nil {
		return o.Env
	}
	return os.Environ()
}

func (o *Options) command() string {
	if o.Command != "" {
		return o.Command
	}
	return DefaultTotalSegmentator
}

func (o *Options) threads() int { return max(o.Threads, 1) }

// tsHint completes the error when TotalSegmentator is missing.
const tsHint = "install it (`pip install TotalSegmentator`, in the environment named by environments.main) or set segmentation.command to its path, or set segmentation.backend: builtin"

// ResolveBackend decides the backend: builtin and totalsegmentator are taken as given; auto is
// totalsegmentator when the TotalSegmentator command is found (on the PATH of the environment),
// else builtin. The reason says why, for the report.
func ResolveBackend(o Options) (backend, reason string, err error) {
	switch o.Backend {
	case config.BackendBuiltin:
		return BackendBuiltin, "segmentation.backend: builtin", nil
	case config.BackendTotalSegmentator:
		return BackendTotalSegmentator, "segmentation.backend: totalsegmentator", nil
	case config.BackendAuto, "":
		if p, err := extproc.LookPath(o.command(), o.env()); err == nil {
			return BackendTotalSegmentator, "segmentation.backend: auto, and " + o.command() + " is installed (" + p + ")", nil
		}
		return BackendBuiltin, "segmentation.backend: auto, and " + o.command() + " is not on PATH", nil
	}
	return "", "", fmt.Errorf("unknown segmentation backend %q (want auto, builtin or totalsegmentator)", o.Backend)
}

// New returns the segmenter of a resolved backend for the CT (the total task plus the extra
// models not ending in _mr).
func New(backend string, o Options) (Segmenter, error) {
	switch backend {
	case BackendBuiltin:
		return &Builtin{Options: o}, nil
	case BackendTotalSegmentator:
		return &TotalSegmentator{Options: o, Tasks: CTTasks(o.ExtraModels)}, nil
	}
	return nil, fmt.Errorf("unknown segmentation backend %q", backend)
}

// CTTasks lists the TotalSegmentator tasks run on a CT: total, then each extra model not ending
// in _mr, without duplicates.
func CTTasks(extra []string) []string {
	return tasks("total", extra, false)
}

// MRTasks lists the tasks run on an MR series: total_mr, then each extra model ending in _mr.
func MRTasks(extra []string) []string {
	return tasks("total_mr", extra, true)
}

func tasks(first string, extra []string, mr bool) []string {
	out := []string{first}
	for _, m := range extra {
		m = strings.TrimSpace(m)
		if m == "" || strings.HasSuffix(m, "_mr") != mr || contains(out, m) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// SanitizeROI makes an ROI name safe as part of a file name: characters other than letters,
// digits, '.', '-' and '_' become '_', and "--" (the model separator) is collapsed.
func SanitizeROI(name string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(name) {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	s = strings.Trim(s, ".")
	if s == "" {
		s = "roi"
	}
	return s
}

// maskName is the file name of a model's ROI mask.
func maskName(model, roi string) string { return model + "--" + roi + ".nii.gz" }

// roiOfMask splits "<model>--<roi>.nii[.gz]" into its ROI, or "" when name is not a mask of model.
func roiOfMask(model, name string) string {
	rest, ok := strings.CutPrefix(name, model+"--")
	if !ok {
		return ""
	}
	switch {
	case strings.HasSuffix(rest, ".nii.gz"):
		return strings.TrimSuffix(rest, ".nii.gz")
	case strings.HasSuffix(rest, ".nii"):
		return strings.TrimSuffix(rest, ".nii")
	}
	return ""
}

// seriesKey identifies an image series by its instances: the SHA-256 of the SOP instance UIDs in
// slice order.
func seriesKey(uids []string) string {
	h := sha256.New()
	for _, u := range uids {
		h.Write([]byte(u))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// signature hashes the settings that change a model's output, so that changing them re-runs it.
func signature(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// readInput fills in.CTImage and in.SOPInstanceUIDs from in.CTDir when missing.
func readInput(in *Input) error {
	if in.CTImage != nil && in.SOPInstanceUIDs != nil {
		return nil
	}
	img, uids, err := imageio.ReadDICOMSeriesDir(in.CTDir)
	if err != nil {
		return fmt.Errorf("reading the image series %s: %w", in.CTDir, err)
	}
	if in.CTImage == nil {
		in.CTImage = img
	}
	if in.SOPInstanceUIDs == nil {
		in.SOPInstanceUIDs = uids
	}
	return nil
}

// clearModelMasks removes a model's masks from dir before new ones are written, so that ROIs the
// new run no longer produces do not linger.
func clearModelMasks(dir, model string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if !e.IsDir() && roiOfMask(model, e.Name()) != "" {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// moveFile renames src to dst, copying when they are on different file systems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	os.Remove(src)
	return nil
}

// sortMasks orders masks by ROI name.
func sortMasks(m []MaskFile) {
	sort.Slice(m, func(i, j int) bool { return m[i].ROI < m[j].ROI })
}

// oneLine flattens an error message for a sentinel.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// firstLine is the first line of an error message (the part before a quoted log tail).
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
