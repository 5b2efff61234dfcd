// Package filter derives the filtered images ("image types") of PyRadiomics 3.0.1 from a 3-D
// image: Laplacian of Gaussian, stationary wavelet sub-bands, square, square root, logarithm,
// exponential and gradient magnitude. The original image type is the identity.
//
// Every filter returns new images on a copy of the input grid with PixelType "float64"; the
// input is never modified. Names (Filtered.Name, LoGName) are the image type keys PyRadiomics
// uses as feature name prefixes ("log-sigma-1-0-mm-3D", "wavelet-LLH", "square", ...).
//
// LoG reproduces SimpleITK's LaplacianRecursiveGaussian (the recursive filters and float32
// intermediates of ITK); LoGFIR is a sampled-kernel alternative equal to scipy.ndimage's.
// Wavelet reproduces pywt.swtn as PyRadiomics applies it. testdata/gen_fixtures.py documents the
// reference values the tests use.
//
// Axis convention: voxel (i, j, k) of imageio.Image is PyRadiomics' (x, y, z); SimpleITK exposes
// the same voxel as numpy element [k, j, i].
//
// Grids with uneven slice positions (grid.Grid.SliceOffsets) have no single slice spacing; the
// filters that use spacing (LoG, Gradient) then use the mean slice distance. Images that
// PyRadiomics processes are always evenly spaced, so resample first where it matters.
package filter

import (
	"errors"
	"math"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// Filtered is one derived image and its PyRadiomics image type key.
type Filtered struct {
	Name  string
	Image *imageio.Image
}

// Image type keys of the filters that take no parameters.
const (
	NameOriginal    = "original"
	NameSquare      = "square"
	NameSquareRoot  = "squareroot"
	NameLogarithm   = "logarithm"
	NameExponential = "exponential"
	NameGradient    = "gradient"
)

// Errors returned by LoG and Wavelet; callers report them and skip the image type, as
// PyRadiomics logs a warning and yields nothing.
var (
	// ErrImageTooSmall: LoG needs at least 4 voxels along every axis.
	ErrImageTooSmall = errors.New("image too small for the LoG filter (every dimension must be at least 4)")
	// ErrSigmaTooLarge: PyRadiomics requires size >= ceil(sigma/spacing)+1 along every axis.
	ErrSigmaTooLarge = errors.New("LoG sigma too large for the image size")
	// ErrInvalidSigma: sigma must be a finite number > 0.
	ErrInvalidSigma = errors.New("LoG sigma must be finite and greater than 0")
	// ErrUnknownWavelet: the wavelet name is not one of WaveletNames().
	ErrUnknownWavelet = errors.New("unknown wavelet")
	// ErrInvalidLevel: level must be >= 1 and start level >= 0.
	ErrInvalidLevel = errors.New("invalid wavelet level")
	// ErrEmptyImage: the image has no voxels or its data does not match its grid.
	ErrEmptyImage = errors.New("image has no voxels or inconsistent data length")
)

// Original returns a copy of the image (the "original" image type); unlike the filters it keeps
// the input PixelType.
func Original(im *imageio.Image) *imageio.Image { return im.Clone() }

// newLike returns an image on a copy of im's grid holding data.
func newLike(im *imageio.Image, data []float64) *imageio.Image {
	g := *im.Grid
	if im.Grid.SliceOffsets != nil {
		g.SliceOffsets = append([]float64(nil), im.Grid.SliceOffsets...)
	}
	return &imageio.Image{Grid: &g, Data: data, PixelType: "float64"}
}

// spacing returns the voxel spacing along i, j and k; for unevenly spaced slices, the mean slice
// distance.
func spacing(g *grid.Grid) [3]float64 {
	sp := g.Spacing
	if n := len(g.SliceOffsets); n > 1 {
		sp[2] = math.Abs(g.SliceOffsets[n-1]-g.SliceOffsets[0]) / float64(n-1)
	}
	return sp
}

// checkImage reports whether im has voxels and data matching its grid.
func checkImage(im *imageio.Image) error {
	if im == nil || im.Grid == nil {
		return ErrEmptyImage
	}
	s := im.Grid.Size
	if s[0] <= 0 || s[1] <= 0 || s[2] <= 0 || len(im.Data) != s[0]*s[1]*s[2] {
		return ErrEmptyImage
	}
	return nil
}
