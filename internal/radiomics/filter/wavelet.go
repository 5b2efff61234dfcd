package filter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// waveletFilters are a wavelet's analysis filters as PyWavelets lists them (dec_lo, dec_hi).
type waveletFilters struct {
	lo, hi []float64
}

// filters returns the low- and high-pass analysis filters of the named wavelet.
func filters(name string) (lo, hi []float64, ok bool) {
	w, ok := waveletTable[name]
	if !ok {
		return nil, nil, false
	}
	if w.hi != nil {
		return w.lo, w.hi, true
	}
	// Orthogonal wavelet: hi[k] = (-1)^(k+1)·lo[n-1-k] (bit-identical to PyWavelets' dec_hi).
	n := len(w.lo)
	hi = make([]float64, n)
	for k := range hi {
		hi[k] = w.lo[n-1-k]
		if k%2 == 0 {
			hi[k] = -hi[k]
		}
	}
	return w.lo, hi, true
}

// WaveletNames returns the supported wavelet names (PyWavelets' discrete wavelets: haar, dbN,
// symN, coifN, biorN.M, rbioN.M, dmey), sorted.
func WaveletNames() []string {
	names := make([]string, 0, len(waveletTable))
	for n := range waveletTable {
		names = append(names, n)
	}
	sort.Slice(names, func(a, b int) bool { return naturalLess(names[a], names[b]) })
	return names
}

// naturalLess orders "db2" before "db10".
func naturalLess(a, b string) bool {
	split := func(s string) (string, float64) {
		i := strings.IndexAny(s, "0123456789")
		if i < 0 {
			return s, -1
		}
		v, _ := strconv.ParseFloat(s[i:], 64)
		return s[:i], v
	}
	pa, va := split(a)
	pb, vb := split(b)
	if pa != pb {
		return pa < pb
	}
	return va < vb
}

// subbandOrder lists the detail sub-bands in the order PyRadiomics yields them (PyWavelets'
// swtn key order with 'a'→L, 'd'→H); letters are x, y, z. Bit 2 of the index selects the x
// filter, bit 1 y, bit 0 z (1 = high-pass).
var subbandOrder = [7]string{"LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH"}

// Wavelet computes PyRadiomics' wavelet image types: an undecimated (stationary) wavelet
// transform along x, y and z with periodic extension, as pywt.swtn(level=1) computes it, repeated
// on the approximation. Dimensions of odd size are first extended by one sample that repeats the
// first slice (numpy "wrap" padding); every output is cropped back to the input size.
//
// startLevel decompositions are applied first and discarded; then level decompositions each
// yield 7 detail bands named "wavelet-XYZ" for the first and "waveletN-XYZ" (N = 2, 3, ...) for
// later ones; the last band is the approximation of the final decomposition ("wavelet-LLL" or
// "waveletN-LLL", N = level). Like PyRadiomics, every decomposition uses the undilated filters
// (PyWavelets' level 1), not the à trous filters of a multi-level swtn.
//
// PyRadiomics' default is wavelet "coif1", level 1, start level 0. Computation is in float64
// (PyWavelets computes in float32 when given a float32 image).
func Wavelet(im *imageio.Image, wavelet string, level, startLevel int) ([]Filtered, error) {
	lo, hi, ok := filters(wavelet)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownWavelet, wavelet)
	}
	if level < 1 || startLevel < 0 {
		return nil, fmt.Errorf("%w: level %d, start level %d (need level >= 1, start level >= 0)", ErrInvalidLevel, level, startLevel)
	}
	if err := checkImage(im); err != nil {
		return nil, err
	}
	size := im.Grid.Size
	var psize [3]int
	for a := range psize {
		psize[a] = size[a] + size[a]%2
	}
	data := padWrap(im.Data, size, psize)
	nvox := psize[0] * psize[1] * psize[2]
	s := &swt3{n: psize, lo: lo, hi: hi}
	s.x[0], s.x[1] = make([]float64, nvox), make([]float64, nvox)
	s.y[0], s.y[1] = make([]float64, nvox), make([]float64, nvox)

	for range startLevel {
		data = s.approx(data)
	}
	out := make([]Filtered, 0, 7*level+1)
	for l := 1; l <= level; l++ {
		bands := s.decompose(data)
		prefix := "wavelet-"
		if l > 1 {
			prefix = "wavelet" + strconv.Itoa(l) + "-"
		}
		for b := 1; b < 8; b++ {
			out = append(out, Filtered{Name: prefix + subbandOrder[b-1], Image: newLike(im, crop(bands[b], psize, size))})
		}
		data = bands[0]
	}
	last := "wavelet-LLL"
	if level > 1 {
		last = "wavelet" + strconv.Itoa(level) + "-LLL"
	}
	out = append(out, Filtered{Name: last, Image: newLike(im, crop(data, psize, size))})
	return out, nil
}

// swt3 holds the scratch buffers of a 3-D single-level stationary wavelet transform.
type swt3 struct {
	n      [3]int
	lo, hi []float64
	x, y   [2][]float64
}

