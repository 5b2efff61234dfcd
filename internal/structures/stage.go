package structures

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Sentinel marks a course's structures stage: "ok", "skipped: <reason>" or "failed: <reason>".
const Sentinel = ".structures_done"

// Files of the structures stage, relative to the course folder.
const (
	// CustomFile is the structure set of the composite structures.
	CustomFile = "RS_custom.dcm"
	// QCFile is the stage's record.
	QCFile = "metadata/structures_qc.json"
)

// Source names of the structure sets composites are built from, in priority order.
const (
	SourceManual  = "Manual"  // RS.dcm
	SourceAutoRTS = "AutoRTS" // RS_auto.dcm
)

// Stage statuses.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// ReasonNotConfigured is the reason of a course skipped because no composite is defined.
const ReasonNotConfigured = "no custom structures configured"

// Options control the structures stage of one course.
type Options struct {
	// Workers bounds the goroutines used to rasterise ROIs and run margin transforms.
	Workers int
	// Definitions are the composites to build; when nil, DefinitionsFile is read.
	Definitions []CompositeDefinition
	// DefinitionsFile is a custom-structures YAML file (config key custom_structures); "" and
	// no Definitions means none configured. With Definitions it only names their origin in
	// the QC record.
	DefinitionsFile string
}

// Result summarises a course's structures stage.
type Result struct {
	// Status is StatusOK, StatusSkipped or StatusFailed.
	Status string
	Reason string
	// Built counts the composites written (Partial of them with PartialSuffix); Skipped those
	// not built.
	Built, Partial, Skipped int
}

// QC is metadata/structures_qc.json.
type QC struct {
	Status               string            `json:"status"`
	Reason               string            `json:"reason"`
	DefinitionsFile      string            `json:"definitions_file"`
	Output               string            `json:"output"`
	OutputSOPInstanceUID string            `json:"output_sop_instance_uid"`
	CTSeriesInstanceUID  string            `json:"ct_series_instance_uid"`
	FrameOfReferenceUID  string            `json:"frame_of_reference_uid"`
	StructureSources     map[string]string `json:"structure_sources"`
	SourceROIs           []SourceROIQC     `json:"source_rois"`
	Composites           []CompositeQC     `json:"composites"`
	Warnings             []string          `json:"warnings"`
}

// SourceROIQC describes a source ROI rasterised for the composites.
type SourceROIQC struct {
	Name     string   `json:"name"`
	Source   string   `json:"source"`
	Voxels   int      `json:"voxels"`
	VolumeCC float64  `json:"volume_cc"`
	Warnings []string `json:"warnings"`
}

// CompositeQC is the record of one composite.
type CompositeQC struct {
	Name               string      `json:"name"`
	OutputName         string      `json:"output_name"`
	Status             string      `json:"status"` // built, partial or skipped
	Reason             string      `json:"reason"`
	Operation          string      `json:"operation"`
	Margin             Margin      `json:"margin"`
	Description        string      `json:"description"`
	Sources            []string    `json:"source_structures"`
	SourcesUsed        []SourceUse `json:"sources_used"`
	SourcesMissing     []string    `json:"sources_missing"`
	Voxels             int         `json:"voxels"`
	VolumeCC           float64     `json:"volume_cc"`
	TouchesImageBorder bool        `json:"touches_image_border"`
	Warnings           []string    `json:"warnings"`
}

