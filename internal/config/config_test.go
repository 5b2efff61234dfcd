package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// values strips what is not a setting, so two configurations compare by their values alone.
func values(c *Config) Config {
	v := *c
	v.file, v.prov, v.warnings = "", nil, nil
	return v
}

func assertSameValues(t *testing.T, got, want *Config) {
	t.Helper()
	if reflect.DeepEqual(values(got), values(want)) {
		return
	}
	gl, wl := showValues(t, got), showValues(t, want)
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Errorf("got %q, want %q", gl[i], wl[i])
		}
	}
	if len(gl) != len(wl) {
		t.Errorf("got %d lines, want %d", len(gl), len(wl))
	}
	t.Fatal("configurations differ")
}

// showValues is Show without the source comments.
func showValues(t *testing.T, c *Config) []string {
	t.Helper()
	var b strings.Builder
	if err := c.Show(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i, l := range lines {
		if j := strings.LastIndex(l, "  # "); j >= 0 {
			lines[i] = strings.TrimRight(l[:j], " ")
		}
	}
	return lines
}

func ptr[T any](v T) *T { return &v }

func TestDefaults(t *testing.T) {
	c := Default()
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"dicom_root", c.DicomRoot, "Input"},
		{"max_workers", c.MaxWorkers, (*int)(nil)},
		{"container_env_prefix", c.ContainerEnvPrefix, "/opt/conda/envs"},
		{"environments.main", c.Environments.Main, "rtpipeline"},
		{"custom_structures", c.CustomStructures, ""},
		{"scheduler.reserved_cores", c.Scheduler.ReservedCores, 1},
		{"scheduler.parallel_courses", c.Scheduler.ParallelCourses, (*int)(nil)},
		{"scheduler.dvh_threads_per_job", c.Scheduler.DVHThreadsPerJob, 4},
		{"scheduler.radiomics_threads_per_job", c.Scheduler.RadiomicsThreadsPerJob, 6},
		{"scheduler.qc_threads_per_job", c.Scheduler.QCThreadsPerJob, 2},
		{"scheduler.crop_ct_threads_per_job", c.Scheduler.CropCTThreadsPerJob, (*int)(nil)},
		{"scheduler.robustness_threads_per_job", c.Scheduler.RobustnessThreadsPerJob, (*int)(nil)},
		{"scheduler.prioritize_short_courses", c.Scheduler.PrioritizeShortCourses, true},
		{"segmentation.backend", c.Segmentation.Backend, BackendAuto},
		{"segmentation.device", c.Segmentation.Device, DeviceGPU},
		{"segmentation.roi_subset", c.Segmentation.ROISubset, []string(nil)},
		{"segmentation.max_workers", c.Segmentation.MaxWorkers, Workers{}},
		{"segmentation.force_split", c.Segmentation.ForceSplit, true},
		{"segmentation.num_proc_export", c.Segmentation.NumProcExport, ptr(1)},
		{"segmentation.timeout_seconds", c.Segmentation.TimeoutSeconds, 3600},
		{"custom_models.enabled", c.CustomModels.Enabled, false},
		{"custom_models.root", c.CustomModels.Root, "./custom_models"},
		{"custom_models.nnunet_predict", c.CustomModels.NnUNetPredict, "nnUNetv2_predict"},
		{"custom_models.retain_weights", c.CustomModels.RetainWeights, true},
		{"custom_models.timeout_seconds", c.CustomModels.TimeoutSeconds, 1800},
		{"radiomics.enabled", c.Radiomics.Enabled, true},
		{"radiomics.sequential", c.Radiomics.Sequential, false},
		{"radiomics.max_voxels", c.Radiomics.MaxVoxels, 15000000},
		{"radiomics.min_voxels", c.Radiomics.MinVoxels, 120},
		{"radiomics.max_parallel_courses", c.Radiomics.MaxParallelCourses, 1},
		{"radiomics.roi_timeout_seconds", c.Radiomics.ROITimeoutSeconds, 600},
		{"radiomics_robustness.enabled", c.RadiomicsRobustness.Enabled, false},
		{"radiomics_robustness.modes", c.RadiomicsRobustness.Modes, []string{"segmentation_perturbation"}},
		{"…intensity", c.RadiomicsRobustness.SegmentationPerturbation.Intensity, IntensityStandard},
		{"…apply_to_structures", c.RadiomicsRobustness.SegmentationPerturbation.ApplyToStructures, []string{"GTV*", "CTV*", "PTV*"}},
		{"…small_volume_changes", c.RadiomicsRobustness.SegmentationPerturbation.SmallVolumeChanges, []float64{-0.15, 0, 0.15}},
		{"…large_volume_changes", c.RadiomicsRobustness.SegmentationPerturbation.LargeVolumeChanges, []float64{-0.30, 0, 0.30}},
		{"…max_translation_mm", c.RadiomicsRobustness.SegmentationPerturbation.MaxTranslationMM, 4.0},
		{"…n_random_contour_realizations", c.RadiomicsRobustness.SegmentationPerturbation.NRandomContourRealizations, 2},
		{"…noise_levels", c.RadiomicsRobustness.SegmentationPerturbation.NoiseLevels, []float64{0, 10, 20}},
		{"…icc_type", c.RadiomicsRobustness.Metrics.ICC.Type, "ICC3"},
		{"thresholds", c.RadiomicsRobustness.Thresholds, RobustnessThresholds{ICCRobust: 0.90, ICCAcceptable: 0.75, CoVRobust: 10, CoVAcceptable: 20}},
		{"ct_cropping.enabled", c.CTCropping.Enabled, false},
		{"ct_cropping.region", c.CTCropping.Region, RegionPelvis},
		{"ct_cropping.superior_margin_cm", c.CTCropping.SuperiorMarginCM, (*float64)(nil)},
		{"ct_cropping.use_cropped_for_dvh", c.CTCropping.UseCroppedForDVH, true},
		{"ct_cropping.use_cropped_for_radiomics", c.CTCropping.UseCroppedForRadiomics, false},
		{"qc.enabled", c.QC.Enabled, true},
		{"aggregation.threads", c.Aggregation.Threads, Workers{Mode: WorkersAuto}},
		{"organize.merge_criteria", c.Organize.MergeCriteria, MergeSameCTStudy},
		{"organize.max_days", c.Organize.MaxDays, (*int)(nil)},
		{"organize.hardlink", c.Organize.Hardlink, true},
		{"organize.replan_keywords", c.Organize.ReplanKeywords, []string{"replan", "re-plan", "adapt", "adaptive", "revision", "rev", "v2", "v3", "v4", "v5", "copy", "resim", "resimulation"}},
		{"organize.boost_keywords", c.Organize.BoostKeywords, []string{"boost", "cone", "cd", "phase2", "phase 2", "sib", "sequential", "sequential boost"}},
		{"organize.boost_rx_ratio", c.Organize.BoostRxRatio, 1.1},
		{"organize.replan_rx_similarity", c.Organize.ReplanRxSimilarity, 0.9},
		{"organize.min_dose_overlap", c.Organize.MinDoseOverlap, 0.3},
		{"organize.index_workers", c.Organize.IndexWorkers, (*int)(nil)},
		{"pet", c.PET, PET{SUVDecayGuardTol: 0.02, SUVZExtentPrimaryFraction: 0.9, ClinicalWeightWindowDays: 30}},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	prov := c.Provenance()
	for i := range registry {
		k := &registry[i]
		if k.field == nil {
			continue
		}
		if prov[k.name] != "default" {
			t.Errorf("provenance of %s = %q, want default", k.name, prov[k.name])
		}
	}
	if len(c.Warnings()) != 0 || c.File() != "" {
		t.Errorf("defaults have warnings %q or file %q", c.Warnings(), c.File())
	}
}

