package segmentation

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/extproc"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// TotalSegmentator runs the TotalSegmentator CLI, one run per task, on a NIfTI of the series
// written by the pipeline, and moves its per-ROI masks into the output folder as
// <task>--<roi>.nii.gz. See docs/segmentation.md for the exact command line and environment.
type TotalSegmentator struct {
	Options
	// Tasks are the TotalSegmentator tasks to run, in order; the first is the primary one.
	Tasks []string
	// LogDir receives one log per task (<task>.log); "" = <OutDir>/logs.
	LogDir string
}

// Segment implements Segmenter.
func (t *TotalSegmentator) Segment(ctx context.Context, in Input) (Output, error) {
	out := Output{Backend: BackendTotalSegmentator}
	if in.OutDir == "" {
		return out, errors.New("totalsegmentator: no output folder")
	}
	env := t.env()
	prog, err := extproc.LookPath(t.command(), env)
	if err != nil {
		var nf *extproc.NotFoundError
		if errors.As(err, &nf) {
			nf.Hint = tsHint
		}
		for _, task := range t.Tasks {
			out.Models = append(out.Models, ModelResult{Model: task, Err: err})
		}
		return out, err
	}
	if err := readInput(&in); err != nil {
		return out, err
	}
	if err := os.MkdirAll(in.OutDir, 0o755); err != nil {
		return out, err
	}
	key := seriesKey(in.SOPInstanceUIDs)
	head := Manifest{Backend: BackendTotalSegmentator, SourceDir: relTo(filepath.Dir(in.OutDir), in.CTDir), SeriesKey: key}
	man := ReadManifest(in.OutDir)
	logDir := t.LogDir
	if logDir == "" {
		logDir = filepath.Join(in.OutDir, "logs")
	}

	var work, nifti string
	defer func() {
		if work != "" {
			os.RemoveAll(work)
		}
	}()
	var errs []error
	for _, task := range t.Tasks {
		sig := t.signature(task, key)
		if !t.Force {
			if masks := man.complete(in.OutDir, task, sig); masks != nil {
				e := man.entry(task)
				out.Models = append(out.Models, ModelResult{Model: task, Masks: masks, Resumed: true, Version: e.Version})
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			out.Models = append(out.Models, ModelResult{Model: task, Err: err})
			errs = append(errs, err)
			break
		}
		if work == "" {
			if work, err = os.MkdirTemp(t.TempDir, "rtpipeline-totalseg-"); err != nil {
				return out, fmt.Errorf("scratch folder: %w", err)
			}
			nifti = filepath.Join(work, "image.nii.gz")
			if err := imageio.WriteNIfTI(nifti, in.CTImage); err != nil {
				return out, fmt.Errorf("writing the NIfTI input of TotalSegmentator: %w", err)
			}
		}
		res := t.runTask(ctx, prog, task, nifti, work, logDir, in)
		if res.Err == nil {
			res.Err = recordModel(in.OutDir, head, ManifestModel{Model: task, Signature: sig, Masks: relMasks(in.OutDir, res.Masks),
				Command: res.Command, Version: res.Version, CompletedAt: nowUTC(), DurationSec: res.Duration.Seconds()})
		} else {
			recordSkip(in.OutDir, head, task, firstLine(res.Err.Error()))
			errs = append(errs, fmt.Errorf("TotalSegmentator task %s: %w", task, res.Err))
		}
		out.Models = append(out.Models, res)
	}
	return out, errors.Join(errs...)
}

// runTask runs one task and moves its masks into the output folder.
func (t *TotalSegmentator) runTask(ctx context.Context, prog, task, nifti, work, logDir string, in Input) ModelResult {
	res := ModelResult{Model: task}
	raw := filepath.Join(work, task)
	if err := os.MkdirAll(raw, 0o755); err != nil {
		res.Err = err
		return res
	}
	args := t.Args(nifti, raw, task, in.Threads)
	res.Command = extproc.CommandLine(t.command(), args)
	res.Version = totalSegVersion(ctx, prog, t.env())
	start := time.Now()
	_, err := extproc.Run(ctx, extproc.Cmd{
		Path:    t.command(),
		Args:    args,
		Env:     t.Environment(in.Threads),
		Dir:     work,
		LogPath: filepath.Join(logDir, task+".log"),
		Timeout: t.Timeout,
		Grace:   t.Grace,
		Hint:    tsHint,
	})
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = err
		return res
	}
	produced, err := collectMasks(raw)
	if err != nil {
		res.Err = err
		return res
	}
	if len(produced) == 0 {
		res.Err = fmt.Errorf("TotalSegmentator exited normally but wrote no mask into %s (log: %s)", raw, filepath.Join(logDir, task+".log"))
		return res
	}
	if err := clearModelMasks(in.OutDir, task); err != nil {
		res.Err = err
		return res
	}
	for _, p := range produced {
		roi, ext := splitNIfTIName(filepath.Base(p))
		dst := filepath.Join(in.OutDir, task+"--"+roi+ext)
		if err := moveFile(p, dst); err != nil {
			res.Err = fmt.Errorf("moving %s: %w", p, err)
			return res
		}
		res.Masks = append(res.Masks, MaskFile{ROI: roi, Path: dst})
	}
	sortMasks(res.Masks)
	writeVersionSidecar(in.OutDir, task, res.Version)
	return res
}

