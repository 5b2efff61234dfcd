package stage

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// mrSeries is an MR series of the course with TotalSegmentator total_mr masks.
type mrSeries struct {
	dir      string   // MR/<uid>
	rtstruct string   // <...>--total_mr.dcm, preferred
	masks    []string // total_mr--<roi>.nii[.gz], when there is no RTSTRUCT
	nifti    string   // the series' NIfTI image (NIFTI/*.nii*), informational
}

// discoverMR lists the course's MR series (MR/<uid>/ with a DICOM/ folder), by folder name,
// and their total_mr masks. Series without masks are reported in the QC and left out.
func discoverMR(dir string, qc *QC) []*mrSeries {
	entries, err := os.ReadDir(filepath.Join(dir, "MR"))
	if err != nil {
		return nil
	}
	var out []*mrSeries
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sdir := filepath.Join(dir, "MR", e.Name())
		if st, err := os.Stat(filepath.Join(sdir, "DICOM")); err != nil || !st.IsDir() {
			continue
		}
		s := &mrSeries{dir: sdir}
		var rtstructs, masks []string
		filepath.WalkDir(filepath.Join(sdir, "Segmentation_TotalSegmentator"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			base := d.Name()
			lower := strings.ToLower(base)
			switch {
			case strings.HasSuffix(lower, "--total_mr.dcm"):
				rtstructs = append(rtstructs, p)
			case strings.HasPrefix(lower, "total_mr--") && (strings.HasSuffix(lower, ".nii") || strings.HasSuffix(lower, ".nii.gz")):
				masks = append(masks, p)
			}
			return nil
		})
		sort.Strings(rtstructs)
		sort.Strings(masks)
		niftis, _ := filepath.Glob(filepath.Join(sdir, "NIFTI", "*.nii*"))
		sort.Strings(niftis)
		if len(niftis) > 0 {
			s.nifti = niftis[0]
		}
		q := MRSeriesQC{SeriesDir: rel(dir, sdir)}
		switch {
		case len(rtstructs) > 0:
			s.rtstruct = rtstructs[0]
			q.MaskSource = rel(dir, s.rtstruct)
		case len(masks) > 0:
			s.masks = masks
			q.MaskSource = rel(dir, filepath.Dir(masks[0])) + "/total_mr--*.nii*"
		default:
			q.Note = "no TotalSegmentator total_mr masks: no rows"
			if h := firstImageHeader(filepath.Join(sdir, "DICOM")); h != nil {
				q.SeriesUID = h.String(dicomio.TagSeriesInstanceUID)
			}
			qc.MR = append(qc.MR, q)
			continue
		}
		qc.MR = append(qc.MR, q)
		out = append(out, s)
	}
	return out
}

// planMRSeries reads the series image and lists one job per mask, recording the series in its
// qc.MR entry.
func planMRSeries(dir string, s *mrSeries, qc *QC) []*job {
	var q *MRSeriesQC
	for i := range qc.MR {
		if qc.MR[i].SeriesDir == rel(dir, s.dir) {
			q = &qc.MR[i]
		}
	}
	if q == nil {
		qc.MR = append(qc.MR, MRSeriesQC{SeriesDir: rel(dir, s.dir)})
		q = &qc.MR[len(qc.MR)-1]
	}
	dicomDir := filepath.Join(s.dir, "DICOM")
	h := firstImageHeader(dicomDir)
	t1, why := false, "no readable image header"
	if h != nil {
		q.SeriesUID = h.String(dicomio.TagSeriesInstanceUID)
		t1, why = IsT1Weighted(h.String(dicomio.TagSeriesDescription), h.String(dicomio.TagProtocolName),
			h.String(dicomio.TagSequenceName), h.Strings(dicomio.TagImageType))
	}
	q.Normalize, q.T1Reason = t1, why
	params := ParamsMR
	if t1 {
		params = ParamsMRT1Norm
	}
	preStatus := ""
	img, uids, err := imageio.ReadDICOMSeriesDir(dicomDir)
	if err != nil {
		preStatus = "failed: MR image unreadable: " + oneLine(err.Error())
		q.Image = &ImageInfo{Path: rel(dir, dicomDir), ReadError: oneLine(err.Error())}
	} else {
		q.Image = imageInfo(dir, dicomDir, img, uids)
	}
	extra := func(maskPath string) map[string]any {
		nifti := ""
		if s.nifti != "" {
			nifti = rel(dir, s.nifti)
		}
		return map[string]any{"series_dir": rel(dir, s.dir), "series_uid": q.SeriesUID, "nifti_path": nifti,
			"mask_path": rel(dir, maskPath), "mr_normalize": t1}
	}
	var jobs []*job
	if s.rtstruct != "" {
		ss, err := rt.ReadStructureSetFile(s.rtstruct)
		if err != nil {
			return []*job{{modality: "MR", source: SourceMRTotal, sourcePath: rel(dir, s.rtstruct),
				preStatus: "failed: structure set unreadable: " + oneLine(err.Error()), extra: extra(s.rtstruct)}}
		}
		for _, r := range ss.ROIs {
			jobs = append(jobs, &job{modality: "MR", source: SourceMRTotal, sourcePath: rel(dir, s.rtstruct), roiNumber: r.Number,
				hasNumber: true, original: r.Name, name: NormalizeROIName(r.Name, r.Number), image: img, roi: r, params: params,
				preStatus: preStatus, extra: extra(s.rtstruct)})
		}
		return jobs
	}
	for _, m := range s.masks {
		base := filepath.Base(m)
		orig := strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".nii")
		if i := strings.Index(strings.ToLower(orig), "total_mr--"); i >= 0 {
			orig = orig[i+len("total_mr--"):]
		}
		jobs = append(jobs, &job{modality: "MR", source: SourceMRTotal, sourcePath: rel(dir, m), original: orig,
			name: NormalizeROIName(orig, 0), image: img, maskFile: m, params: params, preStatus: preStatus, extra: extra(m)})
	}
	return jobs
}

// IsT1Weighted applies the original's rule for MR intensity normalisation: a series is T1
// weighted when SeriesDescription, ProtocolName or SequenceName contain "t1" (any case) and
// none of them contains "t2" or "flair"; when those say nothing either way, when ImageType
// does the same. It returns the decision and the reason, for the QC.
func IsT1Weighted(seriesDescription, protocolName, sequenceName string, imageType []string) (bool, string) {
	desc := strings.ToLower(strings.Join([]string{seriesDescription, protocolName, sequenceName}, " "))
	switch {
	case strings.Contains(desc, "t2") || strings.Contains(desc, "flair"):
		return false, "T2/FLAIR in series description, protocol or sequence name"
	case strings.Contains(desc, "t1"):
		return true, "T1 in series description, protocol or sequence name"
	}
	it := strings.ToLower(strings.Join(imageType, "\\"))
	switch {
	case strings.Contains(it, "t2") || strings.Contains(it, "flair"):
		return false, "T2/FLAIR in ImageType"
	case strings.Contains(it, "t1"):
		return true, "T1 in ImageType"
	}
	return false, "weighting unknown: not normalised"
}
