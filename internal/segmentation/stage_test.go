package segmentation

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/extproc"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

func tsOptions(fe *fakeEnv) Options {
	return Options{Backend: config.BackendTotalSegmentator, Device: "cpu", Fast: true, ROISubset: []string{"heart", "lung_left"},
		ExtraModels: []string{"lung_vessels", "total_mr"}, ForceSplit: true, Threads: 4, WeightsDir: "/weights",
		Timeout: time.Minute, Env: fe.env}
}

// TestTotalSegmentatorCourse pins TotalSegmentator's command lines and environment, checks the
// outputs (masks, sidecar, manifest, RS_auto.dcm, MR series, report, sentinel) and resume.
func TestTotalSegmentatorCourse(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	mr := addMRSeries(t, dir, "2.25.4242")
	rsBefore, _ := os.ReadFile(filepath.Join(dir, "RS.dcm"))
	// The user's own settings win over the pipeline's defaults; thread limits do not.
	fe := newFakeEnv(t, true, "TOTALSEG_PRELOAD_WEIGHTS=0", "OMP_NUM_THREADS=99")
	opts := tsOptions(fe)
	res, err := RunCourse(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOK || res.Backend != BackendTotalSegmentator || sentinel(t, filepath.Join(dir, Sentinel)) != "ok" {
		t.Fatalf("result %+v, sentinel %q", res, sentinel(t, filepath.Join(dir, Sentinel)))
	}
	calls := fe.calls(t)
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3 (total, lung_vessels, total_mr): %+v", len(calls), calls)
	}
	w := calls[0].Dir
	eqArgs(t, "total", calls[0].Args, []string{"-i", w + "/image.nii.gz", "-o", w + "/total", "-ot", "nifti", "--fast",
		"--roi_subset", "heart", "lung_left", "--force_split", "-d", "cpu", "--nr_thr_resamp", "2", "--nr_thr_saving", "2"})
	eqArgs(t, "lung_vessels", calls[1].Args, []string{"-i", w + "/image.nii.gz", "-o", w + "/lung_vessels", "-ot", "nifti",
		"--task", "lung_vessels", "--fast", "--force_split", "-d", "cpu", "--nr_thr_resamp", "2", "--nr_thr_saving", "2"})
	wm := calls[2].Dir
	if wm == w {
		t.Error("the MR series ran in the CT's scratch folder")
	}
	eqArgs(t, "total_mr", calls[2].Args, []string{"-i", wm + "/image.nii.gz", "-o", wm + "/total_mr", "-ot", "nifti",
		"--task", "total_mr", "--fast", "--force_split", "-d", "cpu", "--nr_thr_resamp", "2", "--nr_thr_saving", "2"})
	wantEnv := map[string]string{
		"PATH": fakeBin + ":/usr/bin:/bin", "OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4", "MKL_NUM_THREADS": "4",
		"NUMEXPR_NUM_THREADS": "4", "NUMBA_NUM_THREADS": "4", "TOTALSEG_NUM_PROCESSES_PREPROCESSING": "1",
		"TOTALSEG_NUM_PROCESSES_SEGMENTATION_EXPORT": "1", "TOTALSEG_FORCE_TORCH_NUM_THREADS": "1", "TOTALSEG_PRELOAD_WEIGHTS": "0",
		"TOTALSEG_ACCELERATOR": "cpu", "TOTALSEG_DEVICE": "cpu", "TOTALSEG_WEIGHTS_PATH": "/weights",
		"nnUNet_results": "/weights", "nnUNet_raw": "/weights", "nnUNet_preprocessed": "/weights",
	}
	for k, v := range wantEnv {
		if calls[0].Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, calls[0].Env[k], v)
		}
	}
	if _, ok := calls[0].Env["TMPDIR"]; ok {
		t.Error("TMPDIR set without temp_dir")
	}

	seg := filepath.Join(dir, DirTotalSegmentator)
	for _, f := range []string{"total--heart.nii.gz", "total--lung_left.nii.gz", "lung_vessels--lung_vessels.nii.gz",
		"lung_vessels--lung_trachea_bronchia.nii.gz", "total--ts_version.json", "lung_vessels--ts_version.json", ManifestFile} {
		if !exists(filepath.Join(seg, f)) {
			t.Errorf("missing %s", f)
		}
	}
	if exists(filepath.Join(seg, "total--lung_right.nii.gz")) {
		t.Error("an ROI outside roi_subset was written")
	}
	var sidecar versionSidecar
	readJSON(t, filepath.Join(seg, "total--ts_version.json"), &sidecar)
	if sidecar.Version != "2.4.0" || sidecar.Model != "total" {
		t.Errorf("version sidecar %+v", sidecar)
	}
	man := ReadManifest(seg)
	if man.Backend != BackendTotalSegmentator || man.SourceDir != "DICOM/CT" || len(man.Models) != 2 ||
		man.Models[1].Model != "total" || strings.Join(man.Models[1].Masks, ",") != "total--heart.nii.gz,total--lung_left.nii.gz" ||
		!strings.HasPrefix(man.Models[1].Command, "TotalSegmentator -i ") || man.Models[1].Version != "2.4.0" {
		t.Errorf("manifest %+v", man)
	}
	// RS_auto.dcm holds the total model's masks; the manual RS.dcm is untouched.
	if got := strings.Join(roiNames(t, filepath.Join(dir, AutoRTSTRUCT)), ","); got != "heart,lung_left" {
		t.Errorf("RS_auto.dcm ROIs %s", got)
	}
	if rsAfter, _ := os.ReadFile(filepath.Join(dir, "RS.dcm")); string(rsAfter) != string(rsBefore) {
		t.Error("RS.dcm changed")
	}
	// The mask is on the CT grid, voxel for voxel.
	ct, _, err := imageio.ReadDICOMSeriesDir(filepath.Join(dir, "DICOM", "CT"))
	if err != nil {
		t.Fatal(err)
	}
	heart, err := imageio.ReadNIfTI(filepath.Join(seg, "total--heart.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if heart.Grid.Size != ct.Grid.Size || heart.Grid.Origin.Sub(ct.Grid.Origin).Norm() > 1e-3 {
		t.Errorf("mask grid %v %v, CT %v %v", heart.Grid.Size, heart.Grid.Origin, ct.Grid.Size, ct.Grid.Origin)
	}
	// MR series: total_mr only (extra models not ending in _mr run on the CT).
	if !exists(filepath.Join(mr, DirTotalSegmentator, "total_mr--heart.nii.gz")) || exists(filepath.Join(mr, DirTotalSegmentator, "lung_vessels--lung_vessels.nii.gz")) {
		t.Error("MR outputs wrong")
	}
	var qc QC
	readJSON(t, filepath.Join(dir, QCFile), &qc)
	if qc.Status != "ok" || qc.CT == nil || len(qc.CT.Models) != 2 || len(qc.MR) != 1 || qc.AutoRTSTRUCT == nil || len(qc.AutoRTSTRUCT.ROIs) != 2 ||
		!strings.Contains(qc.BackendReason, "totalsegmentator") {
		t.Errorf("qc %+v", qc)
	}
	if !exists(filepath.Join(dir, "logs", "segmentation", "total.log")) {
		t.Error("no TotalSegmentator log")
	}

	// Resume: nothing runs again, RS_auto.dcm is kept.
	rsAuto, _ := os.ReadFile(filepath.Join(dir, AutoRTSTRUCT))
	res, err = RunCourse(context.Background(), dir, opts)
	if err != nil || res.Status != StatusOK {
		t.Fatal(res, err)
	}
	if n := len(fe.calls(t)); n != 3 {
		t.Errorf("resume ran TotalSegmentator again (%d calls)", n)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, AutoRTSTRUCT)); string(again) != string(rsAuto) {
		t.Error("RS_auto.dcm rewritten on resume")
	}
	if !strings.Contains(res.Reason, "resumed total, lung_vessels, total_mr") || !strings.Contains(res.Reason, "RS_auto.dcm kept") {
		t.Errorf("reason %q", res.Reason)
	}
	// A changed ROI subset re-runs total only; a removed mask re-runs its model.
	opts.ROISubset = []string{"heart"}
	os.Remove(filepath.Join(mr, DirTotalSegmentator, "total_mr--spinal_cord.nii.gz"))
	if _, err := RunCourse(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	calls = fe.calls(t)
	if len(calls) != 5 {
		t.Fatalf("after changes: %d calls, want 5", len(calls))
	}
	w = calls[3].Dir
	eqArgs(t, "total, new subset", calls[3].Args, []string{"-i", w + "/image.nii.gz", "-o", w + "/total", "-ot", "nifti", "--fast",
		"--roi_subset", "heart", "--force_split", "-d", "cpu", "--nr_thr_resamp", "2", "--nr_thr_saving", "2"})
	if calls[4].Args[7] != "total_mr" {
		t.Errorf("fifth call %q", calls[4].Args)
	}
	if exists(filepath.Join(seg, "total--lung_left.nii.gz")) {
		t.Error("stale mask of the earlier run kept")
	}
	if got := strings.Join(roiNames(t, filepath.Join(dir, AutoRTSTRUCT)), ","); got != "heart" {
		t.Errorf("RS_auto.dcm not rewritten: %s", got)
	}
	// Force re-runs everything.
	opts.Force = true
	if _, err := RunCourse(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	if n := len(fe.calls(t)); n != 8 {
		t.Errorf("force: %d calls, want 8", n)
	}
}

// TestTotalSegmentatorEmptyMaskAndGPU: without roi_subset every class is written, the empty one
// stays out of RS_auto.dcm; on gpu the thread limit is at most 4 and the accelerator is cuda.
func TestTotalSegmentatorEmptyMaskAndGPU(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	fe := newFakeEnv(t, true)
	tmp := t.TempDir()
	opts := Options{Backend: config.BackendAuto, Device: "gpu", Threads: 16, NrThreadsResample: 3, NumProcExport: 2, TempDir: tmp, Env: fe.env}
	res, err := RunCourse(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Backend != BackendTotalSegmentator {
		t.Fatalf("auto with TotalSegmentator installed chose %s", res.Backend)
	}
	calls := fe.calls(t)
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	w := calls[0].Dir
	if filepath.Dir(w) != tmp {
		t.Errorf("scratch %s not in temp_dir %s", w, tmp)
	}
	eqArgs(t, "total", calls[0].Args, []string{"-i", w + "/image.nii.gz", "-o", w + "/total", "-ot", "nifti", "-d", "gpu",
		"--nr_thr_resamp", "3", "--nr_thr_saving", "8"})
	for k, v := range map[string]string{"OMP_NUM_THREADS": "4", "TOTALSEG_ACCELERATOR": "cuda", "TOTALSEG_DEVICE": "gpu",
		"TOTALSEG_NUM_PROCESSES_SEGMENTATION_EXPORT": "2", "TMPDIR": tmp} {
		if calls[0].Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, calls[0].Env[k], v)
		}
	}
	for _, k := range []string{"TOTALSEG_WEIGHTS_PATH", "nnUNet_results"} {
		if _, ok := calls[0].Env[k]; ok {
			t.Errorf("%s set without weights_dir", k)
		}
	}
	if got := strings.Join(roiNames(t, filepath.Join(dir, AutoRTSTRUCT)), ","); got != "heart,lung_left,lung_right,spinal_cord" {
		t.Errorf("RS_auto.dcm ROIs %s", got)
	}
	var qc QC
	readJSON(t, filepath.Join(dir, QCFile), &qc)
	if strings.Join(qc.AutoRTSTRUCT.EmptyMasks, ",") != "brain" {
		t.Errorf("empty masks %v", qc.AutoRTSTRUCT.EmptyMasks)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("scratch left behind: %v", entries)
	}
}

