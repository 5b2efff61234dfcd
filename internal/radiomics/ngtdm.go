package radiomics

import "math"

// NGTDM computes PyRadiomics' neighbouring gray tone difference matrix and its default features.
//
// For every ROI voxel of level i, the neighbourhood average Ā is the mean level of its neighbours
// (offsets of s.Distances in both directions, in-plane only with force2D) inside the ROI;
// s_i accumulates |i - Ā| (0 for a voxel without such neighbours) and n_i counts the voxels. The
// matrix is (Ng, 3) with columns (n_i, s_i, i) over the levels present.
func NGTDM(d *Discretized, s TextureSettings) (map[string]float64, *Matrix, error) {
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
		return texNaNFeatures("ngtdm"), &Matrix{Shape: []int{ng, 3}}, errTexNoAngles
	}
	n := make([]float64, ng)
	sd := make([]float64, ng)
	nbh := newTexNeighbours(v, angles)
	lev, deltas := v.lev, nbh.deltas
	add := func(l, count, sum int) {
		diff := 0.0
		if count > 0 {
			diff = math.Abs(float64(l) - float64(sum)/float64(count))
		}
		r := v.rank[l]
		n[r]++
		sd[r] += diff
	}
	nbh.scan(func(i, l int) {
		count, sum := 0, 0
		for _, d := range deltas {
			if m := lev[i+d]; m != 0 {
				count++
				sum += m
			}
		}
		add(l, count, sum)
	}, func(i, l, z, y, x int) {
		count, sum := 0, 0
		for k, d := range deltas {
			if !nbh.inBox(k, z, y, x) {
				continue
			}
			if m := lev[i+d]; m != 0 {
				count++
				sum += m
			}
		}
		add(l, count, sum)
	})
	m := &Matrix{Shape: []int{ng, 3}, Data: make([]float64, 3*ng)}
	for i := 0; i < ng; i++ {
		m.Data[3*i], m.Data[3*i+1], m.Data[3*i+2] = n[i], sd[i], float64(v.gray[i])
	}
	return ngtdmFeatures(n, sd, v.gray), m, nil
}

func ngtdmFeatures(n, s []float64, gray []int) map[string]float64 {
	ng := len(n)
	nvp := 0.0
	for _, x := range n {
		nvp += x
	}
	p := make([]float64, ng)
	g := make([]float64, ng)
	var sumPS, sumS float64
	for i := range n {
		p[i] = n[i] / nvp
		g[i] = float64(gray[i])
		sumPS += p[i] * s[i]
		sumS += s[i]
	}
	f := map[string]float64{}
	// Coarseness: 1 / Σ p_i s_i, 1e6 when the sum is 0
	if sumPS != 0 {
		f["Coarseness"] = 1 / sumPS
	} else {
		f["Coarseness"] = 1e6
	}
	var con, absdiff, cplx, str float64
	for i := 0; i < ng; i++ {
		for j := 0; j < ng; j++ {
			d := g[i] - g[j]
			con += p[i] * p[j] * d * d
			absdiff += math.Abs(g[i]*p[i] - g[j]*p[j])
			cplx += math.Abs(d) * (p[i]*s[i] + p[j]*s[j]) / (p[i] + p[j])
			str += (p[i] + p[j]) * d * d
		}
	}
	// Contrast: (Σ p_i p_j (i-j)² / (Ngp(Ngp-1))) · Σ s_i / Nvp, 0 for a single level
	if div := float64(ng * (ng - 1)); div != 0 {
		f["Contrast"] = con * sumS / nvp / div
	} else {
		f["Contrast"] = 0
	}
	if absdiff != 0 {
		f["Busyness"] = sumPS / absdiff
	} else {
		f["Busyness"] = 0
	}
	f["Complexity"] = cplx / nvp
	if sumS != 0 {
		f["Strength"] = str / sumS
	} else {
		f["Strength"] = 0
	}
	return f
}
