package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

func newStructuresCommand(g *globalFlags) *cobra.Command {
	f := &courseStageFlags{}
	var defsFile string
	cmd := &cobra.Command{
		Use:   "structures --outdir OUT [--course P/C] [--max-workers N] [--custom-structures FILE] [--fail-soft]",
		Short: "Build the composite structures (RS_custom.dcm) of organised courses",
		Long: `structures builds, for every organised course (or the one given by --course), the composite
structures defined in the custom_structures YAML file (--custom-structures): Boolean operations
(union, intersection, subtract, xor) on the ROIs of RS.dcm and RS_auto.dcm, rasterised on the
course CT, followed by optional margins (exact distance transform, direction-dependent margins in
patient directions). The composites are written to RS_custom.dcm, the details to
metadata/structures_qc.json and the outcome to .structures_done ("ok", "skipped: …" or
"failed: …"); without definitions every course is "skipped: no custom structures configured".
The definitions file is validated before any course is touched. ROIs and margin transforms use
exactly --max-workers workers when it is given, else the worker budget. The exit code is
non-zero when a course failed, unless --fail-soft. See docs/segmentation.md, "Composite
structures", for the file format and the margin semantics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ov := f.overrides()
			if cmd.Flags().Changed("custom-structures") {
				ov = append(ov, config.Override{Key: "custom_structures", Value: defsFile, Source: "flag --custom-structures"})
			}
			cfg, workers, closeLog, err := g.startCourseCommand(cmd, "structures", ov...)
			if err != nil {
				return err
			}
			defer closeLog()
			// A broken definitions file is a configuration error: report it once, touch nothing.
			var defs []structures.CompositeDefinition
			if cfg.CustomStructures != "" {
				if defs, err = structures.LoadCompositeDefinitions(cfg.CustomStructures); err != nil {
					return err
				}
			}
			run := func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
				res, err := structures.RunCourse(ctx, job.CourseDir(), structures.Options{Workers: job.Threads, Definitions: defs,
					DefinitionsFile: cfg.CustomStructures})
				pipeline.Logger(ctx).Info("structures", "status", res.Status, "reason", res.Reason, "workers", job.Threads)
				return pipeline.Outcome{Status: res.Status, Reason: res.Reason}, err
			}
			return g.runCourseStage(cmd, cfg, f, "structures", workers, run)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&defsFile, "custom-structures", "", "YAML file of composite structures (overrides custom_structures of the config)")
	return cmd
}
