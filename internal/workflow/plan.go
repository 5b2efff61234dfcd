// Package workflow is rtpipeline's Snakemake face: it generates workflow/Snakefile from the stage
// table (internal/pipeline), computes the plan the Snakefile reads at parse time (worker budget,
// threads per stage, gate sizes — by the same Go code as the embedded scheduler, so Snakemake never
// re-implements the arithmetic), and runs one course job the way the embedded scheduler does,
// recording its outcome in the stage's sentinel.
//
// See docs/snakemake.md.
package workflow

import (
	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// Plan is what the Snakefile needs from the rtpipeline configuration on a machine with Cores
// cores: `rtpipeline workflow plan` prints it as JSON.
type Plan struct {
	// Cores is the number of cores the budget is derived from (Snakemake's --cores).
	Cores int `json:"cores"`
	// Budget is the worker budget, config.WorkerBudget(Cores): the most threads the jobs in
	// flight hold together.
	Budget int `json:"budget"`
	// DicomRoot and OutputDir are dicom_root and output_dir of the configuration, the defaults of
	// the Snakefile's dicom_root and outdir.
	DicomRoot string `json:"dicom_root"`
	OutputDir string `json:"output_dir"`
	// LogsDir is logs_dir when the configuration sets it, else "": the job logs then go to
	// <outdir>/Logs, as with the embedded scheduler.
	LogsDir string `json:"logs_dir"`
	// Stages holds every stage of the table by name.
	Stages map[string]StagePlan `json:"stages"`
	// Gates maps each resource gate used by the table to the number of jobs it admits at once.
	Gates map[string]int `json:"gates"`
}

// StagePlan is one stage of a Plan.
type StagePlan struct {
	// Threads is the stage's threads per job (Stage.Threads), the rule's threads: and the
	// --max-workers of its command.
	Threads int `json:"threads"`
	// Enabled tells whether the configuration turns the stage on; only enabled stages are
	// targets of rule all.
	Enabled bool `json:"enabled"`
	// Gate is the resource gate the stage's jobs hold ("" = none).
	Gate string `json:"gate,omitempty"`
}

// NewPlan computes the plan of the stage table for cfg on a machine with `cores` cores.
func NewPlan(table []pipeline.Stage, cfg *config.Config, cores int) Plan {
	p := Plan{Cores: cores, Budget: cfg.WorkerBudget(cores), DicomRoot: cfg.DicomRoot, OutputDir: cfg.OutputDir,
		Stages: map[string]StagePlan{}, Gates: map[string]int{}}
	if cfg.Provenance()["logs_dir"] != "default" {
		p.LogsDir = cfg.LogsDir
	}
	for i := range table {
		s := &table[i]
		p.Stages[s.Name] = StagePlan{Threads: s.Threads(cfg, cores), Enabled: s.Enabled(cfg), Gate: s.Gate}
		if s.Gate != "" {
			p.Gates[s.Gate] = s.GateSize(cfg, cores)
		}
	}
	return p
}
