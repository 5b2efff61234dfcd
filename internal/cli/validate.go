package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/organize"
)

func newValidateCommand(g *globalFlags) *cobra.Command {
	f := &organizeFlags{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "Show what organize would do with a DICOM export, writing nothing",
		Long: `validate indexes DIR and decides patients, courses, doses and CT series exactly as organize
would, then prints the courses and every file that would not be placed (orphan, duplicate or
unreadable, with the reason). Nothing is written. --json prints the full organize report.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dicomRoot = args[0]
			cfg, err := g.loadConfig(cmd, f.overrides(cmd)...)
			if err != nil {
				return err
			}
			closeLog, err := g.setupLogging("validate")
			if err != nil {
				return err
			}
			defer closeLog()
			opt := organizeOptions(cfg)
			t0 := time.Now()
			inv, err := organize.Index(cmd.Context(), args[0], organize.IndexOptions{Workers: cfg.IndexWorkers(cores())})
			if err != nil {
				return err
			}
			slog.Info("indexed", "files", len(inv.Entries), "seconds", fmt.Sprintf("%.3f", time.Since(t0).Seconds()))
			res := organize.Build(inv, opt)
			rep := organize.BuildReport(res, nil)
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			s := rep.Summary
			fmt.Fprintf(g.stdout, "%d files: %d would be placed, %d orphan, %d duplicate, %d unreadable; %d patients, %d courses\n\n",
				s.Files, s.Placed, s.Orphan, s.Duplicate, s.Unreadable, s.Patients, s.Courses)
			tw := tabwriter.NewWriter(g.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COURSE\tKIND\tDOSE\tRX (Gy)\tRX SOURCE\tCT")
			for _, c := range rep.Courses {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%g\t%s\t%s\n", c.Path, c.Kind, c.DoseDecision, c.RxGy, c.RxSource, c.CTSelection)
			}
			tw.Flush()
			for _, c := range rep.Courses {
				fmt.Fprintf(g.stdout, "\n%s\n  dose: %s\n  CT:   %s\n", c.Path, c.DoseReason, c.CTReason)
				for _, w := range c.Warnings {
					fmt.Fprintf(g.stdout, "  warning: %s\n", w)
				}
			}
			first := true
			for _, fr := range rep.Files {
				if fr.Category == organize.CategoryPlaced {
					continue
				}
				if first {
					fmt.Fprintln(g.stdout, "\nFiles not placed:")
					first = false
				}
				extra := ""
				if fr.DuplicateOf != "" {
					extra = " (kept: " + fr.DuplicateOf + ")"
				}
				fmt.Fprintf(g.stdout, "  %-10s %s: %s%s\n", fr.Category, fr.Path, fr.Reason, extra)
			}
			if len(rep.Warnings) > 0 {
				fmt.Fprintln(g.stdout, "\nWarnings:")
				for _, w := range rep.Warnings {
					fmt.Fprintf(g.stdout, "  %s\n", w)
				}
			}
			return nil
		},
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the full report as JSON")
	return cmd
}
