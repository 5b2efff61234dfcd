package segmentation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/extproc"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

// Default commands of the custom-model interfaces.
const (
	DefaultNnUNetV2Predict  = "nnUNetv2_predict"
	DefaultNnUNetV1Predict  = "nnUNet_predict"
	DefaultNnUNetV2Ensemble = "nnUNetv2_ensemble"
	DefaultNnUNetV1Ensemble = "nnUNet_ensemble"
)

// CustomRTSTRUCT is the structure set of a custom model's masks, in its output folder.
const CustomRTSTRUCT = "rtstruct.dcm"

// nnUNetCase is the case name of the nnU-Net input (input/case_0000.nii.gz → case.nii.gz).
const nnUNetCase = "case"

// nnUNetHint completes the error when an nnU-Net command is missing.
const nnUNetHint = "install nnU-Net (`pip install nnunetv2`, or nnunet for v1) in the environment named by environments.main, or set custom_models.nnunet_predict / the model's nnunet.command to its path, or custom_models.conda_activate to the command activating its environment"

// CustomOptions configure the custom-model stage; CustomOptionsFromConfig fills them.
type CustomOptions struct {
	// Enabled runs the models; false writes "skipped: …" (custom_models.enabled).
	Enabled bool
	// Root is the folder of model folders.
	Root string
	// Models keeps only these models (name or folder); empty = all.
	Models []string
	// Force re-runs models whose outputs are complete.
	Force bool
	// NnUNetPredict is the v2 predictor when a model gives no nnunet.command.
	NnUNetPredict string
	// CondaActivate, when set, runs every command as bash -c '<activate> && exec "$0" "$@"'.
	CondaActivate string
	// RetainWeights keeps extracted weights; false deletes them after the course (when no other
	// job is using them).
	RetainWeights bool
	// Device is segmentation.device (gpu, cuda, cpu, mps).
	Device string
	// Timeout bounds one predictor or ensembler run; 0 = none.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL; 0 = extproc's default.
	Grace time.Duration
	// Threads is how many threads a job may use; 0 = 1.
	Threads int
	// TempDir is the scratch folder; "" = the system's.
	TempDir string
	// Env is the base environment; nil = os.Environ().
	Env []string
}

// CustomOptionsFromConfig maps the custom_models section (and segmentation.device and
// segmentation.temp_dir) onto CustomOptions for a job of `threads` threads.
func CustomOptionsFromConfig(cfg *config.Config, threads int) CustomOptions {
	c := cfg.CustomModels
	return CustomOptions{
		Enabled:       c.Enabled,
		Root:          c.Root,
		Models:        append([]string(nil), c.Models...),
		Force:         c.Force,
		NnUNetPredict: c.NnUNetPredict,
		CondaActivate: c.CondaActivate,
		RetainWeights: c.RetainWeights,
		Device:        string(cfg.Segmentation.Device),
		Timeout:       time.Duration(c.TimeoutSeconds) * time.Second,
		Threads:       threads,
		TempDir:       cfg.Segmentation.TempDir,
	}
}

func (o *CustomOptions) env() []string {
	if o.Env != nil {
		return o.Env
	}
	return os.Environ()
}

// CustomQC is metadata/segmentation_custom.json.
type CustomQC struct {
	Status      string               `json:"status"`
	Reason      string               `json:"reason"`
	Root        string               `json:"root"`
	StartedAt   string               `json:"started_at"`
	DurationSec float64              `json:"duration_seconds"`
	Models      []CustomModelOutcome `json:"models"`
}

// CustomModelOutcome is one model's result in CustomQC.
type CustomModelOutcome struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
	// Status is ok, resumed, skipped or failed.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// OutDir is the output folder, relative to the course.
	OutDir string `json:"out_dir,omitempty"`
	// ROIs is the number of non-empty masks.
	ROIs int `json:"rois"`

	err error // the failure, for errors.Is
}

