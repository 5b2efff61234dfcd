package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/dvh"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// DefaultCalcMetrics is the metric list of dvh-calc when --metrics is not given.
const DefaultCalcMetrics = "Dmean,Dmin,Dmax,D98%,D95%,D50%,D2%,D0.03cc"

func newDVHCalcCommand(g *globalFlags) *cobra.Command {
	var rsPath, rdPath, rpPath, metricList, format, method string
	var rois []string
	var ignoreFOR bool
	cmd := &cobra.Command{
		Use:   "dvh-calc --rtstruct RS.dcm --rtdose RD.dcm [--roi NAME]... [--metrics LIST] [--format csv|json]",
		Short: "Compute DVH metrics of structure-set ROIs on a dose grid",
		Long: `dvh-calc prints one row per ROI with roi_name, volume_cc and each requested metric under its own
name. Metrics: Dmean, Dmin, Dmax, D<x>% (minimum dose to the hottest x % of the volume, Gy),
D<x>cc (the same for x cm³), V<x>Gy (cm³ receiving at least x Gy), V<x>Gy% (the same in % of the
volume). Example: --metrics Dmean,Dmin,Dmax,D99%,D95%,D5%,D1%,D0.03cc,V20Gy

ROIs without volume (POINT ROIs, empty ROIs) are listed with a "skipped" reason. The method is
described in docs/dvh.md; --method dicompyler reproduces dicompyler-core 0.5.6 for comparison
with older studies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rsPath == "" || rdPath == "" {
				return fmt.Errorf("--rtstruct and --rtdose are required")
			}
			if format != "csv" && format != "json" {
				return fmt.Errorf("--format must be csv or json, not %q", format)
			}
			metrics, err := dvh.ParseMetrics(metricList)
			if err != nil {
				return err
			}
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return err
			}
			ss, err := rt.ReadStructureSetFile(rsPath)
			if err != nil {
				return err
			}
			dose, err := rt.LoadDoseVolume(rdPath)
			if err != nil {
				return err
			}
			if !ignoreFOR && ss.FrameOfRef != "" && dose.FrameOfRef != "" && ss.FrameOfRef != dose.FrameOfRef {
				return fmt.Errorf("structure set %s is in frame of reference %s but the dose %s is in %s; DVHs would be meaningless (--ignore-frame-of-reference to compute anyway)", rsPath, ss.FrameOfRef, rdPath, dose.FrameOfRef)
			}
			if rpPath != "" {
				if err := checkPlan(rpPath, dose); err != nil {
					return err
				}
			}
			selected, err := selectROIs(ss.ROIs, rois)
			if err != nil {
				return err
			}
			opt := dvh.Options{Method: method, SinglePlaneThicknessMM: ss.CommonPlaneSpacing, SinglePlaneSource: "median contour-plane spacing of the structure set"}
			results := dvh.ComputeAll(selected, dose.Volume, opt, cfg.WorkerBudget(cores()))
			return writeCalc(g, format, selected, results, metrics)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rsPath, "rtstruct", "", "RTSTRUCT file")
	fl.StringVar(&rdPath, "rtdose", "", "RTDOSE file")
	fl.StringVar(&rpPath, "rtplan", "", "RTPLAN file; checks that the dose belongs to it")
	fl.StringArrayVar(&rois, "roi", nil, "ROI name (repeatable; case-insensitive); default: every ROI")
	fl.StringVar(&metricList, "metrics", DefaultCalcMetrics, "comma-separated metrics")
	fl.StringVar(&format, "format", "csv", "output format: csv or json")
	fl.StringVar(&method, "method", dvh.MethodExact, "exact (default) or dicompyler")
	fl.BoolVar(&ignoreFOR, "ignore-frame-of-reference", false, "compute even when structure set and dose frames of reference differ")
	return cmd
}

func checkPlan(path string, dose *rt.DoseVolume) error {
	f, err := readHeaderFile(path)
	if err != nil {
		return err
	}
	if len(dose.Header.ReferencedPlan) > 0 && !containsString(dose.Header.ReferencedPlan, f) {
		return fmt.Errorf("the dose references plan(s) %s, not %s (SOP instance %s)", strings.Join(dose.Header.ReferencedPlan, ", "), path, f)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func selectROIs(all []*rt.ROIContours, names []string) ([]*rt.ROIContours, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []*rt.ROIContours
	for _, n := range names {
		found := false
		for _, r := range all {
			if strings.EqualFold(r.Name, n) {
				out = append(out, r)
				found = true
			}
		}
		if !found {
			var have []string
			for _, r := range all {
				have = append(have, r.Name)
			}
			return nil, fmt.Errorf("no ROI named %q (the structure set has %s)", n, strings.Join(have, ", "))
		}
	}
	return out, nil
}

func fmtNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 7, 64)
}

func writeCalc(g *globalFlags, format string, rois []*rt.ROIContours, results []*dvh.Result, metrics []dvh.Metric) error {
	if format == "json" {
		var out []json.RawMessage
		for i, r := range results {
			var b strings.Builder
			name, _ := json.Marshal(rois[i].Name)
			b.WriteString(`{"roi_name":` + string(name))
			if r.DVH == nil {
				reason, _ := json.Marshal(r.Skipped)
				b.WriteString(`,"skipped":` + string(reason) + "}")
				out = append(out, json.RawMessage(b.String()))
				continue
			}
			b.WriteString(`,"volume_cc":` + jsonNumber(r.DVH.VolumeCC))
			for _, m := range metrics {
				key, _ := json.Marshal(m.Name)
				b.WriteString("," + string(key) + ":" + jsonNumber(m.Eval(r.DVH)))
			}
			b.WriteString("}")
			out = append(out, json.RawMessage(b.String()))
		}
		if out == nil {
			out = []json.RawMessage{}
		}
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := csv.NewWriter(g.stdout)
	header := []string{"roi_name", "volume_cc"}
	for _, m := range metrics {
		header = append(header, m.Name)
	}
	header = append(header, "skipped")
	w.Write(header)
	for i, r := range results {
		rec := []string{rois[i].Name}
		if r.DVH == nil {
			rec = append(rec, "")
			for range metrics {
				rec = append(rec, "")
			}
			rec = append(rec, r.Skipped)
		} else {
			rec = append(rec, fmtNumber(r.DVH.VolumeCC))
			for _, m := range metrics {
				rec = append(rec, fmtNumber(m.Eval(r.DVH)))
			}
			rec = append(rec, "")
		}
		w.Write(rec)
	}
	w.Flush()
	return w.Error()
}

func jsonNumber(v float64) string {
	if s := fmtNumber(v); s != "" {
		return s
	}
	return "null"
}