// Default must hand out fresh slices: one caller's edits must not leak into another's defaults.
func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Organize.ReplanKeywords[0] = "changed"
	a.Provenance()["max_workers"] = "changed"
	b := Default()
	if b.Organize.ReplanKeywords[0] != "replan" || b.Provenance()["max_workers"] != "default" {
		t.Fatal("Default shares state between calls")
	}
}

// TestRegistryCoversConfig guards the single source of truth: every settable field of Config
// has exactly one registry key, so no field can be silently missing from files, Show or docs.
func TestRegistryCoversConfig(t *testing.T) {
	c := &Config{}
	var fields []string
	addrs := map[uintptr]string{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != workersType {
				walk(fv, path+f.Name+".")
				continue
			}
			fields = append(fields, path+f.Name)
			addrs[fv.Addr().Pointer()] = path + f.Name
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")

	seen := map[string]string{}
	for i := range registry {
		k := &registry[i]
		if k.section || k.field == nil {
			if k.aliasOf != "" && byName[k.aliasOf] == nil {
				t.Errorf("%s is an alias of unknown key %s", k.name, k.aliasOf)
			}
			if !k.section && k.aliasOf == "" && k.deprecated == "" {
				t.Errorf("%s has no field, alias or deprecation", k.name)
			}
			continue
		}
		if p := parent(k.name); p != "" && (byName[p] == nil || !byName[p].section) {
			t.Errorf("%s: parent %s is not a section", k.name, p)
		}
		name, ok := addrs[reflect.ValueOf(k.field(c)).Pointer()]
		if !ok {
			t.Errorf("%s points outside Config", k.name)
			continue
		}
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s both set %s", other, k.name, name)
		}
		seen[name] = k.name
		if k.help == "" {
			t.Errorf("%s has no help text", k.name)
		}
	}
	for _, f := range fields {
		if _, ok := seen[f]; !ok {
			t.Errorf("field %s has no registry key", f)
		}
	}
	if len(byName) != len(registry) {
		t.Error("duplicate key names in the registry")
	}
}