// CustomManifest is Segmentation_CustomModels/<name>/manifest.json.
type CustomManifest struct {
	Model         string            `json:"model"`
	Description   string            `json:"description"`
	Interface     string            `json:"interface"`
	Signature     string            `json:"signature"`
	SeriesKey     string            `json:"series_key"`
	SourceDir     string            `json:"source_dir"`
	GeneratedAt   string            `json:"generated_at"`
	Networks      []NetworkRun      `json:"networks"`
	Ensemble      *NetworkRun       `json:"ensemble,omitempty"`
	CombineOrder  []string          `json:"combine_order"`
	Expected      []string          `json:"expected"`
	Produced      []string          `json:"produced"`
	Empty         []string          `json:"empty"`
	Missing       []string          `json:"missing"`
	Masks         []string          `json:"masks"`
	Sources       map[string]string `json:"sources"`
	RTSTRUCT      *RTSTRUCTInfo     `json:"rtstruct"`
	BodyRegions   *BodyRegionGate   `json:"body_region_gating,omitempty"`
	WeightsPurged []string          `json:"weights_purged,omitempty"`
	Warnings      []string          `json:"warnings"`
}

// NetworkRun records one predictor (or ensembler) run.
type NetworkRun struct {
	ID          string   `json:"id"`
	Alias       string   `json:"alias,omitempty"`
	Command     string   `json:"command"`
	Labels      []string `json:"labels"`
	Log         string   `json:"log"`
	DurationSec float64  `json:"duration_seconds"`
}

// BodyRegionGate records a model's body-region requirement, which is not evaluated (rtpipeline
// has no body-region QC yet), so the model runs.
type BodyRegionGate struct {
	Required      []string `json:"required_body_regions"`
	MinConfidence float64  `json:"min_region_confidence"`
	Evaluated     bool     `json:"evaluated"`
	Note          string   `json:"note"`
}

// RunCustomCourse runs every configured custom model on the course CT and writes, per model,
// Segmentation_CustomModels/<name>/<name>--<roi>.nii.gz, rtstruct.dcm (when any mask is
// non-empty) and manifest.json, then metadata/segmentation_custom.json and, last, the sentinel
// .custom_models_done. A model whose recorded outputs are complete (same custom_model.yaml, same
// CT) is not run again unless Force. Missing weights skip a model; a failing model fails the
// stage (its sentinel and the error) but not the others.
func RunCustomCourse(ctx context.Context, courseDir string, opts CustomOptions) (*StageResult, error) {
	os.Remove(filepath.Join(courseDir, CustomSentinel))
	start := time.Now()
	qc := &CustomQC{Root: opts.Root, StartedAt: start.UTC().Format(time.RFC3339), Models: []CustomModelOutcome{}}
	res, err := runCustomCourse(ctx, courseDir, opts, qc)
	if res == nil {
		res = &StageResult{Status: StatusFailed}
	}
	if err != nil {
		res.Status, res.Reason = StatusFailed, err.Error()
	}
	qc.Status, qc.Reason = res.Status, res.Reason
	qc.DurationSec = time.Since(start).Seconds()
	return res, finish(ctx, courseDir, CustomQCFile, CustomSentinel, qc, res, err)
}

