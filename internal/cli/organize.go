package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

type organizeFlags struct {
	dicomRoot, outDir, courseFilter, mergeCriteria string
	maxDays                                        int
	forceRedo                                      bool
}

func (f *organizeFlags) overrides(cmd *cobra.Command) []config.Override {
	var ov []config.Override
	if cmd.Flags().Changed("merge-criteria") {
		ov = append(ov, config.Override{Key: "organize.merge_criteria", Value: f.mergeCriteria, Source: "flag --merge-criteria"})
	}
	if cmd.Flags().Changed("max-days") {
		ov = append(ov, config.Override{Key: "organize.max_days", Value: strconv.Itoa(f.maxDays), Source: "flag --max-days"})
	}
	if f.dicomRoot != "" {
		ov = append(ov, config.Override{Key: "dicom_root", Value: f.dicomRoot, Source: "flag --dicom-root"})
	}
	if cmd.Flags().Lookup("outdir") != nil && f.outDir != "" {
		ov = append(ov, config.Override{Key: "output_dir", Value: f.outDir, Source: "flag --outdir"})
	}
	return ov
}

func (f *organizeFlags) register(cmd *cobra.Command, withOutput bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.dicomRoot, "dicom-root", "", "folder holding the DICOM export (default: dicom_root of the config)")
	if withOutput {
		fl.StringVar(&f.outDir, "outdir", "", "output folder (default: output_dir of the config)")
		fl.StringVar(&f.courseFilter, "course-filter", "", "organise only PATIENT or PATIENT/COURSE")
		fl.BoolVar(&f.forceRedo, "force-redo", false, "remove previously organised courses and rebuild them")
	}
	fl.StringVar(&f.mergeCriteria, "merge-criteria", "", "group plans into courses by same_ct_study or frame_of_reference")
	fl.IntVar(&f.maxDays, "max-days", -1, "split a course whose plan dates span more than N days")
}

// organizeOptions maps the configuration onto organize.Options with the whole worker budget.
func organizeOptions(cfg *config.Config) organize.Options {
	return pipeline.OrganizeOptions(cfg, cfg.WorkerBudget(cores()))
}

func newOrganizeCommand(g *globalFlags) *cobra.Command {
	f := &organizeFlags{}
	cmd := &cobra.Command{
		Use:   "organize --dicom-root DIR --outdir OUT",
		Short: "Index a DICOM export and lay it out as patient courses",
		Long: `organize reads the header of every file under --dicom-root (never pixel data), links doses to
plans to structure sets to CT series, groups them into treatment courses and writes
<OUT>/<patient>/<course>/ with DICOM/, RP.dcm RD.dcm RS.dcm, metadata/ and a .organized sentinel,
plus _COURSES/manifest.json, _COURSES/organize_report.json (every input file accounted for) and
cohort tables in Data/. Bad input files are reported, never fatal; the exit code is non-zero only
when nothing could be organised or the output is not writable. Files are read and written by the
worker budget, or by exactly --max-workers workers when it is given (the organize checkpoint's
threads under Snakemake).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(cmd, f.overrides(cmd)...)
			if err != nil {
				return err
			}
			if g.logs == "" {
				g.logs = cmd.Flag("logs").Value.String()
			}
			closeLog, err := g.setupLogging("organize")
			if err != nil {
				return err
			}
			defer closeLog()
			ro := organize.RunOptions{Options: organizeOptions(cfg), IndexWorkers: cfg.IndexWorkers(cores())}
			if cmd.Flags().Changed("max-workers") {
				// Exactly the workers allotted (the checkpoint's threads under Snakemake), as the
				// stage table's organize job sets them.
				workers, err := g.jobWorkers(cmd, cfg)
				if err != nil {
					return err
				}
				ro = organize.RunOptions{Options: pipeline.OrganizeOptions(cfg, workers), IndexWorkers: min(cfg.IndexWorkers(workers), workers)}
			}
			ro.CourseFilter, ro.ForceRedo = f.courseFilter, f.forceRedo
			tty := isTerminal(g.stderr)
			ip := newProgress(g.stderr, tty, "indexing", "files")
			wp := newProgress(g.stderr, tty, "writing", "courses")
			ro.IndexProgress, ro.WriteProgress = ip.update, func(d, t int) { ip.finish(); wp.update(d, t) }
			res, outcomes, err := organize.Run(cmd.Context(), cfg.DicomRoot, cfg.OutputDir, ro)
			ip.finish()
			wp.finish()
			if res != nil {
				rep := organize.BuildReport(res, outcomes)
				s := rep.Summary
				fmt.Fprintf(g.stdout, "%d files: %d placed, %d orphan, %d duplicate, %d unreadable; %d patients, %d courses (%d ok, %d failed)\n",
					s.Files, s.Placed, s.Orphan, s.Duplicate, s.Unreadable, s.Patients, s.Courses, s.CoursesOK, s.CoursesFailed)
				fmt.Fprintf(g.stdout, "report: %s/_COURSES/organize_report.json\n", cfg.OutputDir)
			}
			return err
		},
	}
	f.register(cmd, true)
	cmd.Flags().String("logs", "", "folder for the JSON log file (default: none)")
	return cmd
}