// Args returns TotalSegmentator's arguments for one task, in the order of the original pipeline:
//
//	-i IN -o OUT -ot nifti [--task X] [--fast] [--roi_subset a b …] [--force_split] -d DEV
//	--nr_thr_resamp N --nr_thr_saving N
//
// --task is omitted for total (the CLI's default); --roi_subset applies to total only (its ROI
// names are total's classes).
func (t *TotalSegmentator) Args(input, output, task string, threads int) []string {
	args := []string{"-i", input, "-o", output, "-ot", "nifti"}
	if task != "total" {
		args = append(args, "--task", task)
	}
	if t.Fast {
		args = append(args, "--fast")
	}
	if task == "total" && len(t.ROISubset) > 0 {
		args = append(args, "--roi_subset")
		args = append(args, t.ROISubset...)
	}
	if t.ForceSplit {
		args = append(args, "--force_split")
	}
	args = append(args, "-d", tsDevice(t.Device))
	resamp, save := t.nrThreads(threads)
	args = append(args, "--nr_thr_resamp", strconv.Itoa(resamp), "--nr_thr_saving", strconv.Itoa(save))
	return args
}

// nrThreads returns --nr_thr_resamp and --nr_thr_saving: the configured values, else half the
// job's threads clamped to [1, 8] (the original took half the machine's CPUs, at least 2).
func (t *TotalSegmentator) nrThreads(threads int) (int, int) {
	if threads <= 0 {
		threads = t.threads()
	}
	def := min(max(threads/2, 1), 8)
	resamp, save := def, def
	if t.NrThreadsResample > 0 {
		resamp = t.NrThreadsResample
	}
	if t.NrThreadsSave > 0 {
		save = t.NrThreadsSave
	}
	return resamp, save
}

// signature hashes what changes a task's output: the series, the task, --fast and, for total,
// the ROI subset. Device, threads and paths do not.
func (t *TotalSegmentator) signature(task, key string) string {
	subset := ""
	if task == "total" {
		s := append([]string(nil), t.ROISubset...)
		sort.Strings(s)
		subset = strings.Join(s, ",")
	}
	return signature("totalsegmentator", task, key, strconv.FormatBool(t.Fast), subset)
}

// tsDevice maps the configured device onto TotalSegmentator's -d values (gpu, cpu, mps, gpu:N).
func tsDevice(d string) string {
	switch d {
	case "", "cuda":
		return "gpu"
	}
	if n, ok := strings.CutPrefix(d, "cuda:"); ok {
		return "gpu:" + n
	}
	return d
}

// threadVars are the BLAS/OpenMP thread limits set for external tools.
var threadVars = []string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"}

// Environment returns TotalSegmentator's environment: the base environment with the thread
// limits set (the job's threads on cpu, at most 4 on an accelerator, where the CPU only feeds
// the device), and TotalSegmentator's settings added where the base environment does not have
// them: TOTALSEG_NUM_PROCESSES_PREPROCESSING and _SEGMENTATION_EXPORT (1),
// TOTALSEG_FORCE_TORCH_NUM_THREADS=1, TOTALSEG_PRELOAD_WEIGHTS=1, TOTALSEG_ACCELERATOR (cuda for
// gpu) and TOTALSEG_DEVICE, TOTALSEG_WEIGHTS_PATH (WeightsDir) and, when a weights path is known,
// nnUNet_results, nnUNet_raw and nnUNet_preprocessed pointing at it. TMPDIR is TempDir when set.
func (t *TotalSegmentator) Environment(threads int) []string {
	if threads <= 0 {
		threads = t.threads()
	}
	e := newEnv(t.env())
	dev := tsDevice(t.Device)
	limit := threads
	if dev != "cpu" {
		limit = min(4, threads)
	}
	for _, v := range threadVars {
		e.set(v, strconv.Itoa(limit))
	}
	e.setDefault("TOTALSEG_NUM_PROCESSES_PREPROCESSING", strconv.Itoa(max(t.NumProcPreprocessing, 1)))
	e.setDefault("TOTALSEG_NUM_PROCESSES_SEGMENTATION_EXPORT", strconv.Itoa(max(t.NumProcExport, 1)))
	e.setDefault("TOTALSEG_FORCE_TORCH_NUM_THREADS", "1")
	e.setDefault("TOTALSEG_PRELOAD_WEIGHTS", "1")
	acc := dev
	if dev == "gpu" || strings.HasPrefix(dev, "gpu:") {
		acc = "cuda"
	}
	e.setDefault("TOTALSEG_ACCELERATOR", acc)
	e.setDefault("TOTALSEG_DEVICE", dev)
	if t.WeightsDir != "" {
		e.setDefault("TOTALSEG_WEIGHTS_PATH", t.WeightsDir)
	}
	if w, ok := e.get("TOTALSEG_WEIGHTS_PATH"); ok && w != "" {
		e.setDefault("nnUNet_results", w)
		e.setDefault("nnUNet_raw", w)
		e.setDefault("nnUNet_preprocessed", w)
	}
	if t.TempDir != "" {
		e.set("TMPDIR", t.TempDir)
	}
	return e.list()
}

