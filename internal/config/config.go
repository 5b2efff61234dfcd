// Package config holds rtpipeline's configuration: the typed settings every stage reads, how they
// are loaded (defaults < config file < environment < flags), where each effective value came from,
// and the worker budget and per-stage thread caps derived from them.
//
// Every key is declared once, in the registry in keys.go, with its default and help text. The
// loader, Show, the shipped config.yaml and docs/config.md are all derived from that registry, so
// they cannot drift apart.
package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Config is the effective configuration. The zero value is not useful: start from Default or Load.
// Fields that may be null in YAML are pointers (nil = null); what null means is documented per key
// in docs/config.md.
type Config struct {
	// DicomRoot is dicom_root, the input folder.
	DicomRoot string
	// OutputDir is output_dir, the folder that receives patients, courses and _RESULTS.
	OutputDir string
	// LogsDir is logs_dir.
	LogsDir string
	// MaxWorkers is max_workers; nil leaves the budget at cores − reserved_cores.
	MaxWorkers *int
	// ContainerMode is container_mode.
	ContainerMode bool
	// ContainerEnvPrefix is container_env_prefix.
	ContainerEnvPrefix string
	// CustomStructures is custom_structures; "" means none.
	CustomStructures string
	// Environments is the environments section.
	Environments Environments

	// Scheduler is the scheduler section.
	Scheduler Scheduler
	// Segmentation is the segmentation section.
	Segmentation Segmentation
	// CustomModels is the custom_models section.
	CustomModels CustomModels
	// Radiomics is the radiomics section.
	Radiomics Radiomics
	// RadiomicsRobustness is the radiomics_robustness section.
	RadiomicsRobustness RadiomicsRobustness
	// CTCropping is the ct_cropping section.
	CTCropping CTCropping
	// QC is the qc section.
	QC QC
	// Aggregation is the aggregation section.
	Aggregation Aggregation
	// Organize is the organize section.
	Organize Organize
	// PET is the pet section.
	PET PET

	file     string
	prov     map[string]string
	warnings []string
}

// Environments names the environments that provide external tools.
type Environments struct {
	// Main is environments.main.
	Main string
	// Radiomics is environments.radiomics.
	Radiomics string
}

// Scheduler holds the CPU reservation, per-stage thread caps and course ordering.
type Scheduler struct {
	// ReservedCores is scheduler.reserved_cores; 0 is a valid setting, not "unset".
	ReservedCores int
	// ParallelCourses is scheduler.parallel_courses; nil = no bound of its own.
	ParallelCourses *int
	// DVHThreadsPerJob is scheduler.dvh_threads_per_job.
	DVHThreadsPerJob int
	// RadiomicsThreadsPerJob is scheduler.radiomics_threads_per_job.
	RadiomicsThreadsPerJob int
	// QCThreadsPerJob is scheduler.qc_threads_per_job.
	QCThreadsPerJob int
	// CropCTThreadsPerJob is scheduler.crop_ct_threads_per_job; nil = the budget.
	CropCTThreadsPerJob *int
	// RobustnessThreadsPerJob is scheduler.robustness_threads_per_job; nil = RadiomicsThreadsPerJob.
	RobustnessThreadsPerJob *int
	// PrioritizeShortCourses is scheduler.prioritize_short_courses.
	PrioritizeShortCourses bool
}

// Backend selects the segmentation engine.
type Backend string

// Segmentation backends.
const (
	BackendAuto             Backend = "auto"
	BackendBuiltin          Backend = "builtin"
	BackendTotalSegmentator Backend = "totalsegmentator"
)

// Device is where segmentation models run.
type Device string

// Segmentation devices. GPU, CUDA and MPS serialise segmentation jobs by default.
const (
	DeviceGPU  Device = "gpu"
	DeviceCPU  Device = "cpu"
	DeviceMPS  Device = "mps"
	DeviceCUDA Device = "cuda"
)

// accelerated tells whether a device is a single shared accelerator, which is why segmentation
// jobs on it run one at a time unless told otherwise.
func (d Device) accelerated() bool {
	return d == DeviceGPU || d == DeviceCUDA || d == DeviceMPS
}

