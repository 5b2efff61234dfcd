package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/segmentation"
)

func newSegmentationCommand(g *globalFlags) *cobra.Command {
	f := &courseStageFlags{}
	var backend string
	var force bool
	cmd := &cobra.Command{
		Use:   "segmentation --outdir OUT [--course P/C] [--max-workers N] [--backend B] [--force] [--fail-soft]",
		Short: "Segment the CT (and MR) of organised courses and write RS_auto.dcm",
		Long: `segmentation segments, for every organised course (or the one given by --course), the course CT
with the backend of segmentation.backend (--backend): totalsegmentator runs the TotalSegmentator
CLI (task total and the extra models not ending in _mr) into Segmentation_TotalSegmentator/,
builtin runs the pipeline's own segmenter into Segmentation_Builtin/, and auto takes
TotalSegmentator when it is installed. The primary model's non-empty masks become RS_auto.dcm.
With TotalSegmentator every MR series (MR/<uid>/) gets total_mr and the *_mr extra models.

Models whose recorded outputs are complete are not run again (--force re-runs them). Each
TotalSegmentator run is killed, with its child processes, after segmentation.timeout_seconds.
The outcome is in .segmentation_done ("ok", "skipped: …" or "failed: …") and the details in
metadata/segmentation.json. A failed segmentation does not touch the course's other structure
sets, so DVH, radiomics and QC can still use RS.dcm. The exit code is non-zero when a course
failed, unless --fail-soft. See docs/segmentation.md for the exact command lines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ov := f.overrides()
			if cmd.Flags().Changed("backend") {
				ov = append(ov, config.Override{Key: "segmentation.backend", Value: backend, Source: "flag --backend"})
			}
			if force {
				ov = append(ov, config.Override{Key: "segmentation.force", Value: "true", Source: "flag --force"})
			}
			cfg, workers, closeLog, err := g.startCourseCommand(cmd, "segmentation", ov...)
			if err != nil {
				return err
			}
			defer closeLog()
			opts := segmentation.OptionsFromConfig(cfg, workers)
			run := func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
				res, err := segmentation.RunCourse(ctx, job.CourseDir(), opts)
				pipeline.Logger(ctx).Info("segmentation", "status", res.Status, "reason", res.Reason, "backend", res.Backend, "workers", job.Threads)
				return pipeline.Outcome{Status: res.Status, Reason: res.Reason}, err
			}
			return g.runCourseStage(cmd, cfg, f, "segmentation", workers, run)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&backend, "backend", "", "auto, builtin or totalsegmentator (default: segmentation.backend)")
	cmd.Flags().BoolVar(&force, "force", false, "re-run models whose outputs are complete (segmentation.force)")
	return cmd
}

func newSegmentationCustomCommand(g *globalFlags) *cobra.Command {
	f := &courseStageFlags{}
	var models []string
	var root string
	var force bool
	cmd := &cobra.Command{
		Use:     "segmentation-custom --outdir OUT [--course P/C] [--max-workers N] [--model NAME]… [--force] [--fail-soft]",
		Aliases: []string{"segmentation_custom"}, // the stage table's name, which the Snakefile calls
		Short:   "Run the custom nnU-Net models on organised courses",
		Long: `segmentation-custom runs, for every organised course (or the one given by --course), every custom
model under custom_models.root (--root; one folder per model with custom_model.yaml, folders
starting with _ skipped), or only those named by --model, on the course CT: nnUNetv2_predict,
the v1 nnUNet_predict, nnU-Net ensembles or TotalSegmentator tasks, as the model file says. Each
model writes Segmentation_CustomModels/<name>/<name>--<roi>.nii.gz, rtstruct.dcm and
manifest.json. Models whose recorded outputs are complete (same model file, same CT) are not run
again (--force re-runs them); a model without its weights is skipped.

The stage runs only when custom_models.enabled is true (--model turns it on for the models
named). Its outcome is in .custom_models_done and metadata/segmentation_custom.json. The exit code
is non-zero when a course failed, unless --fail-soft. See docs/segmentation.md for the model file
and the exact command lines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ov := f.overrides()
			if root != "" {
				ov = append(ov, config.Override{Key: "custom_models.root", Value: root, Source: "flag --root"})
			}
			if len(models) > 0 {
				list := "["
				for i, m := range models {
					if i > 0 {
						list += ", "
					}
					list += strconv.Quote(m)
				}
				ov = append(ov, config.Override{Key: "custom_models.models", Value: list + "]", Source: "flag --model"},
					config.Override{Key: "custom_models.enabled", Value: "true", Source: "flag --model"})
			}
			if force {
				ov = append(ov, config.Override{Key: "custom_models.force", Value: "true", Source: "flag --force"})
			}
			cfg, workers, closeLog, err := g.startCourseCommand(cmd, "segmentation_custom", ov...)
			if err != nil {
				return err
			}
			defer closeLog()
			opts := segmentation.CustomOptionsFromConfig(cfg, workers)
			run := func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
				res, err := segmentation.RunCustomCourse(ctx, job.CourseDir(), opts)
				pipeline.Logger(ctx).Info("segmentation_custom", "status", res.Status, "reason", res.Reason, "workers", job.Threads)
				return pipeline.Outcome{Status: res.Status, Reason: res.Reason}, err
			}
			return g.runCourseStage(cmd, cfg, f, "segmentation_custom", workers, run)
		},
	}
	f.register(cmd)
	cmd.Flags().StringArrayVar(&models, "model", nil, "run only this model (name or folder; repeatable); enables the stage")
	cmd.Flags().StringVar(&root, "root", "", "folder of model folders (default: custom_models.root)")
	cmd.Flags().BoolVar(&force, "force", false, "re-run models whose outputs are complete (custom_models.force)")
	return cmd
}
