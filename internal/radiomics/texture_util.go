package radiomics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// texEps is numpy.spacing(1), the epsilon PyRadiomics adds inside logarithms and denominators.
const texEps = 2.220446049250313e-16

// maxTextureLevel bounds the gray level values accepted by the texture classes (a lookup table of
// that many entries is allocated).
const maxTextureLevel = 1 << 24

// errTexNoAngles is returned (together with all-NaN features) when no neighbour offset fits in the
// ROI's bounding box, where PyRadiomics raises "Error getting angle count".
var errTexNoAngles = errors.New("radiomics: no neighbour offsets fit in the ROI bounding box")

// textureVolume is the validated discretised ROI shared by the texture classes.
type textureVolume struct {
	nx, ny, nz int
	lev        []int
	gray       []int   // distinct levels present in the ROI, ascending
	rank       []int32 // level -> index into gray, -1 when absent
	maxLevel   int     // PyRadiomics' coefficient Ng (largest level in the ROI)
	nvox       int     // number of ROI voxels
	spacingZYX [3]float64
}

// newTextureVolume validates d and derives the levels present from d.Levels (d.GrayLevels is not
// consulted, so a stale list cannot desynchronise matrix rows and levels).
func newTextureVolume(d *Discretized) (*textureVolume, error) {
	if d == nil {
		return nil, errors.New("radiomics: nil discretised image")
	}
	nx, ny, nz := d.Size[0], d.Size[1], d.Size[2]
	if nx <= 0 || ny <= 0 || nz <= 0 {
		return nil, fmt.Errorf("radiomics: invalid box size %v", d.Size)
	}
	if len(d.Levels) != nx*ny*nz {
		return nil, fmt.Errorf("radiomics: %d levels for box %v", len(d.Levels), d.Size)
	}
	v := &textureVolume{nx: nx, ny: ny, nz: nz, lev: d.Levels,
		spacingZYX: [3]float64{d.Spacing[2], d.Spacing[1], d.Spacing[0]}}
	for _, l := range d.Levels {
		if l < 0 {
			return nil, fmt.Errorf("radiomics: negative gray level %d", l)
		}
		if l > v.maxLevel {
			v.maxLevel = l
		}
	}
	if v.maxLevel == 0 {
		return nil, errors.New("radiomics: empty ROI")
	}
	if v.maxLevel > maxTextureLevel {
		return nil, fmt.Errorf("radiomics: gray level %d too large", v.maxLevel)
	}
	present := make([]bool, v.maxLevel+1)
	for _, l := range d.Levels {
		if l > 0 {
			present[l] = true
			v.nvox++
		}
	}
	v.rank = make([]int32, v.maxLevel+1)
	for l := range present {
		v.rank[l] = -1
		if l > 0 && present[l] {
			v.rank[l] = int32(len(v.gray))
			v.gray = append(v.gray, l)
		}
	}
	return v, nil
}

// voxelRanks returns every voxel's gray level rank (index into gray), -1 outside the ROI.
func (v *textureVolume) voxelRanks() []int32 {
	r := make([]int32, len(v.lev))
	for i, l := range v.lev {
		r[i] = v.rank[l]
	}
	return r
}

// sizeZYX returns the box size in numpy (z, y, x) order.
func (v *textureVolume) sizeZYX() [3]int { return [3]int{v.nz, v.ny, v.nx} }

// delta returns the flat index offset of an angle given in (z, y, x) order.
func (v *textureVolume) delta(a [3]int) int { return (a[0]*v.ny+a[1])*v.nx + a[2] }

// texNeighbours visits, for every ROI voxel in C order, its in-box neighbours along a list of
// offsets without per-voxel allocation; interior voxels skip the bounds checks.
type texNeighbours struct {
	v      *textureVolume
	angles [][3]int
	deltas []int
	margin [3]int // per (z, y, x): largest |offset|
}

func newTexNeighbours(v *textureVolume, angles [][3]int) *texNeighbours {
	c := &texNeighbours{v: v, angles: angles, deltas: make([]int, len(angles))}
	for i, a := range angles {
		c.deltas[i] = v.delta(a)
		for d := 0; d < 3; d++ {
			if m := texAbs(a[d]); m > c.margin[d] {
				c.margin[d] = m
			}
		}
	}
	return c
}

