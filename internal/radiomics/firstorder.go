package radiomics

import (
	"math"
	"slices"
	"sort"
)

// firstOrderNames are PyRadiomics 3.0.1's default (non-deprecated) first-order features, in its
// order (alphabetical by method name).
var firstOrderNames = []string{"10Percentile", "90Percentile", "Energy", "Entropy", "InterquartileRange", "Kurtosis",
	"Maximum", "MeanAbsoluteDeviation", "Mean", "Median", "Minimum", "Range", "RobustMeanAbsoluteDeviation",
	"RootMeanSquared", "Skewness", "TotalEnergy", "Uniformity", "Variance"}

// FirstOrderFeatureNames returns the 18 default first-order feature names in PyRadiomics' order.
func FirstOrderFeatureNames() []string { return slices.Clone(firstOrderNames) }

// FirstOrder computes the first-order features of the ROI intensities vals (any order) and their
// discretised levels (same order), as PyRadiomics does: Energy, TotalEnergy and RootMeanSquared
// use vals + shift (voxelArrayShift); TotalEnergy multiplies by voxelVolume (mm³); Entropy and
// Uniformity use the discretised levels; statistics are population moments; Kurtosis is the
// plain fourth standardised moment (normal = 3) unless ibsiKurtosis asks for excess kurtosis.
func FirstOrder(vals []float64, levels []int, shift, voxelVolume float64, ibsiKurtosis bool) map[string]float64 {
	n := float64(len(vals))
	f := make(map[string]float64, len(firstOrderNames))
	sorted := slices.Clone(vals)
	sort.Float64s(sorted)

	sq := make([]float64, len(vals))
	for i, v := range vals {
		sq[i] = (v + shift) * (v + shift)
	}
	energy := pairwiseSum(sq)
	f["Energy"] = energy
	f["TotalEnergy"] = voxelVolume * energy
	f["RootMeanSquared"] = math.Sqrt(energy / n)

	counts := map[int]int{}
	for _, l := range levels {
		counts[l]++
	}
	keys := make([]int, 0, len(counts))
	for l := range counts {
		keys = append(keys, l)
	}
	sort.Ints(keys)
	const eps = 2.220446049250313e-16
	entropy, uniformity := 0.0, 0.0
	for _, l := range keys {
		p := float64(counts[l]) / n
		entropy -= p * math.Log(p+eps) / math.Ln2
		uniformity += p * p
	}
	f["Entropy"] = entropy
	f["Uniformity"] = uniformity

	mean := pairwiseSum(vals) / n
	f["Mean"] = mean
	f["Minimum"] = sorted[0]
	f["Maximum"] = sorted[len(sorted)-1]
	f["Range"] = sorted[len(sorted)-1] - sorted[0]
	p10, p90 := percentile(sorted, 10), percentile(sorted, 90)
	f["10Percentile"] = p10
	f["90Percentile"] = p90
	f["InterquartileRange"] = percentile(sorted, 75) - percentile(sorted, 25)
	f["Median"] = percentile(sorted, 50)

	dev := make([]float64, len(vals))
	for i, v := range vals {
		dev[i] = math.Abs(v - mean)
	}
	f["MeanAbsoluteDeviation"] = pairwiseSum(dev) / n

	var robust []float64
	for _, v := range vals {
		if v >= p10 && v <= p90 {
			robust = append(robust, v)
		}
	}
	rmean := pairwiseSum(robust) / float64(len(robust))
	for i, v := range robust {
		robust[i] = math.Abs(v - rmean)
	}
	f["RobustMeanAbsoluteDeviation"] = pairwiseSum(robust) / float64(len(robust))

	m := func(p int) float64 {
		for i, v := range vals {
			d := v - mean
			r := d
			for range p - 1 {
				r *= d
			}
			dev[i] = r
		}
		return pairwiseSum(dev) / n
	}
	m2, m3, m4 := m(2), m(3), m(4)
	std := math.Sqrt(m2)
	f["Variance"] = std * std
	if m2 == 0 {
		f["Skewness"], f["Kurtosis"] = 0, 0
	} else {
		f["Skewness"] = m3 / math.Pow(m2, 1.5)
		f["Kurtosis"] = m4 / (m2 * m2)
	}
	if ibsiKurtosis {
		f["Kurtosis"] -= 3
	}
	return f
}

// percentile is numpy.percentile with linear interpolation on sorted data.
func percentile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 1 {
		return sorted[0]
	}
	pos := q / 100 * float64(n-1)
	lo := int(math.Floor(pos))
	if lo >= n-1 {
		return sorted[n-1]
	}
	t := pos - float64(lo)
	a, b := sorted[lo], sorted[lo+1]
	diff := b - a
	if t >= 0.5 {
		return b - diff*(1-t)
	}
	return a + diff*t
}
