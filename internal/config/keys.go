package config

import (
	"fmt"
	"strings"
)

// key declares one configuration key. The registry below is the single source of every key's
// name, default, allowed values and meaning: the loader, Show, DefaultYAML and docs/config.md
// all read it.
type key struct {
	name string // full dotted key
	help string // one or two sentences; used in config.yaml comments and docs/config.md
	def  string // the default, written as YAML

	// field points at the value inside a Config; nil for sections, aliases and ignored keys.
	field func(*Config) any

	section    bool     // a mapping of further keys
	allowed    []string // permitted strings (for a list: permitted items; for Workers: words)
	nullable   bool     // a string key that may be null (read as "")
	nullWords  []string // words read as null in a pointer key (max_workers: auto)
	bound      bound    // numeric limits (for a list: of each item)
	aliasOf    string   // another name for this key
	deprecated string   // non-empty: the key is accepted with this warning
}

// bound limits a number. Open bounds exist because a relative volume change of exactly -1 would
// erase the structure.
type bound struct {
	lo, hi         float64
	hasLo, hasHi   bool
	loOpen, hiOpen bool
}

func atLeast(v float64) bound      { return bound{lo: v, hasLo: true} }
func above(v float64) bound        { return bound{lo: v, hasLo: true, loOpen: true} }
func between(lo, hi float64) bound { return bound{lo: lo, hi: hi, hasLo: true, hasHi: true} }

var (
	positive    = atLeast(1)
	nonNegative = atLeast(0)
	fraction    = between(0, 1)
)

func (b bound) ok(v float64) bool {
	if b.hasLo && (v < b.lo || b.loOpen && v == b.lo) {
		return false
	}
	if b.hasHi && (v > b.hi || b.hiOpen && v == b.hi) {
		return false
	}
	return true
}

func (b bound) String() string {
	switch {
	case b.hasLo && b.hasHi:
		return fmt.Sprintf(" in [%v, %v]", b.lo, b.hi)
	case b.hasLo && b.loOpen:
		return fmt.Sprintf(" > %v", b.lo)
	case b.hasLo:
		return fmt.Sprintf(" ≥ %v", b.lo)
	}
	return ""
}

// Default keyword lists live here so the registry rows stay readable.
const (
	defReplanKeywords = "[replan, re-plan, adapt, adaptive, revision, rev, v2, v3, v4, v5, copy, resim, resimulation]"
	defBoostKeywords  = `[boost, cone, cd, phase2, "phase 2", sib, sequential, "sequential boost"]`
)