func TestPrecedence(t *testing.T) {
	file := writeConfig(t, "max_workers: 4\nscheduler:\n  dvh_threads_per_job: 3\norganize:\n  merge_criteria: frame_of_reference\n")
	other := writeConfig(t, "max_workers: 2\n")
	flag := Override{Key: "max_workers", Value: "8", Source: "flag --max-workers"}
	tests := []struct {
		name       string
		opts       LoadOptions
		maxWorkers *int
		source     string
		dvhSource  string
	}{
		{"defaults only", LoadOptions{Env: noEnv}, nil, "default", "default"},
		{"file", LoadOptions{File: file, Env: noEnv}, ptr(4), "file " + file + ":1", "file " + file + ":3"},
		{"env file", LoadOptions{Env: envOf(map[string]string{EnvConfigFile: file})}, ptr(4), "file " + file + ":1", "file " + file + ":3"},
		{"explicit file beats env file", LoadOptions{File: other, Env: envOf(map[string]string{EnvConfigFile: file})}, ptr(2), "file " + other + ":1", "default"},
		{"env beats file", LoadOptions{File: file, Env: envOf(map[string]string{EnvMaxWorkers: "6"})}, ptr(6), "env RTPIPELINE_MAX_WORKERS", "file " + file + ":3"},
		{"env auto clears the file's cap", LoadOptions{File: file, Env: envOf(map[string]string{EnvMaxWorkers: "auto"})}, nil, "env RTPIPELINE_MAX_WORKERS", "file " + file + ":3"},
		{"flag beats env", LoadOptions{File: file, Env: envOf(map[string]string{EnvMaxWorkers: "6"}), Overrides: []Override{flag}}, ptr(8), "flag --max-workers", "file " + file + ":3"},
		{"flag without file", LoadOptions{Env: noEnv, Overrides: []Override{flag}}, ptr(8), "flag --max-workers", "default"},
		{"last flag wins", LoadOptions{Env: noEnv, Overrides: []Override{flag, {Key: "max_workers", Value: "null", Source: "flag --max-workers"}}}, nil, "flag --max-workers", "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.MaxWorkers, tc.maxWorkers) {
				t.Errorf("max_workers = %v, want %v", c.MaxWorkers, tc.maxWorkers)
			}
			prov := c.Provenance()
			if prov["max_workers"] != tc.source {
				t.Errorf("max_workers from %q, want %q", prov["max_workers"], tc.source)
			}
			if prov["scheduler.dvh_threads_per_job"] != tc.dvhSource {
				t.Errorf("dvh_threads_per_job from %q, want %q", prov["scheduler.dvh_threads_per_job"], tc.dvhSource)
			}
		})
	}
}

