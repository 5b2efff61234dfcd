package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/radiomics/stage"
	"github.com/rtpipeline/rtpipeline/internal/workflow"
)

// radiomicsExtract is the feature extractor of the radiomics commands; nil means
// radiomics.Extract. Tests replace it.
var radiomicsExtract stage.Extractor

func newRadiomicsCommand(g *globalFlags) *cobra.Command {
	f := &courseStageFlags{}
	cmd := &cobra.Command{
		Use:   "radiomics --outdir OUT [--course P/C] [--max-workers N] [--fail-soft]",
		Short: "Extract radiomics features of organised courses",
		Long: `radiomics extracts, for every organised course (or the one given by --course), PyRadiomics-
compatible features of every ROI of the course's structure sets on the course CT (RS.dcm,
RS_auto.dcm, the composite structures of RS_custom.dcm, custom-model structure sets), and of the
TotalSegmentator total_mr masks of its MR series. It writes radiomics_ct.csv/xlsx/parquet,
MR/radiomics_mr.csv/xlsx/parquet (only when an MR series has masks), metadata/radiomics_qc.json
and the .radiomics_done sentinel. Every ROI is a row whose status column reads "ok",
"skipped: <reason>" or "failed: <error>". ROIs are extracted in parallel by exactly
--max-workers workers when it is given (a job's threads under Snakemake), else by the worker
budget (one at a time with radiomics.sequential). A course whose organisation failed gets
"skipped: upstream organize failed". The exit code is non-zero when a course failed, unless
--fail-soft (its sentinel then says "failed: <reason>"); an invalid radiomics configuration
always fails the command. Settings come from the radiomics section of the configuration; see
docs/radiomics.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, workers, closeLog, err := g.startCourseCommand(cmd, "radiomics", f.overrides()...)
			if err != nil {
				return err
			}
			defer closeLog()
			// A configuration error is reported once, not as a failure of every course.
			opts, err := stage.OptionsFromConfig(cfg, workers)
			if err != nil {
				return err
			}
			var run workflow.RunFunc // the stage table's
			if radiomicsExtract != nil {
				opts.Extract = radiomicsExtract
				run = func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
					res, err := stage.RunCourse(ctx, job.CourseDir(), opts)
					return pipeline.Outcome{Status: res.Status, Reason: res.Reason}, err
				}
			}
			return g.runCourseStage(cmd, cfg, f, "radiomics", workers, run)
		},
	}
	f.register(cmd)
	return cmd
}
