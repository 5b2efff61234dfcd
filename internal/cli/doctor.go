package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/version"
)

// externalPrograms are the programs rtpipeline can use when installed, with the argument that
// makes each print its version.
var externalPrograms = []struct{ name, versionArg, purpose string }{
	{"TotalSegmentator", "--version", "segmentation backend"},
	{"nnUNetv2_predict", "-h", "custom nnU-Net v2 models"},
	{"nnUNet_predict", "-h", "custom nnU-Net v1 models"},
	{"snakemake", "--version", "cluster workflow"},
	{"dcm2niix", "-v", "DICOM to NIfTI conversion"},
	{"plastimatch", "--version", "external reader checks"},
	{"dcmdump", "--version", "external reader checks"},
	{"nvidia-smi", "-L", "GPU detection"},
}

func newDoctorCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Report version, CPU/GPU and which external programs are installed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := g.stdout
			fmt.Fprintf(out, "rtpipeline %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(out, "CPU: %d logical cores; memory: %s\n", runtime.NumCPU(), memTotal())
			cfg, err := g.loadConfig(cmd)
			if err == nil {
				fmt.Fprintf(out, "worker budget: %d (max_workers, scheduler.reserved_cores=%d); segmentation device %s, seg_workers %d\n",
					cfg.WorkerBudget(cores()), cfg.Scheduler.ReservedCores, cfg.Segmentation.Device, cfg.SegWorkers(cores()))
			} else {
				fmt.Fprintf(out, "configuration: %v\n", err)
			}
			gpu := "none detected"
			fmt.Fprintln(out, "\nExternal programs:")
			for _, p := range externalPrograms {
				path, err := exec.LookPath(p.name)
				if err != nil {
					fmt.Fprintf(out, "  %-18s not found (%s)\n", p.name, p.purpose)
					continue
				}
				v := programVersion(cmd.Context(), path, p.versionArg)
				if p.name == "nvidia-smi" && v != "" {
					gpu = v
				}
				fmt.Fprintf(out, "  %-18s %s  %s\n", p.name, path, v)
			}
			fmt.Fprintf(out, "\nGPU: %s\n", gpu)
			return nil
		},
	}
}

// programVersion runs a program with a short timeout and returns the first line it prints.
func programVersion(ctx context.Context, path, arg string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, arg).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "MemTotal:") {
			var kb int64
			fmt.Sscanf(strings.TrimPrefix(sc.Text(), "MemTotal:"), "%d", &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}
