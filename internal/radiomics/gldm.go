package radiomics

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
	alpha := s.GLDMAlpha
	newTexNeighbours(v, angles).each(func(_, l int, nb []int) {
		dep := 0
		for _, m := range nb {
			if m != 0 && float64(texAbs(l-m)) <= alpha {
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