// RunCourse builds the composite structures of one organised course folder.
//
// Sources are the ROIs of RS.dcm (Manual) and, when present, RS_auto.dcm (AutoRTS), rasterised
// (Rasterize) on the course CT (DICOM/CT); only ROIs some definition can refer to are
// rasterised. A structure set in another frame of reference than the CT is left out with a
// warning; an unreadable one fails the stage (composites silently built from the other set
// would be wrong). The composites (EvaluateComposites) are written to RS_custom.dcm
// (WriteRTSTRUCT: new series and SOP instance UIDs, ROIs numbered 1..n in definition order),
// which holds the composites only, not copies of the source ROIs: those stay in RS.dcm and
// RS_auto.dcm, where the DVH and radiomics stages read them under their own source label, and
// a mask → contour → mask copy would only add a rasterisation round trip.
//
// It always writes metadata/structures_qc.json and, last, the sentinel. Without definitions,
// CT or structure set the course is skipped; when no composite can be built it is skipped too.
// A skipped or failed run removes an RS_custom.dcm left by an earlier run, so later stages never
// read composites the current definitions do not produce. The error is non-nil only when the
// stage failed.
func RunCourse(ctx context.Context, courseDir string, opts Options) (Result, error) {
	os.Remove(filepath.Join(courseDir, Sentinel))
	qc := &QC{DefinitionsFile: opts.DefinitionsFile, StructureSources: map[string]string{}, SourceROIs: []SourceROIQC{},
		Composites: []CompositeQC{}, Warnings: []string{}}
	res, err := runCourse(ctx, courseDir, opts, qc)
	status := StatusOK
	switch {
	case err != nil:
		res = Result{Status: StatusFailed, Reason: err.Error()}
		status = "failed: " + oneLine(err.Error())
	case res.Status == StatusSkipped:
		status = "skipped: " + oneLine(res.Reason)
	}
	if res.Status != StatusOK {
		qc.Output, qc.OutputSOPInstanceUID = "", ""
		if rerr := os.Remove(filepath.Join(courseDir, CustomFile)); rerr == nil {
			qc.Warnings = append(qc.Warnings, "removed the "+CustomFile+" of an earlier run")
		}
	}
	qc.Status, qc.Reason = res.Status, res.Reason
	if werr := writeJSON(filepath.Join(courseDir, filepath.FromSlash(QCFile)), qc); werr != nil && err == nil {
		err = werr
		res = Result{Status: StatusFailed, Reason: werr.Error()}
		status = "failed: " + oneLine(werr.Error())
	}
	if werr := fsutil.WriteFileAtomic(filepath.Join(courseDir, Sentinel), []byte(status+"\n"), 0o644); werr != nil && err == nil {
		err = werr
		res = Result{Status: StatusFailed, Reason: werr.Error()}
	}
	return res, err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func runCourse(ctx context.Context, dir string, opts Options, qc *QC) (Result, error) {
	defs := opts.Definitions
	if defs == nil && opts.DefinitionsFile != "" {
		var err error
		if defs, err = LoadCompositeDefinitions(opts.DefinitionsFile); err != nil {
			return Result{}, err
		}
		if len(defs) == 0 {
			return Result{Status: StatusSkipped, Reason: ReasonNotConfigured + " (" + opts.DefinitionsFile + " defines none)"}, nil
		}
	}
	if len(defs) == 0 {
		return Result{Status: StatusSkipped, Reason: ReasonNotConfigured}, nil
	}
	if _, err := CompositeOrder(defs); err != nil {
		return Result{}, err
	}
	workers := max(1, opts.Workers)
	// The CT.
	ctDir := filepath.Join(dir, "DICOM", "CT")
	if st, err := os.Stat(ctDir); err != nil || !st.IsDir() {
		return Result{Status: StatusSkipped, Reason: "course has no CT (DICOM/CT)"}, nil
	}
	ref, err := LoadReferenceSeries(ctDir)
	if err != nil {
		return Result{}, fmt.Errorf("CT: %w", err)
	}
	qc.CTSeriesInstanceUID, qc.FrameOfReferenceUID = ref.SeriesInstanceUID, ref.FrameOfReferenceUID
	// The structure sets.
	type set struct {
		name string
		file *rt.StructureSetFile
	}
	var sets []set
	for _, c := range []struct{ name, file string }{{SourceManual, "RS.dcm"}, {SourceAutoRTS, "RS_auto.dcm"}} {
		p := filepath.Join(dir, c.file)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		ss, err := rt.ReadStructureSetFile(p)
		if err != nil {
			return Result{}, fmt.Errorf("%s: %w", c.file, err)
		}
		if ss.FrameOfRef != "" && ref.FrameOfReferenceUID != "" && ss.FrameOfRef != ref.FrameOfReferenceUID {
			qc.StructureSources[c.name] = fmt.Sprintf("excluded: %s is in frame of reference %s, the CT in %s", c.file, ss.FrameOfRef, ref.FrameOfReferenceUID)
			qc.Warnings = append(qc.Warnings, c.name+" "+qc.StructureSources[c.name])
			continue
		}
		qc.StructureSources[c.name] = c.file
		sets = append(sets, set{c.name, ss})
	}
	if len(sets) == 0 {
		why := "course has no structure set (RS.dcm, RS_auto.dcm)"
		if len(qc.StructureSources) > 0 {
			why = "no structure set in the CT's frame of reference"
		}
		return Result{Status: StatusSkipped, Reason: why}, nil
	}
	// Rasterise the ROIs some definition can refer to.
	type job struct {
		roi    *rt.ROIContours
		source string
	}
	var jobs []job
	for _, s := range sets {
		for _, r := range s.file.ROIs {
			if referenced(defs, r.Name) {
				jobs = append(jobs, job{r, s.name})
			}
		}
	}
	sources := make([]SourceMask, len(jobs))
	warns := make([][]string, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(workers, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				mask, w, err := Rasterize(jobs[i].roi, ref.Image)
				sources[i], warns[i], errs[i] = SourceMask{Name: jobs[i].roi.Name, Source: jobs[i].source, Mask: mask}, w, err
			}
		}()
	}
	for i := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	for i, j := range jobs {
		if errs[i] != nil {
			return Result{}, fmt.Errorf("rasterising ROI %q (%s): %w", j.roi.Name, j.source, errs[i])
		}
		n := countSet(sources[i].Mask.Data)
		qc.SourceROIs = append(qc.SourceROIs, SourceROIQC{Name: j.roi.Name, Source: j.source, Voxels: n,
			VolumeCC: round6(MaskVolume(sources[i].Mask)), Warnings: nonNil(warns[i])})
	}
	results, err := EvaluateComposites(ctx, defs, sources, workers)
	if err != nil {
		return Result{}, err
	}
	// Names shared with a source ROI: later stages take the ROI of the higher-priority source.
	roiNames := map[string]string{}
	for _, s := range sets {
		for _, r := range s.file.ROIs {
			if _, ok := roiNames[normName(r.Name)]; !ok {
				roiNames[normName(r.Name)] = s.name + " ROI " + fmt.Sprintf("%q", r.Name)
			}
		}
	}
	var rois []NamedMask
	res := Result{Status: StatusOK}
	for _, r := range results {
		c := CompositeQC{Name: r.Definition.Name, OutputName: r.OutputName, Reason: r.Skipped, Operation: string(r.Definition.Operation),
			Margin: r.Definition.Margin, Description: r.Definition.Description, Sources: nonNil(r.Definition.Sources),
			SourcesUsed: r.Used, SourcesMissing: nonNil(r.Missing), Voxels: r.Voxels, VolumeCC: round6(r.VolumeCC),
			TouchesImageBorder: r.TouchesBorder, Warnings: nonNil(r.Warnings)}
		if c.SourcesUsed == nil {
			c.SourcesUsed = []SourceUse{}
		}
		switch {
		case r.Mask == nil:
			c.Status, c.OutputName = "skipped", ""
			res.Skipped++
		case r.Partial:
			c.Status = "partial"
			res.Built++
			res.Partial++
		default:
			c.Status = "built"
			res.Built++
		}
		if r.Mask != nil {
			if other, clash := roiNames[normName(r.OutputName)]; clash {
				c.Warnings = append(c.Warnings, fmt.Sprintf("has the name of %s: stages that merge sources by name prefer that ROI", other))
			}
			rois = append(rois, NamedMask{Name: r.OutputName, Mask: r.Mask, Color: r.Definition.Color, Algorithm: "AUTOMATIC"})
		}
		qc.Composites = append(qc.Composites, c)
	}
	if len(rois) == 0 {
		res.Status = StatusSkipped
		res.Reason = fmt.Sprintf("none of the %d custom structures could be built (see %s)", len(defs), QCFile)
		return res, nil
	}
	out := filepath.Join(dir, CustomFile)
	if err := WriteRTSTRUCT(out, ref, rois, WriteOptions{SeriesDescription: "Composite structures", StructureSetLabel: "CUSTOM",
		Manufacturer: "rtpipeline"}); err != nil {
		return Result{}, err
	}
	qc.Output = CustomFile
	if h, err := dicomio.ReadHeader(out); err == nil {
		qc.OutputSOPInstanceUID = h.String(dicomio.TagSOPInstanceUID)
	} else {
		return Result{}, fmt.Errorf("%s written but unreadable: %w", CustomFile, err)
	}
	res.Reason = fmt.Sprintf("%d of %d custom structures built", res.Built, len(defs))
	if res.Partial > 0 {
		res.Reason += fmt.Sprintf(" (%d partial)", res.Partial)
	}
	if res.Skipped > 0 {
		res.Reason += fmt.Sprintf("; %d skipped", res.Skipped)
	}
	return res, nil
}

// referenced tells whether some definition's source entry can resolve to an ROI of this name
// (exactly, loosely, or by pattern).
func referenced(defs []CompositeDefinition, name string) bool {
	n := normName(name)
	for _, d := range defs {
		for _, s := range d.Sources {
			if isPattern(s) {
				if globMatch(s, name) {
					return true
				}
			} else if s == name || (n != "" && normName(s) == n) {
				return true
			}
		}
	}
	return false
}

func countSet(data []float64) int {
	n := 0
	for _, v := range data {
		if inMask(v) {
			n++
		}
	}
	return n
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}
