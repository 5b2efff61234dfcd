package dvh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/results"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Sentinel marks a course's DVH stage: "ok", "failed: <reason>" or "skipped: <reason>".
const Sentinel = ".dvh_done"

// Structure sources, in priority order: when two sources hold an ROI of the same name
// (case-insensitive), only the higher-priority one gives a row.
const (
	SourcePlanRTSTRUCT = "PlanRTSTRUCT"
	SourceManual       = "Manual"
	SourceCustom       = "Custom"
	SourceAutoRTS      = "AutoRTS"
	sourceCustomModel  = "CustomModel:"
)

// StageOptions control the DVH stage of one course.
type StageOptions struct {
	// Workers is the number of ROIs computed in parallel.
	Workers int
	// Method is MethodExact (default) or MethodDicompyler.
	Method string
}

// StageResult summarises a course's DVH stage.
type StageResult struct {
	Status string // "ok", "degraded", "skipped" or "failed"
	Reason string
	Rows   int
}

// ProvenanceColumns are the provenance columns of dvh_metrics, after the metrics.
var ProvenanceColumns = []string{"dvh_method", "dose_grid_coverage_pct", "dose_coverage_flag", "contour_planes", "plane_spacing_mm",
	"thickness_note", "roi_warnings", "rx_gy", "rx_source", "dose_resolution", "dose_resolution_reason", "dose_sop_instance_uid",
	"dose_summation_type", "source_dose_sop_uids", "source_dose_types", "source_plan_sop_uids", "rtstruct_resolution",
	"rtstruct_resolution_reason", "plan_referenced_rtstruct_sop_instance_uids", "metric_version"}

// IdentityColumns come first in dvh_metrics.
var IdentityColumns = []string{"patient_id", "course_id", "ROI_Number", "ROI_Name", "ROI_OriginalName", "Segmentation_Source",
	"structure_cropped", "rtstruct_sop_instance_uid", "rtstruct_path"}

// Columns is the full column list of dvh_metrics.csv/xlsx.
func Columns() []string {
	cols := append([]string{}, IdentityColumns...)
	cols = append(cols, MetricColumns()...)
	return append(cols, ProvenanceColumns...)
}

// courseMeta is the part of organize's case_metadata.json the DVH stage reads.
type courseMeta struct {
	PatientID     string `json:"patient_id"`
	CourseID      string `json:"course_id"`
	DoseSelection struct {
		Decision       string   `json:"decision"`
		Reason         string   `json:"reason"`
		SourceDoseUIDs []string `json:"source_dose_uids"`
		SourceTypes    []string `json:"source_dose_summation_types"`
		PlanUIDs       []string `json:"plan_uids"`
	} `json:"dose_selection"`
	Prescription struct {
		TotalGy float64 `json:"total_prescription_gy"`
		Source  string  `json:"rx_source"`
	} `json:"prescription"`
	CT struct {
		SliceThickness float64 `json:"slice_thickness_mm"`
		SliceSpacing   float64 `json:"slice_spacing_mm"`
	} `json:"ct"`
}

// structSource is one RTSTRUCT the course's DVHs come from.
type structSource struct {
	name     string
	path     string
	file     *rt.StructureSetFile
	reason   string
	excluded string
}

// QC is metadata/dvh_qc.json.
type QC struct {
	Status                   string            `json:"status"`
	Reason                   string            `json:"reason"`
	MetricVersion            string            `json:"metric_version"`
	Method                   string            `json:"method"`
	RxSource                 string            `json:"rx_source"`
	RxDoseGy                 float64           `json:"rx_dose_gy"`
	RxRelativeAvailable      bool              `json:"rx_relative_metrics_available"`
	CustomStructuresExpected []string          `json:"custom_structures_expected"`
	CustomStructuresMissing  []string          `json:"custom_structures_missing"`
	CustomStructuresPartial  []string          `json:"custom_structures_partial"`
	RowCount                 int               `json:"row_count"`
	DoseResolution           map[string]any    `json:"dose_resolution"`
	StructureResolution      map[string]any    `json:"structure_resolution"`
	SkippedROIs              []SkippedROI      `json:"skipped_rois"`
	PartialCoverage          []string          `json:"rois_partly_outside_dose_grid"`
	Warnings                 []string          `json:"warnings"`
	Sources                  map[string]string `json:"structure_sources"`
}

// SkippedROI is an ROI without a DVH and why.
type SkippedROI struct {
	Source string `json:"source"`
	ROI    string `json:"roi_name"`
	Reason string `json:"reason"`
}

