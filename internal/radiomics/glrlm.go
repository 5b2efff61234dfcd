package radiomics

import (
	"math"
)

// GLRLM computes PyRadiomics' gray level run length matrix and its default features.
//
// Runs are maximal sequences of consecutive ROI voxels with equal level along each angle of
// Angles at distance 1 (s.Distances is not used, as in PyRadiomics), the run length axis spanning
// 1..max(box size). An angle along which no line holds more than one ROI voxel is emptied; with a
// weighting norm the angles are merged by a sum weighted with the offset length ‖d‖, otherwise
// empty angles are dropped. Run lengths that occur in no angle are dropped. Features are averaged
// over angles (numpy.nanmean). The matrix is (Ng, Nr, Na) of run counts.
func GLRLM(d *Discretized, s TextureSettings) (map[string]float64, *Matrix, error) {
	v, err := newTextureVolume(d)
	if err != nil {
		return nil, nil, err
	}
	_, f2d, err := texAngleSettings(s)
	if err != nil {
		return nil, nil, err
	}
	angles := texGenerateAngles(v.sizeZYX(), []int{1}, false, f2d)
	ng := len(v.gray)
	if len(angles) == 0 {
		return texNaNFeatures("glrlm"), &Matrix{Shape: []int{ng, 0, 0}}, errTexNoAngles
	}
	nr := max(v.nx, v.ny, v.nz)
	na := len(angles)
	// runs[a][i*nr+r]
	runs := make([]float64, na*ng*nr)
	for a, off := range angles {
		glrlmCountRuns(v, off, nr, runs[a*ng*nr:(a+1)*ng*nr])
	}
	if s.WeightingNorm != "" {
		w := texAngleWeights(angles, s.WeightingNorm, v.spacingZYX, false)
		merged := make([]float64, ng*nr)
		for k := range merged {
			acc := 0.0
			for a := 0; a < na; a++ {
				acc += runs[a*ng*nr+k] * w[a]
			}
			merged[k] = acc
		}
		runs, na = merged, 1
	}
	var mats [][]float64
	var totals []float64
	for a := 0; a < na; a++ {
		c := runs[a*ng*nr : (a+1)*ng*nr]
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
		mats = append(mats, c)
		totals = append(totals, sum)
	}
	// run lengths present in any kept angle
	var lengths []int
	for r := 0; r < nr; r++ {
		used := false
		for _, c := range mats {
			for i := 0; i < ng && !used; i++ {
				used = c[i*nr+r] != 0
			}
		}
		if used {
			lengths = append(lengths, r)
		}
	}
	nk := len(lengths)
	m := &Matrix{Shape: []int{ng, nk, len(mats)}, Data: make([]float64, ng*nk*len(mats))}
	for a, c := range mats {
		for i := 0; i < ng; i++ {
			for jj, r := range lengths {
				m.Data[(i*nk+jj)*len(mats)+a] = c[i*nr+r]
			}
		}
	}
	return glrlmFeatures(v, m, lengths, totals), m, nil
}

// glrlmCountRuns adds the runs along one offset to c (ng × nr, run length r+1 at column r).
func glrlmCountRuns(v *textureVolume, off [3]int, nr int, c []float64) {
	delta := v.delta(off)
	multi := false
	for z := 0; z < v.nz; z++ {
		zs := z-off[0] < 0 || z-off[0] >= v.nz
		for y := 0; y < v.ny; y++ {
			ys := zs || y-off[1] < 0 || y-off[1] >= v.ny
			for x := 0; x < v.nx; x++ {
				// a line starts where the previous voxel along the offset leaves the box
				if !ys && x-off[2] >= 0 && x-off[2] < v.nx {
					continue
				}
				i := (z*v.ny+y)*v.nx + x
				zz, yy, xx := z, y, x
				cur, run, elements := 0, 0, 0
				for {
					l := v.lev[i]
					if l != 0 {
						elements++
						if l == cur {
							run++
						} else {
							if cur != 0 {
								c[int(v.rank[cur])*nr+run-1]++
							}
							cur, run = l, 1
						}
					} else if cur != 0 {
						c[int(v.rank[cur])*nr+run-1]++
						cur, run = 0, 0
					}
					zz, yy, xx = zz+off[0], yy+off[1], xx+off[2]
					if zz < 0 || yy < 0 || xx < 0 || zz >= v.nz || yy >= v.ny || xx >= v.nx {
						break
					}
					i += delta
				}
				if cur != 0 {
					c[int(v.rank[cur])*nr+run-1]++
				}
				if elements > 1 {
					multi = true
				}
			}
		}
	}
	if !multi {
		// every line holds at most one ROI voxel: PyRadiomics treats the angle as empty
		clear(c)
	}
}

