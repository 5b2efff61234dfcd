package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/qc"
)

func newQCCommand(g *globalFlags) *cobra.Command {
	f := &courseStageFlags{}
	cmd := &cobra.Command{
		Use:   "qc --outdir OUT [--course P/C] [--max-workers N] [--fail-soft]",
		Short: "Quality-check organised courses",
		Long: `qc checks, for every organised course (or the one given by --course), that the CT series,
RS.dcm, RP.dcm and RD.dcm are present, valid and consistent (one series, uniform slices without
gaps, one frame of reference and one patient across the objects, a whole-plan dose in Gy that
covers the targets, sane ROIs) and writes qc_reports/qc_report.json and the .qc_done sentinel.
Each check is PASS, INFO, WARNING or FAIL; a course's overall status is the worst of its checks.
ROIs are checked in parallel by exactly --max-workers workers when it is given, else by the
worker budget. See docs/qc.md for every check and threshold.

QC findings, even FAIL, are results (in the reports and the printed line per course), not
errors: the exit code is non-zero only when a course could not be checked, unless --fail-soft
(its sentinel then says "failed: <reason>"). A course whose organisation failed is skipped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(cmd, f.overrides()...)
			if err != nil {
				return err
			}
			closeLog, err := g.setupLogging("qc")
			if err != nil {
				return err
			}
			defer closeLog()
			workers, err := g.jobWorkers(cmd, cfg)
			if err != nil {
				return err
			}
			if st, ok := pipeline.Lookup("qc"); ok && st.Scope == pipeline.Course {
				// The stage table knows qc: run it like every course stage.
				return g.runCourseStage(cmd, cfg, f, "qc", workers, runQCJob)
			}
			return g.runQCCourses(cmd.Context(), cfg.OutputDir, f, workers)
		},
	}
	f.register(cmd)
	return cmd
}

// runQCJob is the QC job of one course.
func runQCJob(ctx context.Context, job pipeline.Job) (pipeline.Outcome, error) {
	res, err := qc.RunCourse(ctx, job.CourseDir(), qc.Options{Workers: job.Threads})
	if err != nil {
		return pipeline.Outcome{Status: "failed", Reason: err.Error()}, err
	}
	return pipeline.Outcome{Status: res.Status, Reason: res.Reason}, nil
}

// runQCCourses runs QC on every course of the manifest (or the one --course names) while the
// stage table has no qc row: one course at a time with `workers` threads, one line per course.
func (g *globalFlags) runQCCourses(ctx context.Context, outDir string, f *courseStageFlags, workers int) error {
	courses, err := organize.ReadManifest(outDir)
	if err != nil {
		return fmt.Errorf("reading the course manifest of %s: %w (run organize first)", outDir, err)
	}
	failed, done := 0, 0
	verdicts := map[qc.Status]int{}
	for _, c := range courses {
		if f.course != "" && !courseMatches(f.course, c) {
			continue
		}
		done++
		res, err := qc.RunCourse(ctx, filepath.Join(outDir, filepath.FromSlash(c.Path)), qc.Options{Workers: workers})
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(g.stdout, "%s: failed: %v\n", c.Path, err)
		case res.Status != "ok":
			fmt.Fprintf(g.stdout, "%s: %s (%s)\n", c.Path, res.Status, res.Reason)
		default:
			verdicts[res.Overall]++
			fmt.Fprintf(g.stdout, "%s: ok (%s)\n", c.Path, res.Reason)
		}
	}
	if f.course != "" && done == 0 {
		return fmt.Errorf("no course of the manifest matches %q", f.course)
	}
	if done > 1 {
		fmt.Fprintf(g.stdout, "%d courses: %d PASS, %d INFO, %d WARNING, %d FAIL\n", done,
			verdicts[qc.StatusPass], verdicts[qc.StatusInfo], verdicts[qc.StatusWarning], verdicts[qc.StatusFail])
	}
	if failed > 0 && !f.failSoft {
		return fmt.Errorf("%d of %d courses could not be checked", failed, done)
	}
	return nil
}
