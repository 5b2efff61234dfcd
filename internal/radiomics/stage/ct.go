package stage

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// ctSource is one structure set the CT rows come from.
type ctSource struct {
	name string // segmentation_source
	path string // absolute
	file *rt.StructureSetFile
	err  error
}

// planCT reads the course CT and lists one job per ROI of every CT structure source. A course
// without DICOM/CT gives no jobs and a nil image; an unreadable CT is an error.
func planCT(dir string, opts Options, qc *QC) ([]*job, *imageio.Image, error) {
	ctDir := filepath.Join(dir, "DICOM", "CT")
	if st, err := os.Stat(ctDir); err != nil || !st.IsDir() {
		return nil, nil, nil
	}
	img, uids, err := imageio.ReadDICOMSeriesDir(ctDir)
	if err != nil {
		return nil, nil, fmt.Errorf("course CT: %w", err)
	}
	info := imageInfo(dir, ctDir, img, uids)
	qc.CT = info

	sources := ctSources(dir, qc)
	var manualNames, autoNames = map[string]bool{}, map[string]bool{}
	for _, s := range sources {
		if s.file == nil {
			continue
		}
		for _, r := range s.file.ROIs {
			switch s.name {
			case SourceManual:
				manualNames[NormalizeROIName(r.Name, r.Number)] = true
			case SourceAutoTotal:
				autoNames[NormalizeROIName(r.Name, r.Number)] = true
			}
		}
	}
	skip := skipSet(opts.SkipROIs)
	var jobs []*job
	for _, s := range sources {
		relPath := rel(dir, s.path)
		qc.Sources[s.name] = "used: " + relPath
		if s.err != nil {
			qc.Sources[s.name] = "unreadable: " + oneLine(s.err.Error())
			jobs = append(jobs, &job{modality: "CT", source: s.name, sourcePath: relPath,
				preStatus: "failed: structure set unreadable: " + oneLine(s.err.Error())})
			continue
		}
		forMismatch := ""
		if info.FrameOfReference != "" && s.file.FrameOfRef != "" && s.file.FrameOfRef != info.FrameOfReference {
			forMismatch = fmt.Sprintf("skipped: structure set frame of reference %s differs from the CT's %s", s.file.FrameOfRef, info.FrameOfReference)
			qc.Sources[s.name] = "excluded (frame of reference differs from the CT's): " + relPath
		}
		custom := customFilter(s, opts.CustomStructures, manualNames, autoNames, qc)
		for _, r := range s.file.ROIs {
			name := NormalizeROIName(r.Name, r.Number)
			if custom != nil {
				if why := custom(name); why != "" {
					qc.NotCustom = append(qc.NotCustom, ExcludedROI{Source: s.name, ROI: r.Name, Reason: why})
					continue
				}
			}
			j := &job{modality: "CT", source: s.name, sourcePath: relPath, roiNumber: r.Number, hasNumber: true, original: r.Name, name: name,
				image: img, roi: r, params: ParamsCT, largeParams: ParamsCTLarge, minVoxels: opts.MinVoxels, maxVoxels: opts.MaxVoxels,
				extra: map[string]any{"rtstruct_path": relPath}}
			switch {
			case forMismatch != "":
				j.preStatus = forMismatch
			case skip[strings.TrimSuffix(name, PartialSuffix)] || skip[name]:
				j.preStatus = "skipped: in the skip list"
			}
			jobs = append(jobs, j)
		}
	}
	return jobs, img, nil
}

// imageInfo describes a DICOM series read from seriesDir.
func imageInfo(course, seriesDir string, img *imageio.Image, uids []string) *ImageInfo {
	info := &ImageInfo{Path: rel(course, seriesDir), Size: img.Grid.Size, SpacingMM: img.Grid.Spacing, PixelType: img.PixelType,
		Slices: img.Grid.Size[2], SOPInstanceUIDs: len(uids)}
	if h := firstImageHeader(seriesDir); h != nil {
		info.SeriesUID = h.String(dicomio.TagSeriesInstanceUID)
		info.FrameOfReference = h.String(dicomio.TagFrameOfReferenceUID)
		info.SeriesDescription = h.String(dicomio.TagSeriesDescription)
	}
	return info
}

