package radiomics

// Resampling as PyRadiomics 3.0.1 does it through SimpleITK: itk::ResampleImageFilter<In, Out,
// double> with an identity transform, default value 0, and the interpolators SimpleITK maps
// sitkNearestNeighbor, sitkLinear and sitkBSpline to (ITK 5.2). The arithmetic follows ITK step by
// step (same operations in the same order, no fused multiply-adds) so that results agree with ITK
// bit for bit wherever the geometry lets them: the outputs are cast to integer pixel types by
// truncation, and nearest-neighbour ties sit exactly on half-integer indices in PyRadiomics'
// grids, so a last-bit difference would change voxels, not just decimals.
// testdata/resample/gen_itk_resample.cxx produces the ITK reference the tests compare against.

import (
	"fmt"
	"math"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// Interpolator names as in PyRadiomics settings (SimpleITK's enumeration names).
const (
	// InterpolatorBSpline is ITK's BSplineInterpolateImageFunction of order 3 (PyRadiomics' default).
	InterpolatorBSpline = "sitkBSpline"
	// InterpolatorLinear is ITK's LinearInterpolateImageFunction.
	InterpolatorLinear = "sitkLinear"
	// InterpolatorNearest is ITK's NearestNeighborInterpolateImageFunction.
	InterpolatorNearest = "sitkNearestNeighbor"
)

// ResampleOnto resamples im onto the grid ref (ref's Data ignored) with the named interpolator, as
// SimpleITK's ResampleImageFilter with an identity transform and default value 0 does, and casts
// to im.PixelType as ITK does: integer types clamp to their range and truncate toward zero,
// float32 clamps to ±MaxFloat32 and rounds, float64 is left alone. Output voxels whose continuous
// index in im lies outside [-0.5, size-0.5) on any axis get 0.
//
// Grids with uneven slice positions (SliceOffsets) are rejected: ITK images cannot express them.
func ResampleOnto(im *imageio.Image, ref *grid.Grid, interpolator string) (*imageio.Image, error) {
	kind, err := rsParseInterpolator(interpolator)
	if err != nil {
		return nil, err
	}
	if err := rsCheckImage(im, "image"); err != nil {
		return nil, err
	}
	cast, err := rsCaster(im.PixelType)
	if err != nil {
		return nil, err
	}
	return rsResample(im, ref, kind, cast, im.PixelType)
}

// ResampleForExtraction is PyRadiomics 3.0.1 imageoperations.resampleImage: image with the
// interpolator, mask nearest neighbour, onto a grid of the given spacing covering the ROI
// (mask == label) bounding box ± padDistance voxels.
//
// A spacing element 0 keeps the mask's spacing on that axis, and so does every axis on which the
// ROI is one voxel thick. The new grid has the mask's direction; its size and origin come from the
// ROI bounding box in the mask's index space, aligned so that the new grid's voxel edges coincide
// with the mask's outer voxel edge at index -0.5, clipped to the mask's extent. When the resulting
// spacing equals the image's (numpy.allclose), nothing is interpolated: the mask is resampled
// nearest neighbour onto the image grid and both are cropped to the ROI's bounding box ± padDistance
// (clipped to the image). The image keeps its PixelType; the mask comes back as "uint32", the
// type PyRadiomics casts every mask to.
//
// Errors: unknown interpolator, a spacing that is not 3 finite values >= 0, a negative padDistance,
// no voxel equal to label, and (as PyRadiomics' _checkROI) a ROI bounding box reaching outside the
// image's physical extent by more than 1e-3 voxel.
func ResampleForExtraction(image, mask *imageio.Image, label int, spacing []float64, interpolator string, padDistance int) (*imageio.Image, *imageio.Image, error) {
	kind, err := rsParseInterpolator(interpolator)
	if err != nil {
		return nil, nil, err
	}
	if err := rsCheckImage(image, "image"); err != nil {
		return nil, nil, err
	}
	if err := rsCheckImage(mask, "mask"); err != nil {
		return nil, nil, err
	}
	if len(spacing) != 3 {
		return nil, nil, fmt.Errorf("resample: resampledPixelSpacing needs 3 values (x, y, z), got %d", len(spacing))
	}
	for a, s := range spacing {
		if !(s >= 0) || math.IsInf(s, 1) {
			return nil, nil, fmt.Errorf("resample: resampledPixelSpacing[%d] = %g; spacings must be finite and >= 0 (0 keeps the mask's spacing)", a, s)
		}
	}
	if padDistance < 0 {
		return nil, nil, fmt.Errorf("resample: padDistance %d is negative", padDistance)
	}
	imageCast, err := rsCaster(image.PixelType)
	if err != nil {
		return nil, nil, err
	}
	maskCast, _ := rsCaster("uint32")
	mg, err := rsGeometry(mask.Grid, "mask")
	if err != nil {
		return nil, nil, err
	}
	ig, err := rsGeometry(image.Grid, "image")
	if err != nil {
		return nil, nil, err
	}

	maskSp := mask.Grid.Spacing
	var newSp [3]float64
	for a := range 3 {
		newSp[a] = spacing[a]
		if newSp[a] == 0 {
			newSp[a] = maskSp[a]
		}
	}
	lo, hi, ok := rsLabelBox(mask, label)
	if !ok {
		return nil, nil, fmt.Errorf("resample: %w: label %d not present in mask", ErrROI, label)
	}
	if err := rsCheckROIInside(ig, mg, lo, hi); err != nil {
		return nil, nil, err
	}
	for a := range 3 {
		if hi[a] == lo[a] { // one voxel thick: PyRadiomics does not resample along this axis
			newSp[a] = maskSp[a]
		}
	}

	// numpy.allclose(imageSpacing, resampledPixelSpacing): PyRadiomics compares with the image's
	// spacing here, not the mask's.
	equal := true
	for a := range 3 {
		if math.Abs(image.Grid.Spacing[a]-newSp[a]) > 1e-8+float64(1e-5*math.Abs(newSp[a])) {
			equal = false
		}
	}
	if equal {
		onImage, err := rsResample(mask, image.Grid, rsNearest, maskCast, "uint32")
		if err != nil {
			return nil, nil, fmt.Errorf("resample: mask onto the image grid: %w", err)
		}
		lo, hi, ok := rsLabelBox(onImage, label)
		if !ok {
			return nil, nil, fmt.Errorf("resample: %w: label %d vanished when resampling the mask onto the image grid", ErrROI, label)
		}
		// cropToTumorMask: the box ± padDistance, clipped to the image.
		size := image.Grid.Size
		for a := range 3 {
			lo[a] = max(lo[a]-padDistance, 0)
			hi[a] = min(hi[a]+padDistance, size[a]-1)
		}
		return rsCrop(image, ig, lo, hi), rsCrop(onImage, ig, lo, hi), nil
	}

	var newSize [3]int
	var originIdx [3]float64
	for a := range 3 {
		// The formulas and operation order of resampleImage, evaluated in float64 as numpy does.
		ratio := maskSp[a] / newSp[a]
		lb := math.Floor(float64((float64(lo[a])-0.5)*ratio) - float64(padDistance))
		ub := math.Ceil(float64((float64(lo[a]+(hi[a]-lo[a]+1))-0.5)*ratio) + float64(padDistance))
		maxUB := math.Ceil(float64(mask.Grid.Size[a])*ratio) - 1
		if lb < 0 {
			lb = 0
		}
		if ub > maxUB {
			ub = maxUB
		}
		n := ub - lb + 1
		if !(n >= 1) || n > grid.MaxVoxels {
			return nil, nil, fmt.Errorf("resample: axis %d: resampling grid of %g voxels (spacing %g mm)", a, n, newSp[a])
		}
		newSize[a] = int(n)
		originIdx[a] = 0.5*(newSp[a]-maskSp[a])/maskSp[a] + lb/ratio
	}
	if float64(newSize[0])*float64(newSize[1])*float64(newSize[2]) > grid.MaxVoxels {
		return nil, nil, fmt.Errorf("resample: resampling grid %v too large", newSize)
	}
	out := &grid.Grid{
		Origin:  grid.Vec(mg.continuousIndexToPoint(originIdx)),
		Axes:    mask.Grid.Axes,
		Spacing: newSp,
		Size:    newSize,
	}
	resImage, err := rsResample(image, out, kind, imageCast, image.PixelType)
	if err != nil {
		return nil, nil, fmt.Errorf("resample: image: %w", err)
	}
	resMask, err := rsResample(mask, out, rsNearest, maskCast, "uint32")
	if err != nil {
		return nil, nil, fmt.Errorf("resample: mask: %w", err)
	}
	return resImage, resMask, nil
}

type rsKind int

const (
	rsNearest rsKind = iota
	rsLinear
	rsBSpline
)

func rsParseInterpolator(name string) (rsKind, error) {
	switch name {
	case InterpolatorNearest:
		return rsNearest, nil
	case InterpolatorLinear:
		return rsLinear, nil
	case InterpolatorBSpline:
		return rsBSpline, nil
	}
	return 0, fmt.Errorf("resample: unknown interpolator %q (supported: %s, %s, %s)", name, InterpolatorBSpline, InterpolatorLinear, InterpolatorNearest)
}

func rsCheckImage(im *imageio.Image, what string) error {
	if im == nil || im.Grid == nil {
		return fmt.Errorf("resample: %s is missing", what)
	}
	if n := im.Grid.Voxels(); n <= 0 || len(im.Data) != n {
		return fmt.Errorf("resample: %s has %d values for a %v grid", what, len(im.Data), im.Grid.Size)
	}
	return nil
}

// rsCaster returns ITK's ResampleImageFilter::CastPixelWithBoundsChecking for the pixel type: the
// interpolated double is clamped to [NonpositiveMin, max] of the type and then static_cast, which
// truncates toward zero for integers and rounds to nearest for float32. float64 output is not
// touched ("" means float64, as imageio writes it).
func rsCaster(pixelType string) (func(float64) float64, error) {
	intCast := func(lo, hi float64) func(float64) float64 {
		return func(v float64) float64 {
			switch {
			case v <= lo:
				return lo
			case v >= hi:
				return hi
			case v != v:
				return 0 // NaN: undefined in C++; 0 is what a cleared output would hold
			}
			return math.Trunc(v)
		}
	}
	switch pixelType {
	case "int8":
		return intCast(math.MinInt8, math.MaxInt8), nil
	case "uint8":
		return intCast(0, math.MaxUint8), nil
	case "int16":
		return intCast(math.MinInt16, math.MaxInt16), nil
	case "uint16":
		return intCast(0, math.MaxUint16), nil
	case "int32":
		return intCast(math.MinInt32, math.MaxInt32), nil
	case "uint32":
		return intCast(0, math.MaxUint32), nil
	case "int64":
		return intCast(math.MinInt64, math.MaxInt64), nil
	case "uint64":
		return intCast(0, math.MaxUint64), nil
	case "float32":
		return func(v float64) float64 {
			switch {
			case v <= -math.MaxFloat32:
				return -math.MaxFloat32
			case v >= math.MaxFloat32:
				return math.MaxFloat32
			}
			return float64(float32(v))
		}, nil
	case "float64", "":
		return func(v float64) float64 { return v }, nil
	}
	return nil, fmt.Errorf("resample: unsupported pixel type %q", pixelType)
}

// rsGeom holds a grid as ITK holds an image's geometry: origin, the index-to-physical matrix
// M = Direction·diag(Spacing) and its inverse.
type rsGeom struct {
	origin [3]float64
	dir    [3][3]float64 // dir[r][c]: component r of index axis c
	m, inv [3][3]float64
	size   [3]int
	// aligned: every direction entry is 0 or ±1, so that index axes map to physical axes with
	// exact zeros elsewhere, which the per-axis shortcut relies on.
	aligned bool
}

// rsGeometry converts g (what names it in errors), rejecting what ITK cannot represent.
func rsGeometry(g *grid.Grid, what string) (*rsGeom, error) {
	if g == nil {
		return nil, fmt.Errorf("resample: %s grid is missing", what)
	}
	if g.SliceOffsets != nil {
		return nil, fmt.Errorf("resample: %s grid has unevenly spaced slices, which ITK images cannot represent", what)
	}
	r := &rsGeom{origin: g.Origin, size: g.Size, aligned: true}
	for a := range 3 {
		if g.Size[a] <= 0 {
			return nil, fmt.Errorf("resample: %s grid size %v", what, g.Size)
		}
		if s := g.Spacing[a]; !(s > 0) || math.IsInf(s, 1) {
			return nil, fmt.Errorf("resample: %s grid spacing %v must be finite and > 0", what, g.Spacing)
		}
		if math.IsNaN(g.Origin[a]) || math.IsInf(g.Origin[a], 0) {
			return nil, fmt.Errorf("resample: %s grid origin %v is not finite", what, g.Origin)
		}
	}
	for row := range 3 {
		for c := range 3 {
			d := g.Axes[c][row]
			if math.IsNaN(d) || math.IsInf(d, 0) {
				return nil, fmt.Errorf("resample: %s grid direction %v is not finite", what, g.Axes)
			}
			r.dir[row][c] = d
			r.m[row][c] = d * g.Spacing[c]
			if d != 0 && d != 1 && d != -1 {
				r.aligned = false
			}
		}
	}
	m := &r.m
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	if det == 0 || math.IsNaN(det) {
		return nil, fmt.Errorf("resample: %s grid direction %v is singular", what, g.Axes)
	}
	var ok bool
	if r.inv, ok = rsSVDInverse(r.m); !ok {
		return nil, fmt.Errorf("resample: %s grid direction %v: no converged inverse", what, g.Axes)
	}
	return r, nil
}

// rsSVDInverse is ImageBase's PhysicalPointToIndex matrix: vnl_matrix_inverse, i.e. the SVD of m
// by LINPACK dsvdc (ITK's v3p_netlib build) and V·diag(1/w)·Uᵀ. Any exact inverse differs from it
// in the last bits for oblique directions, which moves nearest-neighbour ties and integer
// truncations that ITK's results depend on; so the SVD is reproduced operation by operation.
func rsSVDInverse(m [3][3]float64) ([3][3]float64, bool) {
	w, u, v, ok := rsDsvdc(m)
	var winv, vw, inv [3][3]float64
	for k := range 3 {
		if w[k] != 0 { // zero_out_absolute(0): exact zeros stay zero
			winv[k][k] = 1 / w[k]
		}
	}
	for i := range 3 { // vnl_matrix products, summed in index order
		for k := range 3 {
			sum := 0.0
			for j := range 3 {
				sum += float64(v[i][j] * winv[j][k])
			}
			vw[i][k] = sum
		}
	}
	for i := range 3 {
		for k := range 3 {
			sum := 0.0
			for j := range 3 {
				sum += float64(vw[i][j] * u[k][j])
			}
			inv[i][k] = sum
		}
	}
	return inv, ok
}

// rsDsvdc is LINPACK's dsvdc (G. W. Stewart, 1978/84) for a 3x3 matrix with job 21 (economy U and
// V), as vnl_svd calls it: returns |singular values| in decreasing order, U and V. Indices are
// 1-based as in the Fortran; x, u, v are [row][column].
func rsDsvdc(a [3][3]float64) (w [3]float64, U, V [3][3]float64, ok bool) {
	const n, p = 3, 3
	var x, u, v [4][4]float64
	var s, e, work [4]float64
	for i := range 3 {
		for j := range 3 {
			x[i+1][j+1] = a[i][j]
		}
	}
	// The BLAS level-1 routines on columns (rows from..n) of the 4x4 arrays.
	nrm2 := func(m *[4][4]float64, col, from int) float64 {
		if from == n {
			return math.Abs(m[from][col])
		}
		scale, ssq := 0.0, 1.0
		for i := from; i <= n; i++ {
			if xi := m[i][col]; xi != 0 {
				ax := math.Abs(xi)
				if scale < ax {
					t := scale / ax
					ssq = float64(ssq*float64(t*t)) + 1
					scale = ax
				} else {
					t := ax / scale
					ssq += float64(t * t)
				}
			}
		}
		return scale * math.Sqrt(ssq)
	}
	dot := func(m *[4][4]float64, c1, c2, from int) float64 {
		sum := 0.0
		for i := from; i <= n; i++ {
			sum += float64(m[i][c1] * m[i][c2])
		}
		return sum
	}
	axpy := func(m *[4][4]float64, t float64, c1, c2, from int) { // column c2 += t·column c1
		if t == 0 {
			return
		}
		for i := from; i <= n; i++ {
			m[i][c2] += float64(t * m[i][c1])
		}
	}
	scal := func(m *[4][4]float64, t float64, col, from int) {
		for i := from; i <= n; i++ {
			m[i][col] *= t
		}
	}
	rot := func(m *[4][4]float64, c1, c2 int, c, sn float64) {
		for i := 1; i <= n; i++ {
			x1, x2 := m[i][c1], m[i][c2]
			m[i][c1] = float64(c*x1) + float64(sn*x2)
			m[i][c2] = float64(c*x2) - float64(sn*x1)
		}
	}
	sign := func(a, b float64) float64 { // Fortran dsign
		a = math.Abs(a)
		if b >= 0 {
			return a
		}
		return -a
	}
	// drotg: Givens rotation; returns r (overwrites sa) and z (overwrites sb) with c and s.
	rotg := func(sa, sb float64) (r, z, c, sn float64) {
		roe := sb
		if math.Abs(sa) > math.Abs(sb) {
			roe = sa
		}
		scale := math.Abs(sa) + math.Abs(sb)
		if scale == 0 {
			return 0, 0, 1, 0
		}
		ta, tb := sa/scale, sb/scale
		r = scale * math.Sqrt(float64(ta*ta)+float64(tb*tb))
		r = sign(1, roe) * r
		c, sn = sa/r, sb/r
		z = 1
		if math.Abs(sa) > math.Abs(sb) {
			z = sn
		}
		if math.Abs(sb) >= math.Abs(sa) && c != 0 {
			z = 1 / c
		}
		return r, z, c, sn
	}

	// Reduce x to bidiagonal form: nct = 2 column and nrt = 1 row Householder transformations.
	const nct, nrt = 2, 1
	for l := 1; l <= 2; l++ {
		lp1 := l + 1
		if l <= nct {
			s[l] = nrm2(&x, l, l)
			if s[l] != 0 {
				if x[l][l] != 0 {
					s[l] = sign(s[l], x[l][l])
				}
				scal(&x, 1/s[l], l, l)
				x[l][l] += 1
			}
			s[l] = -s[l]
		}
		for j := lp1; j <= p; j++ {
			if l <= nct && s[l] != 0 {
				t := -dot(&x, l, j, l) / x[l][l]
				axpy(&x, t, l, j, l)
			}
			e[j] = x[l][j]
		}
		if l <= nct {
			for i := l; i <= n; i++ {
				u[i][l] = x[i][l]
			}
		}
		if l <= nrt {
			// e(l) = dnrm2(p-l, e(lp1)); the row vector lives in e.
			var er [4][4]float64
			for i := lp1; i <= p; i++ {
				er[i][1] = e[i]
			}
			e[l] = nrm2(&er, 1, lp1)
			if e[l] != 0 {
				if e[lp1] != 0 {
					e[l] = sign(e[l], e[lp1])
				}
				t := 1 / e[l]
				for i := lp1; i <= p; i++ {
					e[i] *= t
				}
				e[lp1] += 1
			}
			e[l] = -e[l]
			if lp1 <= n && e[l] != 0 {
				for i := lp1; i <= n; i++ {
					work[i] = 0
				}
				for j := lp1; j <= p; j++ {
					if t := e[j]; t != 0 {
						for i := lp1; i <= n; i++ {
							work[i] += float64(t * x[i][j])
						}
					}
				}
				for j := lp1; j <= p; j++ {
					if t := -e[j] / e[lp1]; t != 0 {
						for i := lp1; i <= n; i++ {
							x[i][j] += float64(t * work[i])
						}
					}
				}
			}
			for i := lp1; i <= p; i++ {
				v[i][l] = e[i]
			}
		}
	}
	// The final bidiagonal matrix of order m = 3.
	m := 3
	s[3] = x[3][3]
	e[2] = x[2][3]
	e[3] = 0

	// Generate U: column 3 is e3, then back-multiply the column transformations.
	for i := 1; i <= n; i++ {
		u[i][3] = 0
	}
	u[3][3] = 1
	for l := nct; l >= 1; l-- {
		if s[l] != 0 {
			for j := l + 1; j <= 3; j++ {
				t := -dot(&u, l, j, l) / u[l][l]
				axpy(&u, t, l, j, l)
			}
			scal(&u, -1, l, l)
			u[l][l] += 1
			for i := 1; i <= l-1; i++ {
				u[i][l] = 0
			}
		} else {
			for i := 1; i <= n; i++ {
				u[i][l] = 0
			}
			u[l][l] = 1
		}
	}
	// Generate V.
	for l := p; l >= 1; l-- {
		lp1 := l + 1
		if l <= nrt && e[l] != 0 {
			for j := lp1; j <= p; j++ {
				t := -dot(&v, l, j, lp1) / v[lp1][l]
				axpy(&v, t, l, j, lp1)
			}
		}
		for i := 1; i <= p; i++ {
			v[i][l] = 0
		}
		v[l][l] = 1
	}

	// QR iterations for the singular values.
	mm, iter := m, 0
	for m > 0 {
		if iter >= 1000 {
			return w, U, V, false
		}
		// Inspect for negligible elements: kase 1 (s(m) and e(l-1) negligible, l < m), 2 (s(l)
		// negligible), 3 (e(l-1) negligible: QR step), 4 (e(m-1) negligible: convergence).
		l := 0
		for ll := 1; ll <= m; ll++ {
			l = m - ll
			if l == 0 {
				break
			}
			test := math.Abs(s[l]) + math.Abs(s[l+1])
			if test+math.Abs(e[l]) == test {
				e[l] = 0
				break
			}
		}
		kase := 4
		if l != m-1 {
			ls := 0
			for lls := l + 1; lls <= m+1; lls++ {
				ls = m - lls + l + 1
				if ls == l {
					break
				}
				test := 0.0
				if ls != m {
					test += math.Abs(e[ls])
				}
				if ls != l+1 {
					test += math.Abs(e[ls-1])
				}
				if test+math.Abs(s[ls]) == test {
					s[ls] = 0
					break
				}
			}
			switch {
			case ls == l:
				kase = 3
			case ls == m:
				kase = 1
			default:
				kase, l = 2, ls
			}
		}
		l++
		switch kase {
		case 1: // deflate negligible s(m)
			f := e[m-1]
			e[m-1] = 0
			for k := m - 1; k >= l; k-- {
				var c, sn float64
				s[k], f, c, sn = rotg(s[k], f)
				if k != l {
					f = -sn * e[k-1]
					e[k-1] = c * e[k-1]
				}
				rot(&v, k, m, c, sn)
			}
		case 2: // split at negligible s(l)
			f := e[l-1]
			e[l-1] = 0
			for k := l; k <= m; k++ {
				var c, sn float64
				s[k], f, c, sn = rotg(s[k], f)
				f = -sn * e[k]
				e[k] = c * e[k]
				rot(&u, k, l-1, c, sn)
			}
		case 3: // one QR step with the shift of the trailing 2x2
			scale := max(math.Abs(s[m]), math.Abs(s[m-1]), math.Abs(e[m-1]), math.Abs(s[l]), math.Abs(e[l]))
			sm, smm1, emm1 := s[m]/scale, s[m-1]/scale, e[m-1]/scale
			sl, el := s[l]/scale, e[l]/scale
			b := (float64((smm1+sm)*(smm1-sm)) + float64(emm1*emm1)) / 2
			c := float64(sm*emm1) * float64(sm*emm1)
			shift := 0.0
			if b != 0 || c != 0 {
				shift = math.Sqrt(float64(b*b) + c)
				if b < 0 {
					shift = -shift
				}
				shift = c / (b + shift)
			}
			f := float64((sl+sm)*(sl-sm)) + shift
			g := sl * el
			for k := l; k <= m-1; k++ {
				var cs, sn float64
				f, g, cs, sn = rotg(f, g)
				if k != l {
					e[k-1] = f
				}
				f = float64(cs*s[k]) + float64(sn*e[k])
				e[k] = float64(cs*e[k]) - float64(sn*s[k])
				g = sn * s[k+1]
				s[k+1] = cs * s[k+1]
				rot(&v, k, k+1, cs, sn)
				f, g, cs, sn = rotg(f, g)
				s[k] = f
				f = float64(cs*e[k]) + float64(sn*s[k+1])
				s[k+1] = float64(-sn*e[k]) + float64(cs*s[k+1])
				g = sn * e[k+1]
				e[k+1] = cs * e[k+1]
				if k < n {
					rot(&u, k, k+1, cs, sn)
				}
			}
			e[m-1] = f
			iter++
		case 4: // convergence: make s(l) positive and sort
			if s[l] < 0 {
				s[l] = -s[l]
				scal(&v, -1, l, 1)
			}
			for l != mm && !(s[l] >= s[l+1]) {
				s[l], s[l+1] = s[l+1], s[l]
				for i := 1; i <= 3; i++ {
					v[i][l], v[i][l+1] = v[i][l+1], v[i][l]
					u[i][l], u[i][l+1] = u[i][l+1], u[i][l]
				}
				l++
			}
			iter = 0
			m--
		}
	}
	for i := range 3 {
		w[i] = math.Abs(s[i+1])
		for j := range 3 {
			U[i][j], V[i][j] = u[i+1][j+1], v[i+1][j+1]
		}
	}
	return w, U, V, true
}

// indexToPoint is ITK's TransformIndexToPhysicalPoint (integer index).
func (g *rsGeom) indexToPoint(i, j, k int) [3]float64 {
	idx := [3]float64{float64(i), float64(j), float64(k)}
	var p [3]float64
	for r := range 3 {
		p[r] = g.origin[r]
		for c := range 3 {
			p[r] += float64(g.m[r][c] * idx[c])
		}
	}
	return p
}

// continuousIndexToPoint is ITK's TransformContinuousIndexToPhysicalPoint, which sums before adding
// the origin (unlike indexToPoint).
func (g *rsGeom) continuousIndexToPoint(idx [3]float64) [3]float64 {
	var p [3]float64
	for r := range 3 {
		sum := 0.0
		for c := range 3 {
			sum += float64(g.m[r][c] * idx[c])
		}
		p[r] = sum + g.origin[r]
	}
	return p
}

// pointToContinuousIndex is ITK's TransformPhysicalPointToContinuousIndex.
func (g *rsGeom) pointToContinuousIndex(p [3]float64) [3]float64 {
	var d, ci [3]float64
	for r := range 3 {
		d[r] = p[r] - g.origin[r]
	}
	for r := range 3 {
		sum := 0.0
		for c := range 3 {
			sum += float64(g.inv[r][c] * d[c])
		}
		ci[r] = sum
	}
	return ci
}

// rsInside is ImageFunction::IsInsideBuffer for one axis: [start-0.5, end+0.5), half open.
func rsInside(ci float64, n int) bool {
	return ci >= -0.5 && ci < float64(n-1)+0.5
}

// rsFloor and rsRound are ITK's Math::Floor and Math::RoundHalfIntegerUp as compiled for x86-64
// (SSE2: round half to even of 2x∓0.5, halved).
func rsFloor(x float64) int { return int(math.RoundToEven(2*x-0.5)) >> 1 }
func rsRound(x float64) int { return int(math.RoundToEven(2*x+0.5)) >> 1 }

// rsTap is one axis' share of an interpolation: input indices (later flat offsets) and weights.
// Nearest: off[0]. Linear: off[0], and off[1] with weight w[0] when n == 2. B-spline: 4 of each.
type rsTap struct {
	off [4]int
	w   [4]float64
	n   int
}

// rsTapFor computes the tap of continuous index ci (inside the buffer) on an axis of n voxels.
func rsTapFor(kind rsKind, ci float64, n int) rsTap {
	var t rsTap
	switch kind {
	case rsNearest:
		t.off[0], t.n = rsRound(ci), 1
	case rsLinear:
		// LinearInterpolateImageFunction::EvaluateOptimized: the base index is clamped at 0, and an
		// axis is not interpolated when the distance is <= 0 or the upper neighbour is past the end.
		base := rsFloor(ci)
		if base < 0 {
			base = 0
		}
		d := ci - float64(base)
		t.off[0], t.n = base, 1
		if d > 0 && base+1 <= n-1 {
			t.off[1], t.w[0], t.n = base+1, d, 2
		}
	case rsBSpline:
		// DetermineRegionOfSupport floors the index in single precision; SetInterpolationWeights
		// (order 3) then works in double from that support.
		base := int(math.Floor(float64(float32(ci)))) - 1
		w := ci - float64(base+1)
		w3 := float64(float64(1.0/6.0*w)*w) * w
		w0 := 1.0/6.0 + float64(float64(0.5*w)*(w-1.0)) - w3
		w2 := w + w0 - float64(2.0*w3)
		w1 := 1.0 - w0 - w2 - w3
		t.w = [4]float64{w0, w1, w2, w3}
		for q := range 4 {
			t.off[q] = rsMirror(base+q, n)
		}
		t.n = 4
	}
	return t
}

// rsMirror is BSplineInterpolateImageFunction::ApplyMirrorBoundaryConditions. On a 2-voxel axis ITK
// can still produce an index outside the image (and reads past its buffer); that case is folded
// back instead.
func rsMirror(idx, n int) int {
	if n == 1 {
		return 0
	}
	end := n - 1
	if idx < 0 {
		idx = -idx
	}
	if idx >= end {
		idx = end - (idx - end)
	}
	if idx < 0 || idx > end {
		p := 2 * end
		idx = ((idx % p) + p) % p
		if idx > end {
			idx = p - idx
		}
	}
	return idx
}

// rsSampler evaluates an interpolator from taps whose offsets already point into data.
type rsSampler struct {
	kind rsKind
	data []float64
}

func (s *rsSampler) eval(tx, ty, tz *rsTap) float64 {
	switch s.kind {
	case rsNearest:
		return s.data[tx.off[0]+ty.off[0]+tz.off[0]]
	case rsLinear:
		return s.linear(tx, ty, tz)
	}
	// BSplineInterpolateImageFunction::EvaluateAtContinuousIndexInternal: 64 terms, x fastest,
	// weight (wx·wy)·wz, accumulated in that order.
	var wxy [16]float64
	var oxy [16]int
	for b := range 4 {
		for a := range 4 {
			wxy[4*b+a] = tx.w[a] * ty.w[b]
			oxy[4*b+a] = tx.off[a] + ty.off[b]
		}
	}
	sum := 0.0
	for c := range 4 {
		wz, oz := tz.w[c], tz.off[c]
		for p := range 16 {
			sum += float64(float64(wxy[p]*wz) * s.data[oxy[p]+oz])
		}
	}
	return sum
}

// linear is LinearInterpolateImageFunction's 3-D EvaluateOptimized: x first, then y, then z, each
// as lo + (hi-lo)·d, skipping axes that are not interpolated (so their neighbours are never read).
func (s *rsSampler) linear(tx, ty, tz *rsTap) float64 {
	d := s.data
	alongX := func(o int) float64 {
		v := d[tx.off[0]+o]
		if tx.n == 2 {
			v += float64((d[tx.off[1]+o] - v) * tx.w[0])
		}
		return v
	}
	alongY := func(o int) float64 {
		v := alongX(ty.off[0] + o)
		if ty.n == 2 {
			v += float64((alongX(ty.off[1]+o) - v) * ty.w[0])
		}
		return v
	}
	v := alongY(tz.off[0])
	if tz.n == 2 {
		v += float64((alongY(tz.off[1]) - v) * tz.w[0])
	}
	return v
}

// rsResample is ResampleImageFilter::LinearThreadedGenerateData (the path ITK takes for the
// identity transform) with output cast cast.
func rsResample(im *imageio.Image, ref *grid.Grid, kind rsKind, cast func(float64) float64, pixelType string) (*imageio.Image, error) {
	src, err := rsGeometry(im.Grid, "input")
	if err != nil {
		return nil, err
	}
	dst, err := rsGeometry(ref, "reference")
	if err != nil {
		return nil, err
	}
	if float64(ref.Size[0])*float64(ref.Size[1])*float64(ref.Size[2]) > grid.MaxVoxels {
		return nil, fmt.Errorf("resample: reference grid %v too large", ref.Size)
	}
	og := *ref
	og.SliceOffsets = nil
	// Voxels outside the input keep ITK's default pixel value, 0.
	out := &imageio.Image{Grid: &og, Data: make([]float64, ref.Voxels()), PixelType: pixelType}
	if src.aligned && dst.aligned && src.dir == dst.dir {
		rsResampleAxes(im, src, dst, kind, cast, out.Data)
	} else {
		rsResampleGeneral(im, src, dst, kind, cast, out.Data)
	}
	return out, nil
}

// rsRowIndex returns the continuous input indices of the first voxel of output row (j, k) and of
// the voxel one past its end; ITK interpolates linearly between them along the row.
func rsRowIndex(src, dst *rsGeom, j, k int) (start, diff [3]float64) {
	start = src.pointToContinuousIndex(dst.indexToPoint(0, j, k))
	end := src.pointToContinuousIndex(dst.indexToPoint(dst.size[0], j, k))
	for a := range 3 {
		diff[a] = end[a] - start[a]
	}
	return start, diff
}

// rsResampleAxes handles grids with the same axis-aligned direction. Each input index then depends
// on one output index only, and ITK's arithmetic gives exactly the same value for every row (the
// other axes contribute exact zeros), so taps are computed once per axis.
func rsResampleAxes(im *imageio.Image, src, dst *rsGeom, kind rsKind, cast func(float64) float64, out []float64) {
	var ci [3][]float64
	for a := range 3 {
		ci[a] = make([]float64, dst.size[a])
	}
	start, diff := rsRowIndex(src, dst, 0, 0)
	nx := float64(dst.size[0])
	for i := range ci[0] {
		ci[0][i] = start[0] + float64(float64(i)/nx*diff[0])
	}
	for j := range ci[1] {
		ci[1][j] = src.pointToContinuousIndex(dst.indexToPoint(0, j, 0))[1]
	}
	for k := range ci[2] {
		ci[2][k] = src.pointToContinuousIndex(dst.indexToPoint(0, 0, k))[2]
	}
	var taps [3][]rsTap
	var inside [3][]bool
	lo, hi := src.size, [3]int{-1, -1, -1}
	for a := range 3 {
		taps[a] = make([]rsTap, dst.size[a])
		inside[a] = make([]bool, dst.size[a])
		for t, c := range ci[a] {
			if !rsInside(c, src.size[a]) {
				continue
			}
			inside[a][t] = true
			taps[a][t] = rsTapFor(kind, c, src.size[a])
			for q := range taps[a][t].n {
				lo[a] = min(lo[a], taps[a][t].off[q])
				hi[a] = max(hi[a], taps[a][t].off[q])
			}
		}
		if hi[a] < 0 {
			return // no output voxel inside the input: all default
		}
	}
	s, org, stride := rsSamplerFor(im, kind, lo, hi)
	for a := range 3 {
		for t := range taps[a] {
			for q := range taps[a][t].n {
				taps[a][t].off[q] = (taps[a][t].off[q] - org[a]) * stride[a]
			}
		}
	}
	nxo, nyo := dst.size[0], dst.size[1]
	for k := range dst.size[2] {
		if !inside[2][k] {
			continue
		}
		for j := range nyo {
			if !inside[1][j] {
				continue
			}
			row := out[(k*nyo+j)*nxo : (k*nyo+j+1)*nxo]
			for i := range row {
				if inside[0][i] {
					row[i] = cast(s.eval(&taps[0][i], &taps[1][j], &taps[2][k]))
				}
			}
		}
	}
}

// rsResampleGeneral handles any pair of directions, computing every voxel's continuous index as
// ITK does (row ends mapped through the physical space, then interpolated along the row).
func rsResampleGeneral(im *imageio.Image, src, dst *rsGeom, kind rsKind, cast func(float64) float64, out []float64) {
	nxo, nyo, nzo := dst.size[0], dst.size[1], dst.size[2]
	nx := float64(nxo)
	visit := func(f func(o int, ci [3]float64)) {
		for k := range nzo {
			for j := range nyo {
				start, diff := rsRowIndex(src, dst, j, k)
				for i := range nxo {
					alpha := float64(i) / nx
					var ci [3]float64
					in := true
					for a := range 3 {
						ci[a] = start[a] + float64(alpha*diff[a])
						in = in && rsInside(ci[a], src.size[a])
					}
					if in {
						f((k*nyo+j)*nxo+i, ci)
					}
				}
			}
		}
	}
	// First pass: the input box the taps reach, so B-spline coefficients are only kept there.
	lo, hi := src.size, [3]int{-1, -1, -1}
	visit(func(_ int, ci [3]float64) {
		for a := range 3 {
			t := rsTapFor(kind, ci[a], src.size[a])
			for q := range t.n {
				lo[a] = min(lo[a], t.off[q])
				hi[a] = max(hi[a], t.off[q])
			}
		}
	})
	if hi[0] < 0 {
		return
	}
	s, org, stride := rsSamplerFor(im, kind, lo, hi)
	visit(func(o int, ci [3]float64) {
		var t [3]rsTap
		for a := range 3 {
			t[a] = rsTapFor(kind, ci[a], src.size[a])
			for q := range t[a].n {
				t[a].off[q] = (t[a].off[q] - org[a]) * stride[a]
			}
		}
		out[o] = cast(s.eval(&t[0], &t[1], &t[2]))
	})
}

// rsSamplerFor returns the sampler for kind and the index origin and strides of its data: the
// input itself for nearest and linear, B-spline coefficients of the box lo..hi otherwise.
func rsSamplerFor(im *imageio.Image, kind rsKind, lo, hi [3]int) (*rsSampler, [3]int, [3]int) {
	n := im.Grid.Size
	if kind != rsBSpline {
		return &rsSampler{kind: kind, data: im.Data}, [3]int{}, [3]int{1, n[0], n[0] * n[1]}
	}
	coef := rsBSplineCoefficients(im.Data, n, lo, hi)
	w0, w1 := hi[0]-lo[0]+1, hi[1]-lo[1]+1
	return &rsSampler{kind: kind, data: coef}, lo, [3]int{1, w0, w0 * w1}
}

// Cubic B-spline prefilter constants of BSplineDecompositionImageFilter: the pole, the overall
// gain, and the horizon of its truncated causal initialisation (tolerance 1e-10: 18 samples).
var (
	rsPole    = math.Sqrt(3) - 2
	rsGain    = (1 - rsPole) * (1 - 1/rsPole)
	rsHorizon = int(math.Ceil(math.Log(1e-10) / math.Log(math.Abs(rsPole))))
)

// rsLanes is how many independent lines rsBSplineLines filters in lockstep.
const rsLanes = 8

// rsBSplineCoefficients returns the cubic B-spline coefficients of the volume data (size n) in the
// box lo..hi, x fastest, as BSplineDecompositionImageFilter computes them for the whole volume:
// the recursive filter runs along x, then y, then z over complete lines (so every value is
// bit-identical to ITK's), but only the lines the box depends on are filtered along y and z and
// only the box is kept, so a small region of a large CT costs one pass over it, not three copies.
func rsBSplineCoefficients(data []float64, n, lo, hi [3]int) []float64 {
	nx, ny, nz := n[0], n[1], n[2]
	w0, w1, w2 := hi[0]-lo[0]+1, hi[1]-lo[1]+1, hi[2]-lo[2]+1
	scratch := make([]float64, max(nx, ny, nz)*rsLanes)
	xy := make([]float64, w0*w1*nz) // after the x and y passes: box columns and rows, all slices
	slice := make([]float64, w0*ny) // one slice after the x pass: box columns, all rows
	for k := range nz {
		for j0 := 0; j0 < ny; j0 += rsLanes {
			nl := min(rsLanes, ny-j0)
			buf := scratch[:nx*nl]
			rows := data[(k*ny+j0)*nx : (k*ny+j0+nl)*nx]
			if nl == rsLanes {
				// Interleave 8 rows: sequential writes, 8 sequential read streams.
				for i := range nx {
					o := buf[i*rsLanes : (i+1)*rsLanes]
					o[0], o[1], o[2], o[3] = rows[i], rows[nx+i], rows[2*nx+i], rows[3*nx+i]
					o[4], o[5], o[6], o[7] = rows[4*nx+i], rows[5*nx+i], rows[6*nx+i], rows[7*nx+i]
				}
			} else {
				for l := range nl {
					for i, v := range rows[l*nx : (l+1)*nx] {
						buf[i*nl+l] = v
					}
				}
			}
			rsBSplineLines(buf, nx, nl, lo[0])
			for l := range nl {
				out := slice[(j0+l)*w0 : (j0+l+1)*w0]
				for i := range out {
					out[i] = buf[(i+lo[0])*nl+l]
				}
			}
		}
		for i0 := 0; i0 < w0; i0 += rsLanes {
			nl := min(rsLanes, w0-i0)
			buf := scratch[:ny*nl]
			for j := range ny {
				copy(buf[j*nl:(j+1)*nl], slice[j*w0+i0:])
			}
			rsBSplineLines(buf, ny, nl, lo[1])
			for j := lo[1]; j <= hi[1]; j++ {
				copy(xy[(k*w1+j-lo[1])*w0+i0:][:nl], buf[j*nl:])
			}
		}
	}
	coef := make([]float64, w0*w1*w2)
	for j := range w1 {
		for i0 := 0; i0 < w0; i0 += rsLanes {
			nl := min(rsLanes, w0-i0)
			buf := scratch[:nz*nl]
			for k := range nz {
				copy(buf[k*nl:(k+1)*nl], xy[(k*w1+j)*w0+i0:])
			}
			rsBSplineLines(buf, nz, nl, lo[2])
			for k := lo[2]; k <= hi[2]; k++ {
				copy(coef[((k-lo[2])*w1+j)*w0+i0:][:nl], buf[k*nl:])
			}
		}
	}
	return coef
}

// rsBSplineLines is BSplineDecompositionImageFilter::DataToCoefficients1D for the cubic spline
// (one pole, mirror boundaries), in place, on nl lines of n samples stored interleaved (sample i
// of line l at buf[i*nl+l]). Running independent lines in lockstep lets their recursions overlap
// in the CPU; each line sees exactly ITK's operations. Samples below index stop are not needed by
// the caller, so the anticausal sweep ends there (the values above it are unaffected).
func rsBSplineLines(buf []float64, n, nl, stop int) {
	if n == 1 {
		return // ITK leaves single-sample lines unchanged
	}
	z := rsPole
	buf = buf[:n*nl]
	for i := range buf {
		buf[i] *= rsGain
	}
	// Causal initialisation (mirror boundary): truncated at the horizon, or exact for short lines.
	first := buf[:nl]
	if rsHorizon < n {
		zn := z
		for i := 1; i < rsHorizon; i++ {
			row := buf[i*nl : (i+1)*nl]
			for l, v := range row {
				first[l] += float64(zn * v)
			}
			zn *= z
		}
	} else {
		var sums [rsLanes]float64
		zn, iz := z, 1/z
		z2n := rsPow(z, n-1)
		last := buf[(n-1)*nl : n*nl]
		for l := range first {
			sums[l] = first[l] + float64(z2n*last[l])
		}
		z2n *= float64(z2n * iz)
		for i := 1; i <= n-2; i++ {
			row := buf[i*nl : (i+1)*nl]
			for l, v := range row {
				sums[l] += float64((zn + z2n) * v)
			}
			zn *= z
			z2n *= iz
		}
		d := 1 - float64(zn*zn)
		for l := range first {
			first[l] = sums[l] / d
		}
	}
	for i := 1; i < n; i++ {
		prev, row := buf[(i-1)*nl:i*nl], buf[i*nl:(i+1)*nl]
		for l := range row {
			row[l] += float64(z * prev[l])
		}
	}
	// Anticausal initialisation and recursion.
	k := z / (float64(z*z) - 1)
	prev, last := buf[(n-2)*nl:(n-1)*nl], buf[(n-1)*nl:n*nl]
	for l := range last {
		last[l] = k * (float64(z*prev[l]) + last[l])
	}
	for i := n - 2; i >= stop; i-- {
		row, next := buf[i*nl:(i+1)*nl], buf[(i+1)*nl:(i+2)*nl]
		for l := range row {
			row[l] = z * (next[l] - row[l])
		}
	}
}

// rsPow returns x^n (n >= 0) correctly rounded, which is what glibc's pow returns for the pole
// powers ITK needs (checked against it in the tests); math.Pow's repeated squaring can be an ulp
// off. The product is carried in double-double.
func rsPow(x float64, n int) float64 {
	hi, lo := 1.0, 0.0
	for range n {
		p := hi * x
		e := math.FMA(hi, x, -p) + float64(lo*x)
		hi = p + e
		lo = e - (hi - p)
	}
	return hi
}

// rsLabelBox returns the inclusive index box of the voxels whose value, cast to UInt32 as
// PyRadiomics casts masks, equals label.
func rsLabelBox(mask *imageio.Image, label int) (lo, hi [3]int, ok bool) {
	lo, hi = mask.Grid.Size, [3]int{-1, -1, -1}
	if label < 0 || label > math.MaxUint32 {
		return lo, hi, false
	}
	// Truncation toward zero equals label exactly for values in [label, label+1).
	from, to := float64(label), float64(label)+1
	n := mask.Grid.Size
	idx := 0
	for k := range n[2] {
		for j := range n[1] {
			row := mask.Data[idx : idx+n[0]]
			idx += n[0]
			for i, v := range row {
				if v >= from && v < to {
					lo = [3]int{min(lo[0], i), min(lo[1], j), min(lo[2], k)}
					hi = [3]int{max(hi[0], i), max(hi[1], j), max(hi[2], k)}
				}
			}
		}
	}
	return lo, hi, hi[0] >= 0
}

// rsCheckROIInside is PyRadiomics' _checkROI: the corners of the ROI box (voxel edges, in the
// mask's index space) mapped into the image's index space must lie within [-0.5, size-0.5], with
// a tolerance of 1e-3.
func rsCheckROIInside(image, mask *rsGeom, lo, hi [3]int) error {
	var c0, c1 [3]float64
	for a := range 3 {
		c0[a] = float64(lo[a]) - 0.5
		c1[a] = float64(lo[a]+(hi[a]-lo[a]+1)) - 0.5
	}
	b0 := image.pointToContinuousIndex(mask.continuousIndexToPoint(c0))
	b1 := image.pointToContinuousIndex(mask.continuousIndexToPoint(c1))
	const tol = 1e-3
	for a := range 3 {
		mn, mx := math.Min(b0[a], b1[a]), math.Max(b0[a], b1[a])
		if mn < -0.5-tol || mx > float64(image.size[a])-0.5+tol {
			return fmt.Errorf("resample: %w: the ROI's bounding box extends outside the image (axis %d: image index %.3f..%.3f, image size %d)",
				ErrROI, a, mn, mx, image.size[a])
		}
	}
	return nil
}

// rsCrop is SimpleITK's CropImageFilter (as cropToTumorMask uses it) keeping lo..hi inclusive: the
// new origin is ITK's TransformIndexToPhysicalPoint of lo.
func rsCrop(im *imageio.Image, g *rsGeom, lo, hi [3]int) *imageio.Image {
	ng := *im.Grid
	ng.SliceOffsets = nil
	ng.Origin = grid.Vec(g.indexToPoint(lo[0], lo[1], lo[2]))
	for a := range 3 {
		ng.Size[a] = hi[a] - lo[a] + 1
	}
	nx, ny := im.Grid.Size[0], im.Grid.Size[1]
	data := make([]float64, 0, ng.Voxels())
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			row := (k*ny + j) * nx
			data = append(data, im.Data[row+lo[0]:row+hi[0]+1]...)
		}
	}
	return &imageio.Image{Grid: &ng, Data: data, PixelType: im.PixelType}
}