// A config.yaml in the working directory must not change a run that names no file.
func TestNoImplicitConfigFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("max_workers: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	c, err := Load(LoadOptions{Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxWorkers != nil || c.File() != "" {
		t.Fatalf("picked up ./config.yaml: max_workers=%v file=%q", c.MaxWorkers, c.File())
	}
}

func TestMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	for name, opts := range map[string]LoadOptions{
		"flag": {File: missing, Env: noEnv},
		"env":  {Env: envOf(map[string]string{EnvConfigFile: missing})},
	} {
		_, err := Load(opts)
		if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: err = %v, want one naming %s", name, err, missing)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		yaml string
		want string
	}{
		{"scheduler:\n  dvh_thread_per_job: 3\n",
			`config.yaml: unknown key "scheduler.dvh_thread_per_job" (line 2): did you mean "scheduler.dvh_threads_per_job"?`},
		{"max_worker: 3\n",
			`config.yaml: unknown key "max_worker" (line 1): did you mean "max_workers"?`},
		{"radiomics_robustness:\n  thresholds:\n    icc_robst: 0.8\n",
			`config.yaml: unknown key "radiomics_robustness.thresholds.icc_robst" (line 3): did you mean "radiomics_robustness.thresholds.icc_robust"?`},
		{"radiomics_robustness:\n  metrics:\n    icc:\n      implementation: pingouin\n",
			`config.yaml: unknown key "radiomics_robustness.metrics.icc.implementation" (line 4)`},
		{"reserved_cores: 0\n",
			`config.yaml: unknown key "reserved_cores" (line 1): did you mean "scheduler.reserved_cores"?`},
		{"segmentaton:\n  fast: true\n",
			`config.yaml: unknown key "segmentaton" (line 1): did you mean "segmentation"?`},
		{"scheduler.reserved_cores: 0\n",
			`config.yaml: unknown key "scheduler.reserved_cores" (line 1): nest it under its section instead of writing a dotted name`},
		{"Max_Workers: 2\n",
			`config.yaml: unknown key "Max_Workers" (line 1): did you mean "max_workers"?`},
		{"completely_unrelated: 1\n",
			`config.yaml: unknown key "completely_unrelated" (line 1)`},
	}
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range tests {
		if err := os.WriteFile("config.yaml", []byte(tc.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(LoadOptions{File: "config.yaml", Env: noEnv})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.yaml, err, tc.want)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Source != "config.yaml" || ce.Line == 0 {
			t.Errorf("%q: not a located *Error: %#v", tc.yaml, err)
		}
	}
}