// RunCourse computes the DVHs of one organised course folder and writes dvh_metrics.csv/xlsx,
// dvh_curves.csv, dvh.png, metadata/dvh_qc.json and the sentinel (always, also on failure).
func RunCourse(ctx context.Context, dir string, opt StageOptions) (*StageResult, error) {
	qc := &QC{MetricVersion: MetricVersion, Method: methodName(opt.Method), DoseResolution: map[string]any{}, StructureResolution: map[string]any{},
		SkippedROIs: []SkippedROI{}, PartialCoverage: []string{}, Warnings: []string{}, Sources: map[string]string{},
		CustomStructuresExpected: []string{}, CustomStructuresMissing: []string{}, CustomStructuresPartial: []string{}}
	res, err := runCourse(ctx, dir, opt, qc)
	status := "ok"
	switch {
	case err != nil:
		qc.Status, qc.Reason = "failed", err.Error()
		status = "failed: " + oneLine(err.Error())
	case res.Status == "skipped":
		qc.Status, qc.Reason = "skipped", res.Reason
		status = "skipped: " + oneLine(res.Reason)
	default:
		qc.Status, qc.Reason = res.Status, res.Reason
	}
	if werr := writeJSON(filepath.Join(dir, "metadata", "dvh_qc.json"), qc); werr != nil && err == nil {
		err = werr
		status = "failed: " + oneLine(werr.Error())
	}
	if werr := fsutil.WriteFileAtomic(filepath.Join(dir, Sentinel), []byte(status+"\n"), 0o644); werr != nil && err == nil {
		err = werr
	}
	if res == nil {
		res = &StageResult{Status: "failed", Reason: qc.Reason}
	}
	return res, err
}

