package radiomics

import (
	"math"
	"slices"
	"testing"
)

// texImage2D builds a one-slice Discretized from rows (y) of levels (x); 0 is outside the ROI.
func texImage2D(rows [][]int) *Discretized {
	ny, nx := len(rows), len(rows[0])
	d := &Discretized{Size: [3]int{nx, ny, 1}, Spacing: [3]float64{1, 1, 1}}
	seen := map[int]bool{}
	for _, r := range rows {
		for _, l := range r {
			d.Levels = append(d.Levels, l)
			if l > 0 {
				seen[l] = true
			}
		}
	}
	for l := range seen {
		d.GrayLevels = append(d.GrayLevels, l)
	}
	slices.Sort(d.GrayLevels)
	return d
}

// The worked examples of the PyRadiomics documentation (feature class docstrings), 2D images.
var (
	texExampleGLCM = [][]int{
		{1, 2, 5, 2, 3},
		{3, 2, 1, 3, 1},
		{1, 3, 5, 5, 2},
		{1, 1, 1, 1, 2},
		{1, 2, 4, 3, 5},
	}
	texExampleRuns = [][]int{
		{5, 2, 5, 4, 4},
		{3, 3, 3, 1, 3},
		{2, 1, 1, 1, 3},
		{4, 2, 2, 2, 3},
		{3, 5, 3, 3, 2},
	}
	texExampleNGTDM = [][]int{
		{1, 2, 5, 2},
		{3, 5, 1, 3},
		{1, 3, 5, 5},
		{3, 1, 1, 1},
	}
)

func TestTextureDocumentationExamples(t *testing.T) {
	tests := []struct {
		name  string
		image [][]int
		run   func(t *testing.T, d *Discretized)
	}{
		{"glcm horizontal", texExampleGLCM, func(t *testing.T, d *Discretized) {
			want := []float64{
				6, 4, 3, 0, 0,
				4, 0, 2, 1, 3,
				3, 2, 0, 1, 2,
				0, 1, 1, 0, 0,
				0, 3, 2, 0, 2,
			}
			_, m, err := GLCM(d, DefaultTextureSettings())
			if err != nil {
				t.Fatal(err)
			}
			angles := Angles(d.Size, DefaultTextureSettings())
			a := slices.Index(angles, [3]int{0, 0, 1})
			if !slices.Equal(m.Shape, []int{5, 5, 4}) || a < 0 {
				t.Fatalf("shape %v, angles %v", m.Shape, angles)
			}
			for k, w := range want {
				if got := m.Data[k*4+a] * 40; math.Abs(got-w) > 1e-12 {
					t.Fatalf("P[%d,%d] = %g, want %g", k/5, k%5, got, w)
				}
			}
		}},
		{"glrlm horizontal", texExampleRuns, func(t *testing.T, d *Discretized) {
			want := []float64{
				1, 0, 1, 0, 0,
				3, 0, 1, 0, 0,
				4, 1, 1, 0, 0,
				1, 1, 0, 0, 0,
				3, 0, 0, 0, 0,
			}
			v, err := newTextureVolume(d)
			if err != nil {
				t.Fatal(err)
			}
			c := make([]float64, 25)
			glrlmCountRuns(v, [3]int{0, 0, 1}, 5, c)
			if !slices.Equal(c, want) {
				t.Fatalf("runs %v, want %v", c, want)
			}
		}},
		{"glszm", texExampleRuns, func(t *testing.T, d *Discretized) {
			want := []float64{
				0, 0, 0, 1, 0,
				1, 0, 0, 0, 1,
				1, 0, 1, 0, 1,
				1, 1, 0, 0, 0,
				3, 0, 0, 0, 0,
			}
			f, m, err := GLSZM(d, DefaultTextureSettings())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Shape, []int{5, 5}) || !slices.Equal(m.Data, want) {
				t.Fatalf("GLSZM %v %v, want %v", m.Shape, m.Data, want)
			}
			// 11 zones over 25 voxels
			if math.Abs(f["ZonePercentage"]-11.0/25) > 1e-15 {
				t.Fatalf("ZonePercentage %g", f["ZonePercentage"])
			}
		}},
		{"gldm", texExampleRuns, func(t *testing.T, d *Discretized) {
			want := []float64{
				0, 1, 2, 1,
				1, 2, 3, 0,
				1, 4, 4, 0,
				1, 2, 0, 0,
				3, 0, 0, 0,
			}
			f, m, err := GLDM(d, DefaultTextureSettings())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Shape, []int{5, 4}) || !slices.Equal(m.Data, want) {
				t.Fatalf("GLDM %v %v, want %v", m.Shape, m.Data, want)
			}
			// dependence counts per column 6, 9, 9, 1 (j = 1..4): DNN = (36+81+81+1)/625
			if math.Abs(f["DependenceNonUniformityNormalized"]-199.0/625) > 1e-15 {
				t.Fatalf("DNN %g", f["DependenceNonUniformityNormalized"])
			}
		}},
		{"ngtdm", texExampleNGTDM, func(t *testing.T, d *Discretized) {
			// s_i worked out by hand from the neighbourhood means (8-connected in the slice)
			want := []float64{
				6, 13.35, 1,
				2, 2, 2,
				4, 91.0 / 30, 3,
				4, 10.075, 5,
			}
			f, m, err := NGTDM(d, DefaultTextureSettings())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Shape, []int{4, 3}) {
				t.Fatalf("shape %v", m.Shape)
			}
			for k, w := range want {
				if math.Abs(m.Data[k]-w) > 1e-12 {
					t.Fatalf("NGTDM %v, want %v", m.Data, want)
				}
			}
			// Coarseness = 1 / Σ p_i s_i = 16 / (6·13.35 + 2·2 + 4·91/30 + 4·10.075)
			wantC := 16 / (6*13.35 + 2*2 + 4*91.0/30 + 4*10.075)
			if texRelErr(f["Coarseness"], wantC) > 1e-13 {
				t.Fatalf("Coarseness %g, want %g", f["Coarseness"], wantC)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, texImage2D(tc.image)) })
	}
}