func TestInvalidValues(t *testing.T) {
	tests := []struct {
		yaml string
		want string // after "<path>: "
	}{
		{"max_workers: -3\n", `invalid value "-3" for "max_workers" (line 1): want null, auto or an integer ≥ 1`},
		{"max_workers: 0\n", `invalid value "0" for "max_workers" (line 1)`},
		{"max_workers: \"8\"\n", `invalid value "8" for "max_workers" (line 1)`},
		{"max_workers: 2.5\n", `invalid value "2.5" for "max_workers" (line 1)`},
		{"max_workers: [1, 2]\n", `invalid value "[1, 2]" for "max_workers" (line 1)`},
		{"dicom_root: null\n", `invalid value "null" for "dicom_root" (line 1): want a string`},
		{"container_mode: yes\n", `invalid value "yes" for "container_mode" (line 1): want true or false`},
		{"scheduler: 4\n", `invalid value "4" for "scheduler" (line 1): want a mapping of its keys`},
		{"scheduler:\n  reserved_cores: -1\n", `invalid value "-1" for "scheduler.reserved_cores" (line 2): want an integer ≥ 0`},
		{"scheduler:\n  dvh_threads_per_job: 0\n", `invalid value "0" for "scheduler.dvh_threads_per_job" (line 2): want an integer ≥ 1`},
		{"scheduler:\n  crop_ct_threads_per_job: -2\n", `invalid value "-2" for "scheduler.crop_ct_threads_per_job" (line 2): want null or an integer ≥ 1`},
		{"segmentation:\n  backend: nnunet\n", `invalid value "nnunet" for "segmentation.backend" (line 2): want one of auto, builtin, totalsegmentator`},
		{"segmentation:\n  device: tpu\n", `invalid value "tpu" for "segmentation.device" (line 2): want one of gpu, cpu, mps, cuda`},
		{"segmentation:\n  device: GPU\n", `invalid value "GPU" for "segmentation.device"`},
		{"segmentation:\n  max_workers: some\n", `invalid value "some" for "segmentation.max_workers" (line 2): want null, auto, all or an integer ≥ 1`},
		{"segmentation:\n  max_workers: 0\n", `invalid value "0" for "segmentation.max_workers"`},
		{"segmentation:\n  workers: -2\n", `invalid value "-2" for "segmentation.workers" (line 2)`},
		{"custom_models:\n  max_workers: many\n", `invalid value "many" for "custom_models.max_workers"`},
		{"segmentation:\n  roi_subset: liver\n", `invalid value "liver" for "segmentation.roi_subset" (line 2): want a list of strings`},
		{"segmentation:\n  timeout_seconds: -1\n", `invalid value "-1" for "segmentation.timeout_seconds"`},
		{"radiomics:\n  max_voxels: 1.5\n", `invalid value "1.5" for "radiomics.max_voxels" (line 2): want an integer ≥ 1`},
		{"radiomics_robustness:\n  modes: [scan_rescan]\n", `invalid value "scan_rescan" in "radiomics_robustness.modes" (line 2): want a list of: segmentation_perturbation`},
		{"radiomics_robustness:\n  segmentation_perturbation:\n    intensity: extreme\n", `invalid value "extreme" for "radiomics_robustness.segmentation_perturbation.intensity" (line 3): want one of mild, standard, aggressive`},
		{"radiomics_robustness:\n  segmentation_perturbation:\n    small_volume_changes: [-1, 0]\n", `invalid value "-1" in "radiomics_robustness.segmentation_perturbation.small_volume_changes" (line 3): want a list of numbers > -1`},
		{"radiomics_robustness:\n  segmentation_perturbation:\n    noise_levels: [0, -5]\n", `invalid value "-5" in "radiomics_robustness.segmentation_perturbation.noise_levels"`},
		{"radiomics_robustness:\n  thresholds:\n    icc_robust: 1.5\n", `invalid value "1.5" for "radiomics_robustness.thresholds.icc_robust" (line 3): want a number in [0, 1]`},
		{"ct_cropping:\n  region: leg\n", `invalid value "leg" for "ct_cropping.region" (line 2): want one of pelvis, thorax, abdomen, head_neck, brain`},
		{"ct_cropping:\n  superior_margin_cm: -1\n", `invalid value "-1" for "ct_cropping.superior_margin_cm" (line 2): want null or a number ≥ 0`},
		{"aggregation:\n  threads: all\n", `invalid value "all" for "aggregation.threads" (line 2): want auto or an integer ≥ 1`},
		{"aggregation:\n  threads: null\n", `invalid value "null" for "aggregation.threads"`},
		{"organize:\n  merge_criteria: patient\n", `invalid value "patient" for "organize.merge_criteria" (line 2): want one of same_ct_study, frame_of_reference`},
		{"organize:\n  max_days: -1\n", `invalid value "-1" for "organize.max_days" (line 2): want null or an integer ≥ 0`},
		{"organize:\n  hardlink: 1\n", `invalid value "1" for "organize.hardlink"`},
		{"organize:\n  index_workers: 0\n", `invalid value "0" for "organize.index_workers"`},
		{"organize:\n  boost_rx_ratio: 0.5\n", `invalid value "0.5" for "organize.boost_rx_ratio" (line 2): want a number ≥ 1`},
		{"organize:\n  min_dose_overlap: 2\n", `invalid value "2" for "organize.min_dose_overlap"`},
		{"organize:\n  replan_keywords: [a, [b]]\n", `invalid value "[b]" in "organize.replan_keywords"`},
		{"pet:\n  suv_zextent_primary_fraction: 1.2\n", `invalid value "1.2" for "pet.suv_zextent_primary_fraction"`},
		{"pet:\n  suv_decay_guard_tol: .nan\n", `invalid value ".nan" for "pet.suv_decay_guard_tol"`},
		{"scheduler:\n  qc_threads_per_job: 1\n  qc_threads_per_job: 2\n", `key "scheduler.qc_threads_per_job" given twice (line 3): first at line 2`},
		{"- a\n- b\n", `the file is not a mapping of keys to values (line 1)`},
	}
	for _, tc := range tests {
		path := writeConfig(t, tc.yaml)
		_, err := Load(LoadOptions{File: path, Env: noEnv})
		if err == nil || !strings.Contains(err.Error(), path+": "+tc.want) {
			t.Errorf("%q:\n got %v\nwant %s: %s", tc.yaml, err, path, tc.want)
		}
	}
}

