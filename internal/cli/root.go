// Package cli builds the rtpipeline command tree. Commands parse flags, load the configuration and
// call the stage packages; they hold no pipeline logic of their own.
package cli

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/version"
)

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// suyashkumar/dicom reports through the standard logger; keep its chatter out of our output.
	log.SetOutput(io.Discard)
	root := NewRootCommand(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "rtpipeline:", err)
		return 1
	}
	return 0
}

// globalFlags are shared by every command.
type globalFlags struct {
	configFile string
	maxWorkers int
	logLevel   string
	logs       string
	stderr     io.Writer
	stdout     io.Writer
}

// NewRootCommand returns the rtpipeline command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "rtpipeline",
		Short:         "Radiotherapy DICOM-RT research pipeline",
		Long:          "rtpipeline turns a radiotherapy DICOM export (CT, RTSTRUCT, RTPLAN, RTDOSE, treatment records) into analysis-ready courses.",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "configuration file (default: $RTPIPELINE_CONFIGFILE, else built-in defaults)")
	pf.IntVar(&g.maxWorkers, "max-workers", 0, "cap on the worker budget (overrides max_workers and $RTPIPELINE_MAX_WORKERS)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(newOrganizeCommand(g), newValidateCommand(g), newSynthCommand(g), newDemoCommand(g), newDVHCalcCommand(g), newDVHCommand(g), newQCCommand(g), newRadiomicsCalcCommand(g), newRadiomicsCommand(g), newDoctorCommand(g), newConfigCommand(g))
	root.AddCommand(newWorkflowCommand(g))
	root.AddCommand(newRunCommand(g))
	root.AddCommand(newAggregateCommand(g))
	root.AddCommand(newSegmentationCommand(g), newSegmentationCustomCommand(g))
	root.AddCommand(newStructuresCommand(g))
	return root
}

// loadConfig loads the configuration with flag overrides applied last.
func (g *globalFlags) loadConfig(cmd *cobra.Command, extra ...config.Override) (*config.Config, error) {
	var ov []config.Override
	if cmd.Flags().Changed("max-workers") {
		ov = append(ov, config.Override{Key: "max_workers", Value: strconv.Itoa(g.maxWorkers), Source: "flag --max-workers"})
	}
	ov = append(ov, extra...)
	cfg, err := config.Load(config.LoadOptions{File: g.configFile, Env: os.Getenv, Overrides: ov})
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		slog.Warn(w)
	}
	return cfg, nil
}

// setupLogging sends logs to stderr and, when a logs folder is given, also to <logs>/<name>.log.
// It returns a function that closes the log file.
func (g *globalFlags) setupLogging(name string) (func(), error) {
	level := slog.LevelInfo
	switch strings.ToLower(g.logLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	handlers := []slog.Handler{slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level})}
	closeFn := func() {}
	if g.logs != "" {
		if err := os.MkdirAll(g.logs, 0o755); err != nil {
			return nil, fmt.Errorf("logs folder %s: %w", g.logs, err)
		}
		f, err := os.OpenFile(filepath.Join(g.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		handlers = append(handlers, slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
		closeFn = func() { f.Close() }
	}
	slog.SetDefault(slog.New(fanout(handlers)))
	return closeFn, nil
}

// isTerminal tells whether w is an interactive terminal (progress bars are drawn only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// cores is the number of logical CPUs the scheduler may use.
func cores() int { return runtime.NumCPU() }

// readHeaderFile returns the SOP instance UID of a DICOM file.
func readHeaderFile(path string) (string, error) {
	f, err := dicomio.ReadHeader(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return f.String(dicomio.TagSOPInstanceUID), nil
}

// configOverride is a flag value applied over the configuration.
type configOverride struct{ key, value, source string }

func overrides(list []configOverride) []config.Override {
	out := make([]config.Override, len(list))
	for i, o := range list {
		out[i] = config.Override{Key: o.key, Value: o.value, Source: o.source}
	}
	return out
}
