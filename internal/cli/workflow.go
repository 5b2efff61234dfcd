package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
	"github.com/rtpipeline/rtpipeline/internal/scheduler"
	"github.com/rtpipeline/rtpipeline/internal/workflow"
)

func newWorkflowCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow",
		Short: "Snakemake workflow: generate the Snakefile, print the plan it runs by",
		Long: `workflow holds the commands behind workflow/Snakefile, the Snakemake form of the pipeline
generated from the stage table. See docs/snakemake.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newWorkflowSnakefileCommand(g), newWorkflowPlanCommand(g))
	return cmd
}

func newWorkflowSnakefileCommand(g *globalFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "snakefile [--out FILE]",
		Short: "Print (or write) the Snakefile generated from the stage table",
		Long: `snakefile prints the Snakefile generated from the stage table, or writes it to --out. It is
the text committed as workflow/Snakefile (a test keeps the two identical).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			text := workflow.Snakefile(pipeline.Table())
			if out == "" {
				_, err := fmt.Fprint(g.stdout, text)
				return err
			}
			if dir := filepath.Dir(out); dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
			return fsutil.WriteFileAtomic(out, []byte(text), 0o644)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write to FILE instead of standard output")
	return cmd
}

func newWorkflowPlanCommand(g *globalFlags) *cobra.Command {
	var nCores int
	cmd := &cobra.Command{
		Use:   "plan [--cores N] [--config FILE] [--max-workers N]",
		Short: "Print the worker budget, threads per stage and gate sizes as JSON",
		Long: `plan prints, as JSON, what workflow/Snakefile reads when Snakemake parses it: the worker budget
of a machine with --cores cores (default: this machine's), each stage's threads per job and
whether it is enabled, the size of each resource gate, and dicom_root, output_dir and logs_dir.
They are computed by the same code as the embedded scheduler, so both run the same jobs with the
same threads.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if nCores < 1 {
				return fmt.Errorf("--cores must be at least 1, not %d", nCores)
			}
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return err
			}
			data, err := json.MarshalIndent(workflow.NewPlan(pipeline.Table(), cfg, nCores), "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stdout, "%s\n", data)
			return err
		},
	}
	cmd.Flags().IntVar(&nCores, "cores", cores(), "cores the worker budget is derived from (Snakemake's --cores)")
	return cmd
}

// courseStageFlags are the flags shared by the course stage commands, which the Snakefile calls as
// `rtpipeline <stage> --outdir OUT --course P/C --max-workers N --fail-soft [--config FILE]`.
type courseStageFlags struct {
	outDir, course string
	failSoft       bool
	timeout        time.Duration
}

func (f *courseStageFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.outDir, "outdir", "", "output folder of organize (default: output_dir of the config)")
	fl.StringVar(&f.course, "course", "", "only PATIENT or PATIENT/COURSE")
	fl.BoolVar(&f.failSoft, "fail-soft", false, `exit 0 once every course's outcome is in its sentinel, also "failed: ..." (as the Snakefile runs it)`)
	fl.DurationVar(&f.timeout, "timeout", 0, "time limit of one course, e.g. 30m; 0 = none (default: rtpipeline run's limit for the stage)")
}

// timeoutOf is the time limit of one course job of st: --timeout, else the embedded scheduler's.
func (f *courseStageFlags) timeoutOf(cmd *cobra.Command, st *pipeline.Stage, cfg *config.Config) time.Duration {
	if cmd.Flags().Changed("timeout") {
		return max(f.timeout, 0)
	}
	return scheduler.DefaultTimeout(st, cfg)
}

// overrides sets output_dir from --outdir.
func (f *courseStageFlags) overrides() []config.Override {
	if f.outDir == "" {
		return nil
	}
	return []config.Override{{Key: "output_dir", Value: f.outDir, Source: "flag --outdir"}}
}

// startCourseCommand is the common start of a course-stage command: the configuration (with the
// command's overrides), logging under the stage's name, and the workers one job uses. The caller
// defers closeLog.
func (g *globalFlags) startCourseCommand(cmd *cobra.Command, name string, ov ...config.Override) (cfg *config.Config, workers int, closeLog func(), err error) {
	if cfg, err = g.loadConfig(cmd, ov...); err != nil {
		return nil, 0, nil, err
	}
	if closeLog, err = g.setupLogging(name); err != nil {
		return nil, 0, nil, err
	}
	if workers, err = g.jobWorkers(cmd, cfg); err != nil {
		closeLog()
		return nil, 0, nil, err
	}
	return cfg, workers, closeLog, nil
}

// jobWorkers is the number of workers one job of a command uses: exactly --max-workers when given
// (the threads Snakemake or the user allotted to the job), else the worker budget.
func (g *globalFlags) jobWorkers(cmd *cobra.Command, cfg *config.Config) (int, error) {
	if cmd.Flags().Changed("max-workers") {
		if g.maxWorkers < 1 {
			return 0, fmt.Errorf("--max-workers must be at least 1, not %d", g.maxWorkers)
		}
		return g.maxWorkers, nil
	}
	return cfg.WorkerBudget(cores()), nil
}

// runCourseStage runs a course stage of the table, through workflow.RunCourse, on every course of
// the manifest in its order (or the one --course names), one course at a time with `workers`
// threads, each within the stage's time limit, and prints one line per course. A failed course
// makes the command fail unless --fail-soft; a course matching nothing, an outcome that could not
// be recorded and an interruption always do.
func (g *globalFlags) runCourseStage(cmd *cobra.Command, cfg *config.Config, f *courseStageFlags, name string, workers int, run workflow.RunFunc) error {
	st, ok := pipeline.Lookup(name)
	if !ok || st.Scope != pipeline.Course {
		return fmt.Errorf("%s is not a course stage of the stage table", name)
	}
	courses, err := organize.ReadManifest(cfg.OutputDir)
	if err != nil {
		return fmt.Errorf("reading the course manifest of %s: %w (run organize first)", cfg.OutputDir, err)
	}
	ctx, timeout := cmd.Context(), f.timeoutOf(cmd, st, cfg)
	failed, done := 0, 0
	for _, c := range courses {
		if f.course != "" && !courseMatches(f.course, c) {
			continue
		}
		done++
		o, err := workflow.RunCourse(ctx, st, pipeline.Job{OutDir: cfg.OutputDir, Course: c.Path, Threads: workers, Config: cfg}, timeout, run)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Path, err)
		}
		if o.Status == "failed" {
			failed++
			fmt.Fprintf(g.stdout, "%s: failed: %s\n", c.Path, o.Reason)
		} else {
			fmt.Fprintf(g.stdout, "%s: %s (%s)\n", c.Path, o.Status, o.Reason)
		}
	}
	if f.course != "" && done == 0 {
		return fmt.Errorf("no course of the manifest matches %q", f.course)
	}
	if failed > 0 && !f.failSoft {
		return fmt.Errorf("%d of %d courses failed", failed, done)
	}
	return nil
}