// registry lists every key in Show and documentation order: sections in the order of the original
// system's schema (top-level scalars first), keys in declaration order within each section. A
// section's row comes before its keys.
var registry = []key{
	// Top level.
	{name: "dicom_root", def: "Input", field: func(c *Config) any { return &c.DicomRoot },
		help: "Folder searched recursively for DICOM input. Relative paths are taken from the working directory, as are all paths below."},
	{name: "output_dir", def: "Output", field: func(c *Config) any { return &c.OutputDir },
		help: "Folder that receives one folder per patient and course, plus _COURSES/manifest.json and _RESULTS/."},
	{name: "logs_dir", def: "Logs", field: func(c *Config) any { return &c.LogsDir },
		help: "Folder for per-stage, per-course logs."},
	{name: "max_workers", def: "null", field: func(c *Config) any { return &c.MaxWorkers }, bound: positive, nullWords: []string{"auto"},
		help: "Cap on the worker budget: budget = min(max_workers, cores − scheduler.reserved_cores). null or auto = no cap. Lower it (2–4) when slow or network storage, not CPU, is the bottleneck."},
	{name: "workers", aliasOf: "max_workers", deprecated: `deprecated, use "max_workers"`,
		help: "Deprecated name of max_workers."},
	{name: "snakemake_job_threads", deprecated: "deprecated and ignored: per-job threads come from scheduler.*_threads_per_job",
		help: "Deprecated and ignored; per-job threads come from the scheduler section."},
	{name: "container_mode", def: "false", field: func(c *Config) any { return &c.ContainerMode },
		help: "True inside the project's container image: external tools are taken from the environments under container_env_prefix instead of being activated with conda."},
	{name: "container_env_prefix", def: "/opt/conda/envs", field: func(c *Config) any { return &c.ContainerEnvPrefix },
		help: "Folder holding the image's environments when container_mode is true."},
	{name: "custom_structures", def: "null", nullable: true, field: func(c *Config) any { return &c.CustomStructures },
		help: "YAML file of composite structures (Boolean and margin operations on ROIs) added to every course. null = none."},
	{name: "environments", section: true,
		help: "Names of the environments that provide external tools."},
	{name: "environments.main", def: "rtpipeline", field: func(c *Config) any { return &c.Environments.Main },
		help: "Environment with TotalSegmentator, nnU-Net and dcm2niix."},
	{name: "environments.radiomics", def: "rtpipeline-radiomics", field: func(c *Config) any { return &c.Environments.Radiomics },
		help: "Environment with PyRadiomics; kept apart from main because the two need different NumPy versions."},

	{name: "scheduler", section: true,
		help: "How the worker budget is shared between courses and stages."},
	{name: "scheduler.reserved_cores", def: "1", bound: nonNegative, field: func(c *Config) any { return &c.Scheduler.ReservedCores },
		help: "Cores kept free for the OS and I/O: budget = cores − reserved_cores, at least 1. 0 gives every core to the pipeline (honoured, unlike the original)."},
	{name: "scheduler.parallel_courses", def: "null", bound: positive, field: func(c *Config) any { return &c.Scheduler.ParallelCourses },
		help: "Most courses in flight at once. null = no bound of its own; the budget, the per-job thread caps and the segmentation gates still apply."},
	{name: "scheduler.dvh_threads_per_job", def: "4", bound: positive, field: func(c *Config) any { return &c.Scheduler.DVHThreadsPerJob },
		help: "Threads one DVH job takes (clipped to the budget), so several courses compute DVHs side by side instead of one taking every core."},
	{name: "scheduler.radiomics_threads_per_job", def: "6", bound: positive, field: func(c *Config) any { return &c.Scheduler.RadiomicsThreadsPerJob },
		help: "Threads one radiomics job takes (clipped to the budget)."},
	{name: "scheduler.qc_threads_per_job", def: "2", bound: positive, field: func(c *Config) any { return &c.Scheduler.QCThreadsPerJob },
		help: "Threads one QC job takes (clipped to the budget); QC is light I/O."},
	{name: "scheduler.crop_ct_threads_per_job", def: "null", bound: positive, field: func(c *Config) any { return &c.Scheduler.CropCTThreadsPerJob },
		help: "Threads one CT-cropping job takes (clipped to the budget). null = the whole budget."},
	{name: "scheduler.robustness_threads_per_job", def: "null", bound: positive, field: func(c *Config) any { return &c.Scheduler.RobustnessThreadsPerJob },
		help: "Threads one radiomics-robustness job takes (clipped to the budget). null = radiomics_threads_per_job."},
	{name: "scheduler.prioritize_short_courses", def: "true", field: func(c *Config) any { return &c.Scheduler.PrioritizeShortCourses },
		help: "Start courses with fewer DICOM files first so finished courses reach the later stages early. false = patient/course order."},

	{name: "segmentation", section: true,
		help: "Automatic segmentation of the planning CT (and MR)."},
	{name: "segmentation.backend", def: "auto", allowed: []string{"auto", "builtin", "totalsegmentator"}, field: func(c *Config) any { return &c.Segmentation.Backend },
		help: "Segmentation engine. totalsegmentator runs the external TotalSegmentator; builtin uses the pipeline's own segmenter and needs no external tool; auto = totalsegmentator when it is installed, else builtin."},
	{name: "segmentation.device", def: "gpu", allowed: []string{"gpu", "cpu", "mps", "cuda"}, field: func(c *Config) any { return &c.Segmentation.Device },
		help: "Device the models run on. On gpu, cuda and mps segmentation jobs run one at a time unless max_workers says otherwise; on cpu they fan out to the worker budget."},
	{name: "segmentation.fast", def: "false", field: func(c *Config) any { return &c.Segmentation.Fast },
		help: "TotalSegmentator --fast (3 mm model): quicker, coarser masks."},
	{name: "segmentation.force", def: "false", field: func(c *Config) any { return &c.Segmentation.Force },
		help: "Re-run segmentation even when complete outputs exist."},
	{name: "segmentation.roi_subset", def: "[]", field: func(c *Config) any { return &c.Segmentation.ROISubset },
		help: "Segment only these ROIs (TotalSegmentator --roi_subset). Empty = all."},
	{name: "segmentation.extra_models", def: "[]", field: func(c *Config) any { return &c.Segmentation.ExtraModels },
		help: "TotalSegmentator tasks run after total; names ending in _mr run on MR series."},
	{name: "segmentation.max_workers", def: "null", nullable: true, field: func(c *Config) any { return &c.Segmentation.MaxWorkers },
		help: "Segmentation jobs running at once (a gate, not a thread count): null or auto = 1 on gpu/cuda/mps and the worker budget on cpu; all = the budget; N = N, e.g. the number of GPUs."},
	{name: "segmentation.workers", aliasOf: "segmentation.max_workers",
		help: "Legacy name of segmentation.max_workers; ignored when max_workers is also given."},
	{name: "segmentation.force_split", def: "true", field: func(c *Config) any { return &c.Segmentation.ForceSplit },
		help: "TotalSegmentator --force_split: process large images in chunks to bound memory."},
	{name: "segmentation.nr_threads_resample", def: "null", bound: positive, field: func(c *Config) any { return &c.Segmentation.NrThreadsResample },
		help: "TotalSegmentator --nr_thr_resamp. null = chosen by the pipeline from the job's threads."},
	{name: "segmentation.nr_threads_save", def: "null", bound: positive, field: func(c *Config) any { return &c.Segmentation.NrThreadsSave },
		help: "TotalSegmentator --nr_thr_saving. null = chosen by the pipeline from the job's threads."},
	{name: "segmentation.num_proc_preprocessing", def: "1", bound: positive, field: func(c *Config) any { return &c.Segmentation.NumProcPreprocessing },
		help: "nnU-Net preprocessing processes inside TotalSegmentator; 1 avoids multiprocessing failures in containers. null = the tool's default."},
	{name: "segmentation.num_proc_export", def: "1", bound: positive, field: func(c *Config) any { return &c.Segmentation.NumProcExport },
		help: "nnU-Net export processes inside TotalSegmentator; 1 avoids multiprocessing failures in containers. null = the tool's default."},
	{name: "segmentation.temp_dir", def: "null", nullable: true, field: func(c *Config) any { return &c.Segmentation.TempDir },
		help: "Scratch folder for segmentation inputs and outputs. null = the system temporary folder."},
	{name: "segmentation.timeout_seconds", def: "3600", bound: nonNegative, field: func(c *Config) any { return &c.Segmentation.TimeoutSeconds },
		help: "Kill one segmentation run that takes longer, so a hung model cannot stall the cohort. 0 = no limit."},
	{name: "segmentation.command", def: "TotalSegmentator", field: func(c *Config) any { return &c.Segmentation.Command },
		help: "TotalSegmentator command: a name on PATH or a path. backend auto uses TotalSegmentator when this is found."},
	{name: "segmentation.weights_dir", def: "null", nullable: true, field: func(c *Config) any { return &c.Segmentation.WeightsDir },
		help: "Folder of TotalSegmentator's model weights, passed as TOTALSEG_WEIGHTS_PATH (and nnUNet_results) unless the environment sets it. null = TotalSegmentator's default (~/.totalsegmentator)."},

	{name: "custom_models", section: true,
		help: "Custom nnU-Net models run after segmentation."},
	{name: "custom_models.enabled", def: "false", field: func(c *Config) any { return &c.CustomModels.Enabled },
		help: "Run the custom models. Off by default because their weights are not shipped."},
	{name: "custom_models.root", def: "./custom_models", field: func(c *Config) any { return &c.CustomModels.Root },
		help: "Folder with one sub-folder per model, each holding custom_model.yaml; sub-folders starting with _ are skipped."},
	{name: "custom_models.models", def: "[]", field: func(c *Config) any { return &c.CustomModels.Models },
		help: "Names of the models to run. Empty = every model under root."},
	{name: "custom_models.max_workers", def: "null", nullable: true, field: func(c *Config) any { return &c.CustomModels.MaxWorkers },
		help: "Custom-model jobs running at once: same rule as segmentation.max_workers, with the device taken from segmentation.device."},
	{name: "custom_models.workers", aliasOf: "custom_models.max_workers",
		help: "Legacy name of custom_models.max_workers; ignored when max_workers is also given."},
	{name: "custom_models.force", def: "false", field: func(c *Config) any { return &c.CustomModels.Force },
		help: "Re-run the models even when complete outputs exist."},
	{name: "custom_models.nnunet_predict", def: "nnUNetv2_predict", field: func(c *Config) any { return &c.CustomModels.NnUNetPredict },
		help: "nnU-Net prediction command: a name on PATH or a path."},
	{name: "custom_models.conda_activate", def: "null", nullable: true, field: func(c *Config) any { return &c.CustomModels.CondaActivate },
		help: "Shell command run before nnU-Net to activate its environment. null = none."},
	{name: "custom_models.retain_weights", def: "true", field: func(c *Config) any { return &c.CustomModels.RetainWeights },
		help: "Keep extracted model weights between runs; false deletes them after each run to save disk at the cost of re-extraction."},
	{name: "custom_models.timeout_seconds", def: "1800", bound: nonNegative, field: func(c *Config) any { return &c.CustomModels.TimeoutSeconds },
		help: "Kill one model run that takes longer. 0 = no limit."},

	{name: "radiomics", section: true,
		help: "Radiomics feature extraction."},
	{name: "radiomics.enabled", def: "true", field: func(c *Config) any { return &c.Radiomics.Enabled },
		help: "Extract radiomics features for every course."},
	{name: "radiomics.sequential", def: "false", field: func(c *Config) any { return &c.Radiomics.Sequential },
		help: "Extract one ROI at a time, for debugging or tight memory. false = ROIs in parallel within the job's threads."},
	{name: "radiomics.params_file", def: "null", nullable: true, field: func(c *Config) any { return &c.Radiomics.ParamsFile },
		help: "PyRadiomics-style YAML parameter file for CT. null = the built-in CT settings."},
	{name: "radiomics.mr_params_file", def: "null", nullable: true, field: func(c *Config) any { return &c.Radiomics.MRParamsFile },
		help: "PyRadiomics-style YAML parameter file for MR. null = the built-in MR settings."},
	{name: "radiomics.skip_rois", def: "[]", field: func(c *Config) any { return &c.Radiomics.SkipROIs },
		help: "ROI names to leave out of extraction, e.g. body or couch structures."},
	{name: "radiomics.max_voxels", def: "15000000", bound: positive, field: func(c *Config) any { return &c.Radiomics.MaxVoxels },
		help: "ROIs with more voxels get the reduced feature set, to bound memory and time."},
	{name: "radiomics.min_voxels", def: "120", bound: nonNegative, field: func(c *Config) any { return &c.Radiomics.MinVoxels },
		help: "ROIs with fewer voxels are skipped: too small for stable texture features."},
	{name: "radiomics.max_parallel_courses", def: "1", bound: positive, field: func(c *Config) any { return &c.Radiomics.MaxParallelCourses },
		help: "Radiomics (and robustness) jobs running at once; a gate, because each job already fans out over its ROIs and memory grows with every job."},
	{name: "radiomics.roi_timeout_seconds", def: "600", bound: nonNegative, field: func(c *Config) any { return &c.Radiomics.ROITimeoutSeconds },
		help: "Give up on one ROI that takes longer. 0 = no limit."},

	{name: "radiomics_robustness", section: true,
		help: "Feature robustness under noise, translation, contour and volume (NTCV) perturbations."},
	{name: "radiomics_robustness.enabled", def: "false", field: func(c *Config) any { return &c.RadiomicsRobustness.Enabled },
		help: "Run the robustness analysis; it has no effect unless radiomics.enabled is true."},
	{name: "radiomics_robustness.modes", def: "[segmentation_perturbation]", allowed: []string{"segmentation_perturbation"}, field: func(c *Config) any { return &c.RadiomicsRobustness.Modes },
		help: "Analyses to run; segmentation_perturbation is the only one implemented."},
	{name: "radiomics_robustness.segmentation_perturbation", section: true,
		help: "The NTCV perturbation grid."},
	{name: "radiomics_robustness.segmentation_perturbation.intensity", def: "standard", allowed: []string{"mild", "standard", "aggressive"}, field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.Intensity },
		help: "Size of the grid: mild = 12, standard = 81, aggressive = 315 perturbations per ROI (with the default settings)."},
	{name: "radiomics_robustness.segmentation_perturbation.apply_to_structures", def: `["GTV*", "CTV*", "PTV*"]`, field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.ApplyToStructures },
		help: "ROI name patterns (shell globs, case-insensitive) whose features are tested."},
	{name: "radiomics_robustness.segmentation_perturbation.small_volume_changes", def: "[-0.15, 0, 0.15]", bound: above(-1), field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.SmallVolumeChanges },
		help: "Relative volume changes (erosion < 0 < dilation) used by every intensity."},
	{name: "radiomics_robustness.segmentation_perturbation.large_volume_changes", def: "[-0.30, 0, 0.30]", bound: above(-1), field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.LargeVolumeChanges },
		help: "Further relative volume changes added by the aggressive intensity."},
	{name: "radiomics_robustness.segmentation_perturbation.max_translation_mm", def: "4", bound: nonNegative, field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.MaxTranslationMM },
		help: "Rigid shift of the mask, in mm, for the translation perturbations. 0 = no translations."},
	{name: "radiomics_robustness.segmentation_perturbation.contour_randomization_mm", def: "null", bound: nonNegative, field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.ContourRandomizationMM },
		help: "Largest boundary erosion or dilation, in mm, of a random contour realisation. null = max_translation_mm / 2."},
	{name: "radiomics_robustness.segmentation_perturbation.n_random_contour_realizations", def: "2", bound: nonNegative, field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.NRandomContourRealizations },
		help: "Random contour realisations per translation, besides the original contour."},
	{name: "radiomics_robustness.segmentation_perturbation.noise_levels", def: "[0, 10, 20]", bound: nonNegative, field: func(c *Config) any { return &c.RadiomicsRobustness.SegmentationPerturbation.NoiseLevels },
		help: "Standard deviations, in HU, of the Gaussian noise added to the image; 0 = the original image."},
	{name: "radiomics_robustness.metrics", section: true,
		help: "Statistics computed per feature."},
	{name: "radiomics_robustness.metrics.icc", section: true,
		help: "Intraclass correlation across perturbations."},
	{name: "radiomics_robustness.metrics.icc.icc_type", def: "ICC3", allowed: []string{"ICC3"}, field: func(c *Config) any { return &c.RadiomicsRobustness.Metrics.ICC.Type },
		help: "ICC form; only ICC(3,1) (two-way mixed, consistency, single rater) is implemented."},
	{name: "radiomics_robustness.metrics.icc.ci", def: "true", field: func(c *Config) any { return &c.RadiomicsRobustness.Metrics.ICC.CI },
		help: "Compute the 95 % confidence interval and label features by its lower bound, which is the cautious choice for small cohorts."},
	{name: "radiomics_robustness.metrics.cov", section: true,
		help: "Coefficient of variation across perturbations."},
	{name: "radiomics_robustness.metrics.cov.enabled", def: "true", field: func(c *Config) any { return &c.RadiomicsRobustness.Metrics.CoV.Enabled },
		help: "Compute the CoV; without it every feature is labelled not_evaluable."},
	{name: "radiomics_robustness.metrics.qcd", section: true,
		help: "Quartile coefficient of dispersion across perturbations."},
	{name: "radiomics_robustness.metrics.qcd.enabled", def: "true", field: func(c *Config) any { return &c.RadiomicsRobustness.Metrics.QCD.Enabled },
		help: "Compute the QCD (reported, not used for labels)."},
	{name: "radiomics_robustness.thresholds", section: true,
		help: "Limits of the robust / acceptable / poor labels."},
	{name: "radiomics_robustness.thresholds.icc_robust", def: "0.90", bound: fraction, field: func(c *Config) any { return &c.RadiomicsRobustness.Thresholds.ICCRobust },
		help: "Robust needs ICC ≥ this (and CoV ≤ cov_robust)."},
	{name: "radiomics_robustness.thresholds.icc_acceptable", def: "0.75", bound: fraction, field: func(c *Config) any { return &c.RadiomicsRobustness.Thresholds.ICCAcceptable },
		help: "Acceptable needs ICC ≥ this (and CoV ≤ cov_acceptable); must not exceed icc_robust."},
	{name: "radiomics_robustness.thresholds.cov_robust", def: "10", bound: nonNegative, field: func(c *Config) any { return &c.RadiomicsRobustness.Thresholds.CoVRobust },
		help: "Robust needs CoV ≤ this many percent."},
	{name: "radiomics_robustness.thresholds.cov_acceptable", def: "20", bound: nonNegative, field: func(c *Config) any { return &c.RadiomicsRobustness.Thresholds.CoVAcceptable },
		help: "Acceptable needs CoV ≤ this many percent; must not be below cov_robust."},

	{name: "ct_cropping", section: true,
		help: "Crop every CT (in z) to the same anatomical landmarks, so percentage DVH metrics compare across patients."},
	{name: "ct_cropping.enabled", def: "false", field: func(c *Config) any { return &c.CTCropping.Enabled },
		help: "Crop CTs and masks to the region's landmarks."},
	{name: "ct_cropping.region", def: "pelvis", allowed: []string{"pelvis", "thorax", "abdomen", "head_neck", "brain"}, field: func(c *Config) any { return &c.CTCropping.Region },
		help: "Region whose landmarks (from the total segmentation) bound the crop."},
	{name: "ct_cropping.superior_margin_cm", def: "null", bound: nonNegative, field: func(c *Config) any { return &c.CTCropping.SuperiorMarginCM },
		help: "Margin above the superior landmark, in cm. null = the region's default; an explicit value is always used."},
	{name: "ct_cropping.inferior_margin_cm", def: "null", bound: nonNegative, field: func(c *Config) any { return &c.CTCropping.InferiorMarginCM },
		help: "Margin below the inferior landmark, in cm. null = the region's default; an explicit value is always used."},
	{name: "ct_cropping.use_cropped_for_dvh", def: "true", field: func(c *Config) any { return &c.CTCropping.UseCroppedForDVH },
		help: "Compute DVHs on the cropped masks when cropping is enabled."},
	{name: "ct_cropping.use_cropped_for_radiomics", def: "false", field: func(c *Config) any { return &c.CTCropping.UseCroppedForRadiomics },
		help: "Extract radiomics from the cropped images and masks when cropping is enabled."},

	{name: "qc", section: true,
		help: "Per-course quality control."},
	{name: "qc.enabled", def: "true", field: func(c *Config) any { return &c.QC.Enabled },
		help: "Run the QC checks and collect their reports."},

	{name: "aggregation", section: true,
		help: "Cohort tables in _RESULTS."},
	{name: "aggregation.threads", def: "auto", allowed: []string{"auto"}, field: func(c *Config) any { return &c.Aggregation.Threads },
		help: "Threads for building the cohort tables. auto = the worker budget."},

	{name: "organize", section: true,
		help: "How input DICOM is grouped into courses and laid out on disk."},
	{name: "organize.merge_criteria", def: "same_ct_study", allowed: []string{"same_ct_study", "frame_of_reference"}, field: func(c *Config) any { return &c.Organize.MergeCriteria },
		help: "Which plans form one course: same_ct_study = plans on the same planning-CT study; frame_of_reference = plans sharing a frame of reference."},
	{name: "organize.max_days", def: "null", bound: nonNegative, field: func(c *Config) any { return &c.Organize.MaxDays },
		help: "Split a course whose plan dates span more than this many days into courses that each start with a plan and hold the plans within max_days of it (undated plans stay in the first). null = never split by date."},
	{name: "organize.hardlink", def: "true", field: func(c *Config) any { return &c.Organize.Hardlink },
		help: "Place input files in course folders as hard links when input and output share a file system (no extra disk), copies otherwise. false = always copy, so later edits to the input cannot reach the output."},
	{name: "organize.replan_keywords", def: defReplanKeywords, field: func(c *Config) any { return &c.Organize.ReplanKeywords },
		help: "Whole words (case-insensitive; a word followed by digits also matches) in a later plan's label, name or description that mark it as a replan of the first plan, whose dose is then kept (intention to treat)."},
	{name: "organize.boost_keywords", def: defBoostKeywords, field: func(c *Config) any { return &c.Organize.BoostKeywords },
		help: "Whole words (case-insensitive; a word followed by digits also matches) in a later plan's label, name or description that mark it as a boost, whose dose is added to the first."},
	{name: "organize.boost_rx_ratio", def: "1.1", bound: atLeast(1), field: func(c *Config) any { return &c.Organize.BoostRxRatio },
		help: "A later plan whose prescription differs from the first plan's by more than this factor is a boost even without a keyword."},
	{name: "organize.replan_rx_similarity", def: "0.9", bound: fraction, field: func(c *Config) any { return &c.Organize.ReplanRxSimilarity },
		help: "A later plan without a keyword whose prescription is at least this similar to the first's (smaller / larger) is a replan when planned on a later day, an alternative plan (plan comparison) when planned the same day."},
	{name: "organize.min_dose_overlap", def: "0.3", bound: fraction, field: func(c *Config) any { return &c.Organize.MinDoseOverlap },
		help: "Dose grids overlapping less than this fraction of the smaller grid cover separate regions, so they are not summed."},
	{name: "organize.index_workers", def: "null", bound: positive, field: func(c *Config) any { return &c.Organize.IndexWorkers },
		help: "Parallel header reads while indexing the input, clipped to the worker budget. null = the budget."},

	{name: "pet", section: true,
		help: "PET SUV ingestion."},
	{name: "pet.do_ingest_pet_suv", def: "false", field: func(c *Config) any { return &c.PET.DoIngestPETSUV },
		help: "Convert PET series to body-weight SUV images."},
	{name: "pet.suv_decay_guard_tol", def: "0.02", bound: nonNegative, field: func(c *Config) any { return &c.PET.SUVDecayGuardTol },
		help: "Refuse a PET series whose DecayFactor differs from 2^(frame reference time / half-life) by more than this relative amount, since its SUV would be wrong."},
	{name: "pet.suv_zextent_primary_fraction", def: "0.9", bound: fraction, field: func(c *Config) any { return &c.PET.SUVZExtentPrimaryFraction },
		help: "A reconstruction qualifies as the primary PET only if it covers at least this fraction of the study's longest z-extent."},
	{name: "pet.pet_clinical_weight_window_days", def: "30", bound: nonNegative, field: func(c *Config) any { return &c.PET.ClinicalWeightWindowDays },
		help: "A clinical weight record is used for SUV only if taken within this many days of the scan."},
}

// byName indexes the registry.
var byName = func() map[string]*key {
	m := make(map[string]*key, len(registry))
	for i := range registry {
		m[registry[i].name] = &registry[i]
	}
	return m
}()

// leaf is the last component of a dotted key.
func leaf(name string) string {
	return name[strings.LastIndexByte(name, '.')+1:]
}

// parent is everything before the last component, "" at the top level.
func parent(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return ""
}

// depth is the nesting level of a key, 0 at the top level.
func depth(name string) int {
	return strings.Count(name, ".")
}

// suggest names the known key the user most likely meant: the closest sibling within edit
// distance 2, else a key of the same name in another section (a key put in the wrong section).
func suggest(name string) string {
	p, l := parent(name), leaf(name)
	best, bestD := "", 3
	for i := range registry {
		k := &registry[i]
		if parent(k.name) != p {
			continue
		}
		if d := editDistance(l, leaf(k.name)); d < bestD {
			best, bestD = k.name, d
		}
	}
	if best != "" {
		return best
	}
	for i := range registry {
		if leaf(registry[i].name) == l {
			return registry[i].name
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between two strings, by runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