// scan calls interior(i, level) for every ROI voxel whose whole neighbourhood lies inside the box
// and border(i, level, z, y, x) for the others, in C order. Callers loop over deltas directly in
// interior (no bounds checks) and use inBox in border; one call per voxel keeps the neighbour
// loops free of indirect calls, which dominate GLDM/NGTDM with distances [1, 2] (124 neighbours).
func (c *texNeighbours) scan(interior func(i, level int), border func(i, level, z, y, x int)) {
	v := c.v
	for z := 0; z < v.nz; z++ {
		zin := z >= c.margin[0] && z < v.nz-c.margin[0]
		for y := 0; y < v.ny; y++ {
			yin := zin && y >= c.margin[1] && y < v.ny-c.margin[1]
			row := (z*v.ny + y) * v.nx
			for x := 0; x < v.nx; x++ {
				i := row + x
				l := v.lev[i]
				if l == 0 {
					continue
				}
				if yin && x >= c.margin[2] && x < v.nx-c.margin[2] {
					interior(i, l)
				} else {
					border(i, l, z, y, x)
				}
			}
		}
	}
}

// inBox tells whether voxel (z, y, x) shifted by angle k lies inside the box.
func (c *texNeighbours) inBox(k, z, y, x int) bool {
	a := c.angles[k]
	zz, yy, xx := z+a[0], y+a[1], x+a[2]
	return zz >= 0 && yy >= 0 && xx >= 0 && zz < c.v.nz && yy < c.v.ny && xx < c.v.nx
}

