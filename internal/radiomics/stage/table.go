package stage

import (
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/results"
)

// CTIdentityColumns are the first columns of radiomics_ct, before the feature keys.
var CTIdentityColumns = []string{"patient_id", "course_id", "roi_name", "roi_original_name", "roi_number", "segmentation_source",
	"modality", "structure_cropped", "status", "mask_voxels", "params", "rtstruct_path", "course_dir", "roi_warnings"}

// MRIdentityColumns are the first columns of radiomics_mr, before the feature keys.
var MRIdentityColumns = []string{"patient_id", "course_id", "roi_name", "roi_original_name", "roi_number", "segmentation_source",
	"modality", "structure_cropped", "status", "mask_voxels", "params", "series_dir", "series_uid", "nifti_path", "mask_path",
	"mr_normalize", "course_dir", "roi_warnings"}

// identity holds the course-level identity cells.
type identity struct {
	patientID, courseID, courseDir string
}

// featureColumns returns the union of the rows' feature keys in extractor order: the keys of
// the row with the most keys (the full parameter set) first, in its order; a key only other
// rows have is placed right after the key that precedes it in that row. Rows are taken by
// decreasing key count, then in row order, so the result does not depend on timing.
func featureColumns(outs []*outcome) []string {
	var idx []int
	for i, o := range outs {
		if o.result != nil {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return len(outs[idx[a]].result.Names) > len(outs[idx[b]].result.Names) })
	var cols []string
	pos := map[string]int{}
	for _, i := range idx {
		prev := -1
		for _, n := range outs[i].result.Names {
			if p, ok := pos[n]; ok {
				prev = p
				continue
			}
			at := prev + 1
			cols = append(cols, "")
			copy(cols[at+1:], cols[at:])
			cols[at] = n
			for k := at; k < len(cols); k++ {
				pos[cols[k]] = k
			}
			prev = at
		}
	}
	return cols
}

// buildTable assembles one modality's table: identity columns, then the feature keys.
func buildTable(name string, identityCols []string, id identity, jobs []*job, outs []*outcome) *results.Table {
	feats := featureColumns(outs)
	isIdentity := map[string]bool{}
	for _, c := range identityCols {
		isIdentity[c] = true
	}
	cols := append([]string{}, identityCols...)
	for _, f := range feats {
		if !isIdentity[f] {
			cols = append(cols, f)
		}
	}
	t := results.NewTable(name, cols...)
	for i, j := range jobs {
		o := outs[i]
		row := map[string]any{"patient_id": id.patientID, "course_id": id.courseID, "roi_name": o.name,
			"roi_original_name": j.original, "segmentation_source": j.source, "modality": j.modality, "status": o.status,
			"course_dir": id.courseDir, "roi_warnings": strings.Join(o.warnings, "; ")}
		if j.hasNumber {
			row["roi_number"] = j.roiNumber
		}
		if o.cropped != nil {
			row["structure_cropped"] = *o.cropped
		}
		if o.cropped != nil || o.voxels > 0 {
			row["mask_voxels"] = o.voxels
		}
		if o.params != "" {
			row["params"] = o.params
		}
		for k, v := range j.extra {
			if isIdentity[k] {
				row[k] = v
			}
		}
		if o.result != nil {
			for k, n := range o.result.Names {
				if isIdentity[n] {
					continue
				}
				v := o.result.Values[k]
				if v.IsText {
					row[n] = v.Text
				} else {
					row[n] = v.Num
				}
			}
		}
		t.Add(row)
	}
	return t
}