// TestTotalSegmentatorMissing: a missing program fails the stage with the install hint, leaves
// the course's other outputs alone, and auto falls back to the built-in segmenter.
func TestTotalSegmentatorMissing(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	fe := newFakeEnv(t, false)
	res, err := RunCourse(context.Background(), dir, Options{Backend: config.BackendTotalSegmentator, Env: fe.env})
	if !errors.Is(err, extproc.ErrNotFound) || res.Status != StatusFailed {
		t.Fatalf("err %v, result %+v", err, res)
	}
	want := "failed: TotalSegmentator not found on PATH; install it (`pip install TotalSegmentator`"
	if s := sentinel(t, filepath.Join(dir, Sentinel)); !strings.HasPrefix(s, want) || !strings.Contains(s, "segmentation.backend: builtin") {
		t.Errorf("sentinel %q", s)
	}
	if exists(filepath.Join(dir, AutoRTSTRUCT)) || !exists(filepath.Join(dir, "RS.dcm")) {
		t.Error("outputs changed")
	}

	// auto without TotalSegmentator: builtin.
	var n atomic.Int32
	opts := Options{Backend: config.BackendAuto, Env: fe.env, Builtin: fakeBuiltin(&n)}
	res, err = RunCourse(context.Background(), dir, opts)
	if err != nil || res.Backend != BackendBuiltin {
		t.Fatalf("auto: %+v %v", res, err)
	}
}

