package segmentation

import (
	"archive/zip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/extproc"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// writeFile writes a file, creating its folder.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeZip writes a zip holding the given files (name → content).
func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// customModels writes a models folder with the schema's variants:
//
//	pelvis   nnU-Net v2, two networks (archive and source_directory), combine precedence
//	ens      nnU-Net v2 ensemble of two networks whose weights are already in place
//	legacy   nnU-Net v1 (task names, trainers, cascade) with an nnUNet_ensemble and -pp
//	tsmodel  the totalsegmentator interface
//	noweights, off, _template: skipped
func customModels(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "custom_models")
	writeFile(t, filepath.Join(root, "pelvis", CustomModelFile), `name: pelvis
description: Two networks with precedence
required_body_regions: [PELVIS]
nnunet:
  model: 3d_fullres
  folds: [0, 1]
  networks:
    - id: "603"
      alias: small
      archive: model603.zip
      dataset_directory: Dataset603_Small
      trainer: nnUNetTrainer
      plans: nnUNetPlans
      checkpoint: checkpoint_final.pth
      label_order: [Bladder, Rectum, Femur L]
    - id: 605
      source_directory: weights/Dataset605_Large
      dataset_directory: Dataset605_Large
      architecture: 3d_lowres
      folds: all
      label_order: [Rectum, Prostate]
      predict_args: [--disable_tta]
  combine:
    ordered_networks: ["605", small]
`)
	writeZip(t, filepath.Join(root, "pelvis", "model603.zip"), map[string]string{
		"Dataset603_Small/dataset.json": "{}",
		"Dataset603_Small/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/checkpoint_final.pth": "weights",
		"Dataset603_Small/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_1/checkpoint_final.pth": "weights",
	})
	writeFile(t, filepath.Join(root, "pelvis", "weights", "Dataset605_Large", "nnUNetTrainer__nnUNetPlans__3d_lowres", "fold_all", "checkpoint_final.pth"), "weights")

	writeFile(t, filepath.Join(root, "ens", CustomModelFile), `nnunet:
  networks:
    - {id: 701, alias: a, dataset_directory: Dataset701_A, label_order: [X, Y]}
    - {id: 702, alias: b, dataset_directory: Dataset702_B, label_order: [X, Y]}
  ensemble:
    inputs: [a, b]
    label_order: [X, Y, Z]
`)
	writeFile(t, filepath.Join(root, "ens", "nnUNet_results", "Dataset701_A", "dataset.json"), "{}")
	writeFile(t, filepath.Join(root, "ens", "nnUNet_results", "Dataset702_B", "dataset.json"), "{}")

	writeFile(t, filepath.Join(root, "legacy", CustomModelFile), `name: legacy
nnunet:
  interface: nnunetv1
  folds: all
  networks:
    - id: 550
      task: Task550_Prostate
      archive: task550.zip
      dataset_directory: Task550_Prostate
      trainer: nnUNetTrainerV2
      plans: nnUNetPlansv2.1
      label_order: [Prostate, SV, Bladder]
    - id: 551
      task: Task551_Prostate
      architecture: 3d_cascade_fullres
      cascade_trainer: nnUNetTrainerV2CascadeFullRes
      dataset_directory: Task551_Prostate
      label_order: [Prostate, SV, Bladder]
  ensemble:
    inputs: ["550", "551"]
    postprocessing_json: postprocessing.json
`)
	// A zip of the trainer folder: it lands inside the dataset folder.
	writeZip(t, filepath.Join(root, "legacy", "task550.zip"), map[string]string{
		"nnUNetTrainerV2__nnUNetPlansv2.1/all/model_final_checkpoint.model": "weights",
		"nnUNetTrainerV2__nnUNetPlansv2.1/plans.pkl":                        "plans",
	})
	writeFile(t, filepath.Join(root, "legacy", "nnUNet_results", "nnUNet", "3d_cascade_fullres", "Task551_Prostate", "plans.pkl"), "plans")
	writeFile(t, filepath.Join(root, "legacy", "postprocessing.json"), "{}")

	writeFile(t, filepath.Join(root, "tsmodel", CustomModelFile), `nnunet:
  interface: totalsegmentator
  networks:
    - {id: vessels, task: lung_vessels, label_order: [lung_vessels]}
`)
	writeFile(t, filepath.Join(root, "noweights", CustomModelFile), `networks:
  - {id: 900, dataset_directory: Dataset900_None, label_order: [A]}
`)
	writeFile(t, filepath.Join(root, "off", CustomModelFile), `enabled: false
networks:
  - {id: 1, label_order: [A]}
`)
	writeFile(t, filepath.Join(root, "_template", CustomModelFile), "this is not even YAML: [")
	return root
}

