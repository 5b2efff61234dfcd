package radiomics

import (
	"errors"
	"math"
	"slices"
)

// GLSZM computes PyRadiomics' gray level size zone matrix and its default features.
//
// Zones are connected components of equal level among the ROI voxels, connectivity being the
// offsets at distance 1 in both directions (26-connected in 3D, 8-connected in the plane with
// force2D; s.Distances is not used, as in PyRadiomics). Labelling is iterative (explicit stack).
// The matrix is (Ng, Ns) of zone counts over the zone sizes that occur, ascending.
func GLSZM(d *Discretized, s TextureSettings) (map[string]float64, *Matrix, error) {
	v, err := newTextureVolume(d)
	if err != nil {
		return nil, nil, err
	}
	_, f2d, err := texAngleSettings(s)
	if err != nil {
		return nil, nil, err
	}
	angles := texGenerateAngles(v.sizeZYX(), []int{1}, true, f2d)
	ng := len(v.gray)
	if len(angles) == 0 {
		return texNaNFeatures("glszm"), &Matrix{Shape: []int{ng, 0}}, errTexNoAngles
	}
	if len(v.lev) > math.MaxInt32 {
		return nil, nil, errors.New("radiomics: box too large for zone labelling")
	}
	// zone counts keyed by size, one slice of per-rank counts per size
	zones := map[int][]float64{}
	done := make([]bool, len(v.lev))
	var stack []int32
	nb := newTexNeighbours(v, angles)
	for z := 0; z < v.nz; z++ {
		for y := 0; y < v.ny; y++ {
			for x := 0; x < v.nx; x++ {
				i := (z*v.ny+y)*v.nx + x
				l := v.lev[i]
				if l == 0 || done[i] {
					continue
				}
				done[i] = true
				stack = append(stack[:0], int32(i))
				size := 0
				for len(stack) > 0 {
					k := int(stack[len(stack)-1])
					stack = stack[:len(stack)-1]
					size++
					kz := k / (v.ny * v.nx)
					ky := (k / v.nx) % v.ny
					kx := k % v.nx
					interior := kz >= nb.margin[0] && kz < v.nz-nb.margin[0] &&
						ky >= nb.margin[1] && ky < v.ny-nb.margin[1] &&
						kx >= nb.margin[2] && kx < v.nx-nb.margin[2]
					for a, off := range angles {
						if !interior {
							zz, yy, xx := kz+off[0], ky+off[1], kx+off[2]
							if zz < 0 || yy < 0 || xx < 0 || zz >= v.nz || yy >= v.ny || xx >= v.nx {
								continue
							}
						}
						j := k + nb.deltas[a]
						if !done[j] && v.lev[j] == l {
							done[j] = true
							stack = append(stack, int32(j))
						}
					}
				}
				row := zones[size]
				if row == nil {
					row = make([]float64, ng)
					zones[size] = row
				}
				row[v.rank[l]]++
			}
		}
	}
	sizes := make([]int, 0, len(zones))
	for sz := range zones {
		sizes = append(sizes, sz)
	}
	slices.Sort(sizes)
	ns := len(sizes)
	m := &Matrix{Shape: []int{ng, ns}, Data: make([]float64, ng*ns)}
	for j, sz := range sizes {
		for i, c := range zones[sz] {
			m.Data[i*ns+j] = c
		}
	}
	jv := make([]float64, ns)
	for j, sz := range sizes {
		jv[j] = float64(sz)
	}
	return sizeZoneFeatures(v, m, jv, sizeZoneNames), m, nil
}