func runCustomCourse(ctx context.Context, courseDir string, opts CustomOptions, qc *CustomQC) (*StageResult, error) {
	res := &StageResult{}
	if !opts.Enabled {
		res.Status, res.Reason = StatusSkipped, "custom models disabled (custom_models.enabled: false)"
		return res, nil
	}
	if _, err := os.Stat(opts.Root); err != nil && len(opts.Models) == 0 {
		res.Status, res.Reason = StatusSkipped, "no custom models: "+opts.Root+" does not exist"
		return res, nil
	}
	dirs, err := DiscoverCustomModels(opts.Root, opts.Models)
	if err != nil {
		return res, err
	}
	if len(dirs) == 0 {
		res.Status, res.Reason = StatusSkipped, "no custom models under "+opts.Root
		return res, nil
	}
	ctDir := filepath.Join(courseDir, "DICOM", "CT")
	if !hasFiles(ctDir) {
		res.Status, res.Reason = StatusSkipped, "course has no CT (DICOM/CT is empty or missing)"
		return res, nil
	}
	in := Input{CTDir: ctDir, Threads: max(opts.Threads, 1)}
	if err := readInput(&in); err != nil {
		return res, err
	}
	r := &customRunner{opts: opts, courseDir: courseDir, in: in}
	defer r.cleanup()
	var errs []error
	for _, dir := range dirs {
		o := r.runModel(ctx, dir)
		qc.Models = append(qc.Models, o)
		if o.Status == StatusFailed {
			errs = append(errs, fmt.Errorf("custom model %s: %w", o.Name, o.err))
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	var ran, resumed, skipped []string
	for _, m := range qc.Models {
		switch m.Status {
		case "resumed":
			resumed = append(resumed, m.Name)
		case StatusSkipped:
			skipped = append(skipped, m.Name+" ("+m.Reason+")")
		default:
			ran = append(ran, m.Name)
		}
	}
	if len(ran)+len(resumed) == 0 {
		res.Status, res.Reason = StatusSkipped, "every custom model skipped: "+strings.Join(skipped, "; ")
		return res, nil
	}
	var parts []string
	if len(ran) > 0 {
		parts = append(parts, "ran "+strings.Join(ran, ", "))
	}
	if len(resumed) > 0 {
		parts = append(parts, "resumed "+strings.Join(resumed, ", "))
	}
	if len(skipped) > 0 {
		parts = append(parts, "skipped "+strings.Join(skipped, "; "))
	}
	res.Status, res.Reason = StatusOK, strings.Join(parts, "; ")
	return res, nil
}

// customRunner runs the models of one course; the nnU-Net input is written once.
type customRunner struct {
	opts      CustomOptions
	courseDir string
	in        Input
	work      string
	input     string // work/input, holding case_0000.nii.gz
}

func (r *customRunner) cleanup() {
	if r.work != "" {
		os.RemoveAll(r.work)
	}
}

// prepare writes the nnU-Net input once: <work>/input/case_0000.nii.gz.
func (r *customRunner) prepare() error {
	if r.work != "" {
		return nil
	}
	w, err := os.MkdirTemp(r.opts.TempDir, "rtpipeline-custom-")
	if err != nil {
		return fmt.Errorf("scratch folder: %w", err)
	}
	r.work = w
	r.input = filepath.Join(w, "input")
	return imageio.WriteNIfTI(filepath.Join(r.input, nnUNetCase+"_0000.nii.gz"), r.in.CTImage)
}

func (r *customRunner) runModel(ctx context.Context, dir string) CustomModelOutcome {
	o := CustomModelOutcome{Name: filepath.Base(dir), Dir: dir}
	m, err := LoadCustomModel(dir)
	if err != nil {
		o.Status, o.Reason, o.err = StatusFailed, err.Error(), err
		return o
	}
	o.Name = m.Name
	if !m.enabled() {
		o.Status, o.Reason = StatusSkipped, "disabled in "+CustomModelFile
		return o
	}
	outDir := filepath.Join(r.courseDir, DirCustomModels, m.Name)
	o.OutDir = relTo(r.courseDir, outDir)
	key := seriesKey(r.in.SOPInstanceUIDs)
	sig := signature("custom", m.Digest, key)
	if !r.opts.Force {
		if man := readCustomManifest(outDir); man != nil && man.complete(outDir, sig) {
			o.Status, o.ROIs = "resumed", len(man.Produced)
			return o
		}
	}
	man, err := r.run(ctx, m, outDir, sig, key)
	if err != nil && !errors.Is(err, ErrWeightsMissing) {
		// Outputs of another model version or another CT must not pass for this run's.
		if old := readCustomManifest(outDir); old == nil || old.Signature != sig {
			clearModelMasks(outDir, m.Name)
			os.Remove(filepath.Join(outDir, CustomRTSTRUCT))
			os.Remove(filepath.Join(outDir, ManifestFile))
		}
	}
	switch {
	case errors.Is(err, ErrWeightsMissing):
		o.Status, o.Reason = StatusSkipped, err.Error()
	case err != nil:
		o.Status, o.Reason, o.err = StatusFailed, err.Error(), err
	default:
		o.Status, o.ROIs = StatusOK, len(man.Produced)
	}
	return o
}

// complete tells whether a manifest records this signature and a non-empty list of masks that
// are all on disk.
func (m *CustomManifest) complete(dir, sig string) bool {
	if m.Signature != sig || len(m.Masks) == 0 {
		return false
	}
	for _, rel := range m.Masks {
		if rel == "" || filepath.IsAbs(rel) || strings.Contains(rel, "..") {
			return false
		}
		if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel))); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	if m.RTSTRUCT != nil && m.RTSTRUCT.Path != "" {
		if _, err := os.Stat(filepath.Join(dir, m.RTSTRUCT.Path)); err != nil {
			return false
		}
	}
	return true
}

func readCustomManifest(dir string) *CustomManifest {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil
	}
	m := &CustomManifest{}
	if json.Unmarshal(data, m) != nil {
		return nil
	}
	return m
}