// TestCustomModels pins the nnU-Net and TotalSegmentator command lines and environments of every
// interface, checks combine precedence, ensembles, label maps, weights extraction and purging,
// outputs and resume.
func TestCustomModels(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	root := customModels(t)
	fe := newFakeEnv(t, true, "nnUNet_results=/elsewhere")
	opts := CustomOptions{Enabled: true, Root: root, NnUNetPredict: "nnUNetv2_predict", RetainWeights: false, Device: "cpu",
		Timeout: time.Minute, Threads: 3, Env: fe.env}
	res, err := RunCustomCourse(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusOK || sentinel(t, filepath.Join(dir, CustomSentinel)) != "ok" {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(res.Reason, "ran ens, legacy, pelvis, tsmodel") || !strings.Contains(res.Reason, "skipped noweights (model weights missing: network 900: ") ||
		!strings.Contains(res.Reason, "off (disabled in custom_model.yaml)") || strings.Contains(res.Reason, "_template") {
		t.Errorf("reason %q", res.Reason)
	}
	calls := fe.calls(t)
	if len(calls) != 9 {
		for _, c := range calls {
			t.Log(c.Program, c.Args)
		}
		t.Fatalf("%d calls, want 9", len(calls))
	}
	w := calls[0].Dir
	in := w + "/input"
	type want struct {
		prog string
		args []string
	}
	wants := []want{
		{"nnUNetv2_predict", []string{"-i", in, "-o", w + "/ens/net_701", "-d", "701", "-c", "3d_fullres", "-f", "all", "--save_probabilities", "-device", "cpu"}},
		{"nnUNetv2_predict", []string{"-i", in, "-o", w + "/ens/net_702", "-d", "702", "-c", "3d_fullres", "-f", "all", "--save_probabilities", "-device", "cpu"}},
		{"nnUNetv2_ensemble", []string{"-i", w + "/ens/net_701", w + "/ens/net_702", "-o", w + "/ens/ensemble"}},
		{"nnUNet_predict", []string{"-i", in, "-o", w + "/legacy/net_550", "-t", "Task550_Prostate", "-m", "3d_fullres", "-f", "all",
			"-tr", "nnUNetTrainerV2", "-p", "nnUNetPlansv2.1", "--save_npz"}},
		{"nnUNet_predict", []string{"-i", in, "-o", w + "/legacy/net_551", "-t", "Task551_Prostate", "-m", "3d_cascade_fullres", "-f", "all",
			"-ctr", "nnUNetTrainerV2CascadeFullRes", "--save_npz"}},
		{"nnUNet_ensemble", []string{"-f", w + "/legacy/net_550", w + "/legacy/net_551", "-o", w + "/legacy/ensemble", "-pp", filepath.Join(root, "legacy", "postprocessing.json")}},
		{"nnUNetv2_predict", []string{"-i", in, "-o", w + "/pelvis/net_603", "-d", "603", "-c", "3d_fullres", "-f", "0", "1",
			"-tr", "nnUNetTrainer", "-p", "nnUNetPlans", "-chk", "checkpoint_final.pth", "-device", "cpu"}},
		{"nnUNetv2_predict", []string{"-i", in, "-o", w + "/pelvis/net_605", "-d", "605", "-c", "3d_lowres", "-f", "all", "-device", "cpu", "--disable_tta"}},
		{"TotalSegmentator", []string{"-i", in + "/case_0000.nii.gz", "-o", w + "/tsmodel/net_vessels", "-ta", "lung_vessels", "--device", "cpu"}},
	}
	for i, wt := range wants {
		if calls[i].Program != wt.prog {
			t.Errorf("call %d: %s, want %s", i, calls[i].Program, wt.prog)
		}
		eqArgs(t, wt.prog, calls[i].Args, wt.args)
		if calls[i].Dir != w {
			t.Errorf("call %d ran in %s", i, calls[i].Dir)
		}
	}
	// Environments: nnU-Net's folders in the model folder (not the caller's), thread limits.
	envs := []map[string]string{
		{"nnUNet_results": filepath.Join(root, "ens", "nnUNet_results"), "nnUNet_raw": filepath.Join(root, "ens", "nnUNet_raw"),
			"nnUNet_preprocessed": filepath.Join(root, "ens", "nnUNet_preprocessed"), "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"},
		nil, nil,
		{"RESULTS_FOLDER": filepath.Join(root, "legacy", "nnUNet_results"), "nnUNet_raw_data_base": filepath.Join(root, "legacy", "nnUNet_raw"),
			"nnUNet_preprocessed": filepath.Join(root, "legacy", "nnUNet_preprocessed"), "nnUNet_results": "/elsewhere"},
	}
	for i, e := range envs {
		for k, v := range e {
			if calls[i].Env[k] != v {
				t.Errorf("call %d: env %s = %q, want %q", i, k, calls[i].Env[k], v)
			}
		}
	}

	// Outputs.
	out := filepath.Join(dir, DirCustomModels)
	var man CustomManifest
	readJSON(t, filepath.Join(out, "pelvis", ManifestFile), &man)
	if strings.Join(man.CombineOrder, ",") != "605,603" || strings.Join(man.Expected, ",") != "Rectum,Prostate,Bladder,Femur_L" ||
		strings.Join(man.Masks, ",") != "pelvis--Bladder.nii.gz,pelvis--Femur_L.nii.gz,pelvis--Prostate.nii.gz,pelvis--Rectum.nii.gz" ||
		man.Sources["Rectum"] != "603" || man.Sources["Prostate"] != "605" || len(man.Missing) != 0 || len(man.Empty) != 0 ||
		man.BodyRegions == nil || man.BodyRegions.Evaluated || man.RTSTRUCT == nil || man.RTSTRUCT.Path != CustomRTSTRUCT {
		t.Errorf("pelvis manifest %+v", man)
	}
	if !strings.Contains(strings.Join(man.Warnings, "\n"), "605: label 3 (") || !strings.Contains(strings.Join(man.Warnings, "\n"), "Rectum: 603 replaces the mask from 605") {
		t.Errorf("warnings %q", man.Warnings)
	}
	if len(man.Networks) != 2 || !strings.HasPrefix(man.Networks[0].Command, "nnUNetv2_predict -i ") || man.Networks[0].Log != "logs/segmentation_custom/pelvis/net_603.log" {
		t.Errorf("networks %+v", man.Networks)
	}
	// Rectum is label 2 of 603 (the later source), not label 1 of 605: the middle slab.
	rect, err := imageio.ReadNIfTI(filepath.Join(out, "pelvis", "pelvis--Rectum.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	nz := rect.Grid.Size[2]
	mid := rect.Data[rect.Index(rect.Grid.Size[0]/2, rect.Grid.Size[1]/2, nz/2)]
	first := rect.Data[rect.Index(rect.Grid.Size[0]/2, rect.Grid.Size[1]/2, 0)]
	if mid != 1 || first != 0 || rect.PixelType != "uint8" {
		t.Errorf("Rectum mask: middle %v, first slice %v, %s", mid, first, rect.PixelType)
	}
	if got := strings.Join(roiNames(t, filepath.Join(out, "pelvis", CustomRTSTRUCT)), ","); got != "Bladder,Femur_L,Prostate,Rectum" {
		t.Errorf("pelvis rtstruct ROIs %s", got)
	}
	readJSON(t, filepath.Join(out, "ens", ManifestFile), &man)
	if strings.Join(man.CombineOrder, ",") != EnsembleID || strings.Join(man.Produced, ",") != "X,Y,Z" || man.Ensemble == nil ||
		!strings.HasPrefix(man.Ensemble.Command, "nnUNetv2_ensemble -i ") {
		t.Errorf("ens manifest %+v", man)
	}
	readJSON(t, filepath.Join(out, "legacy", ManifestFile), &man)
	if strings.Join(man.Produced, ",") != "Bladder,Prostate,SV" || man.Interface != InterfaceNnUNetV1 {
		t.Errorf("legacy manifest %+v", man)
	}
	if !exists(filepath.Join(out, "tsmodel", "tsmodel--lung_vessels.nii.gz")) || exists(filepath.Join(out, "tsmodel", "tsmodel--lung_trachea_bronchia.nii.gz")) {
		t.Error("tsmodel: label_order must keep only lung_vessels")
	}
	if exists(filepath.Join(out, "noweights")) || exists(filepath.Join(out, "off")) {
		t.Error("skipped models wrote outputs")
	}
	// retain_weights: false removed what the pipeline placed, nothing else.
	for _, p := range []string{filepath.Join(root, "pelvis", "nnUNet_results", "Dataset603_Small"), filepath.Join(root, "pelvis", "nnUNet_results", "Dataset605_Large"),
		filepath.Join(root, "legacy", "nnUNet_results", "nnUNet", "3d_fullres", "Task550_Prostate")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s not purged", p)
		}
	}
	for _, p := range []string{filepath.Join(root, "pelvis", "model603.zip"), filepath.Join(root, "pelvis", "weights", "Dataset605_Large"),
		filepath.Join(root, "ens", "nnUNet_results", "Dataset701_A"), filepath.Join(root, "legacy", "nnUNet_results", "nnUNet", "3d_cascade_fullres", "Task551_Prostate")} {
		if !exists(p) {
			t.Errorf("%s removed", p)
		}
	}
	var qc CustomQC
	readJSON(t, filepath.Join(dir, CustomQCFile), &qc)
	if qc.Status != "ok" || len(qc.Models) != 6 {
		t.Errorf("qc %+v", qc)
	}

	// Resume: nothing runs; a changed model file re-runs that model only.
	if res, err := RunCustomCourse(context.Background(), dir, opts); err != nil || !strings.HasPrefix(res.Reason, "resumed ens, legacy, pelvis, tsmodel") {
		t.Fatal(res, err)
	}
	if n := len(fe.calls(t)); n != 9 {
		t.Fatalf("resume ran %d more calls", n-9)
	}
	yaml, _ := os.ReadFile(filepath.Join(root, "tsmodel", CustomModelFile))
	writeFile(t, filepath.Join(root, "tsmodel", CustomModelFile), string(yaml)+"description: changed\n")
	opts.Models = []string{"tsmodel"}
	if _, err := RunCustomCourse(context.Background(), dir, opts); err != nil {
		t.Fatal(err)
	}
	if calls := fe.calls(t); len(calls) != 10 || calls[9].Program != "TotalSegmentator" {
		t.Errorf("after the change: %d calls", len(calls))
	}
	opts.Models = []string{"nosuchmodel"}
	if _, err := RunCustomCourse(context.Background(), dir, opts); err == nil || !strings.Contains(err.Error(), `custom model "nosuchmodel" not found`) {
		t.Errorf("unknown model: %v", err)
	}
}

// TestCustomModelFailures: a failing and a hanging predictor fail their model (the hanging one
// killed with its child), the other models still run, and stale outputs of another model
// version do not survive; conda_activate wraps the command.
func TestCustomModelFailures(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	root := filepath.Join(t.TempDir(), "models")
	for _, name := range []string{"alpha", "beta"} {
		writeFile(t, filepath.Join(root, name, CustomModelFile), "networks:\n  - {id: 1, label_order: [A]}\n")
	}
	// Outputs of an earlier version of beta.
	writeFile(t, filepath.Join(dir, DirCustomModels, "beta", "beta--Old.nii.gz"), "old")
	writeFile(t, filepath.Join(dir, DirCustomModels, "beta", CustomRTSTRUCT), "old")
	writeFile(t, filepath.Join(dir, DirCustomModels, "beta", ManifestFile), `{"signature": "old"}`)

	pids := filepath.Join(t.TempDir(), "pids")
	fe := newFakeEnv(t, true, "FAKESEG_MODE=hang", "FAKESEG_PIDS="+pids, "FAKESEG_ONLY=-d")
	opts := CustomOptions{Enabled: true, Root: root, Device: "gpu", Timeout: 2 * time.Second, Grace: 200 * time.Millisecond, Threads: 1,
		CondaActivate: "export FAKE_ACTIVATED=yes", Env: fe.env}
	res, err := RunCustomCourse(context.Background(), dir, opts)
	if !errors.Is(err, extproc.ErrTimeout) && !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err %v", err)
	}
	if res.Status != StatusFailed || !strings.HasPrefix(sentinel(t, filepath.Join(dir, CustomSentinel)), "failed: custom model alpha: network 1: nnUNetv2_predict timed out after 2s") {
		t.Errorf("sentinel %q", sentinel(t, filepath.Join(dir, CustomSentinel)))
	}
	pidsDead(t, pids, 4)
	calls := fe.calls(t)
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	if calls[0].Env["FAKE_ACTIVATED"] != "yes" {
		t.Error("conda_activate not run before the predictor")
	}
	var qc CustomQC
	readJSON(t, filepath.Join(dir, CustomQCFile), &qc)
	if len(qc.Models) != 2 || qc.Models[1].Status != StatusFailed {
		t.Errorf("qc %+v", qc)
	}
	if exists(filepath.Join(dir, DirCustomModels, "beta", CustomRTSTRUCT)) || exists(filepath.Join(dir, DirCustomModels, "beta", "beta--Old.nii.gz")) {
		t.Error("stale outputs of another model version kept")
	}

	// A non-zero exit: the log's end is in the error. Without conda the program is run directly.
	fe = newFakeEnv(t, true, "FAKESEG_MODE=fail")
	opts.Env, opts.CondaActivate = fe.env, ""
	_, err = RunCustomCourse(context.Background(), dir, opts)
	if !errors.Is(err, extproc.ErrExit) || !strings.Contains(err.Error(), "nnUNetv2_predict exited with status 1") || !strings.Contains(err.Error(), "CUDA error: out of memory") {
		t.Errorf("err %v", err)
	}
	if calls := fe.calls(t); len(calls) != 2 || calls[0].Program != "nnUNetv2_predict" || calls[0].Args[len(calls[0].Args)-1] != "cuda" {
		t.Errorf("calls %+v", calls)
	}
	// A missing predictor.
	fe = newFakeEnv(t, false)
	opts.Env = fe.env
	_, err = RunCustomCourse(context.Background(), dir, opts)
	if !errors.Is(err, extproc.ErrNotFound) || !strings.Contains(err.Error(), "nnUNetv2_predict not found on PATH; install nnU-Net") {
		t.Errorf("err %v", err)
	}
}

func TestCustomStageSkips(t *testing.T) {
	t.Parallel()
	dir := newCourse(t)
	for _, c := range []struct {
		opts CustomOptions
		want string
	}{
		{CustomOptions{}, "skipped: custom models disabled (custom_models.enabled: false)"},
		{CustomOptions{Enabled: true, Root: filepath.Join(dir, "none")}, "skipped: no custom models: " + filepath.Join(dir, "none") + " does not exist"},
		{CustomOptions{Enabled: true, Root: dir}, "skipped: no custom models under " + dir},
	} {
		res, err := RunCustomCourse(context.Background(), dir, c.opts)
		if err != nil || res.Status != StatusSkipped || sentinel(t, filepath.Join(dir, CustomSentinel)) != c.want {
			t.Errorf("%+v: %+v %v, sentinel %q", c.opts, res, err, sentinel(t, filepath.Join(dir, CustomSentinel)))
		}
	}
}

func TestLoadCustomModelErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ yaml, want string }{
		{"networks:\n  - {id: 1, label_order: [A, a]}\n", `labels "A" and "a" collide`},
		{"networks:\n  - {id: 1, label_order: [Femur L, Femur_L]}\n", "collide as file names"},
		{"networks:\n  - {id: 1, label_order: [A]}\nnnunet:\n  interfase: nnunetv1\n", "field interfase not found"},
		{"nnunet:\n  interface: medsam_boxprompt\nnetworks:\n  - {id: 1, label_order: [A]}\n", "is not supported"},
		{"nnunet:\n  interface: nnunetv3\nnetworks:\n  - {id: 1, label_order: [A]}\n", "unknown nnunet.interface"},
		{"networks:\n  - {id: 1}\n", "has no label_order"},
		{"networks: []\n", "no networks"},
		{"networks:\n  - {id: 1, label_order: [A]}\n  - {id: 2, alias: 1, label_order: [B]}\n", "is also used by"},
		{"networks:\n  - {id: 1, label_order: [A]}\n  - {id: 2, label_order: [A]}\nensemble: {inputs: [1, 3]}\n", `ensemble input "3" names no network`},
		{"networks:\n  - {id: 1, label_order: [A]}\n  - {id: 2, label_order: [A]}\nensemble: {inputs: [1, 2], postprocessing_json: pp.json}\n", "nnUNetv2_ensemble has none"},
		{"networks:\n  - {id: 1, label_order: [A]}\ncombine: {ordered_networks: [1, ensemble]}\n", `"ensemble" names no network`},
		{"name: ../x\nnetworks:\n  - {id: 1, label_order: [A]}\n", "cannot be a folder name"},
		{"nnunet:\n  interface: totalsegmentator\nnetworks:\n  - {id: 1}\n", "needs task"},
	} {
		dir := filepath.Join(t.TempDir(), "m")
		writeFile(t, filepath.Join(dir, CustomModelFile), c.yaml)
		_, err := LoadCustomModel(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.yaml, err, c.want)
		}
	}
	// Networks under nnunet and folds as a scalar load.
	dir := filepath.Join(t.TempDir(), "m")
	writeFile(t, filepath.Join(dir, CustomModelFile), "nnunet:\n  folds: 0\n  networks:\n    - {id: 7, label_order: [A]}\n")
	m, err := LoadCustomModel(dir)
	if err != nil || m.Name != "m" || strings.Join(m.NnUNet.Folds, ",") != "0" || len(m.Networks) != 1 || m.NnUNet.Model != "3d_fullres" {
		t.Errorf("%+v %v", m, err)
	}
}

