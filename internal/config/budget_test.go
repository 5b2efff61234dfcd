package config

import (
	"fmt"
	"testing"
)

func TestWorkerBudget(t *testing.T) {
	cores := []int{1, 2, 8, 16}
	tests := []struct {
		reserved   int
		maxWorkers *int
		want       [4]int // for cores 1, 2, 8, 16
	}{
		{0, nil, [4]int{1, 2, 8, 16}},
		{0, ptr(1), [4]int{1, 1, 1, 1}},
		{0, ptr(4), [4]int{1, 2, 4, 4}},
		{0, ptr(100), [4]int{1, 2, 8, 16}},
		{1, nil, [4]int{1, 1, 7, 15}},
		{1, ptr(1), [4]int{1, 1, 1, 1}},
		{1, ptr(4), [4]int{1, 1, 4, 4}},
		{1, ptr(100), [4]int{1, 1, 7, 15}},
		{2, nil, [4]int{1, 1, 6, 14}},
		{2, ptr(1), [4]int{1, 1, 1, 1}},
		{2, ptr(4), [4]int{1, 1, 4, 4}},
		{2, ptr(100), [4]int{1, 1, 6, 14}},
		{20, nil, [4]int{1, 1, 1, 1}},
		{20, ptr(1), [4]int{1, 1, 1, 1}},
		{20, ptr(4), [4]int{1, 1, 1, 1}},
		{20, ptr(100), [4]int{1, 1, 1, 1}},
	}
	for _, tc := range tests {
		c := Default()
		c.Scheduler.ReservedCores = tc.reserved
		c.MaxWorkers = tc.maxWorkers
		for i, n := range cores {
			if got := c.WorkerBudget(n); got != tc.want[i] {
				mw := "null"
				if tc.maxWorkers != nil {
					mw = fmt.Sprint(*tc.maxWorkers)
				}
				t.Errorf("cores %d, reserved %d, max_workers %s: budget %d, want %d", n, tc.reserved, mw, got, tc.want[i])
			}
		}
	}
}

