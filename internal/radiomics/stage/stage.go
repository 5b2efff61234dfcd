// Package stage is the radiomics stage of a course: it finds the course CT (and MR series with
// TotalSegmentator total_mr masks), builds one mask per ROI of every structure source, runs the
// radiomics engine on each in parallel and writes radiomics_ct.{csv,xlsx,parquet},
// MR/radiomics_mr.{csv,xlsx,parquet}, metadata/radiomics_qc.json and the .radiomics_done
// sentinel. Every ROI of every source gives exactly one row whose status says whether its
// features were extracted ("ok"), left out on purpose ("skipped: <reason>") or could not be
// computed ("failed: <error>"). See docs/radiomics.md.
package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/radiomics"
)

// Sentinel marks a course's radiomics stage: "ok", "failed: <reason>" or "skipped: <reason>".
// It is removed when a run starts and written last.
const Sentinel = ".radiomics_done"

// Output files, relative to the course folder. Each table base gets .csv, .xlsx and .parquet.
const (
	CTTableBase = "radiomics_ct"
	MRTableBase = "MR/radiomics_mr"
	QCFile      = "metadata/radiomics_qc.json"
)

// Segmentation sources (the segmentation_source column).
const (
	// SourceManual is the course's structure set chosen by organize (RS.dcm).
	SourceManual = "Manual"
	// SourceAutoTotal is TotalSegmentator's total model (RS_auto.dcm).
	SourceAutoTotal = "AutoRTS_total"
	// SourceCustom is the composite structures of RS_custom.dcm.
	SourceCustom = "Custom"
	// SourceCustomModelPrefix is followed by the model name (Segmentation_CustomModels/<name>).
	SourceCustomModelPrefix = "CustomModel:"
	// SourceMRTotal is TotalSegmentator's total_mr model on an MR series.
	SourceMRTotal = "AutoTS_total_mr"
)

// Status values of a row (a reason follows "skipped: " and "failed: ").
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// Extractor computes the features of the ROI mask == p.Settings.Label in image; it has the
// signature of radiomics.Extract, which is the default.
type Extractor func(ctx context.Context, image, mask *imageio.Image, p *radiomics.Params) (*radiomics.Result, error)

// Options control the radiomics stage of one course. The zero value is usable: built-in
// parameters, no minimum or maximum voxel count, one worker, radiomics.Extract.
type Options struct {
	// Workers is the number of ROIs extracted in parallel (at least 1). The output does not
	// depend on it.
	Workers int
	// SkipROIs are ROI names (normalised before comparison) left out besides BuiltinSkipROIs
	// (radiomics.skip_rois).
	SkipROIs []string
	// MinVoxels: CT masks with fewer voxels (at the image's own spacing) are skipped; 0 = no
	// minimum (radiomics.min_voxels).
	MinVoxels int
	// MaxVoxels: CT masks whose voxel count at the extractor's resampled spacing is estimated
	// above it get LargeParams; 0 = no limit (radiomics.max_voxels).
	MaxVoxels int
	// CTParams are the CT extraction parameters; nil = radiomics.DefaultCTParams().
	CTParams *radiomics.Params
	// LargeParams are used for large ROIs (name starting with "body", or above MaxVoxels);
	// nil = radiomics.LargeROIParams(CTParams).
	LargeParams *radiomics.Params
	// MRParams are the MR parameters; nil = radiomics.DefaultMRParams(). Normalisation is
	// switched on per series for T1-weighted series (see IsT1Weighted) and off otherwise.
	MRParams *radiomics.Params
	// CustomStructures are the names of the configured composite structures (custom_structures
	// YAML). Only these ROIs of RS_custom.dcm are extracted (also with the __partial suffix);
	// nil = the ROIs of RS_custom.dcm found in neither RS.dcm nor RS_auto.dcm.
	CustomStructures []string
	// ROITimeout bounds one ROI's extraction (the context passed to Extract gets this deadline);
	// 0 = no limit.
	ROITimeout time.Duration
	// Extract is the feature extractor; nil = radiomics.Extract.
	Extract Extractor
}