func TestUnzipSafe(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"../evil.txt", "/abs.txt", "a/../../evil", `..\evil`} {
		zp := filepath.Join(t.TempDir(), "w.zip")
		writeZip(t, zp, map[string]string{name: "x"})
		dest := t.TempDir()
		if err := unzipSafe(zp, dest); err == nil {
			t.Errorf("%q extracted", name)
		}
	}
	zp := filepath.Join(t.TempDir(), "ok.zip")
	writeZip(t, zp, map[string]string{"a/b/c.txt": "x"})
	dest := t.TempDir()
	if err := unzipSafe(zp, dest); err != nil || !exists(filepath.Join(dest, "a", "b", "c.txt")) {
		t.Errorf("%v", err)
	}
}

// TestOnGrid: a mask on the reference grid or on a flipped copy of it is used as is; a mask on
// another lattice is resampled by nearest neighbour.
func TestOnGrid(t *testing.T) {
	t.Parallel()
	ref := &grid.Grid{Origin: grid.Vec{0, 0, 0}, Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: [3]float64{1, 1, 2}, Size: [3]int{4, 4, 3}}
	m := &imageio.Image{Grid: ref, Data: make([]float64, 48)}
	m.Data[m.Index(1, 2, 1)] = 1
	if got, err := onGrid(m, ref); err != nil || got != m {
		t.Errorf("same grid: %v", err)
	}
	flipped := &grid.Grid{Origin: grid.Vec{3, 0, 0}, Axes: [3]grid.Vec{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: ref.Spacing, Size: ref.Size}
	fm := &imageio.Image{Grid: flipped, Data: make([]float64, 48)}
	if got, err := onGrid(fm, ref); err != nil || got != fm {
		t.Errorf("flipped grid: %v", err)
	}
	// Twice as coarse in x and y: voxel (1, 1, k) of the mask covers (2..3, 2..3) of ref.
	coarse := &grid.Grid{Origin: grid.Vec{0.5, 0.5, 0}, Axes: ref.Axes, Spacing: [3]float64{2, 2, 2}, Size: [3]int{2, 2, 3}}
	cm := &imageio.Image{Grid: coarse, Data: make([]float64, 12)}
	cm.Data[cm.Index(1, 1, 2)] = 1
	got, err := onGrid(cm, ref)
	if err != nil || got.Grid != ref {
		t.Fatalf("coarse: %v", err)
	}
	n := 0
	for _, v := range got.Data {
		if v == 1 {
			n++
		}
	}
	if n != 4 || got.Data[got.Index(2, 2, 2)] != 1 || got.Data[got.Index(3, 3, 2)] != 1 || got.Data[got.Index(1, 1, 2)] != 0 {
		t.Errorf("coarse resampled to %d voxels", n)
	}
}
