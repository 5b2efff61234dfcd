package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/dvh"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

func newDemoCommand(g *globalFlags) *cobra.Command {
	var outDir string
	var patients int
	var seed int64
	cmd := &cobra.Command{
		Use:   "demo [--outdir DIR]",
		Short: "Synthesise a small cohort and run the pipeline on it",
		Long: `demo writes a synthetic DICOM-RT cohort covering every scenario organize handles to
<DIR>/input (with truth.json), then runs the pipeline on it into <DIR>/output. It needs no
data and no network: the quickest way to see what rtpipeline produces.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return err
			}
			closeLog, err := g.setupLogging("demo")
			if err != nil {
				return err
			}
			defer closeLog()
			in := filepath.Join(outDir, "input")
			out := filepath.Join(outDir, "output")
			if _, err := os.Stat(filepath.Join(in, "truth.json")); err == nil {
				fmt.Fprintf(g.stdout, "reusing the synthetic cohort in %s\n", filepath.Join(in, "dicom"))
			} else {
				truth, err := synth.Generate(cmd.Context(), in, synth.Options{Patients: patients, Seed: seed, Matrix: 96, MinSlices: 16, MaxSlices: 32, Workers: cfg.WorkerBudget(cores())})
				if err != nil {
					return fmt.Errorf("synthesising the demo cohort: %w", err)
				}
				fmt.Fprintf(g.stdout, "synthesised %d patients into %s\n", len(truth.Patients), filepath.Join(in, "dicom"))
			}
			ro := organize.RunOptions{Options: organizeOptions(cfg), IndexWorkers: cfg.IndexWorkers(cores())}
			res, outcomes, err := organize.Run(cmd.Context(), filepath.Join(in, "dicom"), out, ro)
			if res != nil {
				s := organize.BuildReport(res, outcomes).Summary
				fmt.Fprintf(g.stdout, "organize: %d files: %d placed, %d orphan, %d duplicate, %d unreadable; %d courses (%d ok)\n",
					s.Files, s.Placed, s.Orphan, s.Duplicate, s.Unreadable, s.Courses, s.CoursesOK)
			}
			if err != nil {
				return err
			}
			// DVHs of every organised course.
			dvhOK := 0
			for _, oc := range outcomes {
				if oc.Status != "ok" {
					continue
				}
				res, err := dvh.RunCourse(cmd.Context(), filepath.Join(out, filepath.FromSlash(oc.Dir)), dvh.StageOptions{Workers: cfg.WorkerBudget(cores())})
				if err != nil {
					return fmt.Errorf("dvh %s: %w", oc.Dir, err)
				}
				if res.Status == "ok" {
					dvhOK++
				}
			}
			fmt.Fprintf(g.stdout, "dvh: %d courses with DVHs (courses without dose are skipped)\n", dvhOK)
			fmt.Fprintf(g.stdout, "results: %s (courses: %s/_COURSES/manifest.json, report: %s/_COURSES/organize_report.json, tables: %s/Data)\n", out, out, out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&outDir, "outdir", "rtpipeline-demo", "folder for the demo input and output")
	cmd.Flags().IntVar(&patients, "patients", len(synth.AllScenarios)+1, "number of synthetic patients")
	cmd.Flags().Int64Var(&seed, "seed", 1, "random seed of the synthetic cohort")
	return cmd
}