// fakeBuiltin returns a built-in segmenter giving a body mask, an empty mask and a name that
// needs cleaning, counting its calls.
func fakeBuiltin(n *atomic.Int32) BuiltinFunc {
	return func(ctx context.Context, ct *imageio.Image, workers int) ([]NamedImage, error) {
		n.Add(1)
		body := &imageio.Image{Grid: ct.Grid, Data: make([]float64, len(ct.Data)), PixelType: "uint8"}
		for i, v := range ct.Data {
			if v > -500 {
				body.Data[i] = 1
			}
		}
		empty := &imageio.Image{Grid: ct.Grid, Data: make([]float64, len(ct.Data)), PixelType: "uint8"}
		lungs := &imageio.Image{Grid: ct.Grid, Data: make([]float64, len(ct.Data)), PixelType: "float32"}
		for i, v := range ct.Data {
			if v < -500 {
				lungs.Data[i] = 7 // not 0/1: the adapter binarises
			}
		}
		return []NamedImage{{Name: "body", Mask: body}, {Name: "bowel bag", Mask: empty}, {Name: "lungs/all", Mask: lungs}}, nil
	}
}

// TestBuiltinCourse: masks as builtin--<roi>.nii.gz, RS_auto.dcm of the non-empty ones, resume.
func TestBuiltinCourse(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	var n atomic.Int32
	opts := Options{Backend: config.BackendBuiltin, Threads: 2, Builtin: fakeBuiltin(&n)}
	res, err := RunCourse(context.Background(), dir, opts)
	if err != nil || res.Status != StatusOK {
		t.Fatal(res, err)
	}
	out := filepath.Join(dir, DirBuiltin)
	for _, f := range []string{"builtin--body.nii.gz", "builtin--bowel_bag.nii.gz", "builtin--lungs_all.nii.gz"} {
		if !exists(filepath.Join(out, f)) {
			t.Errorf("missing %s", f)
		}
	}
	m, err := imageio.ReadNIfTI(filepath.Join(out, "builtin--body.nii.gz"))
	if err != nil || m.PixelType != "uint8" {
		t.Fatalf("body mask %v %v", m, err)
	}
	names := roiNames(t, filepath.Join(dir, AutoRTSTRUCT))
	if strings.Join(names, ",") != "body,lungs_all" {
		t.Errorf("RS_auto.dcm ROIs %v", names)
	}
	if _, err := RunCourse(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 {
		t.Errorf("the built-in segmenter ran %d times; resume should skip it", n.Load())
	}
	// A failing built-in segmenter fails the stage only.
	opts.Force = true
	opts.Builtin = func(context.Context, *imageio.Image, int) ([]NamedImage, error) {
		return nil, errors.New("no body found")
	}
	res, err = RunCourse(context.Background(), dir, opts)
	if err == nil || sentinel(t, filepath.Join(dir, Sentinel)) != "failed: built-in segmentation: no body found" {
		t.Errorf("failure: %v, %q", err, sentinel(t, filepath.Join(dir, Sentinel)))
	}
	_ = res
}

// TestTotalSegmentatorFailure: a non-zero exit fails the stage with the log's end, records the
// model as skipped, and the next run tries again.
func TestTotalSegmentatorFailure(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	fe := newFakeEnv(t, true, "FAKESEG_MODE=fail", "FAKESEG_ONLY=lung_vessels")
	opts := Options{Backend: config.BackendTotalSegmentator, Device: "cpu", ExtraModels: []string{"lung_vessels"}, Env: fe.env}
	res, err := RunCourse(context.Background(), dir, opts)
	if !errors.Is(err, extproc.ErrExit) || res.Status != StatusFailed {
		t.Fatalf("err %v", err)
	}
	if s := sentinel(t, filepath.Join(dir, Sentinel)); !strings.HasPrefix(s, "failed: TotalSegmentator task lung_vessels: TotalSegmentator exited with status 1 (log: ") {
		t.Errorf("sentinel %q", s)
	}
	if !strings.Contains(err.Error(), "RuntimeError: CUDA error: out of memory") {
		t.Errorf("error lacks the log tail: %v", err)
	}
	// total succeeded: its masks and RS_auto.dcm are there.
	if !exists(filepath.Join(dir, AutoRTSTRUCT)) {
		t.Error("RS_auto.dcm missing although total succeeded")
	}
	man := ReadManifest(filepath.Join(dir, DirTotalSegmentator))
	if len(man.Models) != 1 || len(man.SkippedModels) != 1 || man.SkippedModels[0].Model != "lung_vessels" {
		t.Errorf("manifest %+v", man)
	}
	// Fixed: the next run runs lung_vessels only.
	fe2 := newFakeEnv(t, true)
	opts.Env = fe2.env
	if _, err := RunCourse(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	if calls := fe2.calls(t); len(calls) != 1 || calls[0].Args[7] != "lung_vessels" {
		t.Errorf("retry calls %+v", calls)
	}
	if s := sentinel(t, filepath.Join(dir, Sentinel)); s != "ok" {
		t.Errorf("sentinel after retry %q", s)
	}
}

// TestTotalSegmentatorTimeout: a hanging TotalSegmentator and its child are killed.
func TestTotalSegmentatorTimeout(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	pids := filepath.Join(t.TempDir(), "pids")
	fe := newFakeEnv(t, true, "FAKESEG_MODE=hang", "FAKESEG_PIDS="+pids, "FAKESEG_ONLY=-i")
	start := time.Now()
	res, err := RunCourse(context.Background(), dir, Options{Backend: config.BackendTotalSegmentator, Env: fe.env, Timeout: 2 * time.Second, Grace: 200 * time.Millisecond})
	if !errors.Is(err, extproc.ErrTimeout) || res.Status != StatusFailed {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
	if s := sentinel(t, filepath.Join(dir, Sentinel)); !strings.HasPrefix(s, "failed: TotalSegmentator task total: TotalSegmentator timed out after 2s and was killed with its child processes") {
		t.Errorf("sentinel %q", s)
	}
	pidsDead(t, pids, 2)
}

func TestCancelledStage(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fe := newFakeEnv(t, true)
	_, err := RunCourse(ctx, dir, Options{Backend: config.BackendTotalSegmentator, Env: fe.env})
	if !errors.Is(err, context.Canceled) || exists(filepath.Join(dir, Sentinel)) {
		t.Errorf("err %v; an interrupted run must leave no sentinel", err)
	}
	if len(fe.calls(t)) != 0 {
		t.Error("ran after cancellation")
	}
}

func TestCourseWithoutCT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := RunCourse(context.Background(), dir, Options{Backend: config.BackendBuiltin})
	if err != nil || res.Status != StatusSkipped || sentinel(t, filepath.Join(dir, Sentinel)) != "skipped: course has no CT (DICOM/CT is empty or missing)" {
		t.Errorf("%+v %v", res, err)
	}
}

func TestTasksAndNames(t *testing.T) {
	if got := strings.Join(CTTasks([]string{"lung_vessels", "total_mr", "total", " body ", "lung_vessels", "tissue_types_mr"}), ","); got != "total,lung_vessels,body" {
		t.Errorf("CTTasks %s", got)
	}
	if got := strings.Join(MRTasks([]string{"lung_vessels", "tissue_types_mr", "total_mr"}), ","); got != "total_mr,tissue_types_mr" {
		t.Errorf("MRTasks %s", got)
	}
	for in, want := range map[string]string{"lung left": "lung_left", "a--b": "a-b", "..": "roi", "Ä/x": "__x", "vertebrae_L1": "vertebrae_L1"} {
		if got := SanitizeROI(in); got != want {
			t.Errorf("SanitizeROI(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"gpu": "gpu", "cuda": "gpu", "cuda:1": "gpu:1", "cpu": "cpu", "mps": "mps", "": "gpu"} {
		if got := tsDevice(in); got != want {
			t.Errorf("tsDevice(%q) = %q", in, got)
		}
	}
	if _, _, err := ResolveBackend(Options{Backend: "nnunet"}); err == nil {
		t.Error("unknown backend accepted")
	}
}

func TestOptionsFromConfig(t *testing.T) {
	cfg := config.Default()
	o := OptionsFromConfig(cfg, 6)
	if o.Backend != config.BackendAuto || o.Device != "gpu" || !o.ForceSplit || o.Timeout != time.Hour || o.Threads != 6 ||
		o.NumProcPreprocessing != 1 || o.NumProcExport != 1 || o.Command != "TotalSegmentator" || o.WeightsDir != "" {
		t.Errorf("%+v", o)
	}
	c := CustomOptionsFromConfig(cfg, 3)
	if c.Enabled || c.Root != "./custom_models" || c.NnUNetPredict != "nnUNetv2_predict" || !c.RetainWeights || c.Timeout != 30*time.Minute || c.Device != "gpu" {
		t.Errorf("%+v", c)
	}
}

// TestBuiltinReal runs the real built-in segmenter through the adapter.
func TestBuiltinReal(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	res, err := RunCourse(context.Background(), dir, Options{Backend: config.BackendBuiltin, Threads: 2})
	if err != nil || res.Status != StatusOK {
		t.Fatalf("%+v %v", res, err)
	}
	man := ReadManifest(filepath.Join(dir, DirBuiltin))
	if len(man.Models) != 1 || len(man.Models[0].Masks) == 0 || !contains(man.Models[0].Masks, "builtin--body.nii.gz") {
		t.Errorf("manifest %+v", man)
	}
	if names := roiNames(t, filepath.Join(dir, AutoRTSTRUCT)); !contains(names, "body") {
		t.Errorf("RS_auto.dcm ROIs %v", names)
	}
}