// Result summarises a course's radiomics stage.
type Result struct {
	// Status is "ok", "skipped" or "failed"; Reason says why (or what was done).
	Status string
	Reason string
	// CTRows and MRRows are the rows of the CT and MR tables (MRRows 0 when none was written).
	CTRows, MRRows int
	// OK, Skipped and Failed count the rows by status over both tables.
	OK, Skipped, Failed int
}

// QC is metadata/radiomics_qc.json.
type QC struct {
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Settings struct {
		MinVoxels        int      `json:"min_voxels"`
		MaxVoxels        int      `json:"max_voxels"`
		SkipROIs         []string `json:"skip_rois"`
		CustomStructures []string `json:"custom_structures"`
		ROITimeoutSec    float64  `json:"roi_timeout_seconds"`
	} `json:"settings"`
	// Params names each parameter set used ("ct", "ct_large_roi", "mr", "mr_t1_normalized") with
	// its source and feature count.
	Params  map[string]ParamsInfo `json:"params"`
	CT      *ImageInfo            `json:"ct"`
	Sources map[string]string     `json:"structure_sources"`
	// UnusedStructureSets lists RTSTRUCT files of DICOM/RTSTRUCT other than the Manual one.
	UnusedStructureSets []string `json:"unused_structure_sets"`
	// NotCustom lists RS_custom.dcm ROIs that are copies of Manual / AutoRTS_total ROIs (or not
	// configured), which are not rows of the table.
	NotCustom []ExcludedROI `json:"rs_custom_rois_not_custom"`
	// CustomMissing lists configured custom structures absent from RS_custom.dcm.
	CustomMissing []string     `json:"custom_structures_missing"`
	MR            []MRSeriesQC `json:"mr_series"`
	ROIs          []ROIQC      `json:"rois"`
	Counts        struct {
		OK      int `json:"ok"`
		Skipped int `json:"skipped"`
		Failed  int `json:"failed"`
	} `json:"counts"`
	Warnings []string `json:"warnings"`
}

// ParamsInfo describes one parameter set.
type ParamsInfo struct {
	Source   string `json:"source"`
	Features int    `json:"feature_count"`
}

// ImageInfo describes an image the masks were built on.
type ImageInfo struct {
	Path              string     `json:"path"`
	SeriesUID         string     `json:"series_instance_uid,omitempty"`
	FrameOfReference  string     `json:"frame_of_reference_uid,omitempty"`
	Size              [3]int     `json:"size"`
	SpacingMM         [3]float64 `json:"spacing_mm"`
	PixelType         string     `json:"pixel_type"`
	Slices            int        `json:"slices"`
	SOPInstanceUIDs   int        `json:"sop_instance_uids"`
	ReadError         string     `json:"read_error,omitempty"`
	SeriesDescription string     `json:"series_description,omitempty"`
}

// MRSeriesQC describes one MR series of the course.
type MRSeriesQC struct {
	SeriesDir  string     `json:"series_dir"`
	SeriesUID  string     `json:"series_instance_uid"`
	MaskSource string     `json:"mask_source"`
	Normalize  bool       `json:"normalize"`
	T1Reason   string     `json:"t1_reason"`
	Image      *ImageInfo `json:"image,omitempty"`
	Note       string     `json:"note,omitempty"`
}

// ExcludedROI is an ROI that is not a row, and why.
type ExcludedROI struct {
	Source string `json:"source"`
	ROI    string `json:"roi_original_name"`
	Reason string `json:"reason"`
}

// ROIQC is one row's provenance.
type ROIQC struct {
	Modality string `json:"modality"`
	Source   string `json:"segmentation_source"`
	ROIName  string `json:"roi_name"`
	Original string `json:"roi_original_name"`
	Status   string `json:"status"`
	// Voxels is the mask's voxel count on the image grid; EstimatedVoxels the count expected
	// after resampling to the extractor's spacing (what max_voxels is compared with).
	Voxels          int      `json:"voxels"`
	EstimatedVoxels float64  `json:"estimated_voxels_at_extractor_spacing"`
	Params          string   `json:"params"`
	Features        int      `json:"features"`
	DurationSec     float64  `json:"duration_seconds"`
	Warnings        []string `json:"warnings"`
}

