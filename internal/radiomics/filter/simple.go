package filter

import (
	"math"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// maxAbs returns the largest absolute intensity; NaN if any voxel is NaN (as numpy.max does).
func maxAbs(data []float64) float64 {
	m := 0.0
	for _, v := range data {
		a := math.Abs(v)
		if a > m {
			m = a
		} else if a != a {
			return math.NaN()
		}
	}
	return m
}

// Square returns (c·x)² with c = 1/√max|x|, so the result spans [0, max|x|] (PyRadiomics
// "square"). The sign of negative intensities is lost. An all-zero image gives NaN everywhere,
// as the formula does in numpy (0·∞).
func Square(im *imageio.Image) *imageio.Image {
	c := 1 / math.Sqrt(maxAbs(im.Data))
	out := make([]float64, len(im.Data))
	for i, x := range im.Data {
		v := c * x
		out[i] = v * v
	}
	return newLike(im, out)
}

// SquareRoot returns √(c·x) for x > 0 and −√(−c·x) for x < 0 with c = max|x|; zero stays zero
// (PyRadiomics "squareroot"). The result spans the input's absolute range.
func SquareRoot(im *imageio.Image) *imageio.Image {
	c := maxAbs(im.Data)
	out := make([]float64, len(im.Data))
	for i, x := range im.Data {
		switch {
		case x > 0:
			out[i] = math.Sqrt(x * c)
		case x < 0:
			out[i] = -math.Sqrt(-x * c)
		default:
			out[i] = x
		}
	}
	return newLike(im, out)
}

// Logarithm returns log(x+1) for x > 0 and −log(1−x) for x < 0, rescaled so that the largest
// absolute output equals max|x| (PyRadiomics "logarithm"). An all-zero image gives NaN (0/0).
func Logarithm(im *imageio.Image) *imageio.Image {
	m := maxAbs(im.Data)
	out := make([]float64, len(im.Data))
	for i, x := range im.Data {
		switch {
		case x > 0:
			out[i] = math.Log(x + 1)
		case x < 0:
			out[i] = -math.Log(-(x - 1))
		default:
			out[i] = x
		}
	}
	f := m / maxAbs(out)
	for i := range out {
		out[i] *= f
	}
	return newLike(im, out)
}

// Exponential returns exp(c·x) with c = log(max|x|)/max|x|, so max|x| maps to max|x|
// (PyRadiomics "exponential"). An all-zero image gives NaN.
func Exponential(im *imageio.Image) *imageio.Image {
	m := maxAbs(im.Data)
	c := math.Log(m) / m
	out := make([]float64, len(im.Data))
	for i, x := range im.Data {
		out[i] = math.Exp(c * x)
	}
	return newLike(im, out)
}

// Gradient returns the gradient magnitude √(Σ_a (∂x/∂a)²) with central differences
// (x[n+1] − x[n−1]) / (2·spacing_a) in mm⁻¹, edge voxels replicated outside the image (ITK's
// GradientMagnitudeImageFilter with zero-flux Neumann boundaries and image spacing on, which is
// PyRadiomics' default gradientUseSpacing: true). An axis of size 1 contributes 0.
func Gradient(im *imageio.Image) *imageio.Image {
	out := make([]float64, len(im.Data))
	if checkImage(im) != nil {
		return newLike(im, out)
	}
	nx, ny, nz := im.Grid.Size[0], im.Grid.Size[1], im.Grid.Size[2]
	sp := spacing(im.Grid)
	// Coefficients as ITK's derivative operator scaled by 1/spacing.
	hx, hy, hz := 0.5*(1/sp[0]), 0.5*(1/sp[1]), 0.5*(1/sp[2])
	d := im.Data
	for k := 0; k < nz; k++ {
		kd, ku := max(k-1, 0), min(k+1, nz-1)
		for j := 0; j < ny; j++ {
			jd, ju := max(j-1, 0), min(j+1, ny-1)
			row := (k*ny + j) * nx
			rowYd, rowYu := (k*ny+jd)*nx, (k*ny+ju)*nx
			rowZd, rowZu := (kd*ny+j)*nx, (ku*ny+j)*nx
			for i := 0; i < nx; i++ {
				id, iu := max(i-1, 0), min(i+1, nx-1)
				gx := hx*d[row+iu] - hx*d[row+id]
				gy := hy*d[rowYu+i] - hy*d[rowYd+i]
				gz := hz*d[rowZu+i] - hz*d[rowZd+i]
				out[row+i] = math.Sqrt(gx*gx + gy*gy + gz*gz)
			}
		}
	}
	return newLike(im, out)
}
