package radiomics

// Settings are the resolved extraction settings, one field per PyRadiomics 3.0.1 setting (its
// name in the comment). Zero values are not defaults: use DefaultSettings, which holds
// PyRadiomics' defaults, and overlay a parameter file on it (ParseParams does).
type Settings struct {
	// Discretisation. BinCount > 0 selects a fixed bin number and BinWidth is then ignored.
	BinWidth float64 // binWidth, default 25
	BinCount int     // binCount, default none (0)

	// Resampling. ResampledPixelSpacing is nil when off; an element 0 keeps that axis' spacing.
	ResampledPixelSpacing []float64 // resampledPixelSpacing
	Interpolator          string    // interpolator: sitkBSpline (default), sitkLinear, sitkNearestNeighbor
	PadDistance           int       // padDistance, default 5
	PreCrop               bool      // preCrop

	// Intensity.
	Normalize       bool     // normalize
	NormalizeScale  float64  // normalizeScale, default 1
	RemoveOutliers  *float64 // removeOutliers (nil = none), in standard deviations
	VoxelArrayShift float64  // voxelArrayShift (firstorder Energy, TotalEnergy, RootMeanSquared)

	// Resegmentation. ResegmentRange is nil when off; one value is a lower bound only.
	ResegmentRange []float64 // resegmentRange
	ResegmentMode  string    // resegmentMode: absolute (default), relative, sigma
	ResegmentShape bool      // resegmentShape

	// Mask checks.
	MinimumROIDimensions int     // minimumROIDimensions, default 2
	MinimumROISize       int     // minimumROISize, 0 = none
	GeometryTolerance    float64 // geometryTolerance, 0 = PyRadiomics' default (1e-6 relative to spacing)
	CorrectMask          bool    // correctMask
	Label                int     // label, default 1

	// Texture.
	Force2D          bool    // force2D
	Force2DDimension int     // force2Ddimension: 0 axial, 1 coronal, 2 sagittal
	Distances        []int   // distances, default [1]
	SymmetricalGLCM  bool    // symmetricalGLCM, default true
	WeightingNorm    string  // weightingNorm: "" (none), manhattan, euclidean, infinity, no_weighting
	GLDMAlpha        float64 // gldm_a

	// Filters (settable globally or per image type).
	Sigma              []float64 // sigma (LoG), mm
	Wavelet            string    // wavelet, default coif1
	StartLevel         int       // start_level
	Level              int       // level, default 1
	GradientUseSpacing bool      // gradientUseSpacing, default true

	// Output.
	AdditionalInfo bool // additionalInfo: emit diagnostics_* keys, default true

	// IBSI switches rtpipeline's IBSI compatibility mode on (rtpipeline extension, key "ibsi"):
	// IBSI kurtosis (excess), fixed bin width origin at the resegmentation lower bound, IBSI
	// resampling grid (centred, intensities rounded for integer images) and a partial-volume
	// mask threshold of 0.5 on a linearly interpolated mask. See docs/radiomics.md.
	IBSI bool
}

// DefaultSettings returns PyRadiomics 3.0.1's defaults (RadiomicsFeatureExtractor plus the feature
// class defaults).
func DefaultSettings() Settings {
	return Settings{
		BinWidth:             25,
		Interpolator:         "sitkBSpline",
		PadDistance:          5,
		NormalizeScale:       1,
		ResegmentMode:        "absolute",
		MinimumROIDimensions: 2,
		Label:                1,
		Distances:            []int{1},
		SymmetricalGLCM:      true,
		Wavelet:              "coif1",
		Level:                1,
		GradientUseSpacing:   true,
		AdditionalInfo:       true,
	}
}

// TextureSettings returns the subset the texture classes read.
func (s *Settings) TextureSettings() TextureSettings {
	return TextureSettings{
		Distances:        append([]int(nil), s.Distances...),
		Force2D:          s.Force2D,
		Force2DDimension: s.Force2DDimension,
		Symmetrical:      s.SymmetricalGLCM,
		WeightingNorm:    s.WeightingNorm,
		GLDMAlpha:        s.GLDMAlpha,
	}
}

// Clone returns a deep copy.
func (s Settings) Clone() Settings {
	c := s
	c.ResampledPixelSpacing = append([]float64(nil), s.ResampledPixelSpacing...)
	if s.ResampledPixelSpacing == nil {
		c.ResampledPixelSpacing = nil
	}
	if s.RemoveOutliers != nil {
		v := *s.RemoveOutliers
		c.RemoveOutliers = &v
	}
	if s.ResegmentRange != nil {
		c.ResegmentRange = append([]float64(nil), s.ResegmentRange...)
	}
	c.Distances = append([]int(nil), s.Distances...)
	if s.Sigma != nil {
		c.Sigma = append([]float64(nil), s.Sigma...)
	}
	return c
}

// Image type names as they appear under imageType in a parameter file.
const (
	ImageOriginal    = "Original"
	ImageLoG         = "LoG"
	ImageWavelet     = "Wavelet"
	ImageSquare      = "Square"
	ImageSquareRoot  = "SquareRoot"
	ImageLogarithm   = "Logarithm"
	ImageExponential = "Exponential"
	ImageGradient    = "Gradient"
)

// ImageType is one enabled image type. Settings are the global settings with this image type's
// own overrides (e.g. LoG's sigma, or a per-type binWidth) applied.
type ImageType struct {
	Name     string
	Settings Settings
}

// FeatureClass is one enabled feature class; Features nil means all default features.
type FeatureClass struct {
	Name     string
	Features []string
}

// Feature class names as they appear under featureClass in a parameter file.
const (
	ClassShape      = "shape"
	ClassShape2D    = "shape2D"
	ClassFirstOrder = "firstorder"
	ClassGLCM       = "glcm"
	ClassGLRLM      = "glrlm"
	ClassGLSZM      = "glszm"
	ClassGLDM       = "gldm"
	ClassNGTDM      = "ngtdm"
)

// Params is a parsed parameter file: enabled image types and feature classes in file order, and
// the global settings.
type Params struct {
	// Source names where the parameters came from (a file path or "builtin:ct"), for provenance.
	Source         string
	ImageTypes     []ImageType
	FeatureClasses []FeatureClass
	Settings       Settings

	// lit records which settings the parameter file gave and how it spelled them (file order,
	// 25 vs 25.0), so SettingsLiteral and ImageTypesLiteral print them as PyRadiomics does; nil
	// for Params built in code (params.go).
	lit *paramsLiteral
}