// run predicts with every network (and the ensemble), combines the label maps into per-ROI
// masks and writes the RTSTRUCT and the manifest.
func (r *customRunner) run(ctx context.Context, m *CustomModel, outDir, sig, key string) (*CustomManifest, error) {
	man := &CustomManifest{Model: m.Name, Description: m.Description, Interface: m.NnUNet.Interface, Signature: sig, SeriesKey: key,
		SourceDir: relTo(r.courseDir, r.in.CTDir), Networks: []NetworkRun{}, CombineOrder: m.combineOrder(), Expected: []string{},
		Produced: []string{}, Empty: []string{}, Missing: []string{}, Masks: []string{}, Sources: map[string]string{}, Warnings: []string{}}
	if len(m.RequiredBodyRegions) > 0 {
		conf := 0.5
		if m.MinRegionConfidence != nil {
			conf = *m.MinRegionConfidence
		}
		man.BodyRegions = &BodyRegionGate{Required: m.RequiredBodyRegions, MinConfidence: conf,
			Note: "not evaluated: rtpipeline has no body-region QC yet; the model ran"}
	}
	for i := range m.Networks {
		if len(m.Networks[i].Postprocessing) > 0 {
			man.Warnings = append(man.Warnings, fmt.Sprintf("network %s: postprocessing is not applied by rtpipeline", m.Networks[i].ID))
		}
	}
	env := r.environment(m)
	var targets []weightsTarget
	for _, t := range r.weightsTargets(m, env) {
		if m.runs(t.net) {
			targets = append(targets, t)
		}
	}

	// Weights: placed under the exclusive lock, used under a shared one.
	locks, err := r.acquireWeights(m, targets)
	if err != nil {
		return nil, err
	}
	releaseLocks := func() {
		for _, l := range locks {
			l.close()
		}
		locks = nil
	}
	defer releaseLocks()

	if err := r.prepare(); err != nil {
		return nil, err
	}
	scratch := filepath.Join(r.work, m.Name)
	os.RemoveAll(scratch)
	logDir := filepath.Join(r.courseDir, "logs", "segmentation_custom", m.Name)

	// Predictions.
	preds := map[string]string{} // network ID → output folder
	for i := range m.Networks {
		n := &m.Networks[i]
		if !m.runs(n) {
			continue
		}
		outFolder := filepath.Join(scratch, "net_"+SanitizeROI(string(n.ID)))
		if err := os.MkdirAll(outFolder, 0o755); err != nil {
			return nil, err
		}
		prog, args := r.predictCommand(m, n, outFolder)
		run := NetworkRun{ID: string(n.ID), Alias: string(n.Alias), Labels: n.LabelOrder, Log: relTo(r.courseDir, filepath.Join(logDir, "net_"+SanitizeROI(string(n.ID))+".log"))}
		if run.Labels == nil {
			run.Labels = []string{}
		}
		d, cl, err := r.exec(ctx, prog, args, networkEnv(env, m, n), filepath.Join(r.courseDir, filepath.FromSlash(run.Log)))
		run.Command, run.DurationSec = cl, d.Seconds()
		man.Networks = append(man.Networks, run)
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", n.ID, err)
		}
		preds[string(n.ID)] = outFolder
	}
	if e := m.Ensemble; e != nil {
		outFolder := filepath.Join(scratch, "ensemble")
		if err := os.MkdirAll(outFolder, 0o755); err != nil {
			return nil, err
		}
		var inputs []string
		for _, in := range e.Inputs {
			inputs = append(inputs, preds[string(m.network(string(in)).ID)])
		}
		prog, args := r.ensembleCommand(m, inputs, outFolder)
		run := NetworkRun{ID: EnsembleID, Labels: m.ensembleLabels(), Log: relTo(r.courseDir, filepath.Join(logDir, "ensemble.log"))}
		d, cl, err := r.exec(ctx, prog, args, env, filepath.Join(r.courseDir, filepath.FromSlash(run.Log)))
		run.Command, run.DurationSec = cl, d.Seconds()
		man.Ensemble = &run
		if err != nil {
			return nil, fmt.Errorf("ensemble: %w", err)
		}
		preds[EnsembleID] = outFolder
	}
	releaseLocks()

	// Combine: later sources replace earlier ones ROI by ROI.
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	if err := clearModelMasks(outDir, m.Name); err != nil {
		return nil, err
	}
	written := map[string]string{} // lower-case ROI → file ROI name
	nonEmpty := map[string]bool{}
	for _, src := range man.CombineOrder {
		for _, l := range m.labelsOf(src) {
			if roi := SanitizeROI(l); !containsFold(man.Expected, roi) {
				man.Expected = append(man.Expected, roi)
			}
		}
	}
	for _, src := range man.CombineOrder {
		folder, ok := preds[src]
		if !ok {
			continue
		}
		var err error
		if m.NnUNet.Interface == InterfaceTotalSegmentator {
			err = r.collectTSMasks(m, src, folder, outDir, man, written, nonEmpty)
		} else {
			err = r.splitLabelMap(m, src, filepath.Join(folder, nnUNetCase+".nii.gz"), m.labelsOf(src), outDir, man, written, nonEmpty)
		}
		if err != nil {
			return nil, err
		}
	}
	var masks []MaskFile
	for _, roi := range written {
		masks = append(masks, MaskFile{ROI: roi, Path: filepath.Join(outDir, maskName(m.Name, roi))})
	}
	sortMasks(masks)
	for _, mf := range masks {
		man.Masks = append(man.Masks, filepath.Base(mf.Path))
		if nonEmpty[lower(mf.ROI)] {
			man.Produced = append(man.Produced, mf.ROI)
		} else {
			man.Empty = append(man.Empty, mf.ROI)
		}
	}
	for _, e := range man.Expected {
		if _, ok := written[lower(e)]; !ok {
			man.Missing = append(man.Missing, e)
		}
	}
	if len(man.Masks) == 0 {
		return nil, errors.New("the predictors wrote no mask")
	}

	// RTSTRUCT of the non-empty masks.
	var rtMasks []MaskFile
	for _, mf := range masks {
		if nonEmpty[lower(mf.ROI)] {
			rtMasks = append(rtMasks, mf)
		}
	}
	rsPath := filepath.Join(outDir, CustomRTSTRUCT)
	if len(rtMasks) == 0 {
		os.Remove(rsPath)
		man.RTSTRUCT = &RTSTRUCTInfo{ROIs: []string{}, EmptyMasks: man.Empty, Note: "every mask is empty: no RTSTRUCT written"}
	} else {
		info, err := writeMasksRTSTRUCT(rsPath, r.in.CTDir, rtMasks, structures.WriteOptions{
			SeriesDescription: truncate("rtpipeline custom model "+m.Name, 64), StructureSetLabel: truncate(m.Name, 16)})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", CustomRTSTRUCT, err)
		}
		info.EmptyMasks = man.Empty
		if info.Path != "" {
			info.Path = CustomRTSTRUCT
		}
		man.RTSTRUCT = info
	}
	if !r.opts.RetainWeights {
		man.WeightsPurged = r.purge(targets)
	}
	man.GeneratedAt = nowUTC()
	if err := writeJSON(filepath.Join(outDir, ManifestFile), man); err != nil {
		return nil, err
	}
	return man, nil
}