// Segmentation configures automatic segmentation (TotalSegmentator or the built-in segmenter).
type Segmentation struct {
	// Backend is segmentation.backend.
	Backend Backend
	// Device is segmentation.device.
	Device Device
	// Fast is segmentation.fast.
	Fast bool
	// Force is segmentation.force.
	Force bool
	// ROISubset is segmentation.roi_subset; empty = all ROIs.
	ROISubset []string
	// ExtraModels is segmentation.extra_models.
	ExtraModels []string
	// MaxWorkers is segmentation.max_workers (legacy: segmentation.workers).
	MaxWorkers Workers
	// ForceSplit is segmentation.force_split.
	ForceSplit bool
	// NrThreadsResample is segmentation.nr_threads_resample; nil = chosen by the pipeline.
	NrThreadsResample *int
	// NrThreadsSave is segmentation.nr_threads_save; nil = chosen by the pipeline.
	NrThreadsSave *int
	// NumProcPreprocessing is segmentation.num_proc_preprocessing; nil = the tool's default.
	NumProcPreprocessing *int
	// NumProcExport is segmentation.num_proc_export; nil = the tool's default.
	NumProcExport *int
	// TempDir is segmentation.temp_dir; "" = the system temporary folder.
	TempDir string
	// TimeoutSeconds is segmentation.timeout_seconds; 0 = no limit.
	TimeoutSeconds int
	// Command is segmentation.command, the TotalSegmentator program (a name on PATH or a path).
	Command string
	// WeightsDir is segmentation.weights_dir; "" = TotalSegmentator's own default.
	WeightsDir string
}

// CustomModels configures the custom nnU-Net model stage.
type CustomModels struct {
	// Enabled is custom_models.enabled.
	Enabled bool
	// Root is custom_models.root.
	Root string
	// Models is custom_models.models; empty = every model under Root.
	Models []string
	// MaxWorkers is custom_models.max_workers (legacy: custom_models.workers).
	MaxWorkers Workers
	// Force is custom_models.force.
	Force bool
	// NnUNetPredict is custom_models.nnunet_predict.
	NnUNetPredict string
	// CondaActivate is custom_models.conda_activate; "" = none.
	CondaActivate string
	// RetainWeights is custom_models.retain_weights.
	RetainWeights bool
	// TimeoutSeconds is custom_models.timeout_seconds; 0 = no limit.
	TimeoutSeconds int
}

// Radiomics configures feature extraction.
type Radiomics struct {
	// Enabled is radiomics.enabled.
	Enabled bool
	// Sequential is radiomics.sequential.
	Sequential bool
	// ParamsFile is radiomics.params_file; "" = built-in CT settings.
	ParamsFile string
	// MRParamsFile is radiomics.mr_params_file; "" = built-in MR settings.
	MRParamsFile string
	// SkipROIs is radiomics.skip_rois.
	SkipROIs []string
	// MaxVoxels is radiomics.max_voxels.
	MaxVoxels int
	// MinVoxels is radiomics.min_voxels.
	MinVoxels int
	// MaxParallelCourses is radiomics.max_parallel_courses.
	MaxParallelCourses int
	// ROITimeoutSeconds is radiomics.roi_timeout_seconds; 0 = no limit.
	ROITimeoutSeconds int
}

// RadiomicsRobustness configures the perturbation (NTCV) robustness analysis.
type RadiomicsRobustness struct {
	// Enabled is radiomics_robustness.enabled.
	Enabled bool
	// Modes is radiomics_robustness.modes.
	Modes []string
	// SegmentationPerturbation is radiomics_robustness.segmentation_perturbation.
	SegmentationPerturbation SegmentationPerturbation
	// Metrics is radiomics_robustness.metrics.
	Metrics RobustnessMetrics
	// Thresholds is radiomics_robustness.thresholds.
	Thresholds RobustnessThresholds
}

// Intensity selects the size of the NTCV perturbation grid.
type Intensity string

