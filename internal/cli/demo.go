package cli

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/scheduler"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// demoRadiomicsParams is the demo's light radiomics recipe: the built-in CT recipe on the original
// image only and without resampling (see the file's comments).
//
//go:embed demo_radiomics.yaml
var demoRadiomicsParams []byte

// DemoRadiomicsParamsFile is the name, in the demo folder, of the demo's radiomics parameters.
const DemoRadiomicsParamsFile = "demo_radiomics.yaml"

// demoOverrides are the settings demo applies over the configuration: the demo folders, and
// radiomics switched on with the light recipe written at paramsPath.
func demoOverrides(in, out, paramsPath string) []config.Override {
	return []config.Override{
		{Key: "dicom_root", Value: in, Source: "demo"},
		{Key: "output_dir", Value: out, Source: "demo"},
		{Key: "radiomics.enabled", Value: "true", Source: "demo"},
		{Key: "radiomics.params_file", Value: paramsPath, Source: "demo"},
	}
}

func newDemoCommand(g *globalFlags) *cobra.Command {
	var outDir string
	var patients int
	var seed int64
	cmd := &cobra.Command{
		Use:   "demo [--outdir DIR]",
		Short: "Synthesise a small cohort and run the whole pipeline on it",
		Long: `demo writes a synthetic DICOM-RT cohort covering every scenario organize handles to
<DIR>/input (with truth.json), then runs the whole pipeline on it with the embedded scheduler,
as ` + "`rtpipeline run`" + ` does, into <DIR>/output: organize, DVH and radiomics for every course, with
per-job logs in <DIR>/output/Logs and _RESULTS/run_summary.json. Radiomics uses a light recipe
written to <DIR>/` + DemoRadiomicsParamsFile + ` (original image only, no resampling: every
feature class, 107 features per ROI) so that the demo takes well under a minute. It needs no
data and no network: the quickest way to see what rtpipeline produces. A second run reuses the
cohort and resumes every course.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in := filepath.Join(outDir, "input")
			out := filepath.Join(outDir, "output")
			paramsPath := filepath.Join(outDir, DemoRadiomicsParamsFile)
			if err := fsutil.WriteFileAtomic(paramsPath, demoRadiomicsParams, 0o644); err != nil {
				return fmt.Errorf("writing the demo radiomics parameters: %w", err)
			}
			cfg, err := g.loadConfig(cmd, demoOverrides(filepath.Join(in, "dicom"), out, paramsPath)...)
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(in, "truth.json")); err == nil {
				fmt.Fprintf(g.stdout, "reusing the synthetic cohort in %s\n", filepath.Join(in, "dicom"))
			} else {
				truth, err := synth.Generate(cmd.Context(), in, synth.Options{Patients: patients, Seed: seed, Matrix: 96, MinSlices: 16, MaxSlices: 32, Workers: cfg.WorkerBudget(cores())})
				if err != nil {
					return fmt.Errorf("synthesising the demo cohort: %w", err)
				}
				fmt.Fprintf(g.stdout, "synthesised %d patients into %s\n", len(truth.Patients), filepath.Join(in, "dicom"))
			}
			sum, err := g.runPipeline(cmd, cfg, scheduler.Options{Config: cfg, Cores: cores()})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "results: %s (cohort tables and report: %s, courses: %s, organize report: %s)\n",
				out, filepath.Join(out, "_RESULTS", "report.html"), filepath.Join(out, "_COURSES", "manifest.json"), filepath.Join(out, "_COURSES", "organize_report.json"))
			return summaryError(sum, out)
		},
	}
	cmd.Flags().StringVar(&outDir, "outdir", "rtpipeline-demo", "folder for the demo input and output")
	cmd.Flags().IntVar(&patients, "patients", len(synth.AllScenarios)+1, "number of synthetic patients")
	cmd.Flags().Int64Var(&seed, "seed", 1, "random seed of the synthetic cohort")
	return cmd
}
