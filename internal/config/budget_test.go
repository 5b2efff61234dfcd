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