func TestAllProblemsReported(t *testing.T) {
	path := writeConfig(t, "max_workers: -1\nscheduler:\n  reserved_core: 1\nsegmentation:\n  device: tpu\n")
	_, err := Load(LoadOptions{File: path, Env: noEnv})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"max_workers" (line 1)`, `"scheduler.reserved_core" (line 3)`, `"segmentation.device" (line 5)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	path := writeConfig(t, "scheduler:\n  reserved_cores: [1\n")
	_, err := Load(LoadOptions{File: path, Env: noEnv})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
}

func TestCrossChecks(t *testing.T) {
	path := writeConfig(t, "radiomics_robustness:\n  thresholds:\n    icc_acceptable: 0.95\n")
	_, err := Load(LoadOptions{File: path, Env: noEnv})
	if err == nil || !strings.Contains(err.Error(), `"radiomics_robustness.thresholds.icc_acceptable" (0.95, from file `+path+`:3) exceeds "radiomics_robustness.thresholds.icc_robust" (0.9, from default)`) {
		t.Fatalf("err = %v", err)
	}
	// A flag can repair what the file broke, because checks run after every source.
	c, err := Load(LoadOptions{File: path, Env: noEnv, Overrides: []Override{{Key: "radiomics_robustness.thresholds.icc_robust", Value: "0.97", Source: "flag --icc-robust"}}})
	if err != nil || c.RadiomicsRobustness.Thresholds.ICCRobust != 0.97 {
		t.Fatalf("repair by flag: %v", err)
	}
	path = writeConfig(t, "radiomics:\n  min_voxels: 500\n  max_voxels: 100\n")
	if _, err := Load(LoadOptions{File: path, Env: noEnv}); err == nil || !strings.Contains(err.Error(), `"radiomics.min_voxels"`) {
		t.Fatalf("min > max voxels: %v", err)
	}
}