// splitLabelMap writes one uint8 mask per label of an nnU-Net label map (label i is order[i-1]).
func (r *customRunner) splitLabelMap(m *CustomModel, src, path string, order []string, outDir string, man *CustomManifest, written map[string]string, nonEmpty map[string]bool) error {
	img, err := imageio.ReadNIfTI(path)
	if err != nil {
		return fmt.Errorf("%s output: %w", src, err)
	}
	counts := map[int]int{}
	for _, v := range img.Data {
		if v != 0 && !math.IsNaN(v) {
			counts[int(math.Round(v))]++
		}
	}
	for l := range counts {
		if l < 1 || l > len(order) {
			man.Warnings = append(man.Warnings, fmt.Sprintf("%s: label %d (%d voxels) is not in label_order (%d labels): ignored", src, l, counts[l], len(order)))
		}
	}
	sort.Strings(man.Warnings)
	mask := &imageio.Image{Grid: img.Grid, Data: make([]float64, len(img.Data)), PixelType: "uint8"}
	for i, name := range order {
		label := float64(i + 1)
		for k, v := range img.Data {
			if math.Round(v) == label {
				mask.Data[k] = 1
			} else {
				mask.Data[k] = 0
			}
		}
		roi := SanitizeROI(name)
		if err := r.placeMask(m, src, roi, mask, counts[i+1] > 0, outDir, man, written, nonEmpty); err != nil {
			return err
		}
	}
	return nil
}

