package builtin

import "math"

// scratch holds one worker's per-slice buffers, so slice operations allocate nothing after the
// first slice.
type scratch struct {
	runs         sliceRuns
	parent, comp []int32
	d, g         []float64
	v            []int32
	z            []float64
	col, colOut  []float64
	flag         []bool
}

func (sc *scratch) floats(nx, ny int) {
	n := nx * ny
	if len(sc.d) < n {
		sc.d, sc.g = make([]float64, n), make([]float64, n)
	}
	m := max(nx, ny)
	if len(sc.v) < m+1 {
		sc.v, sc.z = make([]int32, m+1), make([]float64, m+2)
		sc.col, sc.colOut = make([]float64, m), make([]float64, m)
	}
}

// sqDistance writes to sc.d the squared distance (mm²) from every pixel of the slice to the
// nearest pixel with (s&bit != 0) == feature, +Inf when there is none. Pixels beyond the image
// are not features. sx and sy are the pixel spacings along i and j. It is exact (the separable
// algorithm of Felzenszwalb and Huttenlocher).
func sqDistance(sc *scratch, s []uint8, bit uint8, feature bool, nx, ny int, sx, sy float64) []float64 {
	sc.floats(nx, ny)
	g, d := sc.g[:nx*ny], sc.d[:nx*ny]
	inf := math.Inf(1)
	// Along rows: distance in pixels to the nearest feature of the row.
	for j := range ny {
		row := s[j*nx : (j+1)*nx]
		out := g[j*nx : (j+1)*nx]
		last := -1
		for i := range nx {
			if (row[i]&bit != 0) == feature {
				last = i
			}
			if last < 0 {
				out[i] = inf
			} else {
				out[i] = float64(i - last)
			}
		}
		last = -1
		for i := nx - 1; i >= 0; i-- {
			if (row[i]&bit != 0) == feature {
				last = i
			}
			if last >= 0 {
				out[i] = math.Min(out[i], float64(last-i))
			}
			if !math.IsInf(out[i], 1) {
				out[i] *= sx
				out[i] *= out[i]
			}
		}
	}
	// Along columns: lower envelope of parabolas.
	col, colOut := sc.col[:ny], sc.colOut[:ny]
	s2 := sy * sy
	for i := range nx {
		for j := range ny {
			col[j] = g[j*nx+i]
		}
		envelope(col, colOut, s2, sc.v, sc.z)
		for j := range ny {
			d[j*nx+i] = colOut[j]
		}
	}
	return d
}

// envelope computes out[q] = min_p s2·(q-p)² + f[p] (f may hold +Inf); v needs len(f) and z
// len(f)+1 entries.
func envelope(f, out []float64, s2 float64, v []int32, z []float64) {
	n := len(f)
	k := -1
	for q := range n {
		if math.IsInf(f[q], 1) {
			continue
		}
		fq := f[q] + s2*float64(q*q)
		var s float64
		for {
			if k < 0 {
				s = math.Inf(-1)
				break
			}
			p := int(v[k])
			s = (fq - (f[p] + s2*float64(p*p))) / (2 * s2 * float64(q-p))
			if s <= z[k] {
				k--
				continue
			}
			break
		}
		k++
		v[k], z[k] = int32(q), s
	}
	if k < 0 {
		for q := range out {
			out[q] = math.Inf(1)
		}
		return
	}
	z[k+1] = math.Inf(1)
	j := 0
	for q := range n {
		for z[j+1] < float64(q) {
			j++
		}
		p := int(v[j])
		out[q] = s2*float64((q-p)*(q-p)) + f[p]
	}
}

// openSlice sets dst on the pixels of the morphological opening of src by a disc of radius r
// mm (an erosion and a dilation, both by exact distance), within src. tmp is a free bit.
func openSlice(sc *scratch, s []uint8, src, tmp, dst uint8, nx, ny int, sx, sy, r float64) {
	r2 := r * r
	d := sqDistance(sc, s, src, false, nx, ny, sx, sy)
	for i, v := range d {
		if s[i]&src != 0 && v > r2 {
			s[i] |= tmp
		}
	}
	d = sqDistance(sc, s, tmp, true, nx, ny, sx, sy)
	for i, v := range d {
		s[i] &^= tmp
		if s[i]&src != 0 && v <= r2 {
			s[i] |= dst
		}
	}
}

// fillHoles sets bit on every region of unset pixels that does not touch the slice's border
// (4-connectivity) and has at most maxPixels pixels (no limit when maxPixels <= 0). It returns
// the number of pixels filled.
func fillHoles(sc *scratch, s []uint8, bit uint8, nx, ny, maxPixels int) int {
	return fillHolesAvoiding(sc, s, bit, 0, nx, ny, maxPixels)
}
