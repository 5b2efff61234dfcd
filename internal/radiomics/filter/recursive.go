package filter

import "math"

// Recursive (IIR) Gaussian filtering in the form ITK's RecursiveGaussianImageFilter uses:
// Deriche's 4th-order approximation of the Gaussian and its second derivative, run as a causal
// and an anticausal recursion whose outputs are added, with initial conditions that treat the
// signal as continuing with its border value beyond each end. The response is normalised
// exactly on the sampled grid: unit DC gain for the Gaussian; zero DC gain and second moment 2
// (times σ² when scale-normalised) for the second derivative.

// Deriche's fitted parameters of the Gaussian (index 0) and of its second derivative (index 2)
// as a sum of two damped cosine/sine pairs, a·cos(w·t/σ) + b·sin(w·t/σ) times exp(l·t/σ)
// (Deriche 1993; Farnebäck & Westin 2006).
const (
	dericheW1 = 0.6681
	dericheL1 = -1.3932
	dericheW2 = 2.0787
	dericheL2 = -1.3732
)

var (
	dericheA1 = [3]float64{1.3530, -0.6724, -1.3563}
	dericheB1 = [3]float64{1.8151, -3.4327, 5.2318}
	dericheA2 = [3]float64{-0.3531, 0.6724, 0.3446}
	dericheB2 = [3]float64{0.0902, 0.6100, -2.2355}
)

// iirCoeffs are the coefficients of one symmetric recursive filter:
//
//	causal:      y[i]   = Σ_{k=0..3} n[k]·x[i−k]   − Σ_{k=1..4} d[k−1]·y[i−k]
//	anticausal:  z[i]   = Σ_{k=1..4} m[k−1]·x[i+k] − Σ_{k=1..4} d[k−1]·z[i+k]
//	output:      y[i] + z[i]
//
// with x beyond the ends equal to the end sample, and y, z there equal to that sample times
// bn[k−1]/d[k−1] and bm[k−1]/d[k−1] (the steady state of a constant signal).
type iirCoeffs struct {
	n, m, d, bn, bm [4]float64
}

// dericheDenominator returns d (the common poles) and its moments Σ, Σk·, Σk²· (with d0 = 1).
func dericheDenominator(sigma float64) (d [4]float64, s, ds, es float64) {
	c1, c2 := math.Cos(dericheW1/sigma), math.Cos(dericheW2/sigma)
	e1, e2 := math.Exp(dericheL1/sigma), math.Exp(dericheL2/sigma)
	d[0] = -2 * (e2*c2 + e1*c1)
	d[1] = 4*c2*c1*e1*e2 + (e1*e1 + e2*e2)
	d[2] = -2*c1*e1*e2*e2 + -2*c2*e2*e1*e1
	d[3] = e1 * e1 * e2 * e2
	s = 1 + d[0] + d[1] + d[2] + d[3]
	ds = d[0] + 2*d[1] + 3*d[2] + 4*d[3]
	es = d[0] + 4*d[1] + 9*d[2] + 16*d[3]
	return
}

// dericheNumerator returns the causal numerator of Deriche's approximation of the given order
// (0 or 2) and its moments.
func dericheNumerator(sigma float64, order int) (n [4]float64, s, ds, es float64) {
	a1, b1, a2, b2 := dericheA1[order], dericheB1[order], dericheA2[order], dericheB2[order]
	s1, s2 := math.Sin(dericheW1/sigma), math.Sin(dericheW2/sigma)
	c1, c2 := math.Cos(dericheW1/sigma), math.Cos(dericheW2/sigma)
	e1, e2 := math.Exp(dericheL1/sigma), math.Exp(dericheL2/sigma)
	n[0] = a1 + a2
	n[1] = e2*(b2*s2-(a2+2*a1)*c2) + e1*(b1*s1-(a1+2*a2)*c1)
	n[2] = 2*e1*e2*((a1+a2)*c2*c1-(b1*c2*s1+b2*c1*s2)) + (a2*e1*e1 + a1*e2*e2)
	n[3] = e2*e1*e1*(b2*s2-a2*c2) + e1*e2*e2*(b1*s1-a1*c1)
	s = n[0] + n[1] + n[2] + n[3]
	ds = n[1] + 2*n[2] + 3*n[3]
	es = n[1] + 4*n[2] + 9*n[3]
	return
}