func TestOverrideErrors(t *testing.T) {
	tests := []struct {
		opts LoadOptions
		want string
	}{
		{LoadOptions{Env: noEnv, Overrides: []Override{{Key: "max_workers", Value: "-1", Source: "flag --max-workers"}}},
			`flag --max-workers: invalid value "-1" for "max_workers": want null, auto or an integer ≥ 1`},
		{LoadOptions{Env: envOf(map[string]string{EnvMaxWorkers: "lots"})},
			`env RTPIPELINE_MAX_WORKERS: invalid value "lots" for "max_workers": want null, auto or an integer ≥ 1`},
		{LoadOptions{Env: envOf(map[string]string{EnvMaxWorkers: "0"})},
			`env RTPIPELINE_MAX_WORKERS: invalid value "0" for "max_workers"`},
		{LoadOptions{Env: noEnv, Overrides: []Override{{Key: "organize.merge_criteria", Value: "patient", Source: "flag --merge-criteria"}}},
			`flag --merge-criteria: invalid value "patient" for "organize.merge_criteria": want one of same_ct_study, frame_of_reference`},
		{LoadOptions{Env: noEnv, Overrides: []Override{{Key: "segmentation.device", Value: "tpu", Source: "flag --totalseg-device"}}},
			`flag --totalseg-device: invalid value "tpu" for "segmentation.device": want one of gpu, cpu, mps, cuda`},
		{LoadOptions{Env: noEnv, Overrides: []Override{{Key: "segmentation.max_workers", Value: "[1,", Source: "flag --seg-workers"}}},
			`flag --seg-workers: invalid value "[1," for "segmentation.max_workers"`},
		{LoadOptions{Env: noEnv, Overrides: []Override{{Key: "organize.max_day", Value: "3", Source: "flag --max-days"}}},
			`flag --max-days: unknown key "organize.max_day": did you mean "organize.max_days"?`},
		{LoadOptions{Env: noEnv, Overrides: []Override{{Key: "scheduler", Value: "3", Source: "flag --x"}}},
			`flag --x: "scheduler" is a section: set one of its keys`},
		{LoadOptions{Env: noEnv, Overrides: []Override{{Key: "max_workers", Value: "x"}}},
			`override max_workers: invalid value "x" for "max_workers"`},
	}
	for _, tc := range tests {
		_, err := Load(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

func TestOverrideValues(t *testing.T) {
	c, err := Load(LoadOptions{Env: noEnv, Overrides: []Override{
		{Key: "dicom_root", Value: "/data/#1: in", Source: "flag --dicom-root"},
		{Key: "segmentation.temp_dir", Value: "", Source: "flag --seg-temp-dir"},
		{Key: "segmentation.roi_subset", Value: "[liver, spleen]", Source: "flag --totalseg-roi-subset"},
		{Key: "segmentation.workers", Value: "all", Source: "flag --seg-workers"},
		{Key: "segmentation.device", Value: "cpu", Source: "flag --totalseg-device"},
		{Key: "organize.max_days", Value: "30", Source: "flag --max-days"},
		{Key: "ct_cropping.inferior_margin_cm", Value: "2", Source: "flag --crop-inferior"},
		{Key: "radiomics.max_voxels", Value: "2e6", Source: "flag --radiomics-max-voxels"},
		{Key: "aggregation.threads", Value: "3", Source: "flag --agg-threads"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.DicomRoot != "/data/#1: in" || c.Segmentation.TempDir != "" ||
		!slices.Equal(c.Segmentation.ROISubset, []string{"liver", "spleen"}) ||
		c.Segmentation.MaxWorkers != (Workers{Mode: WorkersAll}) || c.Segmentation.Device != DeviceCPU ||
		*c.Organize.MaxDays != 30 || *c.CTCropping.InferiorMarginCM != 2 || c.Radiomics.MaxVoxels != 2000000 ||
		c.Aggregation.Threads != (Workers{Mode: WorkersFixed, N: 3}) {
		t.Fatalf("overrides not applied: %+v", values(c))
	}
	if got := c.Provenance()["segmentation.max_workers"]; got != "flag --seg-workers" {
		t.Errorf("alias provenance = %q", got)
	}
	if len(c.Warnings()) != 0 {
		t.Errorf("warnings: %q", c.Warnings())
	}
}

func TestLegacyKeys(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		check    func(*Config) bool
		warnings []string // substrings, one per expected warning
	}{
		{"top-level workers", "workers: 6\n",
			func(c *Config) bool { return c.MaxWorkers != nil && *c.MaxWorkers == 6 },
			[]string{`"workers" is deprecated, use "max_workers" (line 1)`}},
		{"top-level workers auto", "workers: auto\n",
			func(c *Config) bool { return c.MaxWorkers == nil },
			[]string{`"workers" is deprecated`}},
		{"workers yields to max_workers", "workers: 6\nmax_workers: 3\n",
			func(c *Config) bool { return *c.MaxWorkers == 3 },
			[]string{`"workers" is deprecated`, `"workers" ignored because "max_workers" is also set (line 1)`}},
		{"snakemake_job_threads", "snakemake_job_threads: 4\n",
			func(c *Config) bool { return values(c).Scheduler == values(Default()).Scheduler && c.MaxWorkers == nil },
			[]string{`"snakemake_job_threads" is deprecated and ignored`}},
		{"segmentation.workers", "segmentation:\n  workers: 2\n",
			func(c *Config) bool { return c.Segmentation.MaxWorkers == Workers{Mode: WorkersFixed, N: 2} },
			nil},
		{"segmentation.max_workers wins in any order", "segmentation:\n  max_workers: 3\n  workers: 2\n",
			func(c *Config) bool { return c.Segmentation.MaxWorkers == Workers{Mode: WorkersFixed, N: 3} },
			[]string{`"segmentation.workers" ignored because "segmentation.max_workers" is also set (line 3)`}},
		{"custom_models.workers", "custom_models:\n  workers: all\n",
			func(c *Config) bool { return c.CustomModels.MaxWorkers == Workers{Mode: WorkersAll} },
			nil},
		{"robustness without radiomics", "radiomics:\n  enabled: false\nradiomics_robustness:\n  enabled: true\n",
			func(c *Config) bool { return c.RadiomicsRobustness.Enabled },
			[]string{"radiomics_robustness.enabled (from file "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yaml)
			c, err := Load(LoadOptions{File: path, Env: noEnv})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected values: %+v", values(c))
			}
			w := c.Warnings()
			if len(w) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", w, len(tc.warnings))
			}
			for i, want := range tc.warnings {
				if !strings.Contains(w[i], want) {
					t.Errorf("warning %q lacks %q", w[i], want)
				}
			}
		})
	}
	c, err := Load(LoadOptions{Env: noEnv, Overrides: []Override{{Key: "workers", Value: "5", Source: "flag --workers"}}})
	if err != nil || *c.MaxWorkers != 5 || len(c.Warnings()) != 1 || !strings.HasPrefix(c.Warnings()[0], "flag --workers: ") {
		t.Fatalf("deprecated override: %v %q", err, c.Warnings())
	}
}

func TestEmptyInputsKeepDefaults(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "scheduler:\n", "segmentation: {}\n", "null\n"} {
		path := writeConfig(t, content)
		c, err := Load(LoadOptions{File: path, Env: noEnv})
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		assertSameValues(t, c, Default())
	}
}

func TestYAMLForms(t *testing.T) {
	path := writeConfig(t, `
scheduler:
  dvh_threads_per_job: &n 5
  qc_threads_per_job: *n
radiomics:
  max_voxels: 15e6
  skip_rois: null
segmentation:
  roi_subset: []
  max_workers: auto
organize:
  boost_keywords:
    - boost
    - "phase 2"
`)
	c, err := Load(LoadOptions{File: path, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if c.Scheduler.QCThreadsPerJob != 5 || c.Radiomics.MaxVoxels != 15000000 || c.Radiomics.SkipROIs != nil ||
		c.Segmentation.ROISubset != nil || c.Segmentation.MaxWorkers != (Workers{}) ||
		!slices.Equal(c.Organize.BoostKeywords, []string{"boost", "phase 2"}) {
		t.Fatalf("%+v", values(c))
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "abc", 0}, {"dvh_thread_per_job", "dvh_threads_per_job", 1}, {"kitten", "sitting", 3}, {"", "ab", 2}, {"µs", "ms", 1}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// Load and Default share parsed defaults; concurrent callers must not race on them.
func TestConcurrentLoad(t *testing.T) {
	path := writeConfig(t, "max_workers: 4\nradiomics:\n  skip_rois: [body]\n")
	done := make(chan *Config)
	for range 8 {
		go func() {
			c, err := Load(LoadOptions{File: path, Env: noEnv})
			if err != nil {
				t.Error(err)
			}
			done <- c
		}()
	}
	for range 8 {
		if c := <-done; c != nil && (*c.MaxWorkers != 4 || c.Radiomics.SkipROIs[0] != "body") {
			t.Error("wrong values under concurrency")
		}
	}
}
