package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/radiomics/stage"
)

// radiomicsExtract is the feature extractor of the radiomics commands; nil means
// radiomics.Extract. Tests replace it.
var radiomicsExtract stage.Extractor

func newRadiomicsCommand(g *globalFlags) *cobra.Command {
	var outDir, course string
	cmd := &cobra.Command{
		Use:   "radiomics --outdir OUT [--course P/C] [--max-workers N]",
		Short: "Extract radiomics features of organised courses",
		Long: `radiomics extracts, for every organised course (or the one given by --course), PyRadiomics-
compatible features of every ROI of the course's structure sets on the course CT (RS.dcm,
RS_auto.dcm, the composite structures of RS_custom.dcm, custom-model structure sets), and of the
TotalSegmentator total_mr masks of its MR series. It writes radiomics_ct.csv/xlsx/parquet,
MR/radiomics_mr.csv/xlsx/parquet (only when an MR series has masks), metadata/radiomics_qc.json
and the .radiomics_done sentinel. Every ROI is a row whose status column reads "ok",
"skipped: <reason>" or "failed: <error>". ROIs are extracted in parallel within the worker
budget (one at a time with radiomics.sequential). Settings come from the radiomics section of
the configuration; see docs/radiomics.md.`,
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
			closeLog, err := g.setupLogging("radiomics")
			if err != nil {
				return err
			}
			defer closeLog()
			opts, err := stage.OptionsFromConfig(cfg, cfg.WorkerBudget(cores()))
			if err != nil {
				return err
			}
			opts.Extract = radiomicsExtract
			courses, err := organize.ReadManifest(cfg.OutputDir)
			if err != nil {
				return fmt.Errorf("reading the course manifest of %s: %w (run organize first)", cfg.OutputDir, err)
			}
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
				res, err := stage.RunCourse(cmd.Context(), filepath.Join(cfg.OutputDir, filepath.FromSlash(c.Path)), opts)
				switch {
				case err != nil:
					failed++
					fmt.Fprintf(g.stdout, "%s: failed: %v\n", c.Path, err)
				case res.Status == stage.StatusFailed:
					failed++
					fmt.Fprintf(g.stdout, "%s: failed: %s\n", c.Path, res.Reason)
				default:
					fmt.Fprintf(g.stdout, "%s: %s (%s)\n", c.Path, res.Status, res.Reason)
				}
				if err := cmd.Context().Err(); err != nil {
					return err
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
	return cmd
}