// collectMasks lists the per-ROI masks TotalSegmentator wrote into dir (and, for older versions,
// dir/segmentations), leaving out the multilabel segmentations.nii.gz.
func collectMasks(dir string) ([]string, error) {
	var out []string
	for _, d := range []string{dir, filepath.Join(dir, "segmentations")} {
		entries, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && d != dir {
				continue
			}
			return nil, err
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".nii.gz") || strings.HasSuffix(name, ".nii")) {
				continue
			}
			if roi, _ := splitNIfTIName(name); roi == "segmentations" {
				continue
			}
			out = append(out, filepath.Join(d, name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// splitNIfTIName splits "liver.nii.gz" into "liver" and ".nii.gz".
func splitNIfTIName(name string) (string, string) {
	for _, ext := range []string{".nii.gz", ".nii"} {
		if s, ok := strings.CutSuffix(name, ext); ok {
			return s, ext
		}
	}
	return name, ""
}

// versionSidecar is <model>--ts_version.json.
type versionSidecar struct {
	Version    string `json:"totalsegmentator_version"`
	Model      string `json:"model"`
	WrittenUTC string `json:"written_utc"`
}

// writeVersionSidecar records the TotalSegmentator version next to a task's masks; it never
// fails the task.
func writeVersionSidecar(dir, model, version string) {
	writeJSON(filepath.Join(dir, model+"--ts_version.json"), versionSidecar{Version: version, Model: model, WrittenUTC: nowUTC()})
}

var (
	versionCache sync.Map // resolved program path → version
	versionRE    = regexp.MustCompile(`^v?(\d+(?:\.\d+)+\S*)$`)
)

// totalSegVersion returns the version of the TotalSegmentator at prog: what `prog --version`
// prints, else the Version of the TotalSegmentator dist-info of the Python environment prog
// belongs to, else "unknown". It is cached per program.
func totalSegVersion(ctx context.Context, prog string, env []string) string {
	key := prog
	if r, err := filepath.EvalSymlinks(prog); err == nil {
		key = r
	}
	if v, ok := versionCache.Load(key); ok {
		return v.(string)
	}
	v := versionFromCLI(ctx, prog, env)
	if v == "" {
		v = versionFromMetadata(prog)
	}
	if v == "" {
		v = "unknown"
	}
	versionCache.Store(key, v)
	return v
}

func versionFromCLI(ctx context.Context, prog string, env []string) string {
	var stdout bytes.Buffer
	if _, err := extproc.Run(ctx, extproc.Cmd{Path: prog, Args: []string{"--version"}, Env: env, Stdout: &stdout, Timeout: 20 * time.Second, Grace: time.Second}); err != nil {
		return ""
	}
	lines := strings.Fields(stdout.String())
	for i := len(lines) - 1; i >= 0; i-- {
		if m := versionRE.FindStringSubmatch(lines[i]); m != nil {
			return m[1]
		}
	}
	return ""
}

// versionFromMetadata reads <prefix>/lib/python3*/site-packages/TotalSegmentator-*.dist-info/
// METADATA of the environment whose bin folder holds prog.
func versionFromMetadata(prog string) string {
	if r, err := filepath.EvalSymlinks(prog); err == nil {
		prog = r
	}
	prefix := filepath.Dir(filepath.Dir(prog))
	var files []string
	for _, pat := range []string{"[Tt]otal[Ss]egmentator-*.dist-info", "totalsegmentator-*.dist-info"} {
		m, _ := filepath.Glob(filepath.Join(prefix, "lib", "python3*", "site-packages", pat, "METADATA"))
		files = append(files, m...)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Version:"); ok {
				if v = strings.TrimSpace(v); v != "" {
					return v
				}
			}
		}
	}
	return ""
}

// env is an ordered environment with set and set-if-absent.
type env struct {
	keys []string
	vals map[string]string
}

func newEnv(base []string) *env {
	e := &env{vals: map[string]string{}}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		e.set(k, v)
	}
	return e
}

func (e *env) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

func (e *env) setDefault(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.set(k, v)
	}
}

func (e *env) get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

func (e *env) list() []string {
	out := make([]string, len(e.keys))
	for i, k := range e.keys {
		out[i] = k + "=" + e.vals[k]
	}
	return out
}

// relTo is path relative to base with forward slashes, path itself when it is not below base.
func relTo(base, path string) string {
	rel, err := filepath.Rel(base, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}