// texJacobiEigenvalues is a plain cyclic Jacobi reference for the symmetric eigenvalue routine.
func texJacobiEigenvalues(a []float64, n int) []float64 {
	a = slices.Clone(a)
	for sweep := 0; sweep < 100; sweep++ {
		off := 0.0
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				off += a[p*n+q] * a[p*n+q]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				if a[p*n+q] == 0 {
					continue
				}
				theta := (a[q*n+q] - a[p*n+p]) / (2 * a[p*n+q])
				tt := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(tt*tt+1)
				s := tt * c
				for k := 0; k < n; k++ {
					akp, akq := a[k*n+p], a[k*n+q]
					a[k*n+p], a[k*n+q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := 0; k < n; k++ {
					apk, aqk := a[p*n+k], a[q*n+k]
					a[p*n+k], a[q*n+k] = c*apk-s*aqk, s*apk+c*aqk
				}
			}
		}
	}
	ev := make([]float64, n)
	for i := range ev {
		ev[i] = a[i*n+i]
	}
	slices.Sort(ev)
	return ev
}

func TestTextureSymmetricEigenvalues(t *testing.T) {
	seed := uint64(12345)
	rnd := func() float64 {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return float64(seed>>11)/(1<<53) - 0.5
	}
	for _, n := range []int{1, 2, 3, 5, 17, 60} {
		a := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := 0; j <= i; j++ {
				x := rnd()
				if (i+j)%7 == 3 {
					x = 0 // some structure: zero couplings
				}
				a[i*n+j], a[j*n+i] = x, x
			}
		}
		want := texJacobiEigenvalues(a, n)
		got := texSymEigenvalues(slices.Clone(a), n)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Fatalf("n=%d: eigenvalues %v, Jacobi %v", n, got, want)
			}
		}
	}
	// diagonal and already-tridiagonal inputs
	diag := []float64{3, 0, 0, 0, 1, 0, 0, 0, 2}
	if got := texSymEigenvalues(diag, 3); !slices.Equal(got, []float64{1, 2, 3}) {
		t.Fatalf("diagonal: %v", got)
	}
}
