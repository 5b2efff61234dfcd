package cli

import (
	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/pipeline"
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
			cfg, workers, closeLog, err := g.startCourseCommand(cmd, "qc", f.overrides()...)
			if err != nil {
				return err
			}
			defer closeLog()
			st, _ := pipeline.Lookup("qc")
			return g.runCourseStage(cmd, cfg, f, "qc", workers, st.Run)
		},
	}
	f.register(cmd)
	return cmd
}