func methodName(m string) string {
	if m == "" {
		return MethodExact
	}
	return m
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ") }

func runCourse(ctx context.Context, dir string, opt StageOptions, qc *QC) (*StageResult, error) {
	var meta courseMeta
	if data, err := os.ReadFile(filepath.Join(dir, "metadata", "case_metadata.json")); err != nil {
		return nil, fmt.Errorf("course metadata: %w (run organize first)", err)
	} else if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("course metadata: %w", err)
	}
	// Dose: the course's RD.dcm chosen by organize; fail closed on anything that is not a whole
	// physical dose in Gy.
	rdPath := filepath.Join(dir, "RD.dcm")
	qc.DoseResolution["decision"] = meta.DoseSelection.Decision
	qc.DoseResolution["reason"] = meta.DoseSelection.Reason
	if _, err := os.Stat(rdPath); err != nil {
		why := "course has no dose"
		if meta.DoseSelection.Reason != "" {
			why += " (" + meta.DoseSelection.Decision + ": " + meta.DoseSelection.Reason + ")"
		}
		writeEmptyOutputs(dir)
		return &StageResult{Status: "skipped", Reason: why}, nil
	}
	dose, err := rt.LoadDoseVolume(rdPath)
	if err != nil {
		return nil, fmt.Errorf("dose: %w", err)
	}
	switch {
	case dose.Relative:
		return nil, errors.New("dose: DoseUnits RELATIVE cannot give DVHs in Gy")
	case dose.Header.SummationType == "BEAM" || dose.Header.SummationType == "CONTROL_POINT":
		return nil, fmt.Errorf("dose: RD.dcm is a %s dose, a part of a plan; the course dose must be a whole plan", dose.Header.SummationType)
	}
	if dose.Header.SummationType == "FRACTION" {
		qc.Warnings = append(qc.Warnings, "RD.dcm is a FRACTION dose: metrics are per fraction")
	}
	qc.DoseResolution["sop_instance_uid"] = dose.SOPInstanceUID
	qc.DoseResolution["summation_type"] = dose.Header.SummationType
	qc.DoseResolution["frame_of_reference_uid"] = dose.FrameOfRef
	// Prescription from organize's chain.
	rx, rxSource := meta.Prescription.TotalGy, meta.Prescription.Source
	if rx <= 0 || rxSource == "" {
		rx, rxSource = 0, rt.RxSourceNone
	}
	qc.RxDoseGy, qc.RxSource, qc.RxRelativeAvailable = rx, rxSource, rx > 0
	sources, err := resolveStructures(dir, dose, qc)
	if err != nil {
		return nil, err
	}
	if len(sources) == 0 {
		writeEmptyOutputs(dir)
		return &StageResult{Status: "skipped", Reason: "no RTSTRUCT compatible with the dose (see structure_resolution)"}, nil
	}
	thickness := meta.CT.SliceSpacing
	thickSrc := "CT slice spacing"
	if thickness <= 0 {
		thickness, thickSrc = meta.CT.SliceThickness, "CT slice thickness"
	}
	table := results.NewTable("dvh_metrics", Columns()...)
	curves := results.NewTable("dvh_curves", "roi_name", "source", "dose_gy", "volume_cc", "volume_pct")
	var plotted []plotLine
	seen := map[string]string{}
	var shadowed []map[string]string
	planRefs := planReferencedStructs(dir)
	for _, src := range sources {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var rois []*rt.ROIContours
		for _, r := range src.file.ROIs {
			key := strings.ToLower(strings.TrimSpace(r.Name))
			if kept, dup := seen[key]; dup {
				shadowed = append(shadowed, map[string]string{"roi_name": r.Name, "source": src.name, "kept_source": kept})
				continue
			}
			seen[key] = src.name
			rois = append(rois, r)
		}
		t := thickness
		ts := thickSrc
		if t <= 0 {
			t, ts = src.file.CommonPlaneSpacing, "median contour-plane spacing of the structure set"
		}
		out := ComputeAll(rois, dose.Volume, Options{Method: opt.Method, SinglePlaneThicknessMM: t, SinglePlaneSource: ts}, opt.Workers)
		for i, r := range out {
			roi := rois[i]
			if r.DVH == nil {
				qc.SkippedROIs = append(qc.SkippedROIs, SkippedROI{Source: src.name, ROI: roi.Name, Reason: r.Skipped})
				continue
			}
			if r.DVH.VolumeCC <= 0 {
				qc.SkippedROIs = append(qc.SkippedROIs, SkippedROI{Source: src.name, ROI: roi.Name, Reason: "zero volume"})
				continue
			}
			row := MetricRow(r.DVH, rx)
			coverage := 100 * r.DVH.InsideDoseGridFraction
			flag := ""
			if coverage < 100-1e-6 {
				flag = fmt.Sprintf("partial: %.2f%% of the volume lies outside the dose grid (dose taken as 0 Gy there)", 100-coverage)
				qc.PartialCoverage = append(qc.PartialCoverage, src.name+":"+roi.Name)
			}
			for k, v := range map[string]any{
				"patient_id": meta.PatientID, "course_id": meta.CourseID, "ROI_Number": roi.Number, "ROI_Name": roi.Name,
				"ROI_OriginalName": roi.Name, "Segmentation_Source": src.name, "structure_cropped": false,
				"rtstruct_sop_instance_uid": src.file.SOPInstanceUID, "rtstruct_path": src.path,
				"dvh_method": methodName(opt.Method), "dose_grid_coverage_pct": round(coverage, 4), "dose_coverage_flag": flag,
				"contour_planes": r.Planes, "plane_spacing_mm": round(r.PlaneSpacingMM, 4), "thickness_note": r.ThicknessNote,
				"roi_warnings": strings.Join(r.Warnings, "; "), "rx_gy": nanIfZero(rx), "rx_source": rxSource,
				"dose_resolution": "course_rd", "dose_resolution_reason": meta.DoseSelection.Decision + ": " + meta.DoseSelection.Reason,
				"dose_sop_instance_uid": dose.SOPInstanceUID, "dose_summation_type": dose.Header.SummationType,
				"source_dose_sop_uids": strings.Join(meta.DoseSelection.SourceDoseUIDs, ";"),
				"source_dose_types":    strings.Join(meta.DoseSelection.SourceTypes, ";"),
				"source_plan_sop_uids": strings.Join(meta.DoseSelection.PlanUIDs, ";"),
				"rtstruct_resolution":  src.name, "rtstruct_resolution_reason": src.reason,
				"plan_referenced_rtstruct_sop_instance_uids": strings.Join(planRefs, ";"), "metric_version": MetricVersion,
			} {
				row[k] = v
			}
			table.Add(row)
			doses, vols := r.DVH.Cumulative(0.1)
			total := r.DVH.VolumeCC
			for k := range doses {
				curves.Add(map[string]any{"roi_name": roi.Name, "source": src.name, "dose_gy": round(doses[k], 6),
					"volume_cc": round(vols[k], 6), "volume_pct": round(100*vols[k]/total, 6)})
			}
			plotted = append(plotted, plotLine{name: roi.Name, source: src.name, doses: doses, volumes: vols, total: total})
		}
	}
	qc.StructureResolution["shadowed_duplicates"] = shadowed
	qc.RowCount = len(table.Rows)
	if err := table.WriteBoth(filepath.Join(dir, "dvh_metrics")); err != nil {
		return nil, err
	}
	if err := curves.WriteCSV(filepath.Join(dir, "dvh_curves.csv")); err != nil {
		return nil, err
	}
	if err := writePlot(filepath.Join(dir, "dvh.png"), meta.PatientID+" / "+meta.CourseID, plotted, rx); err != nil {
		qc.Warnings = append(qc.Warnings, "dvh.png not written: "+err.Error())
	}
	status := "ok"
	reason := fmt.Sprintf("%d ROI DVHs", len(table.Rows))
	if len(qc.PartialCoverage) > 0 {
		reason += fmt.Sprintf("; %d ROI(s) partly outside the dose grid", len(qc.PartialCoverage))
	}
	return &StageResult{Status: status, Reason: reason, Rows: len(table.Rows)}, nil
}