// firstImageHeader returns the header of the first (by name) image file directly in dir.
func firstImageHeader(dir string) *dicomio.File {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var hr dicomio.HeaderReader
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := hr.Read(filepath.Join(dir, e.Name()))
		if err != nil || !f.HasPixelData {
			continue
		}
		if rt.Classify(f.String(dicomio.TagSOPClassUID), f.String(dicomio.TagModality)).IsImage() {
			return f
		}
	}
	return nil
}

// ctSources lists the CT structure sources in order: Manual (RS.dcm, the structure set
// organize chose; else the first RTSTRUCT of DICOM/RTSTRUCT), AutoRTS_total (RS_auto.dcm),
// Custom (RS_custom.dcm), then CustomModel:<name> (Segmentation_CustomModels/<name>/rtstruct.dcm,
// by name). RS_auto_cropped.dcm is never used.
func ctSources(dir string, qc *QC) []*ctSource {
	type cand struct{ name, path string }
	var cands []cand
	manual := filepath.Join(dir, "RS.dcm")
	rtstructs := listRTStructs(filepath.Join(dir, "DICOM", "RTSTRUCT"))
	if _, err := os.Stat(manual); err != nil {
		manual = ""
		if len(rtstructs) > 0 {
			manual = rtstructs[0].path
			qc.Warnings = append(qc.Warnings, "no RS.dcm: Manual is "+rel(dir, manual))
		}
	}
	if manual != "" {
		cands = append(cands, cand{SourceManual, manual})
	}
	manualUID := ""
	if manual != "" {
		if h, err := dicomio.ReadHeader(manual); err == nil {
			manualUID = h.String(dicomio.TagSOPInstanceUID)
		}
	}
	for _, r := range rtstructs {
		if r.path != manual && r.uid != manualUID {
			qc.UnusedStructureSets = append(qc.UnusedStructureSets, rel(dir, r.path))
		}
	}
	for _, c := range []cand{{SourceAutoTotal, filepath.Join(dir, "RS_auto.dcm")}, {SourceCustom, filepath.Join(dir, "RS_custom.dcm")}} {
		if _, err := os.Stat(c.path); err == nil {
			cands = append(cands, c)
		}
	}
	models, _ := filepath.Glob(filepath.Join(dir, "Segmentation_CustomModels", "*", "rtstruct.dcm"))
	sort.Strings(models)
	for _, m := range models {
		cands = append(cands, cand{SourceCustomModelPrefix + filepath.Base(filepath.Dir(m)), m})
	}
	var out []*ctSource
	for _, c := range cands {
		ss, err := rt.ReadStructureSetFile(c.path)
		out = append(out, &ctSource{name: c.name, path: c.path, file: ss, err: err})
	}
	return out
}

type rtstructFile struct{ path, uid string }

// listRTStructs returns the RTSTRUCT files directly in dir, by name.
func listRTStructs(dir string) []rtstructFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []rtstructFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		h, err := dicomio.ReadHeader(p)
		if err != nil {
			continue
		}
		if rt.Classify(h.String(dicomio.TagSOPClassUID), h.String(dicomio.TagModality)) == rt.KindRTStruct {
			out = append(out, rtstructFile{p, h.String(dicomio.TagSOPInstanceUID)})
		}
	}
	return out
}

// customFilter returns, for the Custom source, a function giving the reason an ROI of
// RS_custom.dcm is not a custom structure ("" when it is one); nil for other sources. With
// configured names, an ROI is custom when its normalised name is a configured name, with or
// without the __partial suffix; without, when neither RS.dcm nor RS_auto.dcm has its name.
func customFilter(s *ctSource, configured []string, manual, auto map[string]bool, qc *QC) func(string) string {
	if s.name != SourceCustom {
		return nil
	}
	if len(configured) > 0 {
		want := map[string]bool{}
		for _, n := range configured {
			want[NormalizeROIName(n, 0)] = true
		}
		found := map[string]bool{}
		for _, r := range s.file.ROIs {
			found[strings.TrimSuffix(NormalizeROIName(r.Name, r.Number), PartialSuffix)] = true
		}
		for _, n := range configured {
			if !found[NormalizeROIName(n, 0)] {
				qc.CustomMissing = append(qc.CustomMissing, n)
			}
		}
		return func(name string) string {
			if want[strings.TrimSuffix(name, PartialSuffix)] {
				return ""
			}
			return "not a configured custom structure"
		}
	}
	return func(name string) string {
		switch {
		case manual[name]:
			return "copy of a " + SourceManual + " ROI"
		case auto[name]:
			return "copy of an " + SourceAutoTotal + " ROI"
		}
		return ""
	}
}