// gaussianIIR returns the recursive Gaussian (order 0) or second-derivative (order 2) filter for
// a standard deviation of sigma samples. The second derivative is multiplied by scale (σ² in
// physical units for scale normalisation; the derivative is per sample).
func gaussianIIR(sigma float64, order int, scale float64) iirCoeffs {
	var c iirCoeffs
	d, sd, dd, ed := dericheDenominator(sigma)
	c.d = d
	switch order {
	case 0:
		n, sn, _, _ := dericheNumerator(sigma, 0)
		// DC gain of causal + anticausal (the centre sample counted once).
		gain := 2*sn/sd - n[0]
		for k := range n {
			c.n[k] = n[k] / gain
		}
	default:
		n0, sn0, dn0, en0 := dericheNumerator(sigma, 0)
		n2, sn2, dn2, en2 := dericheNumerator(sigma, 2)
		// Add a multiple of the Gaussian so the DC gain is exactly zero.
		beta := -(2*sn2 - sd*n2[0]) / (2*sn0 - sd*n0[0])
		var n [4]float64
		for k := range n {
			n[k] = n2[k] + beta*n0[k]
		}
		sn, dn, en := sn2+beta*sn0, dn2+beta*dn0, en2+beta*en0
		// Second moment of the causal half of the response: normalising it to 1 gives the
		// full symmetric response a second moment of 2, that of a second derivative.
		moment := (en*sd*sd - ed*sn*sd - 2*dn*dd*sd + 2*dd*dd*sn) / (sd * sd * sd)
		for k := range n {
			c.n[k] = n[k] * (scale / moment)
		}
	}
	// Symmetric filter: the anticausal half mirrors the causal one without the centre sample.
	c.m[0] = c.n[1] - d[0]*c.n[0]
	c.m[1] = c.n[2] - d[1]*c.n[0]
	c.m[2] = c.n[3] - d[2]*c.n[0]
	c.m[3] = -d[3] * c.n[0]
	sn := c.n[0] + c.n[1] + c.n[2] + c.n[3]
	sm := c.m[0] + c.m[1] + c.m[2] + c.m[3]
	for k := range 4 {
		c.bn[k] = d[k] * sn / sd
		c.bm[k] = d[k] * sm / sd
	}
	return c
}

// iirPass filters src, viewed as [outer][n][blk], along its middle axis into dst (which may be
// src). tmp must hold n·blk values. With round32 every output is rounded to float32, as ITK's
// LaplacianRecursiveGaussian stores its intermediate images.
func (c *iirCoeffs) iirPass(src, dst, tmp []float64, n, blk, outer int, round32 bool) {
	var rows *rowBuffers
	if blk > 1 {
		rows = newRowBuffers(blk)
	}
	for q := range outer {
		s := src[q*n*blk : (q+1)*n*blk]
		o := dst[q*n*blk : (q+1)*n*blk]
		if blk == 1 {
			c.line(s, o, tmp[:n])
		} else {
			c.block(s, o, tmp[:n*blk], n, blk, rows)
		}
		if round32 {
			for i, v := range o {
				o[i] = float64(float32(v))
			}
		}
	}
}

// line filters one contiguous line x into out (which may alias x); z is scratch of len(x).
func (c *iirCoeffs) line(x, out, z []float64) {
	n := len(x)
	N, M, D, BN, BM := &c.n, &c.m, &c.d, &c.bn, &c.bm
	// Anticausal pass first, into z, so that out may alias x.
	w := x[n-1]
	for j := n - 1; j >= 0; j-- {
		if j+4 < n {
			ff := x[j+1]*M[0] + x[j+2]*M[1] + x[j+3]*M[2] + x[j+4]*M[3]
			fb := z[j+1]*D[0] + z[j+2]*D[1] + z[j+3]*D[2] + z[j+4]*D[3]
			z[j] = ff - fb
			continue
		}
		var ff, fb float64
		for k := 1; k <= 4; k++ {
			ff += x[min(j+k, n-1)] * M[k-1]
			if j+k <= n-1 {
				fb += z[j+k] * D[k-1]
			} else {
				fb += w * BM[k-1]
			}
		}
		z[j] = ff - fb
	}
	// Causal pass, keeping the last four inputs and outputs in registers.
	v := x[0]
	var x1, x2, x3 = v, v, v // x[i-1], x[i-2], x[i-3]
	var y1, y2, y3, y4 float64
	for i := range n {
		xi := x[i]
		ff := xi*N[0] + x1*N[1] + x2*N[2] + x3*N[3]
		var fb float64
		switch i {
		case 0:
			fb = v*BN[0] + v*BN[1] + v*BN[2] + v*BN[3]
		case 1:
			fb = y1*D[0] + v*BN[1] + v*BN[2] + v*BN[3]
		case 2:
			fb = y1*D[0] + y2*D[1] + v*BN[2] + v*BN[3]
		case 3:
			fb = y1*D[0] + y2*D[1] + y3*D[2] + v*BN[3]
		default:
			fb = y1*D[0] + y2*D[1] + y3*D[2] + y4*D[3]
		}
		y := ff - fb
		x1, x2, x3 = xi, x1, x2
		y1, y2, y3, y4 = y, y1, y2, y3
		out[i] = y + z[i]
	}
}