func glrlmFeatures(v *textureVolume, m *Matrix, lengths []int, totals []float64) map[string]float64 {
	ng, nk, na := m.Shape[0], m.Shape[1], m.Shape[2]
	vals := map[string][]float64{}
	add := func(name string, x float64) { vals[name] = append(vals[name], x) }
	gi := make([]float64, ng)
	for i, l := range v.gray {
		gi[i] = float64(l)
	}
	jv := make([]float64, nk)
	for j, r := range lengths {
		jv[j] = float64(r + 1)
	}
	for a := 0; a < na; a++ {
		nrA := totals[a]
		pr := make([]float64, nk)
		pg := make([]float64, ng)
		var srlgle, srhgle, lrlgle, lrhgle, ent float64
		for i := 0; i < ng; i++ {
			for j := 0; j < nk; j++ {
				x := m.Data[(i*nk+j)*na+a]
				pr[j] += x
				pg[i] += x
				i2, j2 := gi[i]*gi[i], jv[j]*jv[j]
				srlgle += x / (i2 * j2)
				srhgle += x * i2 / j2
				lrlgle += x * j2 / i2
				lrhgle += x * j2 * i2
				ent -= texXlog2(x / nrA)
			}
		}
		var sre, lre, rln, np, uj float64
		for j := 0; j < nk; j++ {
			j2 := jv[j] * jv[j]
			sre += pr[j] / j2
			lre += pr[j] * j2
			rln += pr[j] * pr[j]
			np += pr[j] * jv[j]
			uj += pr[j] / nrA * jv[j]
		}
		rv := 0.0
		for j := 0; j < nk; j++ {
			t := jv[j] - uj
			rv += pr[j] / nrA * t * t
		}
		var gln, lglre, hglre, ui float64
		for i := 0; i < ng; i++ {
			gln += pg[i] * pg[i]
			lglre += pg[i] / (gi[i] * gi[i])
			hglre += pg[i] * gi[i] * gi[i]
			ui += pg[i] / nrA * gi[i]
		}
		glv := 0.0
		for i := 0; i < ng; i++ {
			t := gi[i] - ui
			glv += pg[i] / nrA * t * t
		}
		add("ShortRunEmphasis", sre/nrA)
		add("LongRunEmphasis", lre/nrA)
		add("GrayLevelNonUniformity", gln/nrA)
		add("GrayLevelNonUniformityNormalized", gln/(nrA*nrA))
		add("RunLengthNonUniformity", rln/nrA)
		add("RunLengthNonUniformityNormalized", rln/(nrA*nrA))
		add("RunPercentage", nrA/np)
		add("GrayLevelVariance", glv)
		add("RunVariance", rv)
		add("RunEntropy", ent)
		add("LowGrayLevelRunEmphasis", lglre/nrA)
		add("HighGrayLevelRunEmphasis", hglre/nrA)
		add("ShortRunLowGrayLevelEmphasis", srlgle/nrA)
		add("ShortRunHighGrayLevelEmphasis", srhgle/nrA)
		add("LongRunLowGrayLevelEmphasis", lrlgle/nrA)
		add("LongRunHighGrayLevelEmphasis", lrhgle/nrA)
	}
	f := make(map[string]float64, len(vals))
	for _, name := range TextureFeatureNames("glrlm") {
		f[name] = texNanMean(vals[name])
	}
	return f
}
