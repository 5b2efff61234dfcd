package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/dvh"
	"github.com/rtpipeline/rtpipeline/internal/organize"
)

func newDVHCommand(g *globalFlags) *cobra.Command {
	var outDir, course, method string
	cmd := &cobra.Command{
		Use:   "dvh --outdir OUT [--course P/C] [--max-workers N]",
		Short: "Compute DVHs and metrics of organised courses",
		Long: `dvh computes, for every organised course (or the one given by --course), the DVH of every ROI of
its structure sets on RD.dcm and writes dvh_metrics.csv/xlsx, dvh_curves.csv, dvh.png,
metadata/dvh_qc.json and the .dvh_done sentinel. ROIs are computed in parallel within the worker
budget. See docs/dvh.md for the method and every metric definition.`,
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
			closeLog, err := g.setupLogging("dvh")
			if err != nil {
				return err
			}
			defer closeLog()
			courses, err := organize.ReadManifest(cfg.OutputDir)
			if err != nil {
				return fmt.Errorf("reading the course manifest of %s: %w (run organize first)", cfg.OutputDir, err)
			}
			workers := cfg.WorkerBudget(cores())
			failed, done := 0, 0
			for _, c := range courses {
				if course != "" && !courseMatches(course, c) {
					continue
				}
				if c.Status != "ok" {
					fmt.Fprintf(g.stdout, "%s: not organised (%s), skipped\n", c.Path, c.Status)
					continue
				}
				done++
				res, err := dvh.RunCourse(cmd.Context(), filepath.Join(cfg.OutputDir, filepath.FromSlash(c.Path)), dvh.StageOptions{Workers: workers, Method: method})
				switch {
				case err != nil:
					failed++
					fmt.Fprintf(g.stdout, "%s: failed: %v\n", c.Path, err)
				default:
					fmt.Fprintf(g.stdout, "%s: %s (%s)\n", c.Path, res.Status, res.Reason)
				}
			}
			if course != "" && done == 0 {
				return fmt.Errorf("no organised course matches %q", course)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d courses failed", failed, done)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "outdir", "", "output folder of organize (default: output_dir of the config)")
	cmd.Flags().StringVar(&course, "course", "", "only PATIENT or PATIENT/COURSE")
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
