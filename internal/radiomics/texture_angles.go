package radiomics

import (
	"fmt"
	"math"
	"slices"
)

// Angles returns PyRadiomics' neighbour offsets (dz, dy, dx in numpy (z, y, x) axis order) for a
// bounding box of the given size, the settings' distances (default [1]) and force2D setting, in
// PyRadiomics' order: one offset per direction pair (the GLCM/GLRLM angles), i.e. the offsets whose
// infinity norm is one of the distances, that fit in the box and, with force2D, do not move along
// the excluded dimension, enumerated with every component running from +max distance down to
// -max distance (z slowest, x fastest) and keeping those before the (0, 0, 0) centre.
//
// size is given in the Discretized.Size order (x, y, z), so Angles(d.Size, s) gives the angles the
// texture classes use for d. Invalid settings (a distance < 1, force2D dimension outside 0..2)
// yield nil.
func Angles(size [3]int, s TextureSettings) [][3]int {
	dist, f2d, err := texAngleSettings(s)
	if err != nil {
		return nil
	}
	return texGenerateAngles([3]int{size[2], size[1], size[0]}, dist, false, f2d)
}

// texAngleSettings validates the distances (defaulting to [1], duplicates dropped) and returns the
// force2D dimension in (z, y, x) order, -1 when not forced 2D.
func texAngleSettings(s TextureSettings) ([]int, int, error) {
	dist := slices.Clone(s.Distances)
	if len(dist) == 0 {
		dist = []int{1}
	}
	for _, d := range dist {
		if d < 1 {
			return nil, 0, fmt.Errorf("radiomics: invalid distance %d", d)
		}
	}
	slices.Sort(dist)
	dist = slices.Compact(dist)
	f2d := -1
	if s.Force2D {
		if s.Force2DDimension < 0 || s.Force2DDimension > 2 {
			return nil, 0, fmt.Errorf("radiomics: invalid force2Ddimension %d", s.Force2DDimension)
		}
		f2d = s.Force2DDimension
	}
	return dist, f2d, nil
}

// texGenerateAngles enumerates offsets in PyRadiomics' order for a box of size (z, y, x). With
// bidirectional false only the first offset of each ± pair is kept (those enumerated before the
// centre), as for GLCM and GLRLM; GLSZM, GLDM and NGTDM use both.
func texGenerateAngles(sizeZYX [3]int, distances []int, bidirectional bool, f2d int) [][3]int {
	maxD := 0
	for _, d := range distances {
		maxD = max(maxD, d)
	}
	n := 2*maxD + 1
	total := n * n * n
	end := total
	if !bidirectional {
		end = total / 2 // index of (0, 0, 0)
	}
	var out [][3]int
	for idx := 0; idx < end; idx++ {
		off := [3]int{maxD - idx/(n*n), maxD - (idx/n)%n, maxD - idx%n}
		norm, ok := 0, true
		for d := 0; d < 3; d++ {
			o := off[d]
			if (d == f2d && o != 0) || o >= sizeZYX[d] || o <= -sizeZYX[d] {
				ok = false
				break
			}
			norm = max(norm, texAbs(o))
		}
		if !ok || norm == 0 || !slices.Contains(distances, norm) {
			continue
		}
		out = append(out, off)
	}
	return out
}

// texAngleWeights returns the per-angle weights of weightingNorm: for GLCM (exponential) the factor
// exp(-‖d‖²), for GLRLM the distance ‖d‖ itself, d being the offset scaled by the spacing in
// (z, y, x) order. "no_weighting" and unknown norms give 1.
func texAngleWeights(angles [][3]int, norm string, spacingZYX [3]float64, exponential bool) []float64 {
	w := make([]float64, len(angles))
	for k, a := range angles {
		var d [3]float64
		for i := 0; i < 3; i++ {
			d[i] = math.Abs(float64(a[i])) * spacingZYX[i]
		}
		switch norm {
		case "infinity":
			m := max(d[0], d[1], d[2])
			if exponential {
				w[k] = math.Exp(-(m * m))
			} else {
				w[k] = m
			}
		case "euclidean":
			s := d[0]*d[0] + d[1]*d[1] + d[2]*d[2]
			if exponential {
				w[k] = math.Exp(-s)
			} else {
				w[k] = math.Sqrt(s)
			}
		case "manhattan":
			s := d[0] + d[1] + d[2]
			if exponential {
				w[k] = math.Exp(-(s * s))
			} else {
				w[k] = s
			}
		default:
			w[k] = 1
		}
	}
	return w
}
