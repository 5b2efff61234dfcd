package segmentation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

// Stage statuses, the first word of a sentinel.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// StageResult summarises a course's segmentation (or custom-model) stage.
type StageResult struct {
	// Status is StatusOK, StatusSkipped or StatusFailed.
	Status string
	// Reason explains anything but a plain ok.
	Reason string
	// Backend is the backend that ran ("" for the custom-model stage).
	Backend string
}

// QC is metadata/segmentation.json: what the segmentation stage did for a course.
type QC struct {
	Status        string         `json:"status"`
	Reason        string         `json:"reason"`
	Backend       string         `json:"backend"`
	BackendReason string         `json:"backend_reason"`
	StartedAt     string         `json:"started_at"`
	DurationSec   float64        `json:"duration_seconds"`
	CT            *SeriesReport  `json:"ct"`
	MR            []SeriesReport `json:"mr"`
	AutoRTSTRUCT  *RTSTRUCTInfo  `json:"rs_auto"`
	Warnings      []string       `json:"warnings"`
}

// SeriesReport is one segmented series in the QC report.
type SeriesReport struct {
	// Dir is the series' DICOM folder, relative to the course.
	Dir string `json:"dir"`
	// OutDir is the output folder, relative to the course.
	OutDir string `json:"out_dir"`
	// Models lists the models run (or resumed).
	Models []ModelReport `json:"models"`
	// Error is the series-level failure (unreadable series), "" when none.
	Error string `json:"error,omitempty"`
}

// ModelReport is one model in the QC report.
type ModelReport struct {
	Model       string  `json:"model"`
	Status      string  `json:"status"` // ok, resumed or failed
	Masks       int     `json:"masks"`
	Command     string  `json:"command,omitempty"`
	Version     string  `json:"version,omitempty"`
	DurationSec float64 `json:"duration_seconds"`
	Error       string  `json:"error,omitempty"`
}

func reportSeries(courseDir, dir, outDir string, out Output) SeriesReport {
	r := SeriesReport{Dir: relTo(courseDir, dir), OutDir: relTo(courseDir, outDir), Models: []ModelReport{}}
	for _, m := range out.Models {
		mr := ModelReport{Model: m.Model, Status: "ok", Masks: len(m.Masks), Command: m.Command, Version: m.Version, DurationSec: m.Duration.Seconds()}
		switch {
		case m.Err != nil:
			mr.Status, mr.Error = "failed", m.Err.Error()
		case m.Resumed:
			mr.Status = "resumed"
		}
		r.Models = append(r.Models, mr)
	}
	return r
}

// RunCourse runs the segmentation stage on one organised course folder:
//
//  1. resolves the backend (segmentation.backend; auto = TotalSegmentator when installed);
//  2. segments the course CT (DICOM/CT) into Segmentation_TotalSegmentator/<task>--<roi>.nii.gz
//     (tasks total and the extra models not ending in _mr) or
//     Segmentation_Builtin/builtin--<roi>.nii.gz, resuming complete earlier outputs;
//  3. writes RS_auto.dcm from the primary model's non-empty masks (total, or builtin) with
//     structures.WriteRTSTRUCT; an existing valid RS_auto.dcm is kept when nothing was re-run;
//  4. with TotalSegmentator, segments every MR series (MR/<uid>/DICOM) with total_mr and the
//     extra models ending in _mr into MR/<uid>/Segmentation_TotalSegmentator/;
//  5. writes metadata/segmentation.json and, last, the sentinel .segmentation_done.
//
// A course without a CT is "skipped". An interrupted run (ctx cancelled) leaves no sentinel.
// Any failure (no TotalSegmentator, a non-zero exit, a timeout, an unreadable series) makes the
// stage "failed" in its sentinel and the error non-nil; the other outputs of the course are
// untouched, so a course with a manual RTSTRUCT still gets its DVH, radiomics and QC (see
// docs/segmentation.md for what the scheduler must do).
func RunCourse(ctx context.Context, courseDir string, opts Options) (*StageResult, error) {
	os.Remove(filepath.Join(courseDir, Sentinel))
	start := time.Now()
	qc := &QC{StartedAt: start.UTC().Format(time.RFC3339), MR: []SeriesReport{}, Warnings: []string{}}
	res, err := runCourse(ctx, courseDir, opts, qc)
	if res == nil {
		res = &StageResult{Status: StatusFailed}
	}
	if err != nil {
		res.Status, res.Reason = StatusFailed, err.Error()
	}
	qc.Status, qc.Reason, qc.Backend = res.Status, res.Reason, res.Backend
	qc.DurationSec = time.Since(start).Seconds()
	return res, finish(ctx, courseDir, QCFile, Sentinel, qc, res, err)
}