// sizeZoneNames maps the shared zone/dependence feature roles to GLSZM's names.
var sizeZoneNames = zoneFeatureNames{
	small: "SmallAreaEmphasis", large: "LargeAreaEmphasis",
	gln: "GrayLevelNonUniformity", glnn: "GrayLevelNonUniformityNormalized",
	szn: "SizeZoneNonUniformity", sznn: "SizeZoneNonUniformityNormalized",
	percentage: "ZonePercentage", glv: "GrayLevelVariance", zv: "ZoneVariance", entropy: "ZoneEntropy",
	lgle: "LowGrayLevelZoneEmphasis", hgle: "HighGrayLevelZoneEmphasis",
	slgle: "SmallAreaLowGrayLevelEmphasis", shgle: "SmallAreaHighGrayLevelEmphasis",
	llgle: "LargeAreaLowGrayLevelEmphasis", lhgle: "LargeAreaHighGrayLevelEmphasis",
}

// zoneFeatureNames names the features GLSZM and GLDM share (same formulas over a (Ng, Nj) matrix
// with column values j); an empty name is not computed.
type zoneFeatureNames struct {
	small, large, gln, glnn, szn, sznn, percentage, glv, zv, entropy string
	lgle, hgle, slgle, shgle, llgle, lhgle                           string
}

// sizeZoneFeatures computes the GLSZM/GLDM features of matrix m (ng × nj, column values jv),
// normalising by Nz, the matrix total (1 when 0).
func sizeZoneFeatures(v *textureVolume, m *Matrix, jv []float64, names zoneFeatureNames) map[string]float64 {
	ng, nj := m.Shape[0], m.Shape[1]
	gi := make([]float64, ng)
	for i, l := range v.gray {
		gi[i] = float64(l)
	}
	ps := make([]float64, nj)
	pg := make([]float64, ng)
	var slgle, shgle, llgle, lhgle float64
	for i := 0; i < ng; i++ {
		for j := 0; j < nj; j++ {
			x := m.Data[i*nj+j]
			ps[j] += x
			pg[i] += x
		}
	}
	nz := 0.0
	for _, x := range ps {
		nz += x
	}
	if nz == 0 {
		nz = 1
	}
	np := 0.0
	for j, x := range ps {
		np += x * jv[j]
	}
	if np == 0 {
		np = 1
	}
	ent := 0.0
	for i := 0; i < ng; i++ {
		i2 := gi[i] * gi[i]
		for j := 0; j < nj; j++ {
			x := m.Data[i*nj+j]
			j2 := jv[j] * jv[j]
			slgle += x / (i2 * j2)
			shgle += x * i2 / j2
			llgle += x * j2 / i2
			lhgle += x * i2 * j2
			ent -= texXlog2(x / nz)
		}
	}
	var sae, lae, szn, uj float64
	for j := 0; j < nj; j++ {
		j2 := jv[j] * jv[j]
		sae += ps[j] / j2
		lae += ps[j] * j2
		szn += ps[j] * ps[j]
		uj += ps[j] / nz * jv[j]
	}
	zv := 0.0
	for j := 0; j < nj; j++ {
		t := jv[j] - uj
		zv += ps[j] / nz * t * t
	}
	var gln, lgle, hgle, ui float64
	for i := 0; i < ng; i++ {
		gln += pg[i] * pg[i]
		lgle += pg[i] / (gi[i] * gi[i])
		hgle += pg[i] * gi[i] * gi[i]
		ui += pg[i] / nz * gi[i]
	}
	glv := 0.0
	for i := 0; i < ng; i++ {
		t := gi[i] - ui
		glv += pg[i] / nz * t * t
	}
	f := map[string]float64{}
	set := func(name string, x float64) {
		if name != "" {
			f[name] = x
		}
	}
	set(names.small, sae/nz)
	set(names.large, lae/nz)
	set(names.gln, gln/nz)
	set(names.glnn, gln/(nz*nz))
	set(names.szn, szn/nz)
	set(names.sznn, szn/(nz*nz))
	set(names.percentage, nz/np)
	set(names.glv, glv)
	set(names.zv, zv)
	set(names.entropy, ent)
	set(names.lgle, lgle/nz)
	set(names.hgle, hgle/nz)
	set(names.slgle, slgle/nz)
	set(names.shgle, shgle/nz)
	set(names.llgle, llgle/nz)
	set(names.lhgle, lhgle/nz)
	return f
}
