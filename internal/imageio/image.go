// Package imageio reads and writes 3-D medical images (NRRD, NIfTI) as scalar volumes on grids in
// DICOM patient coordinates (LPS).
package imageio

import (
	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// Image is a 3-D scalar image. Voxel (i, j, k) is Data[(k*ny+j)*nx+i] and lies at
// Grid.Point(i, j, k). PixelType records the type stored on disk ("int16", "float32", ...), which
// processing that mimics ITK (casting results back to the input type) needs.
type Image struct {
	Grid      *grid.Grid
	Data      []float64
	PixelType string
}

// Index returns the flat index of voxel (i, j, k).
func (im *Image) Index(i, j, k int) int {
	return (k*im.Grid.Size[1]+j)*im.Grid.Size[0] + i
}

// Clone returns a deep copy.
func (im *Image) Clone() *Image {
	g := *im.Grid
	g.SliceOffsets = append([]float64(nil), im.Grid.SliceOffsets...)
	if im.Grid.SliceOffsets == nil {
		g.SliceOffsets = nil
	}
	return &Image{Grid: &g, Data: append([]float64(nil), im.Data...), PixelType: im.PixelType}
}
