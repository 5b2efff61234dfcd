package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/dvh"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/workflow"
)

func newDVHCommand(g *globalFlags) *cobra.Command {
	f := &courseStageFlags{}
	var method string
	cmd := &cobra.Command{
		Use:   "dvh --outdir OUT [--course P/C] [--max-workers N] [--fail-soft]",
		Short: "Compute DVHs and metrics of organised courses",
		Long: `dvh computes, for every organised course (or the one given by --course), the DVH of every ROI of
its structure sets on RD.dcm and writes dvh_metrics.csv/xlsx, dvh_curves.csv, dvh.png,
metadata/dvh_qc.json and the .dvh_done sentinel. ROIs are computed in parallel by exactly
--max-workers workers when it is given (a job's threads under Snakemake), else by the worker
budget. A course whose organisation failed gets "skipped: upstream organize failed". The exit
code is non-zero when a course failed, unless --fail-soft (its sentinel then says
"failed: <reason>"). See docs/dvh.md for the method and every metric definition.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, workers, closeLog, err := g.startCourseCommand(cmd, "dvh", f.overrides()...)
			if err != nil {
				return err
			}
			defer closeLog()
			var run workflow.RunFunc // the stage table's: the default method
			if method != dvh.MethodExact {
				run = func(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
					res, err := dvh.RunCourse(ctx, job.CourseDir(), dvh.StageOptions{Workers: job.Threads, Method: method})
					if err != nil {
						return pipeline.Outcome{Status: "failed", Reason: err.Error()}, err
					}
					if res.Status == "degraded" {
						return pipeline.Outcome{Status: "ok", Reason: res.Reason}, nil
					}
					return pipeline.Outcome{Status: res.Status, Reason: res.Reason}, nil
				}
			}
			return g.runCourseStage(cmd, cfg, f, "dvh", workers, run)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&method, "method", dvh.MethodExact, "exact (default) or dicompyler")
	return cmd
}

// courseMatches accepts a patient folder or ID, or patient/course.
func courseMatches(filter string, c organize.ManifestCourse) bool {
	if filter == c.Path || filter == c.Patient || filter == c.PatientID {
		return true
	}
	p, course, ok := strings.Cut(filter, "/")
	return ok && (p == c.Patient || p == c.PatientID) && course == c.Course
}
