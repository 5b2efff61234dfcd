// Package radiomics computes IBSI radiomics features with PyRadiomics 3.0.1-compatible names and
// values: image preprocessing (normalisation, resampling, resegmentation), filters, discretisation
// and the feature classes shape, shape2D, firstorder, glcm, glrlm, glszm, gldm and ngtdm.
package radiomics

// Discretized is an ROI's discretised image on its cropped bounding box, in PyRadiomics' sense:
// voxel (x, y, z) of the box is Levels[(z*Size[1]+y)*Size[0]+x]; a voxel outside the ROI holds 0,
// a voxel inside its gray level (1-based bin index). GrayLevels lists the distinct levels present
// in the ROI, ascending; texture matrices keep only those levels, and features use the level
// values themselves (not their rank).
type Discretized struct {
	Size       [3]int
	Spacing    [3]float64
	Levels     []int
	GrayLevels []int
}

// At returns the level at (x, y, z), 0 outside the box or the ROI.
func (d *Discretized) At(x, y, z int) int {
	if x < 0 || y < 0 || z < 0 || x >= d.Size[0] || y >= d.Size[1] || z >= d.Size[2] {
		return 0
	}
	return d.Levels[(z*d.Size[1]+y)*d.Size[0]+x]
}

// TextureSettings are the settings texture classes read (PyRadiomics names in comments).
type TextureSettings struct {
	Distances        []int   // distances, default [1]
	Force2D          bool    // force2D
	Force2DDimension int     // force2Ddimension: 0 = axial (z), 1 = coronal (y), 2 = sagittal (x)
	Symmetrical      bool    // symmetricalGLCM, default true
	WeightingNorm    string  // weightingNorm: "", "manhattan", "euclidean", "infinity", "no_weighting"
	GLDMAlpha        float64 // gldm_a, default 0
}

// DefaultTextureSettings returns PyRadiomics' feature-class defaults.
func DefaultTextureSettings() TextureSettings {
	return TextureSettings{Distances: []int{1}, Symmetrical: true}
}

// Matrix is a texture matrix in PyRadiomics' layout (without the batch axis): Shape gives the
// dimensions, Data the values in C (row-major) order over those dimensions.
type Matrix struct {
	Shape []int
	Data  []float64
}
