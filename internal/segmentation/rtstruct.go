package segmentation

import (
	"fmt"
	"math"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

// RTSTRUCTInfo describes a structure set written from masks.
type RTSTRUCTInfo struct {
	// Path is the file written ("" when none was).
	Path string `json:"path"`
	// ROIs are the ROI names written, in order.
	ROIs []string `json:"rois"`
	// EmptyMasks are the masks left out because no voxel is set.
	EmptyMasks []string `json:"empty_masks"`
	// Kept is true when an existing valid file was kept instead of being rewritten.
	Kept bool `json:"kept"`
	// Note explains a missing file or a kept one.
	Note string `json:"note,omitempty"`
}

// rtstructROIs returns the ROI names of path when it is a readable RTSTRUCT with at least one
// ROI, else nil.
func rtstructROIs(path string) []string {
	ss, err := rt.ReadStructureSetFile(path)
	if err != nil || len(ss.ROIs) == 0 {
		return nil
	}
	names := make([]string, 0, len(ss.ROIs))
	for _, r := range ss.ROIs {
		names = append(names, r.Name)
	}
	return names
}

// writeMasksRTSTRUCT writes the non-empty masks as an RTSTRUCT on the reference series in ctDir.
// ROI names are the masks' ROI names; a name met again (case-insensitively) gets "_dup". When
// every mask is empty no file is written and Path is "". A mask on another grid is resampled
// (nearest neighbour) onto the reference grid.
func writeMasksRTSTRUCT(path, ctDir string, masks []MaskFile, opt structures.WriteOptions) (*RTSTRUCTInfo, error) {
	info := &RTSTRUCTInfo{ROIs: []string{}, EmptyMasks: []string{}}
	ref, err := structures.LoadReferenceSeries(ctDir)
	if err != nil {
		return info, fmt.Errorf("reference series for %s: %w", path, err)
	}
	var rois []structures.NamedMask
	used := map[string]bool{}
	// A first pass only finds the empty masks; each mask is read again when it is traced, so at
	// most one mask per tracing worker is in memory (a TotalSegmentator run has over a hundred).
	load := func(p string) (*imageio.Image, error) {
		img, err := imageio.ReadNIfTI(p)
		if err != nil {
			return nil, fmt.Errorf("reading mask %s: %w", p, err)
		}
		img, err = onGrid(img, ref.Image.Grid)
		if err != nil {
			return nil, fmt.Errorf("mask %s: %w", p, err)
		}
		return img, nil
	}
	for _, m := range masks {
		img, err := load(m.Path)
		if err != nil {
			return info, err
		}
		if !anySet(img.Data) {
			info.EmptyMasks = append(info.EmptyMasks, m.ROI)
			continue
		}
		name := roiName(m.ROI)
		for used[lower(name)] {
			name = truncate(name, 60) + "_dup"
		}
		used[lower(name)] = true
		path := m.Path
		rois = append(rois, structures.NamedMask{Name: name, Load: func() (*imageio.Image, error) { return load(path) }, Algorithm: "AUTOMATIC"})
		info.ROIs = append(info.ROIs, name)
	}
	if len(rois) == 0 {
		info.Note = "every mask is empty: no RTSTRUCT written"
		return info, nil
	}
	if err := structures.WriteRTSTRUCT(path, ref, rois, opt); err != nil {
		return info, err
	}
	info.Path = path
	return info, nil
}

// roiName is the ROIName of a mask: the file's ROI part, at most 64 characters.
func roiName(roi string) string {
	return truncate(strings.TrimSpace(roi), 64)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

func anySet(data []float64) bool {
	for _, v := range data {
		if v != 0 && !math.IsNaN(v) {
			return true
		}
	}
	return false
}

// onGrid returns the mask on grid g: unchanged when its grid samples the same points (in any
// index order; the RTSTRUCT writer maps those), else resampled by nearest neighbour (voxels of g
// outside the mask are 0).
func onGrid(m *imageio.Image, g *grid.Grid) (*imageio.Image, error) {
	if m.Grid == nil || len(m.Data) != m.Grid.Voxels() {
		return nil, fmt.Errorf("not an image")
	}
	minSpacing := math.Min(g.Spacing[0], math.Min(g.Spacing[1], g.Spacing[2]))
	if grid.SameGeometry(m.Grid, g, 1e-3*minSpacing) {
		return m, nil
	}
	if m.Grid.Voxels() == g.Voxels() && sameVoxelCentres(m.Grid, g) {
		return m, nil
	}
	out := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	n := 0
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				fi, fj, fk := m.Grid.ContinuousIndex(g.Point(i, j, k))
				ri, rj, rk := int(math.Round(fi)), int(math.Round(fj)), int(math.Round(fk))
				if ri >= 0 && rj >= 0 && rk >= 0 && ri < m.Grid.Size[0] && rj < m.Grid.Size[1] && rk < m.Grid.Size[2] {
					if v := m.Data[m.Index(ri, rj, rk)]; v != 0 && !math.IsNaN(v) {
						out.Data[n] = 1
					}
				}
				n++
			}
		}
	}
	return out, nil
}

// sameVoxelCentres tells whether the corner voxels of g fall on voxel centres of m (a permuted
// or flipped copy of the same lattice).
func sameVoxelCentres(m, g *grid.Grid) bool {
	for _, c := range [][3]int{{0, 0, 0}, {g.Size[0] - 1, 0, 0}, {0, g.Size[1] - 1, 0}, {0, 0, g.Size[2] - 1}, {g.Size[0] - 1, g.Size[1] - 1, g.Size[2] - 1}} {
		fi, fj, fk := m.ContinuousIndex(g.Point(c[0], c[1], c[2]))
		for a, f := range []float64{fi, fj, fk} {
			if math.Abs(f-math.Round(f)) > 1e-3 || math.Round(f) < 0 || int(math.Round(f)) >= m.Size[a] {
				return false
			}
		}
	}
	return true
}