// decompose returns the 8 sub-bands of data, indexed by bits (x<<2 | y<<1 | z), 1 = high-pass;
// index 0 is the approximation.
func (s *swt3) decompose(data []float64) [8][]float64 {
	nx, ny, nz := s.n[0], s.n[1], s.n[2]
	var bands [8][]float64
	periodicPass(data, s.x[0], s.x[1], nx, 1, ny*nz, s.lo, s.hi)
	for bx := range 2 {
		periodicPass(s.x[bx], s.y[0], s.y[1], ny, nx, nz, s.lo, s.hi)
		for by := range 2 {
			b := bx<<2 | by<<1
			bands[b] = make([]float64, len(data))
			bands[b|1] = make([]float64, len(data))
			periodicPass(s.y[by], bands[b], bands[b|1], nz, nx*ny, 1, s.lo, s.hi)
		}
	}
	return bands
}

// approx returns only the approximation (LLL) sub-band of data.
func (s *swt3) approx(data []float64) []float64 {
	nx, ny, nz := s.n[0], s.n[1], s.n[2]
	periodicPass(data, s.x[0], nil, nx, 1, ny*nz, s.lo, nil)
	periodicPass(s.x[0], s.y[0], nil, ny, nx, nz, s.lo, nil)
	out := make([]float64, len(data))
	periodicPass(s.y[0], out, nil, nz, nx*ny, 1, s.lo, nil)
	return out
}

// padWrap copies data of size n into an array of size p (p[a] = n[a] or n[a]+1), filling the
// extra sample of an axis with the axis' first sample.
func padWrap(data []float64, n, p [3]int) []float64 {
	if n == p {
		return append([]float64(nil), data...)
	}
	out := make([]float64, p[0]*p[1]*p[2])
	for k := range p[2] {
		sk := k % n[2]
		for j := range p[1] {
			sj := j % n[1]
			src := data[(sk*n[1]+sj)*n[0] : (sk*n[1]+sj+1)*n[0]]
			dst := out[(k*p[1]+j)*p[0] : (k*p[1]+j+1)*p[0]]
			copy(dst, src)
			if p[0] > n[0] {
				dst[n[0]] = src[0]
			}
		}
	}
	return out
}

// crop returns the first n samples along each axis of data of size p.
func crop(data []float64, p, n [3]int) []float64 {
	if n == p {
		return data
	}
	out := make([]float64, n[0]*n[1]*n[2])
	for k := range n[2] {
		for j := range n[1] {
			copy(out[(k*n[1]+j)*n[0]:(k*n[1]+j+1)*n[0]], data[(k*p[1]+j)*p[0]:])
		}
	}
	return out
}

// periodicPass filters an array viewed as [outer][n][blk] along its middle axis with circular
// (periodic) extension, as PyWavelets' single-level SWT does:
//
//	dst[o] = Σ_t f[t] · src[(o + len(f)/2 − t) mod n]
//
// writing the lo filter's output to dstLo and, when hi is not nil, the hi filter's to dstHi.
// Both filters must have the same length.
func periodicPass(src, dstLo, dstHi []float64, n, blk, outer int, lo, hi []float64) {
	f := len(lo)
	if blk == 1 {
		// Rows along the contiguous axis: build a periodically extended copy so that
		// dst[o] = Σ_t f[t]·ext[o + f − 1 − t], with ext[m] = src[(m − f + 1 + f/2) mod n].
		ext := make([]float64, n+f-1)
		shift := f/2 - f + 1
		for r := range outer {
			row := src[r*n : (r+1)*n]
			for m := range ext {
				ext[m] = row[mod(m+shift, n)]
			}
			lrow := dstLo[r*n : (r+1)*n]
			if hi == nil {
				for o := range lrow {
					w := ext[o : o+f]
					var a float64
					for t, c := range lo {
						a += c * w[f-1-t]
					}
					lrow[o] = a
				}
				continue
			}
			hrow := dstHi[r*n : (r+1)*n]
			for o := range lrow {
				w := ext[o : o+f]
				var a, b float64
				for t := range lo {
					v := w[f-1-t]
					a += lo[t] * v
					b += hi[t] * v
				}
				lrow[o] = a
				hrow[o] = b
			}
		}
		return
	}
	// Rows or planes: accumulate whole blocks (contiguous) per tap, in chunks that keep the
	// blocks touched by one output in cache.
	const chunk = 2048
	for r := range outer {
		base := r * n * blk
		for c0 := 0; c0 < blk; c0 += chunk {
			c1 := min(c0+chunk, blk)
			for o := range n {
				lo0 := base + o*blk
				ld := dstLo[lo0+c0 : lo0+c1]
				clear(ld)
				var hd []float64
				if hi != nil {
					hd = dstHi[lo0+c0 : lo0+c1]
					clear(hd)
				}
				for t := range f {
					s0 := base + mod(o+f/2-t, n)*blk
					sv := src[s0+c0 : s0+c1]
					cl := lo[t]
					ld := ld[:len(sv)]
					for i, v := range sv {
						ld[i] += cl * v
					}
					if hi != nil {
						ch := hi[t]
						hd := hd[:len(sv)]
						for i, v := range sv {
							hd[i] += ch * v
						}
					}
				}
			}
		}
	}
}

// mod returns a mod n in [0, n).
func mod(a, n int) int {
	a %= n
	if a < 0 {
		a += n
	}
	return a
}