// The budget must come out the same whether reserved_cores and max_workers arrive by file, env or
// flag; in particular reserved_cores: 0 read from a file is honoured.
func TestWorkerBudgetFromSources(t *testing.T) {
	path := writeConfig(t, "scheduler:\n  reserved_cores: 0\n")
	c, err := Load(LoadOptions{File: path, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.WorkerBudget(8); got != 8 {
		t.Errorf("reserved_cores 0 from file: budget %d, want 8", got)
	}
	c, err = Load(LoadOptions{File: path, Env: envOf(map[string]string{EnvMaxWorkers: "3"})})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.WorkerBudget(8); got != 3 {
		t.Errorf("env max_workers 3: budget %d, want 3", got)
	}
}

func TestStageThreads(t *testing.T) {
	tests := []struct {
		name  string
		set   func(*Config)
		cores int
		want  map[string]int
	}{
		{"defaults, 16 cores", nil, 16, map[string]int{
			"dvh": 4, "radiomics": 6, "radiomics_robustness": 6, "qc": 2, "crop_ct": 15, "aggregate": 15,
			"organize": 15, "segmentation": 15, "segmentation_custom": 15, "structures": 15, "unknown": 15}},
		{"defaults, 4 cores: caps clipped to the budget", nil, 4, map[string]int{
			"dvh": 3, "radiomics": 3, "radiomics_robustness": 3, "qc": 2, "crop_ct": 3, "aggregate": 3, "organize": 3}},
		{"defaults, 1 core", nil, 1, map[string]int{
			"dvh": 1, "radiomics": 1, "radiomics_robustness": 1, "qc": 1, "crop_ct": 1, "aggregate": 1, "segmentation": 1}},
		{"max_workers 2", func(c *Config) { c.MaxWorkers = ptr(2) }, 16, map[string]int{
			"dvh": 2, "radiomics": 2, "qc": 2, "crop_ct": 2, "aggregate": 2, "organize": 2}},
		{"explicit caps", func(c *Config) {
			c.Scheduler.DVHThreadsPerJob = 8
			c.Scheduler.QCThreadsPerJob = 100
			c.Scheduler.CropCTThreadsPerJob = ptr(3)
			c.Scheduler.RobustnessThreadsPerJob = ptr(5)
			c.Aggregation.Threads = Workers{Mode: WorkersFixed, N: 4}
		}, 16, map[string]int{
			"dvh": 8, "qc": 15, "crop_ct": 3, "radiomics": 6, "radiomics_robustness": 5, "aggregate": 4}},
		{"oversized caps", func(c *Config) {
			c.Scheduler.CropCTThreadsPerJob = ptr(64)
			c.Aggregation.Threads = Workers{Mode: WorkersFixed, N: 64}
		}, 8, map[string]int{"crop_ct": 7, "aggregate": 7}},
		{"reserved 0", func(c *Config) { c.Scheduler.ReservedCores = 0 }, 2, map[string]int{"dvh": 2, "qc": 2, "organize": 2}},
	}
	for _, tc := range tests {
		c := Default()
		if tc.set != nil {
			tc.set(c)
		}
		for stage, want := range tc.want {
			if got := c.StageThreads(stage, tc.cores); got != want {
				t.Errorf("%s: StageThreads(%q, %d) = %d, want %d", tc.name, stage, tc.cores, got, want)
			}
		}
	}
}

func TestSegmentationGates(t *testing.T) {
	auto, all := Workers{}, Workers{Mode: WorkersAll}
	fixed := func(n int) Workers { return Workers{Mode: WorkersFixed, N: n} }
	tests := []struct {
		device       Device
		seg, custom  Workers
		cores        int
		wantSeg      int
		wantCustomSW int
	}{
		{DeviceGPU, auto, auto, 16, 1, 1},
		{DeviceCUDA, auto, auto, 16, 1, 1},
		{DeviceMPS, auto, auto, 16, 1, 1},
		{DeviceCPU, auto, auto, 16, 15, 15},
		{DeviceCPU, auto, auto, 1, 1, 1},
		{DeviceGPU, fixed(2), auto, 16, 2, 1},
		{DeviceGPU, auto, fixed(2), 16, 1, 2},
		{DeviceMPS, fixed(3), fixed(3), 16, 3, 3},
		{DeviceCPU, fixed(3), fixed(4), 16, 3, 4},
		{DeviceGPU, all, all, 16, 15, 15},
		{DeviceCPU, all, auto, 8, 7, 7},
		{DeviceGPU, fixed(50), all, 4, 50, 3}, // an explicit gate is not clipped
	}
	for _, tc := range tests {
		c := Default()
		c.Segmentation.Device = tc.device
		c.Segmentation.MaxWorkers = tc.seg
		c.CustomModels.MaxWorkers = tc.custom
		if got := c.SegWorkers(tc.cores); got != tc.wantSeg {
			t.Errorf("%s seg=%v cores=%d: SegWorkers = %d, want %d", tc.device, tc.seg, tc.cores, got, tc.wantSeg)
		}
		if got := c.CustomSegWorkers(tc.cores); got != tc.wantCustomSW {
			t.Errorf("%s custom=%v cores=%d: CustomSegWorkers = %d, want %d", tc.device, tc.custom, tc.cores, got, tc.wantCustomSW)
		}
	}
}

// The legacy segmentation.workers key drives the gate exactly like max_workers.
func TestSegmentationGateFromFile(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want int
	}{
		{"segmentation:\n  workers: 2\n", 2},
		{"segmentation:\n  max_workers: all\n", 15},
		{"segmentation:\n  device: cpu\n  max_workers: null\n", 15},
		{"segmentation:\n  device: cpu\n  workers: auto\n", 15},
		{"segmentation:\n  device: mps\n", 1},
	} {
		c, err := Load(LoadOptions{File: writeConfig(t, tc.yaml), Env: noEnv})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.SegWorkers(16); got != tc.want {
			t.Errorf("%q: SegWorkers(16) = %d, want %d", tc.yaml, got, tc.want)
		}
	}
}

func TestIndexWorkers(t *testing.T) {
	for _, tc := range []struct {
		index *int
		cores int
		want  int
	}{
		{nil, 16, 15},
		{ptr(4), 16, 4},
		{ptr(100), 16, 15},
		{ptr(4), 1, 1},
		{nil, 1, 1},
	} {
		c := Default()
		c.Organize.IndexWorkers = tc.index
		if got := c.IndexWorkers(tc.cores); got != tc.want {
			t.Errorf("index_workers %v, cores %d: %d, want %d", tc.index, tc.cores, got, tc.want)
		}
	}
}

// TestGuideConfigurations: the three example configurations of the parallelization guide (§4),
// loaded from YAML as users write them, give the budget, per-stage threads and gates the guide
// describes; and max_workers follows flag > environment > file precedence.
func TestGuideConfigurations(t *testing.T) {
	const singleGPU = `max_workers: null
scheduler:
  reserved_cores: 1
  dvh_threads_per_job: 4
  radiomics_threads_per_job: 6
  qc_threads_per_job: 2
  prioritize_short_courses: true
segmentation:
  device: gpu
  max_workers: null
custom_models:
  max_workers: null
radiomics:
  sequential: false
`
	const multiGPU = `max_workers: 24
scheduler:
  reserved_cores: 2
  dvh_threads_per_job: 6
  radiomics_threads_per_job: 8
  qc_threads_per_job: 2
  prioritize_short_courses: true
segmentation:
  device: gpu
  workers: 2
custom_models:
  workers: 2
radiomics:
  sequential: false
`
	const cpuOnly = `max_workers: 8
scheduler:
  reserved_cores: 1
  dvh_threads_per_job: 3
  radiomics_threads_per_job: 4
  qc_threads_per_job: 2
  prioritize_short_courses: true
segmentation:
  device: cpu
  workers: null
custom_models:
  workers: null
radiomics:
  sequential: false
`
	type want struct{ budget, dvh, radiomics, qc, seg, segGate, customGate int }
	tests := []struct {
		name  string
		yaml  string
		cores int
		want  want
	}{
		// Segmentation threads = budget ÷ gate: the whole budget for the one GPU job, a half for
		// each of two GPU jobs, one thread per job when CPU segmentation fans out.
		{"single GPU, 16 cores", singleGPU, 16, want{15, 4, 6, 2, 15, 1, 1}},
		{"single GPU, 4 cores", singleGPU, 4, want{3, 3, 3, 2, 3, 1, 1}},
		{"multi-GPU, 32 cores", multiGPU, 32, want{24, 6, 8, 2, 12, 2, 2}},
		{"multi-GPU, 16 cores", multiGPU, 16, want{14, 6, 8, 2, 7, 2, 2}},
		{"CPU-only, 16 cores", cpuOnly, 16, want{8, 3, 4, 2, 1, 8, 8}},
		{"CPU-only, 4 cores", cpuOnly, 4, want{3, 3, 3, 2, 1, 3, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(LoadOptions{File: writeConfig(t, tc.yaml), Env: noEnv})
			if err != nil {
				t.Fatal(err)
			}
			got := want{c.WorkerBudget(tc.cores), c.StageThreads("dvh", tc.cores), c.StageThreads("radiomics", tc.cores),
				c.StageThreads("qc", tc.cores), c.StageThreads("segmentation", tc.cores), c.SegWorkers(tc.cores), c.CustomSegWorkers(tc.cores)}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	// Precedence of max_workers: flag > environment > file.
	path := writeConfig(t, cpuOnly) // file: 8
	for _, tc := range []struct {
		name string
		env  map[string]string
		flag string
		want int
	}{
		{"file", nil, "", 8},
		{"env over file", map[string]string{EnvMaxWorkers: "5"}, "", 5},
		{"flag over env", map[string]string{EnvMaxWorkers: "5"}, "2", 2},
		{"flag over file", nil, "6", 6},
	} {
		opts := LoadOptions{File: path, Env: envOf(tc.env)}
		if tc.flag != "" {
			opts.Overrides = []Override{{Key: "max_workers", Value: tc.flag, Source: "flag --max-workers"}}
		}
		c, err := Load(opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.WorkerBudget(16); got != tc.want {
			t.Errorf("%s: budget %d, want %d", tc.name, got, tc.want)
		}
	}
}