// collectTSMasks takes the per-ROI masks of a TotalSegmentator-interface network; label_order,
// when given, keeps only those ROIs.
func (r *customRunner) collectTSMasks(m *CustomModel, src, folder, outDir string, man *CustomManifest, written map[string]string, nonEmpty map[string]bool) error {
	files, err := collectMasks(folder)
	if err != nil {
		return err
	}
	n := m.network(src)
	keep := map[string]bool{}
	for _, l := range n.LabelOrder {
		keep[lower(SanitizeROI(l))] = true
	}
	for _, f := range files {
		roi, _ := splitNIfTIName(filepath.Base(f))
		roi = SanitizeROI(roi)
		if len(keep) > 0 && !keep[lower(roi)] {
			continue
		}
		img, err := imageio.ReadNIfTI(f)
		if err != nil {
			return fmt.Errorf("%s output %s: %w", src, f, err)
		}
		bin := &imageio.Image{Grid: img.Grid, Data: make([]float64, len(img.Data)), PixelType: "uint8"}
		set := false
		for i, v := range img.Data {
			if v != 0 && !math.IsNaN(v) {
				bin.Data[i], set = 1, true
			}
		}
		if err := r.placeMask(m, src, roi, bin, set, outDir, man, written, nonEmpty); err != nil {
			return err
		}
	}
	return nil
}

// placeMask writes <name>--<roi>.nii.gz, replacing the mask of an earlier source.
func (r *customRunner) placeMask(m *CustomModel, src, roi string, mask *imageio.Image, set bool, outDir string, man *CustomManifest, written map[string]string, nonEmpty map[string]bool) error {
	k := lower(roi)
	if prev, ok := written[k]; ok {
		os.Remove(filepath.Join(outDir, maskName(m.Name, prev)))
		man.Warnings = append(man.Warnings, fmt.Sprintf("%s: %s replaces the mask from %s (combine order)", roi, src, man.Sources[prev]))
		delete(man.Sources, prev)
	}
	if !containsFold(man.Expected, roi) {
		man.Expected = append(man.Expected, roi)
	}
	if err := imageio.WriteNIfTI(filepath.Join(outDir, maskName(m.Name, roi)), mask); err != nil {
		return err
	}
	written[k] = roi
	nonEmpty[k] = set
	man.Sources[roi] = src
	return nil
}

// predictCommand returns the predictor and its arguments for one network:
//
//	v2: nnUNetv2_predict -i IN -o OUT -d ID -c CFG -f F… [-tr TRAINER] [-p PLANS] [-chk CKPT]
//	    [--save_probabilities] -device cuda|cpu|mps [predict_args…]
//	v1: nnUNet_predict -i IN -o OUT -t TASK -m CFG -f F… [-tr TRAINER] [-ctr CASCADE] [-p PLANS]
//	    [-chk CKPT] [--save_npz] [predict_args…]
//	totalsegmentator: TotalSegmentator -i IN/case_0000.nii.gz -o OUT -ta TASK --device DEV
//	    [predict_args…]
//
// The probabilities flags are added for networks feeding the ensemble, which needs them.
func (r *customRunner) predictCommand(m *CustomModel, n *NetworkSpec, out string) (string, []string) {
	cfgName := m.NnUNet.Model
	if n.Architecture != "" {
		cfgName = n.Architecture
	}
	folds := []string(m.NnUNet.Folds)
	if len(n.Folds) > 0 {
		folds = n.Folds
	}
	var prog string
	var args []string
	switch m.NnUNet.Interface {
	case InterfaceTotalSegmentator:
		prog = orDefault(m.NnUNet.Command, DefaultTotalSegmentator)
		args = []string{"-i", filepath.Join(r.input, nnUNetCase+"_0000.nii.gz"), "-o", out, "-ta", n.Task, "--device", tsDevice(r.opts.Device)}
	case InterfaceNnUNetV1:
		prog = orDefault(m.NnUNet.Command, DefaultNnUNetV1Predict)
		task := n.Task
		if task == "" {
			task = string(n.ID)
		}
		args = []string{"-i", r.input, "-o", out, "-t", task, "-m", cfgName, "-f"}
		args = append(args, folds...)
		args = appendOpt(args, "-tr", n.Trainer)
		args = appendOpt(args, "-ctr", n.CascadeTrainer)
		args = appendOpt(args, "-p", n.Plans)
		args = appendOpt(args, "-chk", n.Checkpoint)
		if m.ensembleInput(n) {
			args = append(args, "--save_npz")
		}
	default:
		prog = orDefault(m.NnUNet.Command, orDefault(r.opts.NnUNetPredict, DefaultNnUNetV2Predict))
		args = []string{"-i", r.input, "-o", out, "-d", string(n.ID), "-c", cfgName, "-f"}
		args = append(args, folds...)
		args = appendOpt(args, "-tr", n.Trainer)
		args = appendOpt(args, "-p", n.Plans)
		args = appendOpt(args, "-chk", n.Checkpoint)
		if m.ensembleInput(n) {
			args = append(args, "--save_probabilities")
		}
		args = append(args, "-device", nnUNetDevice(r.opts.Device))
	}
	return prog, append(args, n.PredictArgs...)
}

