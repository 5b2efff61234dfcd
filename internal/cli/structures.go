package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/structures"
	"github.com/rtpipeline/rtpipeline/internal/workflow"
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
			cfg, err := g.loadConfig(cmd, ov...)
			if err != nil {
				return err
			}
			closeLog, err := g.setupLogging("structures")
			if err != nil {
				return err
			}
			defer closeLog()
			workers, err := g.jobWorkers(cmd, cfg)
			if err != nil {
				return err
			}
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
			return g.runStructuresStage(cmd, cfg, f, workers, run)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&defsFile, "custom-structures", "", "YAML file of composite structures (overrides custom_structures of the config)")
	return cmd
}

// runStructuresStage runs the structures stage on the courses of the manifest: through the stage
// table when it lists the stage, else through workflow.RunCourse with the stage described here,
// so the sentinel rules are the same (a course whose organisation failed is "skipped: upstream
// organize failed", an interrupted course leaves no sentinel).
func (g *globalFlags) runStructuresStage(cmd *cobra.Command, cfg *config.Config, f *courseStageFlags, workers int, run workflow.RunFunc) error {
	if st, ok := pipeline.Lookup("structures"); ok && st.Scope == pipeline.Course {
		return g.runCourseStage(cmd, cfg, f, "structures", workers, run)
	}
	st := &pipeline.Stage{Name: "structures", Scope: pipeline.Course, Sentinel: structures.Sentinel,
		Enabled: func(*config.Config) bool { return true }, Run: run}
	courses, err := organize.ReadManifest(cfg.OutputDir)
	if err != nil {
		return fmt.Errorf("reading the course manifest of %s: %w (run organize first)", cfg.OutputDir, err)
	}
	ctx, timeout := cmd.Context(), f.timeoutOf(cmd, st, cfg)
	failed, done := 0, 0
	for _, c := range courses {
		if f.course != "" && !courseMatches(f.course, c) {
			continue
		}
		done++
		o, err := workflow.RunCourse(ctx, st, pipeline.Job{OutDir: cfg.OutputDir, Course: c.Path, Threads: workers, Config: cfg}, timeout, run)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Path, err)
		}
		if o.Status == structures.StatusFailed {
			failed++
			fmt.Fprintf(g.stdout, "%s: failed: %s\n", c.Path, o.Reason)
		} else {
			fmt.Fprintf(g.stdout, "%s: %s (%s)\n", c.Path, o.Status, o.Reason)
		}
	}
	if f.course != "" && done == 0 {
		return fmt.Errorf("no course of the manifest matches %q", f.course)
	}
	if failed > 0 && !f.failSoft {
		return fmt.Errorf("%d of %d courses failed", failed, done)
	}
	return nil
}