func texAbs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// texNanMean is numpy.nanmean over a 1-D slice: the mean of the non-NaN values, NaN when none.
func texNanMean(x []float64) float64 {
	s, n := 0.0, 0
	for _, v := range x {
		if !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// texMean is numpy.mean: NaN propagates, NaN for an empty slice.
func texMean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// texLog2 is log2 computed as ln(x)/ln(2), which (unlike math.Log2) keeps full relative accuracy
// near 1, where PyRadiomics' log2(p + eps) of a flat region is about 3.2e-16.
func texLog2(x float64) float64 { return math.Log(x) / math.Ln2 }

// texXlog2 returns p*log2(p+eps), the entropy term PyRadiomics uses (0 for p == 0).
func texXlog2(p float64) float64 {
	if p == 0 {
		return 0
	}
	return p * texLog2(p+texEps)
}

// texNaNFeatures returns a feature map of the class with every value NaN.
func texNaNFeatures(class string) map[string]float64 {
	names := TextureFeatureNames(class)
	m := make(map[string]float64, len(names))
	for _, n := range names {
		m[n] = math.NaN()
	}
	return m
}

// textureFeatureNames holds each class's default (non-deprecated) features in PyRadiomics' order
// (the alphabetical order of the get<Name>FeatureValue methods).
var textureFeatureNames = map[string][]string{
	"glcm": {
		"Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast",
		"Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "Id", "Idm",
		"Idmn", "Idn", "Imc1", "Imc2", "InverseVariance", "JointAverage", "JointEnergy",
		"JointEntropy", "MCC", "MaximumProbability", "SumAverage", "SumEntropy", "SumSquares",
	},
	"glrlm": {
		"GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
		"HighGrayLevelRunEmphasis", "LongRunEmphasis", "LongRunHighGrayLevelEmphasis",
		"LongRunLowGrayLevelEmphasis", "LowGrayLevelRunEmphasis", "RunEntropy",
		"RunLengthNonUniformity", "RunLengthNonUniformityNormalized", "RunPercentage", "RunVariance",
		"ShortRunEmphasis", "ShortRunHighGrayLevelEmphasis", "ShortRunLowGrayLevelEmphasis",
	},
	"glszm": {
		"GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized", "GrayLevelVariance",
		"HighGrayLevelZoneEmphasis", "LargeAreaEmphasis", "LargeAreaHighGrayLevelEmphasis",
		"LargeAreaLowGrayLevelEmphasis", "LowGrayLevelZoneEmphasis", "SizeZoneNonUniformity",
		"SizeZoneNonUniformityNormalized", "SmallAreaEmphasis", "SmallAreaHighGrayLevelEmphasis",
		"SmallAreaLowGrayLevelEmphasis", "ZoneEntropy", "ZonePercentage", "ZoneVariance",
	},
	"gldm": {
		"DependenceEntropy", "DependenceNonUniformity", "DependenceNonUniformityNormalized",
		"DependenceVariance", "GrayLevelNonUniformity", "GrayLevelVariance", "HighGrayLevelEmphasis",
		"LargeDependenceEmphasis", "LargeDependenceHighGrayLevelEmphasis",
		"LargeDependenceLowGrayLevelEmphasis", "LowGrayLevelEmphasis", "SmallDependenceEmphasis",
		"SmallDependenceHighGrayLevelEmphasis", "SmallDependenceLowGrayLevelEmphasis",
	},
	"ngtdm": {"Busyness", "Coarseness", "Complexity", "Contrast", "Strength"},
}

// TextureFeatureNames lists the default (non-deprecated) features of a texture class ("glcm",
// "glrlm", "glszm", "gldm", "ngtdm") in PyRadiomics' order; nil for an unknown class.
func TextureFeatureNames(class string) []string {
	return slices.Clone(textureFeatureNames[class])
}

// texSymEigenvalues returns the eigenvalues (ascending) of the symmetric n×n matrix a (row-major,
// overwritten): Householder reduction to tridiagonal form, then implicit QL with Wilkinson shifts.
func texSymEigenvalues(a []float64, n int) []float64 {
	d := make([]float64, n)
	e := make([]float64, n)
	if n == 0 {
		return d
	}
	// Householder tridiagonalisation, working from the last row up; row i's part left of the
	// diagonal is reduced to a single sub-diagonal element e[i].
	for i := n - 1; i >= 1; i-- {
		l := i - 1
		ri := a[i*n : i*n+n]
		if l == 0 {
			e[i] = ri[0]
			d[i] = 0
			continue
		}
		scale := 0.0
		for k := 0; k <= l; k++ {
			scale += math.Abs(ri[k])
		}
		if scale == 0 {
			e[i] = ri[l]
			d[i] = 0
			continue
		}
		h := 0.0
		for k := 0; k <= l; k++ {
			ri[k] /= scale
			h += ri[k] * ri[k]
		}
		f := ri[l]
		g := math.Sqrt(h)
		if f >= 0 {
			g = -g
		}
		e[i] = scale * g
		h -= f * g
		ri[l] = f - g
		// p = A u / h stored in e[0..l] (A's lower triangle read row by row); K = u·p / 2h
		for j := 0; j <= l; j++ {
			e[j] = 0
		}
		for j := 0; j <= l; j++ {
			rj := a[j*n : j*n+j+1]
			uj := ri[j]
			s := rj[j] * uj
			for k, x := range rj[:j] {
				s += x * ri[k]
				e[k] += x * uj
			}
			e[j] += s
		}
		f = 0
		for j := 0; j <= l; j++ {
			e[j] /= h
			f += e[j] * ri[j]
		}
		hh := f / (h + h)
		for j := 0; j <= l; j++ {
			fj := ri[j]
			gj := e[j] - hh*fj
			e[j] = gj
			for k := 0; k <= j; k++ {
				a[j*n+k] -= fj*e[k] + gj*ri[k]
			}
		}
		d[i] = h
	}
	for i := 0; i < n; i++ {
		d[i] = a[i*n+i]
	}
	// shift the off-diagonal: e[i] couples d[i] and d[i+1]
	for i := 1; i < n; i++ {
		e[i-1] = e[i]
	}
	e[n-1] = 0
	for l := 0; l < n; l++ {
		for iter := 0; ; iter++ {
			m := l
			for ; m < n-1; m++ {
				dd := math.Abs(d[m]) + math.Abs(d[m+1])
				if math.Abs(e[m]) <= 0x1p-53*dd {
					break
				}
			}
			if m == l {
				break
			}
			if iter == 60 {
				break // not converged; keep the current estimates
			}
			g := (d[l+1] - d[l]) / (2 * e[l])
			r := math.Hypot(g, 1)
			if g >= 0 {
				g = d[m] - d[l] + e[l]/(g+r)
			} else {
				g = d[m] - d[l] + e[l]/(g-r)
			}
			s, c, p := 1.0, 1.0, 0.0
			underflow := false
			i := m - 1
			for ; i >= l; i-- {
				f := s * e[i]
				b := c * e[i]
				r = math.Hypot(f, g)
				e[i+1] = r
				if r == 0 {
					d[i+1] -= p
					e[m] = 0
					underflow = true
					break
				}
				s = f / r
				c = g / r
				g = d[i+1] - p
				r = (d[i]-g)*s + 2*c*b
				p = s * r
				d[i+1] = g + p
				g = c*r - b
			}
			if underflow {
				continue
			}
			d[l] -= p
			e[l] = g
			e[m] = 0
		}
	}
	slices.Sort(d)
	return d
}
