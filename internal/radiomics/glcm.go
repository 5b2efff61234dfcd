package radiomics

import (
	"math"
	"slices"
)

// GLCM computes PyRadiomics' gray level co-occurrence matrix and its default features.
//
// Co-occurrences are counted per angle of Angles (center level i, neighbour level j at the
// offset), both voxels in the ROI; with s.Symmetrical the transpose is added. With a weighting norm
// the angles are merged by a weighted sum (exp(-‖d‖²)); otherwise angles without any pair are
// dropped. Each angle's matrix is normalised to sum 1 and features are averaged over the angles
// (NaN-ignoring, as numpy.nanmean). The matrix has shape (Ng, Ng, Na) over the gray levels present.
//
// err is non-nil for invalid input and where PyRadiomics raises (no angle fits the box); features
// then hold NaN for every name when the input itself was valid.
func GLCM(d *Discretized, s TextureSettings) (features map[string]float64, m *Matrix, err error) {
	v, err := newTextureVolume(d)
	if err != nil {
		return nil, nil, err
	}
	dist, f2d, err := texAngleSettings(s)
	if err != nil {
		return nil, nil, err
	}
	angles := texGenerateAngles(v.sizeZYX(), dist, false, f2d)
	ng := len(v.gray)
	if len(angles) == 0 {
		return texNaNFeatures("glcm"), &Matrix{Shape: []int{ng, ng, 0}}, errTexNoAngles
	}
	na := len(angles)
	nn := ng * ng
	// counts[a][i*ng+j]
	counts := make([]float64, na*nn)
	ranks := v.voxelRanks()
	for a, off := range angles {
		glcmCountPairs(v, ranks, off, counts[a*nn:(a+1)*nn])
	}
	if s.Symmetrical {
		for a := 0; a < na; a++ {
			c := counts[a*nn : (a+1)*nn]
			for i := 0; i < ng; i++ {
				for j := i; j < ng; j++ {
					t := c[i*ng+j] + c[j*ng+i]
					c[i*ng+j], c[j*ng+i] = t, t
				}
			}
		}
	}
	if s.WeightingNorm != "" {
		w := texAngleWeights(angles, s.WeightingNorm, v.spacingZYX, true)
		merged := make([]float64, nn)
		for k := 0; k < nn; k++ {
			acc := 0.0
			for a := 0; a < na; a++ {
				acc += counts[a*nn+k] * w[a]
			}
			merged[k] = acc
		}
		counts, na = merged, 1
	}
	// drop empty angles (only when more than one), normalise the others
	var mats [][]float64
	for a := 0; a < na; a++ {
		c := counts[a*nn : (a+1)*nn]
		sum := 0.0
		for _, x := range c {
			sum += x
		}
		if sum == 0 && na > 1 {
			continue
		}
		if sum == 0 {
			sum = math.NaN()
		}
		for k := range c {
			c[k] /= sum
		}
		mats = append(mats, c)
	}
	m = &Matrix{Shape: []int{ng, ng, len(mats)}, Data: make([]float64, nn*len(mats))}
	for a, c := range mats {
		for k, x := range c {
			m.Data[k*len(mats)+a] = x
		}
	}
	return glcmFeatures(v, mats), m, nil
}

// glcmCountPairs adds, for one offset, the co-occurrence counts (center rank × neighbour rank) to
// c; ranks holds each voxel's gray level rank, -1 outside the ROI.
func glcmCountPairs(v *textureVolume, ranks []int32, off [3]int, c []float64) {
	ng := len(v.gray)
	z0, z1 := max(0, -off[0]), min(v.nz, v.nz-off[0])
	y0, y1 := max(0, -off[1]), min(v.ny, v.ny-off[1])
	x0, x1 := max(0, -off[2]), min(v.nx, v.nx-off[2])
	delta := v.delta(off)
	for z := z0; z < z1; z++ {
		for y := y0; y < y1; y++ {
			row := (z*v.ny + y) * v.nx
			centre := ranks[row+x0 : row+x1]
			nb := ranks[row+x0+delta : row+x1+delta]
			for k, ri := range centre {
				if ri < 0 {
					continue
				}
				if rj := nb[k]; rj >= 0 {
					c[int(ri)*ng+int(rj)]++
				}
			}
		}
	}
}