// Perturbation intensities.
const (
	IntensityMild       Intensity = "mild"
	IntensityStandard   Intensity = "standard"
	IntensityAggressive Intensity = "aggressive"
)

// SegmentationPerturbation sets the noise, translation, contour and volume perturbations.
type SegmentationPerturbation struct {
	// Intensity is segmentation_perturbation.intensity.
	Intensity Intensity
	// ApplyToStructures is segmentation_perturbation.apply_to_structures.
	ApplyToStructures []string
	// SmallVolumeChanges is segmentation_perturbation.small_volume_changes.
	SmallVolumeChanges []float64
	// LargeVolumeChanges is segmentation_perturbation.large_volume_changes.
	LargeVolumeChanges []float64
	// MaxTranslationMM is segmentation_perturbation.max_translation_mm.
	MaxTranslationMM float64
	// ContourRandomizationMM is segmentation_perturbation.contour_randomization_mm; nil =
	// MaxTranslationMM / 2.
	ContourRandomizationMM *float64
	// NRandomContourRealizations is segmentation_perturbation.n_random_contour_realizations.
	NRandomContourRealizations int
	// NoiseLevels is segmentation_perturbation.noise_levels (HU).
	NoiseLevels []float64
}

// RobustnessMetrics selects the robustness statistics.
type RobustnessMetrics struct {
	// ICC is metrics.icc.
	ICC ICCMetric
	// CoV is metrics.cov.
	CoV Toggle
	// QCD is metrics.qcd.
	QCD Toggle
}

// ICCMetric configures the intraclass correlation.
type ICCMetric struct {
	// Type is metrics.icc.icc_type.
	Type string
	// CI is metrics.icc.ci.
	CI bool
}

// Toggle is a metric that can only be switched on or off.
type Toggle struct {
	// Enabled switches the metric on.
	Enabled bool
}

// RobustnessThresholds are the ICC and CoV limits of the robust/acceptable/poor labels.
type RobustnessThresholds struct {
	// ICCRobust is thresholds.icc_robust.
	ICCRobust float64
	// ICCAcceptable is thresholds.icc_acceptable.
	ICCAcceptable float64
	// CoVRobust is thresholds.cov_robust (percent).
	CoVRobust float64
	// CoVAcceptable is thresholds.cov_acceptable (percent).
	CoVAcceptable float64
}

// CropRegion is the anatomical region CT cropping aligns to.
type CropRegion string

// CT cropping regions.
const (
	RegionPelvis   CropRegion = "pelvis"
	RegionThorax   CropRegion = "thorax"
	RegionAbdomen  CropRegion = "abdomen"
	RegionHeadNeck CropRegion = "head_neck"
	RegionBrain    CropRegion = "brain"
)

// CTCropping configures systematic CT cropping.
type CTCropping struct {
	// Enabled is ct_cropping.enabled.
	Enabled bool
	// Region is ct_cropping.region.
	Region CropRegion
	// SuperiorMarginCM is ct_cropping.superior_margin_cm; nil = the region's default.
	SuperiorMarginCM *float64
	// InferiorMarginCM is ct_cropping.inferior_margin_cm; nil = the region's default.
	InferiorMarginCM *float64
	// UseCroppedForDVH is ct_cropping.use_cropped_for_dvh.
	UseCroppedForDVH bool
	// UseCroppedForRadiomics is ct_cropping.use_cropped_for_radiomics.
	UseCroppedForRadiomics bool
}

// QC configures the quality-control stage.
type QC struct {
	// Enabled is qc.enabled.
	Enabled bool
}

// Aggregation configures the cohort aggregation.
type Aggregation struct {
	// Threads is aggregation.threads ("auto" = the budget).
	Threads Workers
}

// MergeCriteria decides which plans share a course.
type MergeCriteria string

// Course merge criteria.
const (
	MergeSameCTStudy      MergeCriteria = "same_ct_study"
	MergeFrameOfReference MergeCriteria = "frame_of_reference"
)

