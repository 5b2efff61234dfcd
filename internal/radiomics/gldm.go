package radiomics

import "math"

// GLDM computes PyRadiomics' gray level dependence matrix and its default features.
//
// For every ROI voxel the dependence is the number of neighbours (offsets of s.Distances in both
// directions, in-plane only with force2D) inside the ROI whose level differs by at most
// s.GLDMAlpha; the matrix counts voxels by level and dependence. The matrix is (Ng, Nd) over the
// dependence values that occur, ascending; feature formulas use j = dependence + 1.
func GLDM(d *Discretized, s TextureSettings) (map[string]float64, *Matrix, error) {
	v, err := newTextureVolume(d)
	if err != nil {
		return nil, nil, err
	}
	dist, f2d, err := texAngleSettings(s)
	if err != nil {
		return nil, nil, err
	}
	angles := texGenerateAngles(v.sizeZYX(), dist, true, f2d)
	ng := len(v.gray)
	if len(angles) == 0 {
		return texNaNFeatures("gldm"), &Matrix{Shape: []int{ng, 0}}, errTexNoAngles
	}
	nd := len(angles) + 1
	counts := make([]float64, ng*nd)
	// Levels are integers, so |l-m| <= alpha is |l-m| <= floor(alpha); neighbours outside the
	// ROI (level 0) never count.
	ialpha := int(math.Min(math.Floor(s.GLDMAlpha), maxTextureLevel))
	nbh := newTexNeighbours(v, angles)
	lev, deltas := v.lev, nbh.deltas
	depends := func(l, m int) bool { return m != 0 && texAbs(l-m) <= ialpha }
	nbh.scan(func(i, l int) {
		dep := 0
		if ialpha == 0 {
			// Branch-free equality count: x|-x has its sign bit set exactly when x != 0.
			// Equal neighbours are common and unpredictable, so a branch would mispredict.
			for _, d := range deltas {
				x := lev[i+d] ^ l
				dep += int(uint(x|-x)>>63) ^ 1
			}
		} else {
			for _, d := range deltas {
				if depends(l, lev[i+d]) {
					dep++
				}
			}
		}
		counts[int(v.rank[l])*nd+dep]++
	}, func(i, l, z, y, x int) {
		dep := 0
		for k, d := range deltas {
			if nbh.inBox(k, z, y, x) && depends(l, lev[i+d]) {
				dep++
			}
		}
		counts[int(v.rank[l])*nd+dep]++
	})
	var deps []int
	for j := 0; j < nd; j++ {
		for i := 0; i < ng; i++ {
			if counts[i*nd+j] != 0 {
				deps = append(deps, j)
				break
			}
		}
	}
	nk := len(deps)
	m := &Matrix{Shape: []int{ng, nk}, Data: make([]float64, ng*nk)}
	jv := make([]float64, nk)
	for jj, j := range deps {
		jv[jj] = float64(j + 1)
		for i := 0; i < ng; i++ {
			m.Data[i*nk+jj] = counts[i*nd+j]
		}
	}
	return sizeZoneFeatures(v, m, jv, dependenceNames), m, nil
}

// dependenceNames maps the shared zone/dependence feature roles to GLDM's names (PyRadiomics
// deprecates GLDM's normalised gray level non-uniformity and dependence percentage).
var dependenceNames = zoneFeatureNames{
	small: "SmallDependenceEmphasis", large: "LargeDependenceEmphasis",
	gln: "GrayLevelNonUniformity", szn: "DependenceNonUniformity",
	sznn: "DependenceNonUniformityNormalized", glv: "GrayLevelVariance", zv: "DependenceVariance",
	entropy: "DependenceEntropy", lgle: "LowGrayLevelEmphasis", hgle: "HighGrayLevelEmphasis",
	slgle: "SmallDependenceLowGrayLevelEmphasis", shgle: "SmallDependenceHighGrayLevelEmphasis",
	llgle: "LargeDependenceLowGrayLevelEmphasis", lhgle: "LargeDependenceHighGrayLevelEmphasis",
}