// ensembleCommand returns the ensembler and its arguments:
//
//	v2: nnUNetv2_ensemble -i D1 D2… -o OUT
//	v1: nnUNet_ensemble -f D1 D2… -o OUT [-pp POSTPROCESSING_JSON]
func (r *customRunner) ensembleCommand(m *CustomModel, inputs []string, out string) (string, []string) {
	e := m.Ensemble
	if m.NnUNet.Interface == InterfaceNnUNetV1 {
		args := append([]string{"-f"}, inputs...)
		args = append(args, "-o", out)
		if e.PostprocessingJSON != "" {
			args = append(args, "-pp", resolvePath(m.Dir, e.PostprocessingJSON))
		}
		return orDefault(e.Command, DefaultNnUNetV1Ensemble), args
	}
	args := append([]string{"-i"}, inputs...)
	return orDefault(e.Command, DefaultNnUNetV2Ensemble), append(args, "-o", out)
}

// nnUNetDevice maps the configured device onto nnUNetv2_predict's -device (cuda, cpu, mps).
func nnUNetDevice(d string) string {
	switch {
	case d == "cpu", d == "mps":
		return d
	}
	return "cuda"
}

func appendOpt(args []string, flag, v string) []string {
	if v == "" {
		return args
	}
	return append(args, flag, v)
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// exec runs one command (through the activation shell when CondaActivate is set) and returns
// its duration and command line.
func (r *customRunner) exec(ctx context.Context, prog string, args, env []string, log string) (time.Duration, string, error) {
	c := extproc.Cmd{Path: prog, Args: args, Env: env, Dir: r.work, LogPath: log, Timeout: r.opts.Timeout, Grace: r.opts.Grace, Hint: nnUNetHint}
	if prog == DefaultTotalSegmentator || filepath.Base(prog) == DefaultTotalSegmentator {
		c.Hint = tsHint
	}
	if r.opts.CondaActivate != "" {
		c.Path, c.Name = "bash", prog
		c.Args = append([]string{"-c", r.opts.CondaActivate + ` && exec "$0" "$@"`, prog}, args...)
	}
	line := extproc.CommandLine(c.Path, c.Args)
	start := time.Now()
	_, err := extproc.Run(ctx, c)
	return time.Since(start), line, err
}

// environment is the predictors' environment: the base environment with the thread limits set
// to the job's threads, TMPDIR (temp_dir), nnU-Net's folders in the model folder
// (nnUNet_results, nnUNet_raw, nnUNet_preprocessed for v2; RESULTS_FOLDER, nnUNet_raw_data_base,
// nnUNet_preprocessed for v1) and then nnunet.env, relative paths taken from the model folder.
func (r *customRunner) environment(m *CustomModel) []string {
	e := newEnv(r.opts.env())
	for _, v := range threadVars {
		e.set(v, strconv.Itoa(max(r.opts.Threads, 1)))
	}
	if r.opts.TempDir != "" {
		e.set("TMPDIR", r.opts.TempDir)
	}
	switch m.NnUNet.Interface {
	case InterfaceNnUNetV1:
		e.set("RESULTS_FOLDER", filepath.Join(m.Dir, "nnUNet_results"))
		e.set("nnUNet_raw_data_base", filepath.Join(m.Dir, "nnUNet_raw"))
		e.set("nnUNet_preprocessed", filepath.Join(m.Dir, "nnUNet_preprocessed"))
	case InterfaceNnUNetV2:
		e.set("nnUNet_results", filepath.Join(m.Dir, "nnUNet_results"))
		e.set("nnUNet_raw", filepath.Join(m.Dir, "nnUNet_raw"))
		e.set("nnUNet_preprocessed", filepath.Join(m.Dir, "nnUNet_preprocessed"))
	}
	applyEnv(e, m.Dir, m.NnUNet.Env)
	return e.list()
}

// networkEnv adds a network's own env to the model's.
func networkEnv(base []string, m *CustomModel, n *NetworkSpec) []string {
	if len(n.Env) == 0 {
		return base
	}
	e := newEnv(base)
	applyEnv(e, m.Dir, n.Env)
	return e.list()
}

// pathVars are environment variables whose relative values are folders of the model.
var pathVars = map[string]bool{"nnUNet_results": true, "nnUNet_raw": true, "nnUNet_preprocessed": true, "RESULTS_FOLDER": true,
	"nnUNet_raw_data_base": true, "TOTALSEG_WEIGHTS_PATH": true, "TOTALSEG_HOME_DIR": true}

func applyEnv(e *env, dir string, vars map[string]string) {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := vars[k]
		if pathVars[k] || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../") {
			v = resolvePath(dir, v)
		}
		e.set(k, v)
	}
}