// Organize configures how input DICOM is grouped into courses and laid out.
type Organize struct {
	// MergeCriteria is organize.merge_criteria.
	MergeCriteria MergeCriteria
	// MaxDays is organize.max_days; nil = never split by date.
	MaxDays *int
	// Hardlink is organize.hardlink.
	Hardlink bool
	// ReplanKeywords is organize.replan_keywords.
	ReplanKeywords []string
	// BoostKeywords is organize.boost_keywords.
	BoostKeywords []string
	// BoostRxRatio is organize.boost_rx_ratio.
	BoostRxRatio float64
	// ReplanRxSimilarity is organize.replan_rx_similarity.
	ReplanRxSimilarity float64
	// MinDoseOverlap is organize.min_dose_overlap.
	MinDoseOverlap float64
	// IndexWorkers is organize.index_workers; nil = the budget.
	IndexWorkers *int
}

// PET configures PET SUV ingestion.
type PET struct {
	// DoIngestPETSUV is pet.do_ingest_pet_suv.
	DoIngestPETSUV bool
	// SUVDecayGuardTol is pet.suv_decay_guard_tol.
	SUVDecayGuardTol float64
	// SUVZExtentPrimaryFraction is pet.suv_zextent_primary_fraction.
	SUVZExtentPrimaryFraction float64
	// ClinicalWeightWindowDays is pet.pet_clinical_weight_window_days.
	ClinicalWeightWindowDays int
}

// WorkersMode says how a Workers setting is resolved.
type WorkersMode int

// Workers modes.
const (
	// WorkersAuto (null or "auto") leaves the count to the pipeline's rule for that setting.
	WorkersAuto WorkersMode = iota
	// WorkersAll ("all") means the whole worker budget.
	WorkersAll
	// WorkersFixed means exactly Workers.N.
	WorkersFixed
)

// Workers is a concurrency setting that may be left to the pipeline, tied to the worker budget or
// fixed; the three cases differ in behaviour, so an int cannot carry them.
type Workers struct {
	// Mode says which case applies.
	Mode WorkersMode
	// N is the count when Mode is WorkersFixed.
	N int
}

// String renders w the way it is written in YAML.
func (w Workers) String() string {
	switch w.Mode {
	case WorkersAll:
		return "all"
	case WorkersFixed:
		return fmt.Sprint(w.N)
	default:
		return "auto"
	}
}

// LoadOptions says where Load looks for settings.
type LoadOptions struct {
	// File is an explicit --config path; "" = none given, then $RTPIPELINE_CONFIGFILE is used.
	File string
	// Env reads environment variables; nil means os.Getenv. Tests inject their own.
	Env func(string) string
	// Overrides come from CLI flags and are applied last, in order.
	Overrides []Override
}

// Override sets one key from outside the config file.
type Override struct {
	// Key is a dotted key such as "max_workers" or "organize.merge_criteria".
	Key string
	// Value is the raw text. String keys take it verbatim; other keys parse it as a YAML scalar
	// or flow sequence ("8", "null", "[a, b]").
	Value string
	// Source names the origin in provenance and errors, e.g. "flag --max-workers".
	Source string
}

// Environment variables Load reads.
const (
	EnvConfigFile = "RTPIPELINE_CONFIGFILE"
	EnvMaxWorkers = "RTPIPELINE_MAX_WORKERS"
)

