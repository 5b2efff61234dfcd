package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// LoGTruncate is the kernel half-width of LoGFIR in standard deviations: along an axis with
// σ_a = sigma/spacing_a voxels, the kernels have radius int(LoGTruncate·σ_a + 0.5) voxels
// (scipy.ndimage's default rule). LoG uses recursive filters and has no truncation.
const LoGTruncate = 4.0

// LoGName returns PyRadiomics' image type key for a LoG sigma (mm): "log-sigma-<s>-mm-3D" where
// <s> is Python's str() of the float with '.' replaced by '-' (1.0 → "1-0", 2.5 → "2-5",
// 0.0001 → "0-0001"). PyRadiomics formats the value as read from the parameter file, so a sigma
// written as the integer 1 there is keyed "log-sigma-1-mm-3D"; this function assumes a float.
func LoGName(sigmaMM float64) string {
	return "log-sigma-" + strings.ReplaceAll(PyFloat(sigmaMM), ".", "-") + "-mm-3D"
}

// PyFloat formats v as Python 3's str(float) (= repr): the shortest representation that
// round-trips, in positional notation with at least one decimal for exponents -4..15, otherwise
// as d.ddde±XX. PyRadiomics builds image type names and its diagnostics with it.
func PyFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(v, 'e', -1, 64) // e.g. "-1.25e+02"
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	if exp >= -4 && exp < 16 {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	sign := "+"
	if exp < 0 {
		sign, exp = "-", -exp
	}
	return fmt.Sprintf("%se%s%02d", mant, sign, exp)
}

// LoG returns the scale-normalised Laplacian of Gaussian σ²·∇²(G_σ * I) with σ = sigmaMM in
// millimetres and derivatives per mm, as PyRadiomics' "log-sigma-<s>-mm-3D" image type computes
// it with SimpleITK's LaplacianRecursiveGaussian (NormalizeAcrossScale on). Bright blobs of
// radius ≈ σ√3 give strongly negative values.
//
// Method: the recursive (IIR) filters of ITK's RecursiveGaussianImageFilter, reimplemented:
// Deriche's 4th-order approximation with σ_a = sigmaMM/spacing_a samples per axis, normalised
// exactly on the sampled grid, border values continued outside the image. As in ITK, the term
// of each axis a is its second derivative followed by Gaussian smoothing along the other axes
// in increasing axis order, divided by spacing_a² and accumulated; every intermediate image and
// the sum are rounded to float32 (ITK's internal pixel type). The result agrees with ITK 5.2 to
// float32 rounding (testdata/itk_log.json). Compared with the exact continuous LoG, Deriche's
// approximation is off by up to about 1% of the response's peak (see LoGFIR for a sampled-kernel
// alternative).
//
// Errors (the caller reports them and skips this sigma, as PyRadiomics does): ErrImageTooSmall
// when any dimension is < 4, ErrInvalidSigma when sigmaMM is not finite and > 0,
// ErrSigmaTooLarge when some axis has fewer than ceil(sigmaMM/spacing)+1 voxels.
func LoG(im *imageio.Image, sigmaMM float64) (*imageio.Image, error) {
	sp, err := checkLoG(im, sigmaMM)
	if err != nil {
		return nil, err
	}
	size := im.Grid.Size
	n := size[0] * size[1] * size[2]
	acc := make([]float64, n)
	tmp := make([]float64, n)
	scratch := make([]float64, n)
	// pass filters tmp in place along axis a.
	pass := func(c *iirCoeffs, a int, src []float64) {
		blk, outer := 1, 1
		for b := range a {
			blk *= size[b]
		}
		for b := a + 1; b < 3; b++ {
			outer *= size[b]
		}
		c.iirPass(src, tmp, scratch, size[a], blk, outer, true)
	}
	var smooth, deriv [3]iirCoeffs
	for a := range 3 {
		smooth[a] = gaussianIIR(sigmaMM/sp[a], 0, 1)
		deriv[a] = gaussianIIR(sigmaMM/sp[a], 2, sigmaMM*sigmaMM)
	}
	for d := range 3 {
		pass(&deriv[d], d, im.Data)
		for a := range 3 {
			if a != d {
				pass(&smooth[a], a, tmp)
			}
		}
		inv := 1 / (sp[d] * sp[d])
		for i, v := range tmp {
			acc[i] = float64(float32(acc[i] + v*inv))
		}
	}
	return newLike(im, acc), nil
}

// checkLoG validates LoG's arguments as PyRadiomics does and returns the spacing.
func checkLoG(im *imageio.Image, sigmaMM float64) ([3]float64, error) {
	if err := checkImage(im); err != nil {
		return [3]float64{}, err
	}
	size := im.Grid.Size
	if min(size[0], size[1], size[2]) < 4 {
		return [3]float64{}, fmt.Errorf("%w: size %v", ErrImageTooSmall, size)
	}
	if !(sigmaMM > 0) || math.IsInf(sigmaMM, 0) {
		return [3]float64{}, fmt.Errorf("%w: %g", ErrInvalidSigma, sigmaMM)
	}
	sp := spacing(im.Grid)
	for a := range 3 {
		if !(sp[a] > 0) {
			return sp, fmt.Errorf("%w: spacing %v", ErrInvalidSigma, sp)
		}
		if float64(size[a]) < math.Ceil(sigmaMM/sp[a])+1 {
			return sp, fmt.Errorf("%w: sigma %g mm, spacing %v, size %v", ErrSigmaTooLarge, sigmaMM, sp, size)
		}
	}
	return sp, nil
}