// RunCourse runs the radiomics stage on one organised course folder. It always writes
// metadata/radiomics_qc.json and, last, the sentinel; the error is non-nil only when the stage
// as a whole failed (unreadable metadata or CT, an output that cannot be written, ctx
// cancelled). ROI-level failures are rows with status "failed: ..." and do not fail the
// course unless every extraction attempted failed.
func RunCourse(ctx context.Context, courseDir string, opts Options) (Result, error) {
	os.Remove(filepath.Join(courseDir, Sentinel))
	qc := newQC(opts)
	res, err := runCourse(ctx, courseDir, opts, qc)
	status := StatusOK
	switch {
	case err != nil:
		res.Status, res.Reason = StatusFailed, err.Error()
		status = "failed: " + oneLine(err.Error())
	case res.Status == StatusSkipped:
		status = "skipped: " + oneLine(res.Reason)
	case res.Status == StatusFailed:
		status = "failed: " + oneLine(res.Reason)
	}
	qc.Status, qc.Reason = res.Status, res.Reason
	if werr := writeJSON(filepath.Join(courseDir, filepath.FromSlash(QCFile)), qc); werr != nil && err == nil {
		err = werr
		res.Status, res.Reason = StatusFailed, werr.Error()
		status = "failed: " + oneLine(werr.Error())
	}
	if werr := fsutil.WriteFileAtomic(filepath.Join(courseDir, Sentinel), []byte(status+"\n"), 0o644); werr != nil && err == nil {
		err = werr
	}
	return res, err
}

func newQC(opts Options) *QC {
	qc := &QC{Params: map[string]ParamsInfo{}, Sources: map[string]string{}, UnusedStructureSets: []string{},
		NotCustom: []ExcludedROI{}, CustomMissing: []string{}, MR: []MRSeriesQC{}, ROIs: []ROIQC{}, Warnings: []string{}}
	qc.Settings.MinVoxels, qc.Settings.MaxVoxels = opts.MinVoxels, opts.MaxVoxels
	qc.Settings.SkipROIs = append([]string{}, BuiltinSkipROIs...)
	for n := range skipSet(opts.SkipROIs) {
		if !containsStr(qc.Settings.SkipROIs, n) {
			qc.Settings.SkipROIs = append(qc.Settings.SkipROIs, n)
		}
	}
	sortTail(qc.Settings.SkipROIs, len(BuiltinSkipROIs))
	qc.Settings.CustomStructures = append([]string{}, opts.CustomStructures...)
	qc.Settings.ROITimeoutSec = opts.ROITimeout.Seconds()
	return qc
}

// courseMeta is the part of organize's case_metadata.json the stage reads.
type courseMeta struct {
	PatientID string `json:"patient_id"`
	CourseID  string `json:"course_id"`
}

func readMeta(dir string) (courseMeta, error) {
	var meta courseMeta
	data, err := os.ReadFile(filepath.Join(dir, "metadata", "case_metadata.json"))
	if err != nil {
		return meta, fmt.Errorf("course metadata: %w (run organize first)", err)
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return meta, fmt.Errorf("course metadata: %w", err)
	}
	if meta.PatientID == "" {
		meta.PatientID = filepath.Base(filepath.Dir(filepath.Clean(dir)))
	}
	if meta.CourseID == "" {
		meta.CourseID = filepath.Base(filepath.Clean(dir))
	}
	return meta, nil
}