// Error reports a key or value that cannot be used, naming where it came from.
type Error struct {
	// Source is the file path, or the flag or environment variable, that supplied the key.
	Source string
	// Line is the 1-based line in a file, 0 when unknown or not from a file.
	Line int
	// Key is the full dotted key.
	Key string
	// Msg states the problem, e.g. `unknown key "a.b"` or `invalid value "-3" for "max_workers"`.
	Msg string
	// Hint says what would be accepted or what was probably meant; may be empty.
	Hint string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Default returns the built-in configuration, every value marked as coming from "default".
func Default() *Config {
	c := &Config{prov: make(map[string]string, len(registry))}
	nodes := defaultNodes()
	for i := range registry {
		k := &registry[i]
		if k.field == nil {
			continue
		}
		if bv := k.decodeInto(c, nodes[i]); bv != nil {
			// The registry is code; a bad default is a programming error caught by the tests.
			panic(fmt.Sprintf("config: default of %s: invalid value %q", k.name, bv.value))
		}
		c.prov[k.name] = "default"
	}
	return c
}

// defaultNodes holds the registry defaults parsed once; decoding only reads the nodes, so they
// can be shared by concurrent calls to Default.
var defaultNodes = sync.OnceValue(func() []*yaml.Node {
	nodes := make([]*yaml.Node, len(registry))
	for i := range registry {
		if registry[i].field == nil {
			continue
		}
		n, err := parseValue(registry[i].def)
		if err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", registry[i].name, err))
		}
		nodes[i] = n
	}
	return nodes
})

// Load builds the effective configuration: defaults, then the config file (opts.File, else
// $RTPIPELINE_CONFIGFILE, else none), then the environment, then opts.Overrides. A config.yaml in
// the working directory is deliberately not picked up on its own, so a run never depends on where
// it was started from.
func Load(opts LoadOptions) (*Config, error) {
	env := opts.Env
	if env == nil {
		env = os.Getenv
	}
	c := Default()

	path := opts.File
	if path == "" {
		path = strings.TrimSpace(env(EnvConfigFile))
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config file %s: %w", path, err)
		}
		if err := c.applyFile(path, data); err != nil {
			return nil, err
		}
		c.file = path
	}

	if v := strings.TrimSpace(env(EnvMaxWorkers)); v != "" {
		if err := c.applyOverride(Override{Key: "max_workers", Value: v, Source: "env " + EnvMaxWorkers}); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, o := range opts.Overrides {
		if o.Source == "" {
			o.Source = "override " + o.Key
		}
		if err := c.applyOverride(o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// check enforces rules that tie several keys together, once every source has been applied, so
// that a flag can repair a file's inconsistency instead of being rejected half-way.
func (c *Config) check() error {
	var errs []error
	order := func(lowKey string, low float64, highKey string, high float64) {
		if low > high {
			errs = append(errs, &Error{
				Source: "config",
				Key:    lowKey,
				Msg:    fmt.Sprintf("%q (%v, from %s) exceeds %q (%v, from %s)", lowKey, low, c.prov[lowKey], highKey, high, c.prov[highKey]),
				Hint:   "the lower limit must not exceed the higher one",
			})
		}
	}
	t := c.RadiomicsRobustness.Thresholds
	order("radiomics_robustness.thresholds.icc_acceptable", t.ICCAcceptable, "radiomics_robustness.thresholds.icc_robust", t.ICCRobust)
	order("radiomics_robustness.thresholds.cov_robust", t.CoVRobust, "radiomics_robustness.thresholds.cov_acceptable", t.CoVAcceptable)
	order("radiomics.min_voxels", float64(c.Radiomics.MinVoxels), "radiomics.max_voxels", float64(c.Radiomics.MaxVoxels))

	if c.RadiomicsRobustness.Enabled && !c.Radiomics.Enabled {
		c.warnings = append(c.warnings, fmt.Sprintf(
			"radiomics_robustness.enabled (from %s) has no effect while radiomics.enabled is false (from %s)",
			c.prov["radiomics_robustness.enabled"], c.prov["radiomics.enabled"]))
	}
	return errors.Join(errs...)
}

// Provenance maps every dotted key to where its effective value came from: "default",
// "file <path>:<line>", "env RTPIPELINE_MAX_WORKERS" or an override's Source. The map is a copy.
func (c *Config) Provenance() map[string]string {
	return maps.Clone(c.prov)
}

// Warnings lists accepted-but-questionable settings (deprecated keys, ignored legacy aliases,
// settings without effect) in the order they were met.
func (c *Config) Warnings() []string {
	return append([]string(nil), c.warnings...)
}

// File is the config file that was read, "" when only defaults, environment and flags apply.
func (c *Config) File() string {
	return c.file
}
