package config

// WorkerBudget is the number of workers the pipeline may keep busy on a machine with the given
// number of logical cores: min(max_workers, cores − reserved_cores), or cores − reserved_cores
// when max_workers is null, and never below 1. Unlike the original, reserved_cores: 0 is honoured,
// and a reservation of every core still leaves one worker so the run makes progress.
func (c *Config) WorkerBudget(cores int) int {
	b := cores - c.Scheduler.ReservedCores
	if c.MaxWorkers != nil {
		b = min(b, *c.MaxWorkers)
	}
	return max(b, 1)
}

// StageThreads is the number of threads one job of a stage takes, clipped to [1, budget]:
//
//	dvh                   scheduler.dvh_threads_per_job
//	radiomics             scheduler.radiomics_threads_per_job
//	radiomics_robustness  scheduler.robustness_threads_per_job, else radiomics_threads_per_job
//	qc                    scheduler.qc_threads_per_job
//	crop_ct               scheduler.crop_ct_threads_per_job, else the budget
//	aggregate             aggregation.threads (auto = the budget)
//
//	segmentation          budget ÷ SegWorkers (the whole budget when jobs are serialised)
//	segmentation_custom   budget ÷ CustomSegWorkers
//
// organize, structures and any other stage take the whole budget. Segmentation is throttled by
// its gate: on a GPU (gate 1) a job holds the whole budget, as the guide says, so CPU-heavy
// pre- and post-processing is not starved; when the gate admits several jobs (CPU mode, or one
// job per GPU) each gets an equal share, since a job holding the whole budget would keep the
// gate's other jobs from ever running beside it.
func (c *Config) StageThreads(stage string, cores int) int {
	b := c.WorkerBudget(cores)
	s := &c.Scheduler
	n := b
	switch stage {
	case "dvh":
		n = s.DVHThreadsPerJob
	case "radiomics":
		n = s.RadiomicsThreadsPerJob
	case "radiomics_robustness":
		n = s.RadiomicsThreadsPerJob
		if s.RobustnessThreadsPerJob != nil {
			n = *s.RobustnessThreadsPerJob
		}
	case "qc":
		n = s.QCThreadsPerJob
	case "crop_ct":
		if s.CropCTThreadsPerJob != nil {
			n = *s.CropCTThreadsPerJob
		}
	case "segmentation":
		n = b / max(c.SegWorkers(cores), 1)
	case "segmentation_custom":
		n = b / max(c.CustomSegWorkers(cores), 1)
	case "aggregate":
		if c.Aggregation.Threads.Mode == WorkersFixed {
			n = c.Aggregation.Threads.N
		}
	}
	return min(max(n, 1), b)
}

// SegWorkers is how many segmentation jobs may run at once (the seg_workers gate). An explicit
// segmentation.max_workers wins ("all" = the budget); otherwise jobs are serialised on gpu, cuda
// and mps, because concurrent jobs on one accelerator run out of memory, and fan out to the budget
// on cpu. An explicit count is not clipped to the budget: it usually means the number of GPUs, and
// each job's threads already keep the total within the budget.
func (c *Config) SegWorkers(cores int) int {
	return c.gate(c.Segmentation.MaxWorkers, cores)
}

// CustomSegWorkers is SegWorkers for custom models: custom_models.max_workers, with the device
// taken from segmentation.device since both stages share the accelerator.
func (c *Config) CustomSegWorkers(cores int) int {
	return c.gate(c.CustomModels.MaxWorkers, cores)
}

func (c *Config) gate(w Workers, cores int) int {
	switch {
	case w.Mode == WorkersFixed:
		return max(w.N, 1)
	case w.Mode == WorkersAll:
		return c.WorkerBudget(cores)
	case c.Segmentation.Device.accelerated():
		return 1
	default:
		return c.WorkerBudget(cores)
	}
}

// IndexWorkers is the number of parallel header reads while indexing the input:
// organize.index_workers clipped to the budget, else the budget.
func (c *Config) IndexWorkers(cores int) int {
	b := c.WorkerBudget(cores)
	if c.Organize.IndexWorkers != nil {
		return min(max(*c.Organize.IndexWorkers, 1), b)
	}
	return b
}