func runCourse(ctx context.Context, dir string, opts Options, qc *QC) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	meta, err := readMeta(dir)
	if err != nil {
		return Result{}, err
	}
	ps, err := resolveParams(opts)
	if err != nil {
		return Result{}, err
	}
	id := identity{patientID: meta.PatientID, courseID: meta.CourseID,
		courseDir: filepath.ToSlash(filepath.Join(filepath.Base(filepath.Dir(filepath.Clean(dir))), filepath.Base(filepath.Clean(dir))))}

	// CT first, then one MR series at a time, so that only one image is in memory.
	ctJobs, ctImage, err := planCT(dir, opts, qc)
	if err != nil {
		return Result{}, err
	}
	ctOuts, err := runJobs(ctx, ctJobs, opts, ps)
	if err != nil {
		return Result{}, err
	}
	hasCT := ctImage != nil
	for _, j := range ctJobs {
		j.image, j.roi = nil, nil
	}
	var mrJobs []*job
	var mrOuts []*outcome
	for _, s := range discoverMR(dir, qc) {
		jobs := planMRSeries(dir, s, qc)
		outs, err := runJobs(ctx, jobs, opts, ps)
		if err != nil {
			return Result{}, err
		}
		for _, j := range jobs {
			j.image, j.roi = nil, nil
		}
		mrJobs, mrOuts = append(mrJobs, jobs...), append(mrOuts, outs...)
	}
	all := append(append([]*job{}, ctJobs...), mrJobs...)
	outs := append(append([]*outcome{}, ctOuts...), mrOuts...)
	res := Result{}
	for i, o := range outs {
		qc.ROIs = append(qc.ROIs, o.qc(all[i]))
		switch {
		case o.status == StatusOK:
			res.OK++
		case strings.HasPrefix(o.status, StatusSkipped):
			res.Skipped++
		default:
			res.Failed++
		}
	}
	qc.Counts.OK, qc.Counts.Skipped, qc.Counts.Failed = res.OK, res.Skipped, res.Failed
	for name, p := range map[string]*radiomics.Params{ParamsCT: ps.ct, ParamsCTLarge: ps.large, ParamsMR: ps.mr, ParamsMRT1Norm: ps.mrT1} {
		for _, o := range outs {
			if o.params == name {
				qc.Params[name] = ParamsInfo{Source: p.Source, Features: featureCount(p)}
				break
			}
		}
	}

	// CT table: written whenever the course has a CT (header only when it has no ROI), so that
	// downstream steps always find it.
	ctTable := buildTable("radiomics_ct", CTIdentityColumns, id, ctJobs, ctOuts)
	res.CTRows = len(ctTable.Rows)
	if hasCT {
		if err := ctTable.WriteAll(filepath.Join(dir, CTTableBase)); err != nil {
			return Result{}, err
		}
	} else {
		removeTable(filepath.Join(dir, CTTableBase))
	}
	// MR table: only when some MR series has total_mr masks.
	mrBase := filepath.Join(dir, filepath.FromSlash(MRTableBase))
	if len(mrJobs) > 0 {
		mrTable := buildTable("radiomics_mr", MRIdentityColumns, id, mrJobs, mrOuts)
		res.MRRows = len(mrTable.Rows)
		if err := mrTable.WriteAll(mrBase); err != nil {
			return Result{}, err
		}
	} else {
		removeTable(mrBase)
	}

	attempted := 0
	var firstErr string
	for _, o := range outs {
		if o.attempted {
			attempted++
			if o.status != StatusOK && firstErr == "" {
				firstErr = strings.TrimPrefix(o.status, "failed: ")
			}
		}
	}
	switch {
	case !hasCT && len(mrJobs) == 0:
		res.Status, res.Reason = StatusSkipped, "course has no CT and no MR series with total_mr masks"
	case len(all) == 0:
		res.Status, res.Reason = StatusSkipped, "no structure set or segmentation to extract features from"
	case attempted > 0 && res.OK == 0:
		res.Status = StatusFailed
		res.Reason = fmt.Sprintf("all %d extractions failed (first: %s)", attempted, firstErr)
	default:
		res.Status = StatusOK
		res.Reason = fmt.Sprintf("%d ROIs: %d ok, %d skipped, %d failed", len(all), res.OK, res.Skipped, res.Failed)
	}
	return res, nil
}

// removeTable deletes a table this stage wrote in an earlier run and that this run has no
// data for, so that stale rows never survive.
func removeTable(base string) {
	for _, ext := range []string{".csv", ".xlsx", ".parquet"} {
		os.Remove(base + ext)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// errTimeout marks an extraction that exceeded Options.ROITimeout.
var errTimeout = errors.New("timed out")

// rel returns path relative to dir with forward slashes (path itself when impossible).
func rel(dir, path string) string {
	r, err := filepath.Rel(dir, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(r)
}
