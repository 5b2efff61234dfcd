package cli

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/synth"
)

func newSynthCommand(g *globalFlags) *cobra.Command {
	var opt synth.Options
	var out, scenarios string
	cmd := &cobra.Command{
		Use:   "synth --out DIR --patients N --seed S",
		Short: "Write a synthetic DICOM-RT cohort with known truth",
		Long: `synth writes a synthetic thorax cohort: CT series (body ~0 HU, lungs ~-800 HU, spine ~+700 HU,
a tumour), RTSTRUCT, RTPLAN, analytic RTDOSE and treatment records, in all four patient positions
and mixed with the scenarios organize must handle (primary + boost, replan, beam doses only,
missing or orphan dose, duplicate, truncated and non-DICOM files, ...). The DICOM root is
<DIR>/dicom; <DIR>/truth.json says what a correct organiser must find.

Scenarios: ` + strings.Join(synth.AllScenarios, ", "),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if scenarios != "" {
				opt.Scenarios = strings.Split(scenarios, ",")
			}
			if opt.Workers == 0 {
				opt.Workers = cores()
			}
			t0 := time.Now()
			truth, err := synth.Generate(cmd.Context(), out, opt)
			if err != nil {
				return err
			}
			files, courses := 0, 0
			for _, p := range truth.Patients {
				files += len(p.Files)
				courses += len(p.Courses)
			}
			fmt.Fprintf(g.stdout, "wrote %d patients, %d courses, %d files to %s in %.1fs (truth: %s)\n",
				len(truth.Patients), courses, files, filepath.Join(out, "dicom"), time.Since(t0).Seconds(), filepath.Join(out, "truth.json"))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "output folder (the DICOM root is <out>/dicom)")
	fl.IntVar(&opt.Patients, "patients", 18, "number of patients")
	fl.Int64Var(&opt.Seed, "seed", 1, "random seed; the same seed gives the same bytes")
	fl.IntVar(&opt.Matrix, "matrix", 0, "CT rows and columns (default 128)")
	fl.IntVar(&opt.MinSlices, "min-slices", 0, "minimum CT slices per series (default 24)")
	fl.IntVar(&opt.MaxSlices, "max-slices", 0, "maximum CT slices per series (default 60)")
	fl.Float64Var(&opt.NoiseHU, "noise-hu", 0, "standard deviation of CT noise in HU")
	fl.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios (default: every scenario, then cycling)")
	fl.IntVar(&opt.Workers, "workers", 0, "parallel writers (default: all cores)")
	return cmd
}
