package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/aggregate"
)

func newAggregateCommand(g *globalFlags) *cobra.Command {
	var outDir string
	var failSoft bool
	cmd := &cobra.Command{
		Use:   "aggregate --outdir OUT [--max-workers N] [--fail-soft]",
		Short: "Gather the per-course tables into cohort tables and a report (_RESULTS)",
		Long: `aggregate gathers the tables of every course of the manifest into OUT/_RESULTS: dvh_metrics,
radiomics_ct, radiomics_mr, case_metadata, fractions and qc_reports, each as .xlsx, .csv and
.parquet, keyed by patient_id and course_id. Only courses whose stage sentinel says "ok" contribute
(the others are listed with the reason). It also writes README.md (every column of every table),
report.html (a self-contained cohort report: statuses, QC problems, DVH plots, links to the tables),
aggregate_summary.json and, last, the .aggregate_done sentinel. Courses are read in parallel by the
worker budget; the output does not depend on it. See docs/aggregate.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ov []configOverride
			if outDir != "" {
				ov = append(ov, configOverride{"output_dir", outDir, "flag --outdir"})
			}
			cfg, err := g.loadConfig(cmd, overrides(ov)...)
			if err != nil {
				return err
			}
			closeLog, err := g.setupLogging("aggregate")
			if err != nil {
				return err
			}
			defer closeLog()
			res, err := aggregate.Run(cmd.Context(), cfg.OutputDir, aggregate.Options{Workers: cfg.WorkerBudget(cores())})
			if err != nil {
				if failSoft && cmd.Context().Err() == nil {
					// The failure is recorded in _RESULTS/.aggregate_done; a workflow engine goes on.
					fmt.Fprintf(g.stdout, "aggregate: failed: %v\n", err)
					return nil
				}
				return fmt.Errorf("aggregate: %w", err)
			}
			for _, t := range res.Tables {
				fmt.Fprintf(g.stdout, "%s: %d rows, %d columns from %d courses", t.Name, t.Rows, t.Columns, t.Courses)
				if len(t.Skipped) > 0 {
					fmt.Fprintf(g.stdout, "; %d courses left out", len(t.Skipped))
				}
				if len(t.Dropped) > 0 {
					fmt.Fprintf(g.stdout, "; %d duplicate rows dropped", len(t.Dropped))
				}
				fmt.Fprintln(g.stdout)
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(g.stdout, "warning:", w)
			}
			fmt.Fprintf(g.stdout, "results: %s (report: %s)\n", res.Dir, filepath.Join(res.Dir, aggregate.ReportFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "outdir", "", "output folder of organize (default: output_dir of the config)")
	cmd.Flags().BoolVar(&failSoft, "fail-soft", false, "exit 0 when aggregation fails (the failure is recorded in _RESULTS/.aggregate_done), as workflow engines need")
	return cmd
}