// weightsTargets lists where each network's weights must be (nnU-Net interfaces with a
// dataset_directory only).
func (r *customRunner) weightsTargets(m *CustomModel, env []string) []weightsTarget {
	if m.NnUNet.Interface == InterfaceTotalSegmentator {
		return nil
	}
	var out []weightsTarget
	for i := range m.Networks {
		n := &m.Networks[i]
		ne := networkEnv(env, m, n)
		var root string
		if m.NnUNet.Interface == InterfaceNnUNetV1 {
			rf, _ := extproc.Getenv(ne, "RESULTS_FOLDER")
			cfgName := m.NnUNet.Model
			if n.Architecture != "" {
				cfgName = n.Architecture
			}
			root = filepath.Join(rf, "nnUNet", cfgName)
		} else {
			root, _ = extproc.Getenv(ne, "nnUNet_results")
		}
		t := weightsTarget{net: n, root: root}
		if n.DatasetDirectory != "" && root != "" {
			t.target = filepath.Join(root, filepath.FromSlash(n.DatasetDirectory))
		}
		out = append(out, t)
	}
	return out
}

// acquireWeights places missing weights under each results folder's exclusive lock, then holds
// the locks shared (so that no purge removes them while predicting). It returns the held locks.
func (r *customRunner) acquireWeights(m *CustomModel, targets []weightsTarget) ([]*weightsLock, error) {
	roots := map[string][]weightsTarget{}
	var order []string
	for _, t := range targets {
		if t.target == "" {
			continue
		}
		if _, ok := roots[t.root]; !ok {
			order = append(order, t.root)
		}
		roots[t.root] = append(roots[t.root], t)
	}
	sort.Strings(order)
	var held []*weightsLock
	fail := func(err error) ([]*weightsLock, error) {
		for _, l := range held {
			l.close()
		}
		return nil, err
	}
	for _, root := range order {
		l, err := openWeightsLock(root)
		if err != nil {
			// A read-only models folder with the weights in place needs no lock: nothing can
			// be placed or purged there.
			inPlace := true
			for _, t := range roots[root] {
				if st, serr := os.Stat(t.target); serr != nil || !st.IsDir() {
					inPlace = false
				}
			}
			if inPlace {
				continue
			}
			return fail(fmt.Errorf("weights folder %s: %w", root, err))
		}
		placed := false
		for attempt := 0; attempt < 3 && !placed; attempt++ {
			if err := l.lock(syscall.LOCK_EX); err != nil {
				l.close()
				return fail(err)
			}
			for _, t := range roots[root] {
				if err := ensureWeights(m.Dir, t); err != nil {
					l.close()
					return fail(err)
				}
			}
			// Converting the lock is not atomic: check again once shared.
			if err := l.lock(syscall.LOCK_SH); err != nil {
				l.close()
				return fail(err)
			}
			placed = true
			for _, t := range roots[root] {
				if _, err := os.Stat(t.target); err != nil {
					placed = false
				}
			}
		}
		if !placed {
			l.close()
			return fail(fmt.Errorf("weights under %s keep disappearing (another job purging them?)", root))
		}
		held = append(held, l)
	}
	return held, nil
}

// purge deletes the weights the pipeline placed, for each results folder no other job is using.
func (r *customRunner) purge(targets []weightsTarget) []string {
	byRoot := map[string][]weightsTarget{}
	for _, t := range targets {
		if t.target != "" {
			byRoot[t.root] = append(byRoot[t.root], t)
		}
	}
	var removed []string
	for root, ts := range byRoot {
		l, err := openWeightsLock(root)
		if err != nil {
			continue
		}
		if l.tryExclusive() {
			removed = append(removed, purgeWeights(ts)...)
		}
		l.close()
	}
	sort.Strings(removed)
	return removed
}