// glcmBins maps each (i, j) cell to the index of its value k (i+j or |i-j| of the gray levels)
// among the distinct values that occur, ascending.
func glcmBins(gray []int, value func(a, b int) int) (vals []float64, idx []int32) {
	ng := len(gray)
	seen := map[int]bool{}
	for _, a := range gray {
		for _, b := range gray {
			seen[value(a, b)] = true
		}
	}
	ks := make([]int, 0, len(seen))
	for k := range seen {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	pos := make(map[int]int32, len(ks))
	for n, k := range ks {
		pos[k] = int32(n)
		vals = append(vals, float64(k))
	}
	idx = make([]int32, ng*ng)
	for i, a := range gray {
		for j, b := range gray {
			idx[i*ng+j] = pos[value(a, b)]
		}
	}
	return vals, idx
}

func glcmFeatures(v *textureVolume, mats [][]float64) map[string]float64 {
	ng := len(v.gray)
	g := make([]float64, ng)
	for i, l := range v.gray {
		g[i] = float64(l)
	}
	ngMax := float64(v.maxLevel) // PyRadiomics' Ng: the largest gray level
	sumK, sumIdx := glcmBins(v.gray, func(a, b int) int { return a + b })
	diffK, diffIdx := glcmBins(v.gray, func(a, b int) int { return texAbs(a - b) })
	px, py := make([]float64, ng), make([]float64, ng)
	pSum, pDiff := make([]float64, len(sumK)), make([]float64, len(diffK))
	vals := map[string][]float64{}
	add := func(name string, x float64) { vals[name] = append(vals[name], x) }
	for _, p := range mats {
		clear(px)
		clear(py)
		clear(pSum)
		clear(pDiff)
		var ux, uy, ac, cont, ene, hxy float64
		maxp := math.Inf(-1)
		for i := 0; i < ng; i++ {
			for j := 0; j < ng; j++ {
				x := p[i*ng+j]
				px[i] += x
				py[j] += x
				ux += g[i] * x
				uy += g[j] * x
				ac += x * g[i] * g[j]
				d := g[i] - g[j]
				cont += x * d * d
				ene += x * x
				hxy -= texXlog2(x)
				if x > maxp || math.IsNaN(x) {
					maxp = x
				}
				pSum[sumIdx[i*ng+j]] += x
				pDiff[diffIdx[i*ng+j]] += x
			}
		}
		var cp, cs, ct, sx2, sy2, corm, hxy1, hxy2 float64
		for i := 0; i < ng; i++ {
			for j := 0; j < ng; j++ {
				x := p[i*ng+j]
				t := g[i] + g[j] - ux - uy
				t2 := t * t
				ct += x * t2
				cs += x * t2 * t
				cp += x * t2 * t2
				di, dj := g[i]-ux, g[j]-uy
				sx2 += x * di * di
				sy2 += x * dj * dj
				corm += x * di * dj
				pp := px[i] * py[j]
				if pp != 0 {
					lg := texLog2(pp + texEps)
					hxy1 -= x * lg
					hxy2 -= pp * lg
				}
			}
		}
		add("Autocorrelation", ac)
		add("JointAverage", ux)
		add("ClusterProminence", cp)
		add("ClusterShade", cs)
		add("ClusterTendency", ct)
		add("Contrast", cont)
		sigx, sigy := math.Sqrt(sx2), math.Sqrt(sy2)
		corr := corm / (sigx*sigy + texEps)
		if sigx*sigy == 0 {
			corr = 1
		}
		add("Correlation", corr)
		var da, dent, idm, idmn, id, idn, iv float64
		for n, x := range pDiff {
			fk := diffK[n]
			da += fk * x
			dent -= texXlog2(x)
			idm += x / (1 + fk*fk)
			idmn += x / (1 + fk*fk/(ngMax*ngMax))
			id += x / (1 + fk)
			idn += x / (1 + fk/ngMax)
			if fk > 0 {
				iv += x / (fk * fk)
			}
		}
		dv := 0.0
		for n, x := range pDiff {
			t := diffK[n] - da
			dv += x * t * t
		}
		add("DifferenceAverage", da)
		add("DifferenceEntropy", dent)
		add("DifferenceVariance", dv)
		add("JointEnergy", ene)
		add("JointEntropy", hxy)
		var hx, hy float64
		for i := 0; i < ng; i++ {
			hx -= texXlog2(px[i])
			hy -= texXlog2(py[i])
		}
		imc1 := hxy - hxy1
		if div := math.Max(hx, hy); div != 0 {
			imc1 /= div
		} else {
			imc1 = 0
		}
		add("Imc1", imc1)
		imc2 := math.Sqrt(1 - math.Exp(-2*(hxy2-hxy)))
		if hxy2 == hxy {
			imc2 = 0
		}
		add("Imc2", imc2)
		add("Idm", idm)
		add("Idmn", idmn)
		add("Id", id)
		add("Idn", idn)
		add("InverseVariance", iv)
		add("MaximumProbability", maxp)
		var sa, sent float64
		for n, x := range pSum {
			sa += sumK[n] * x
			sent -= texXlog2(x)
		}
		add("SumAverage", sa)
		add("SumEntropy", sent)
		add("SumSquares", sx2)
		add("MCC", glcmMCC(p, px, py, ng))
	}
	f := make(map[string]float64, len(vals))
	for _, name := range TextureFeatureNames("glcm") {
		switch name {
		case "JointAverage":
			f[name] = texMean(vals[name])
		default:
			f[name] = texNanMean(vals[name])
		}
	}
	if ng < 2 {
		f["MCC"] = 1
	}
	return f
}

// glcmMCC returns sqrt of the second largest eigenvalue of
// Q(i, j) = Σ_k p(i,k) p(j,k) / (px(i) py(k) + eps). Q = D⁻¹B with D = diag(px) and B symmetric
// up to the eps terms, so its eigenvalues are those of the symmetric D^½ Q D^-½ (symmetrised;
// the antisymmetric remainder from eps only moves eigenvalues at second order). Levels with
// px = 0 give zero rows and columns and hence zero eigenvalues.
func glcmMCC(p, px, py []float64, ng int) float64 {
	if ng < 2 {
		return 1
	}
	idx := make([]int, 0, ng)
	for i := 0; i < ng; i++ {
		if px[i] != 0 {
			idx = append(idx, i)
		}
	}
	for _, x := range px {
		if math.IsNaN(x) {
			return math.NaN()
		}
	}
	n := len(idx)
	// Q(i, j) = Σ_k w(i, k) p(j, k) with w(i, k) = p(i, k) / (px(i) py(k) + eps), accumulated
	// column by column (k ascending) over the non-zero entries of column k only: the GLCM is mostly
	// near-diagonal, so this touches far fewer pairs than the dense product.
	q := make([]float64, n*n)
	colA := make([]int, 0, n)
	colW := make([]float64, 0, n)
	colP := make([]float64, 0, n)
	for k := 0; k < ng; k++ {
		colA, colW, colP = colA[:0], colW[:0], colP[:0]
		for a, i := range idx {
			if x := p[i*ng+k]; x != 0 {
				colA = append(colA, a)
				colW = append(colW, x/(px[i]*py[k]+texEps))
				colP = append(colP, x)
			}
		}
		for t, a := range colA {
			row := q[a*n : a*n+n]
			wa := colW[t]
			for u, b := range colA {
				row[b] += wa * colP[u]
			}
		}
	}
	sq := make([]float64, n)
	for a, i := range idx {
		sq[a] = math.Sqrt(px[i])
	}
	s := make([]float64, n*n)
	for a := 0; a < n; a++ {
		for b := 0; b <= a; b++ {
			x := 0.5 * (q[a*n+b]*sq[a]/sq[b] + q[b*n+a]*sq[b]/sq[a])
			s[a*n+b], s[b*n+a] = x, x
		}
	}
	ev := texSymEigenvalues(s, n)
	for len(ev) < ng {
		ev = append(ev, 0)
	}
	// second largest of the full spectrum
	largest, second := math.Inf(-1), math.Inf(-1)
	for _, x := range ev {
		if x > largest {
			largest, second = x, largest
		} else if x > second {
			second = x
		}
	}
	return math.Sqrt(second)
}