// LoGFIR computes the same quantity as LoG with sampled kernels instead of recursive filters, in
// float64: per axis the unit-sum sampled Gaussian with σ_a = sigmaMM/spacing_a voxels and its
// analytic second derivative times that Gaussian, truncated at int(LoGTruncate·σ_a + 0.5)
// voxels, samples outside the image repeating the nearest edge voxel. This is exactly
// scipy.ndimage.gaussian_filter(order=2 along one axis, mode="nearest", truncate=4) divided by
// spacing², summed over the axes and multiplied by sigmaMM² (testdata/log.json).
//
// Limits: the truncated second-derivative kernel does not sum exactly to zero (relative ~1e-3 at
// truncation 4σ), so a constant image c gives ≈ −3e-3·c instead of 0; and for σ_a below about one
// voxel the sampled kernels are poor. LoG, which matches SimpleITK, is the PyRadiomics
// equivalent; LoGFIR serves as an independent cross-check. Same errors as LoG.
func LoGFIR(im *imageio.Image, sigmaMM float64) (*imageio.Image, error) {
	sp, err := checkLoG(im, sigmaMM)
	if err != nil {
		return nil, err
	}
	size := im.Grid.Size
	var g, d [3][]float64 // half kernels (index = distance from centre)
	for a := range 3 {
		g[a], d[a] = logKernels(sigmaMM / sp[a])
	}
	nx, ny, nz := size[0], size[1], size[2]
	n := nx * ny * nz
	buf := make([]float64, 4*n)
	gx, dx, gxy, s := buf[:n], buf[n:2*n], buf[2*n:3*n], buf[3*n:]
	out := make([]float64, n)

	// x: smooth and differentiate the input.
	symPassX(im.Data, gx, dx, nx, ny*nz, g[0], d[0])
	// y: Gy·Gx·I, and Dy·Gx·I + Gy·Dx·I.
	symPassBlock(gx, nil, gxy, ny, nx, nz, g[1], nil)
	symPassBlock(gx, dx, s, ny, nx, nz, d[1], g[1])
	// z: Gz·(Dy·Gx + Gy·Dx)·I + Dz·Gy·Gx·I.
	symPassBlock(s, gxy, out, nz, nx*ny, 1, g[2], d[2])
	return newLike(im, out), nil
}

// logKernels returns the half kernels (centre first) of the unit-sum sampled Gaussian G with
// standard deviation sigma (voxels) and of σ² times its second derivative, G·(x²/σ² − 1), both
// truncated at int(LoGTruncate·σ + 0.5).
func logKernels(sigma float64) (g, d []float64) {
	r := int(LoGTruncate*sigma + 0.5)
	g = make([]float64, r+1)
	d = make([]float64, r+1)
	sum := 0.0
	for t := 0; t <= r; t++ {
		g[t] = math.Exp(-0.5 / (sigma * sigma) * float64(t*t))
		if t == 0 {
			sum += g[t]
		} else {
			sum += 2 * g[t]
		}
	}
	for t := range g {
		g[t] /= sum
		d[t] = g[t] * (float64(t*t)/(sigma*sigma) - 1)
	}
	return g, d
}

// symPassX filters the rows of src (rows of length n along the contiguous axis, count rows) with
// two symmetric half kernels of equal radius, edge samples repeated: dstA gets ka, dstB kb.
func symPassX(src, dstA, dstB []float64, n, rows int, ka, kb []float64) {
	r := len(ka) - 1
	ext := make([]float64, n+2*r)
	for row := range rows {
		line := src[row*n : (row+1)*n]
		for m := range ext {
			ext[m] = line[min(max(m-r, 0), n-1)]
		}
		a := dstA[row*n : (row+1)*n]
		b := dstB[row*n : (row+1)*n]
		for o := range a {
			c := ext[o : o+2*r+1]
			va := ka[0] * c[r]
			vb := kb[0] * c[r]
			for t := 1; t <= r; t++ {
				p := c[r+t] + c[r-t]
				va += ka[t] * p
				vb += kb[t] * p
			}
			a[o] = va
			b[o] = vb
		}
	}
}

// symPassBlock filters an array viewed as [outer][n][blk] along its middle axis, edge samples
// repeated: dst = ka*srcA + kb*srcB (the second term only when srcB is not nil). ka and kb are
// symmetric half kernels of equal radius.
func symPassBlock(srcA, srcB, dst []float64, n, blk, outer int, ka, kb []float64) {
	r := len(ka) - 1
	const chunk = 1024
	for q := range outer {
		base := q * n * blk
		for c0 := 0; c0 < blk; c0 += chunk {
			c1 := min(c0+chunk, blk)
			for o := range n {
				at := func(src []float64, p int) []float64 {
					p = min(max(p, 0), n-1)
					return src[base+p*blk+c0 : base+p*blk+c1]
				}
				dv := dst[base+o*blk+c0 : base+o*blk+c1]
				accCentre(dv, at(srcA, o), ka[0])
				if srcB != nil {
					accAdd(dv, at(srcB, o), kb[0])
				}
				for t := 1; t <= r; t++ {
					accPair(dv, at(srcA, o+t), at(srcA, o-t), ka[t])
					if srcB != nil {
						accPair(dv, at(srcB, o+t), at(srcB, o-t), kb[t])
					}
				}
			}
		}
	}
}

// accCentre sets dst = w·a.
func accCentre(dst, a []float64, w float64) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] = w * a[i]
	}
}

// accAdd adds w·a to dst.
func accAdd(dst, a []float64, w float64) {
	a = a[:len(dst)]
	for i := range dst {
		dst[i] += w * a[i]
	}
}

// accPair adds w·(a+b) to dst.
func accPair(dst, a, b []float64, w float64) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		dst[i] += w * (a[i] + b[i])
	}
}