// finish writes the stage's report and, last, its sentinel. An interrupted stage (ctx done) is
// not an outcome: it leaves no sentinel, so that a rerun does the job again.
func finish(ctx context.Context, courseDir, qcFile, sentinel string, qc any, res *StageResult, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		writeJSON(filepath.Join(courseDir, filepath.FromSlash(qcFile)), qc)
		os.Remove(filepath.Join(courseDir, sentinel))
		if err == nil || !errors.Is(err, cerr) {
			err = errors.Join(err, cerr)
		}
		return err
	}
	if werr := writeJSON(filepath.Join(courseDir, filepath.FromSlash(qcFile)), qc); werr != nil && err == nil {
		err = werr
		res.Status, res.Reason = StatusFailed, werr.Error()
	}
	line := res.Status
	if res.Status != StatusOK {
		line += ": " + oneLine(firstLine(res.Reason))
	}
	if werr := fsutil.WriteFileAtomic(filepath.Join(courseDir, sentinel), []byte(line+"\n"), 0o644); werr != nil && err == nil {
		err = werr
	}
	return err
}

func runCourse(ctx context.Context, courseDir string, opts Options, qc *QC) (*StageResult, error) {
	backend, why, err := ResolveBackend(opts)
	if err != nil {
		return nil, err
	}
	qc.Backend, qc.BackendReason = backend, why
	res := &StageResult{Backend: backend}
	ctDir := filepath.Join(courseDir, "DICOM", "CT")
	if !hasFiles(ctDir) {
		res.Status, res.Reason = StatusSkipped, "course has no CT (DICOM/CT is empty or missing)"
		return res, nil
	}
	seg, err := New(backend, opts)
	if err != nil {
		return res, err
	}
	outDir := filepath.Join(courseDir, DirBuiltin)
	if backend == BackendTotalSegmentator {
		outDir = filepath.Join(courseDir, DirTotalSegmentator)
		if ts, ok := seg.(*TotalSegmentator); ok {
			ts.LogDir = filepath.Join(courseDir, "logs", "segmentation")
		}
	}
	var errs []error
	in := Input{CTDir: ctDir, OutDir: outDir, Threads: opts.threads()}
	if err := readInput(&in); err != nil {
		qc.CT = &SeriesReport{Dir: relTo(courseDir, ctDir), OutDir: relTo(courseDir, outDir), Models: []ModelReport{}, Error: err.Error()}
		return res, err
	}
	out, segErr := seg.Segment(ctx, in)
	rep := reportSeries(courseDir, ctDir, outDir, out)
	qc.CT = &rep
	if segErr != nil {
		errs = append(errs, segErr)
	}

	// RS_auto.dcm from the primary model.
	if p := out.Primary(); p != nil && p.Err == nil && len(p.Masks) > 0 {
		info, err := ensureAutoRTSTRUCT(courseDir, ctDir, backend, p, opts.Force)
		qc.AutoRTSTRUCT = info
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", AutoRTSTRUCT, err))
		}
	} else if p != nil && p.Err != nil {
		qc.Warnings = append(qc.Warnings, AutoRTSTRUCT+" not written: the "+p.Model+" model failed")
	}

	// MR series, with TotalSegmentator only.
	mrDirs := mrSeriesDirs(courseDir)
	if backend == BackendTotalSegmentator && ctx.Err() == nil {
		for _, sdir := range mrDirs {
			mrOut := filepath.Join(sdir, DirTotalSegmentator)
			ts := &TotalSegmentator{Options: opts, Tasks: MRTasks(opts.ExtraModels), LogDir: filepath.Join(courseDir, "logs", "segmentation", "MR_"+filepath.Base(sdir))}
			mrIn := Input{CTDir: filepath.Join(sdir, "DICOM"), OutDir: mrOut, Threads: opts.threads()}
			if err := readInput(&mrIn); err != nil {
				qc.MR = append(qc.MR, SeriesReport{Dir: relTo(courseDir, mrIn.CTDir), OutDir: relTo(courseDir, mrOut), Models: []ModelReport{}, Error: err.Error()})
				errs = append(errs, fmt.Errorf("MR series %s: %w", filepath.Base(sdir), err))
				continue
			}
			mout, err := ts.Segment(ctx, mrIn)
			qc.MR = append(qc.MR, reportSeries(courseDir, mrIn.CTDir, mrOut, mout))
			if err != nil {
				errs = append(errs, fmt.Errorf("MR series %s: %w", filepath.Base(sdir), err))
			}
		}
	} else if len(mrDirs) > 0 && backend == BackendBuiltin {
		qc.Warnings = append(qc.Warnings, fmt.Sprintf("%d MR series not segmented: the built-in segmenter handles CT only", len(mrDirs)))
	}

	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	res.Status = StatusOK
	res.Reason = summary(qc)
	return res, nil
}