// rowBuffers are the row-sized work buffers of iirCoeffs.block.
type rowBuffers struct {
	ring  [5][]float64 // causal outputs of rows i..i-4
	xr    [4][]float64 // copies of input rows i-1..i-3 (index 1..3)
	first []float64    // input row 0
}

func newRowBuffers(blk int) *rowBuffers {
	buf := make([]float64, 10*blk)
	r := &rowBuffers{first: buf[9*blk:]}
	for k := range r.ring {
		r.ring[k] = buf[k*blk : (k+1)*blk]
	}
	for k := range r.xr {
		r.xr[k] = buf[(5+k)*blk : (6+k)*blk]
	}
	return r
}

// block filters n rows of blk contiguous values along the row index; out may alias x; z is
// scratch of n·blk values.
func (c *iirCoeffs) block(x, out, z []float64, n, blk int, rb *rowBuffers) {
	row := func(a []float64, i int) []float64 { return a[i*blk : (i+1)*blk] }
	N, M, D, BN, BM := c.n, c.m, c.d, c.bn, c.bm
	// Anticausal pass into z.
	last := row(x, n-1)
	for j := n - 1; j >= 0; j-- {
		zj := row(z, j)
		if j+4 < n {
			xa, xb, xc, xd := row(x, j+1), row(x, j+2), row(x, j+3), row(x, j+4)
			za, zb, zc, zd := row(z, j+1), row(z, j+2), row(z, j+3), row(z, j+4)
			xa, xb, xc, xd = xa[:blk], xb[:blk], xc[:blk], xd[:blk]
			za, zb, zc, zd = za[:blk], zb[:blk], zc[:blk], zd[:blk]
			zj = zj[:blk]
			for e := range zj {
				ff := xa[e]*M[0] + xb[e]*M[1] + xc[e]*M[2] + xd[e]*M[3]
				fb := za[e]*D[0] + zb[e]*D[1] + zc[e]*D[2] + zd[e]*D[3]
				zj[e] = ff - fb
			}
			continue
		}
		for e := range zj {
			var ff, fb float64
			for k := 1; k <= 4; k++ {
				ff += x[min(j+k, n-1)*blk+e] * M[k-1]
				if j+k <= n-1 {
					fb += z[(j+k)*blk+e] * D[k-1]
				} else {
					fb += last[e] * BM[k-1]
				}
			}
			zj[e] = ff - fb
		}
	}
	// Causal pass: out row i needs x rows i..i-3 and y rows i-1..i-4. Because out may alias
	// x, the causal outputs of the last four rows are kept in a ring of row buffers and
	// written to out (plus z) once their input rows are no longer needed.
	ring, xr, first := &rb.ring, &rb.xr, rb.first
	copy(first, row(x, 0))
	copy(xr[1], first)
	copy(xr[2], first)
	copy(xr[3], first)
	for i := range n {
		xi := row(x, i)
		y := ring[i%5]
		x1, x2, x3 := xr[1][:blk], xr[2][:blk], xr[3][:blk]
		xi = xi[:blk]
		y = y[:blk]
		switch {
		case i >= 4:
			y1, y2, y3, y4 := ring[(i-1)%5][:blk], ring[(i-2)%5][:blk], ring[(i-3)%5][:blk], ring[(i-4)%5][:blk]
			for e := range y {
				ff := xi[e]*N[0] + x1[e]*N[1] + x2[e]*N[2] + x3[e]*N[3]
				fb := y1[e]*D[0] + y2[e]*D[1] + y3[e]*D[2] + y4[e]*D[3]
				y[e] = ff - fb
			}
		default:
			for e := range y {
				ff := xi[e]*N[0] + x1[e]*N[1] + x2[e]*N[2] + x3[e]*N[3]
				var fb float64
				for k := 1; k <= 4; k++ {
					if i-k >= 0 {
						fb += ring[(i-k)%5][e] * D[k-1]
					} else {
						fb += first[e] * BN[k-1]
					}
				}
				y[e] = ff - fb
			}
		}
		// Shift the input history before xi may be overwritten.
		xr[3], xr[2], xr[1] = xr[2], xr[1], xr[3]
		copy(xr[1], xi)
		oi := row(out, i)[:blk]
		zi := row(z, i)[:blk]
		for e := range oi {
			oi[e] = y[e] + zi[e]
		}
	}
}