func nanIfZero(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// writeEmptyOutputs writes header-only tables so downstream steps find the files.
func writeEmptyOutputs(dir string) {
	results.NewTable("dvh_metrics", Columns()...).WriteBoth(filepath.Join(dir, "dvh_metrics"))
	results.NewTable("dvh_curves", "roi_name", "source", "dose_gy", "volume_cc", "volume_pct").WriteCSV(filepath.Join(dir, "dvh_curves.csv"))
}

// planReferencedStructs returns the RTSTRUCT UIDs RP.dcm references.
func planReferencedStructs(dir string) []string {
	f, err := dicomio.ReadHeader(filepath.Join(dir, "RP.dcm"))
	if err != nil {
		return nil
	}
	return rt.ParsePlan(&f.Dataset).ReferencedStructureSets
}

// resolveStructures lists the course's RTSTRUCT sources in priority order: the structure set the
// plan was made on (PlanRTSTRUCT), RS.dcm (Manual), RS_custom.dcm (Custom), RS_auto.dcm
// (AutoRTS), then Segmentation_CustomModels/<name>/rtstruct.dcm (CustomModel:<name>). A source
// whose frame of reference differs from the dose's is excluded with the reason; the same
// structure set found twice (by SOP instance UID) counts once, under its higher-priority name.
func resolveStructures(dir string, dose *rt.DoseVolume, qc *QC) ([]*structSource, error) {
	type cand struct{ name, path, reason string }
	var cands []cand
	planRefs := planReferencedStructs(dir)
	if len(planRefs) > 0 {
		files, _ := filepath.Glob(filepath.Join(dir, "DICOM", "RTSTRUCT", "*.dcm"))
		files = append([]string{filepath.Join(dir, "RS.dcm")}, files...)
		for _, f := range files {
			h, err := dicomio.ReadHeader(f)
			if err == nil && containsStr(planRefs, h.String(dicomio.TagSOPInstanceUID)) {
				cands = append(cands, cand{SourcePlanRTSTRUCT, f, "the structure set RP.dcm references"})
				break
			}
		}
		if len(cands) == 0 {
			qc.Warnings = append(qc.Warnings, fmt.Sprintf("RP.dcm references RTSTRUCT %s, not found in the course", strings.Join(planRefs, ", ")))
		}
	}
	cands = append(cands,
		cand{SourceManual, filepath.Join(dir, "RS.dcm"), "RS.dcm of the course"},
		cand{SourceCustom, filepath.Join(dir, "RS_custom.dcm"), "composite structures (RS_custom.dcm)"},
		cand{SourceAutoRTS, filepath.Join(dir, "RS_auto.dcm"), "automatic segmentation (RS_auto.dcm)"})
	models, _ := filepath.Glob(filepath.Join(dir, "Segmentation_CustomModels", "*", "rtstruct.dcm"))
	sort.Strings(models)
	for _, m := range models {
		cands = append(cands, cand{sourceCustomModel + filepath.Base(filepath.Dir(m)), m, "custom model output"})
	}
	var out []*structSource
	seenUID := map[string]string{}
	res := map[string]any{}
	for _, c := range cands {
		if _, err := os.Stat(c.path); err != nil {
			continue
		}
		rel, _ := filepath.Rel(dir, c.path)
		ss, err := rt.ReadStructureSetFile(c.path)
		if err != nil {
			res[c.name] = "unreadable: " + err.Error()
			qc.Warnings = append(qc.Warnings, fmt.Sprintf("%s (%s): %v", c.name, rel, err))
			continue
		}
		if prev, dup := seenUID[ss.SOPInstanceUID]; dup {
			res[c.name] = "same structure set as " + prev
			continue
		}
		if dose.FrameOfRef != "" && ss.FrameOfRef != "" && ss.FrameOfRef != dose.FrameOfRef {
			res[c.name] = fmt.Sprintf("excluded: frame of reference %s differs from the dose's %s", ss.FrameOfRef, dose.FrameOfRef)
			continue
		}
		seenUID[ss.SOPInstanceUID] = c.name
		res[c.name] = "used: " + rel
		qc.Sources[c.name] = rel
		out = append(out, &structSource{name: c.name, path: rel, file: ss, reason: c.reason})
	}
	qc.StructureResolution["sources"] = res
	return out, nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