// ensureAutoRTSTRUCT writes RS_auto.dcm from the primary model's masks, or keeps an existing
// valid one when the model was resumed (nothing new) and force is off.
func ensureAutoRTSTRUCT(courseDir, ctDir, backend string, p *ModelResult, force bool) (*RTSTRUCTInfo, error) {
	path := filepath.Join(courseDir, AutoRTSTRUCT)
	if p.Resumed && !force {
		if rois := rtstructROIs(path); rois != nil {
			return &RTSTRUCTInfo{Path: AutoRTSTRUCT, Kept: true, ROIs: rois, EmptyMasks: []string{}, Note: "kept: the masks were not re-run and the file is a valid RTSTRUCT"}, nil
		}
	}
	desc := "rtpipeline auto segmentation (" + backend + " " + p.Model + ")"
	if p.Version != "" && p.Version != "unknown" {
		desc = "rtpipeline auto segmentation (" + backend + " " + p.Version + ", " + p.Model + ")"
	}
	info, err := writeMasksRTSTRUCT(path, ctDir, p.Masks, structures.WriteOptions{SeriesDescription: truncate(desc, 64), StructureSetLabel: "RS_auto"})
	if err == nil && info.Path == "" {
		// No ROI: a stale file from an earlier run must not pose as this run's result.
		os.Remove(path)
	}
	if info != nil && info.Path != "" {
		info.Path = AutoRTSTRUCT
	}
	return info, err
}

// summary is the reason of an ok stage: what ran and what was resumed.
func summary(qc *QC) string {
	var ran, resumed []string
	count := func(r *SeriesReport) {
		for _, m := range r.Models {
			if m.Status == "resumed" {
				resumed = append(resumed, m.Model)
			} else {
				ran = append(ran, m.Model)
			}
		}
	}
	if qc.CT != nil {
		count(qc.CT)
	}
	for i := range qc.MR {
		count(&qc.MR[i])
	}
	var parts []string
	if len(ran) > 0 {
		parts = append(parts, "ran "+strings.Join(ran, ", "))
	}
	if len(resumed) > 0 {
		parts = append(parts, "resumed "+strings.Join(resumed, ", "))
	}
	if qc.AutoRTSTRUCT != nil {
		switch {
		case qc.AutoRTSTRUCT.Kept:
			parts = append(parts, AutoRTSTRUCT+" kept")
		case qc.AutoRTSTRUCT.Path != "":
			parts = append(parts, fmt.Sprintf("%s with %d ROIs", AutoRTSTRUCT, len(qc.AutoRTSTRUCT.ROIs)))
		default:
			parts = append(parts, "no "+AutoRTSTRUCT+" (every mask empty)")
		}
	}
	return qc.Backend + ": " + strings.Join(parts, "; ")
}

// mrSeriesDirs lists the course's MR series folders (MR/<uid>/ with a DICOM/ folder), sorted.
func mrSeriesDirs(courseDir string) []string {
	entries, err := os.ReadDir(filepath.Join(courseDir, "MR"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(courseDir, "MR", e.Name())
		if hasFiles(filepath.Join(d, "DICOM")) {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// hasFiles tells whether dir holds at least one regular file.
func hasFiles(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			return true
		}
	}
	return false
}

func lower(s string) string { return strings.ToLower(s) }
