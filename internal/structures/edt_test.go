package structures

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// testGrid returns a grid with the given size, spacing and axes, centred on the patient origin.
func testGrid(size [3]int, spacing [3]float64, axes [3]grid.Vec) *grid.Grid {
	g := &grid.Grid{Axes: axes, Spacing: spacing, Size: size}
	var origin grid.Vec
	for a := 0; a < 3; a++ {
		origin = origin.Sub(axes[a].Scale(spacing[a] * float64(size[a]-1) / 2))
	}
	g.Origin = origin
	return g
}

var axial = [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}

// shapeMask sets the voxels whose centres satisfy inside.
func shapeMask(g *grid.Grid, inside func(p grid.Vec) bool) *imageio.Image {
	m := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				if inside(g.Point(i, j, k)) {
					m.Data[m.Index(i, j, k)] = 1
				}
			}
		}
	}
	return m
}

func sphere(c grid.Vec, r float64) func(grid.Vec) bool {
	return func(p grid.Vec) bool { return p.Sub(c).Norm() <= r }
}

func cuboid(lo, hi grid.Vec) func(grid.Vec) bool {
	return func(p grid.Vec) bool {
		for a := 0; a < 3; a++ {
			if p[a] < lo[a]-1e-9 || p[a] > hi[a]+1e-9 {
				return false
			}
		}
		return true
	}
}

func count(m *imageio.Image) int {
	n := 0
	for _, v := range m.Data {
		if v != 0 {
			n++
		}
	}
	return n
}

// TestEDTMatchesBruteForce compares the exact Euclidean distance transform with a brute-force
// minimum over all mask voxels, on anisotropic and unevenly spaced grids.
func TestEDTMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	grids := []*grid.Grid{
		testGrid([3]int{9, 7, 6}, [3]float64{1, 1.5, 3}, axial),
		testGrid([3]int{6, 8, 5}, [3]float64{0.7, 0.7, 2.5}, [3]grid.Vec{{0, 1, 0}, {0, 0, -1}, {-1, 0, 0}}),
	}
	uneven := testGrid([3]int{7, 6, 5}, [3]float64{1.2, 0.8, 1}, axial)
	uneven.SliceOffsets = []float64{0, 1, 3.5, 4, 8}
	grids = append(grids, uneven)
	for gi, g := range grids {
		for trial := 0; trial < 5; trial++ {
			m := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels())}
			for i := range m.Data {
				if rng.Float64() < 0.05 {
					m.Data[i] = 1
				}
			}
			d, err := EuclideanDistance(m, 1+trial%3)
			if err != nil {
				t.Fatal(err)
			}
			for x := range m.Data {
				want := math.Inf(1)
				px := pointOf(g, x)
				for c, v := range m.Data {
					if v != 0 {
						want = math.Min(want, px.Sub(pointOf(g, c)).Norm())
					}
				}
				if math.Abs(d[x]-want) > 1e-9 && !(math.IsInf(want, 1) && math.IsInf(d[x], 1)) {
					t.Fatalf("grid %d trial %d voxel %d: distance %v, brute force %v", gi, trial, x, d[x], want)
				}
			}
		}
	}
}

func pointOf(g *grid.Grid, idx int) grid.Vec {
	nx, ny := g.Size[0], g.Size[1]
	return g.Point(idx%nx, (idx/nx)%ny, idx/(nx*ny))
}

// gauge returns the scaled distance ρ(d) of displacement d (patient LPS, mm) for margin m (all
// values of one sign; their magnitudes are the radii).
func gauge(d grid.Vec, m Margin) float64 {
	plus, minus := m.values()
	s := 0.0
	for a := 0; a < 3; a++ {
		r := math.Abs(plus[a])
		if d[a] < 0 {
			r = math.Abs(minus[a])
		}
		switch c := math.Abs(d[a]); {
		case c < 1e-9:
		case r == 0:
			return math.Inf(1)
		default:
			s += (c / r) * (c / r)
		}
	}
	return math.Sqrt(s)
}

// bruteMargin applies a non-negative or non-positive margin by its definition, in patient
// coordinates: a voxel changes side when the mean of its scaled distances to the nearest voxel
// centre on the other side and to the nearest face centre between set and unset neighbours is at
// most 1.
func bruteMargin(m *imageio.Image, mg Margin) []bool {
	g := m.Grid
	var faces []grid.Vec
	// The nearest voxel on the other side is always one with a neighbour on this side.
	var border [2][]grid.Vec // [0]: unset voxels next to a set one, [1]: set voxels next to an unset one
	for x := range m.Data {
		i, j, k := x%g.Size[0], (x/g.Size[0])%g.Size[1], x/(g.Size[0]*g.Size[1])
		for a := 0; a < 3; a++ {
			c := [3]int{i, j, k}
			c[a]++
			if c[a] >= g.Size[a] {
				continue
			}
			if (m.Data[x] != 0) != (m.Data[m.Index(c[0], c[1], c[2])] != 0) {
				faces = append(faces, g.Point(i, j, k).Add(g.Point(c[0], c[1], c[2])).Scale(0.5))
			}
		}
		for a := 0; a < 3; a++ {
			for _, s := range []int{-1, 1} {
				c := [3]int{i, j, k}
				c[a] += s
				if c[a] >= 0 && c[a] < g.Size[a] && (m.Data[x] != 0) != (m.Data[m.Index(c[0], c[1], c[2])] != 0) {
					side := 0
					if m.Data[x] != 0 {
						side = 1
					}
					border[side] = append(border[side], pointOf(g, x))
					a = 3
					break
				}
			}
		}
	}
	out := make([]bool, len(m.Data))
	grow := mg.Anterior >= 0 && mg.Posterior >= 0 && mg.Left >= 0 && mg.Right >= 0 && mg.Superior >= 0 && mg.Inferior >= 0
	for x := range out {
		px := pointOf(g, x)
		set := m.Data[x] != 0
		out[x] = set
		if set == grow {
			continue
		}
		// Displacements from the surface to x (expansion) or from x to the surface (contraction).
		disp := func(q grid.Vec) grid.Vec {
			if grow {
				return px.Sub(q)
			}
			return q.Sub(px)
		}
		dc, df := math.Inf(1), math.Inf(1)
		other := border[0]
		if grow {
			other = border[1]
		}
		for _, c := range other {
			dc = math.Min(dc, gauge(disp(c), mg))
		}
		for _, f := range faces {
			df = math.Min(df, gauge(disp(f), mg))
		}
		if (dc+df)/2 <= 1+1e-6 {
			out[x] = !set
		}
	}
	return out
}

// TestMarginMatchesBruteForce checks expansions and contractions, uniform and direction-dependent,
// against the definition, voxel by voxel, on random shapes, anisotropic grids and rotated axes.
func TestMarginMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	grids := []*grid.Grid{
		testGrid([3]int{14, 12, 9}, [3]float64{1, 1, 3}, axial),
		testGrid([3]int{12, 11, 10}, [3]float64{1.3, 0.9, 2}, [3]grid.Vec{{-1, 0, 0}, {0, 0, 1}, {0, 1, 0}}),
	}
	margins := []Margin{
		UniformMargin(3.2),
		UniformMargin(-2.5),
		{Anterior: 4, Posterior: 1, Left: 2.5, Right: 0, Superior: 6, Inferior: 3},
		{Anterior: 0, Posterior: 0, Left: 3, Right: 3, Superior: 0, Inferior: 0},
		{Anterior: -3, Posterior: -1, Left: 0, Right: -2, Superior: -4, Inferior: 0},
	}
	for gi, g := range grids {
		for mi, mg := range margins {
			// A blob: union of random spheres.
			type ball struct {
				c grid.Vec
				r float64
			}
			var balls []ball
			for b := 0; b < 3; b++ {
				balls = append(balls, ball{grid.Vec{rng.Float64()*8 - 4, rng.Float64()*8 - 4, rng.Float64()*8 - 4}, 2 + rng.Float64()*3})
			}
			m := shapeMask(g, func(p grid.Vec) bool {
				for _, b := range balls {
					if p.Sub(b.c).Norm() <= b.r {
						return true
					}
				}
				return false
			})
			got, _, err := ApplyMargin(m, mg, 2)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteMargin(m, mg)
			diff := 0
			for x := range want {
				if want[x] != (got.Data[x] != 0) {
					diff++
				}
			}
			if diff != 0 {
				t.Errorf("grid %d margin %d (%v): %d voxels differ from brute force", gi, mi, mg, diff)
			}
		}
	}
}

// TestMarginSphereVolume: 5 mm around a 2 cm sphere gives the 2.5 cm sphere's volume within 2 %,
// and a 5 mm contraction the 1.5 cm sphere's, on 1 mm voxels; on 1×1×3 mm voxels, within 2 %
// for a 3 cm sphere. Each figure is the mean over four sphere centres relative to the grid.
func TestMarginSphereVolume(t *testing.T) {
	for _, c := range []struct {
		spacing             [3]float64
		radius, margin      float64
		tolPct, mismatchPct float64
	}{
		{[3]float64{1, 1, 1}, 20, 5, 2, 1.5},
		{[3]float64{1, 1, 1}, 20, -5, 2, 2.5},
		{[3]float64{1, 1, 1}, 20, 10, 2, 1.5},
		{[3]float64{1, 1, 1}, 30, -12, 2, 2.5},
		{[3]float64{1, 1, 3}, 30, 5, 2, 2.5},
		{[3]float64{1, 1, 3}, 30, -5, 2, 2.5},
		{[3]float64{1, 1, 3}, 20, 10, 2, 2.5},
		{[3]float64{0.98, 0.98, 2.5}, 20, 5, 2, 3},
	} {
		rng := rand.New(rand.NewPCG(7, 8))
		ext := 2*(c.radius+math.Max(c.margin, 0)) + 10
		g := testGrid([3]int{int(ext / c.spacing[0]), int(ext / c.spacing[1]), int(ext / c.spacing[2])}, c.spacing, axial)
		var vol, mismatch, centreVol float64
		const trials = 4
		for range trials {
			centre := grid.Vec{rng.Float64() * 3, rng.Float64() * 3, rng.Float64() * 3}
			out, warns, err := ApplyMargin(shapeMask(g, sphere(centre, c.radius)), UniformMargin(c.margin), 2)
			if err != nil || len(warns) != 0 {
				t.Fatal(err, warns)
			}
			want := 4 * math.Pi / 3 * math.Pow(c.radius+c.margin, 3) / 1000
			vol += 100 * (MaskVolume(out)/want - 1) / trials
			ideal := shapeMask(g, sphere(centre, c.radius+c.margin))
			n := 0
			for x := range out.Data {
				if out.Data[x] != ideal.Data[x] {
					n++
				}
			}
			mismatch += 100 * float64(n) / float64(count(ideal)) / trials
			centreVol += 100 * (float64(centreOnlyMargin(g, shapeMask(g, sphere(centre, c.radius)), c.margin))*g.Spacing[0]*g.Spacing[1]*g.Spacing[2]/1000/want - 1) / trials
		}
		t.Logf("spacing %v, sphere %g mm, margin %+g mm: volume %+.2f%% (from voxel centres only: %+.2f%%), voxels differing from the ideal %.2f%%",
			c.spacing, c.radius, c.margin, vol, centreVol, mismatch)
		if math.Abs(vol) > c.tolPct || mismatch > c.mismatchPct {
			t.Errorf("spacing %v, sphere %g mm, margin %+g mm: volume off by %+.2f%% (tolerance %g%%), %.2f%% of the voxels differ from the ideal sphere",
				c.spacing, c.radius, c.margin, vol, c.tolPct, mismatch)
		}
	}
}

// centreOnlyMargin counts the voxels of a uniform margin measured from voxel centres only (the
// scipy convention of the original), for comparison.
func centreOnlyMargin(g *grid.Grid, m *imageio.Image, margin float64) int {
	in := make([]bool, len(m.Data))
	for i, v := range m.Data {
		in[i] = v != 0
	}
	r := math.Abs(margin)
	full := box{hi: [3]int{g.Size[0] - 1, g.Size[1] - 1, g.Size[2] - 1}}
	d := newMarginField(g, full, [3]float64{r, r, r}, [3]float64{r, r, r}, 2).centres(func(idx int) bool { return in[idx] == (margin > 0) })
	n := 0
	for i, v := range d {
		near := v <= 1+marginTol
		if (margin > 0 && (in[i] || near)) || (margin < 0 && in[i] && !near) {
			n++
		}
	}
	return n
}

// TestMarginAsymmetricBox: direction-dependent margins on a box give exactly the expected voxels:
// a margin along one patient axis gives exactly the wider (or, negative, narrower) box; margins
// along several axes give the box swept by the octant ellipsoid (definition checked per voxel);
// the bounding box moves on each side by ⌊r/h + 1/4⌋ voxels. Checked for the image orientations
// of every patient position and for sagittal and coronal images, with 3 mm along one axis.
func TestMarginAsymmetricBox(t *testing.T) {
	orientations := []struct {
		name string
		axes [3]grid.Vec
	}{
		{"HFS", axial},
		{"FFS", [3]grid.Vec{{-1, 0, 0}, {0, 1, 0}, {0, 0, -1}}},
		{"HFP", [3]grid.Vec{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}},
		{"FFP", [3]grid.Vec{{1, 0, 0}, {0, -1, 0}, {0, 0, -1}}},
		{"sagittal", [3]grid.Vec{{0, 1, 0}, {0, 0, -1}, {-1, 0, 0}}},
		{"coronal", [3]grid.Vec{{1, 0, 0}, {0, 0, -1}, {0, 1, 0}}},
	}
	// Every grid samples the same points: 1 mm along x and y (25 voxels), 3 mm along z (11).
	size := [3]int{25, 25, 11}
	spacing := [3]float64{1, 1, 3}
	lo, hi := grid.Vec{-6, -4, -9}, grid.Vec{5, 7, 6}
	cases := []Margin{
		{Anterior: 5},
		{Superior: 7, Inferior: 2},
		{Left: 4, Right: 1},
		{Anterior: 5, Posterior: 2, Left: 3, Right: 0, Superior: 6, Inferior: 0},
		{Anterior: -3},
		{Left: -2, Superior: -4, Inferior: -1},
	}
	for _, mg := range cases {
		var ref *imageio.Image
		for _, o := range orientations {
			var sz [3]int
			var sp [3]float64
			for a := 0; a < 3; a++ {
				p := 0
				for q := 1; q < 3; q++ {
					if math.Abs(o.axes[a][q]) > math.Abs(o.axes[a][p]) {
						p = q
					}
				}
				sz[a], sp[a] = size[p], spacing[p]
			}
			g := testGrid(sz, sp, o.axes)
			m := shapeMask(g, cuboid(lo, hi))
			out, _, err := ApplyMargin(m, mg, 2)
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				// The definition, by brute force, on the first grid.
				want := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels())}
				for x, b := range bruteMargin(m, mg) {
					if b {
						want.Data[x] = 1
					}
				}
				if d := Dice(want, out); d != 1 {
					t.Errorf("%s margin %v: Dice %v with the definition (%d vs %d voxels)", o.name, mg, d, count(out), count(want))
				}
				ref = out
			} else if d := Dice(ref, out); d != 1 {
				// The same physical voxels whatever the image orientation.
				t.Errorf("%s margin %v: Dice %v with the HFS result (%d vs %d voxels)", o.name, mg, d, count(out), count(ref))
			}
			// The bounding box moves by each margin, as whole voxels of that axis.
			plus, minus := mg.values()
			blo, bhi := lo, hi
			axesUsed := 0
			for a := 0; a < 3; a++ {
				h := spacing[a]
				bhi[a] += math.Copysign(math.Floor(math.Abs(plus[a])/h+0.25+1e-9)*h, plus[a])
				blo[a] -= math.Copysign(math.Floor(math.Abs(minus[a])/h+0.25+1e-9)*h, minus[a])
				if plus[a] != 0 || minus[a] != 0 {
					axesUsed++
				}
			}
			if bl, bh := bounds(out); bl != blo || bh != bhi {
				t.Errorf("%s margin %v: bounding box %v–%v, want %v–%v", o.name, mg, bl, bh, blo, bhi)
			}
			// Along one axis, or shrinking: exactly a box.
			if axesUsed == 1 || mg.Anterior < 0 || mg.Left < 0 {
				if Dice(shapeMask(g, cuboid(blo, bhi)), out) != 1 {
					t.Errorf("%s margin %v: not the box %v–%v", o.name, mg, blo, bhi)
				}
			}
		}
	}
}

// spacingAlong returns the spacing of the image axis along patient axis p.
func spacingAlong(g *grid.Grid, p int) float64 {
	for a := 0; a < 3; a++ {
		if math.Abs(g.Axes[a][p]) > 0.9 {
			return g.Spacing[a]
		}
	}
	return math.NaN()
}

// bounds returns the patient-coordinate bounding box of the set voxels' centres.
func bounds(m *imageio.Image) (lo, hi grid.Vec) {
	lo = grid.Vec{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi = grid.Vec{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for x, v := range m.Data {
		if v != 0 {
			p := pointOf(m.Grid, x)
			for a := 0; a < 3; a++ {
				lo[a], hi[a] = math.Min(lo[a], math.Round(p[a]*1e6)/1e6), math.Max(hi[a], math.Round(p[a]*1e6)/1e6)
			}
		}
	}
	return lo, hi
}

// TestMarginDirectionsFollowPatient: an anterior margin grows the structure towards −y (patient
// anterior) for every image orientation, never towards posterior.
func TestMarginDirectionsFollowPatient(t *testing.T) {
	for _, axes := range [][3]grid.Vec{axial, {{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}, {{0, 0, 1}, {0, -1, 0}, {1, 0, 0}}} {
		g := testGrid([3]int{21, 21, 21}, [3]float64{1, 1, 1}, axes)
		m := shapeMask(g, sphere(grid.Vec{}, 3))
		out, _, err := ApplyMargin(m, Margin{Anterior: 6}, 1)
		if err != nil {
			t.Fatal(err)
		}
		yMin, yMax := math.Inf(1), math.Inf(-1)
		for x, v := range out.Data {
			if v != 0 {
				p := pointOf(g, x)
				yMin, yMax = math.Min(yMin, p[1]), math.Max(yMax, p[1])
			}
		}
		if yMin != -9 || yMax != 3 {
			t.Errorf("axes %v: y from %v to %v, want −9 to 3", axes, yMin, yMax)
		}
	}
}

// TestMarginObliqueWarns: direction-dependent margins on an oblique image are reported; uniform
// ones are exact and silent.
func TestMarginObliqueWarns(t *testing.T) {
	c, s := math.Cos(0.2), math.Sin(0.2)
	g := testGrid([3]int{15, 15, 15}, [3]float64{1, 1, 1}, [3]grid.Vec{{c, s, 0}, {-s, c, 0}, {0, 0, 1}})
	m := shapeMask(g, sphere(grid.Vec{}, 3))
	if _, w, err := ApplyMargin(m, Margin{Anterior: 2}, 1); err != nil || len(w) != 1 {
		t.Errorf("oblique asymmetric: %v %q", err, w)
	}
	if _, w, err := ApplyMargin(m, UniformMargin(2), 1); err != nil || len(w) != 0 {
		t.Errorf("oblique uniform: %v %q", err, w)
	}
}

// TestMarginEdge: an expansion reaching the image edge warns; a contraction does not shrink a
// structure from the image edge.
func TestMarginEdge(t *testing.T) {
	g := testGrid([3]int{11, 11, 11}, [3]float64{1, 1, 1}, axial)
	m := shapeMask(g, cuboid(grid.Vec{-5, -2, -2}, grid.Vec{2, 2, 2}))
	out, w, err := ApplyMargin(m, UniformMargin(-1), 1)
	if err != nil || len(w) != 0 {
		t.Fatal(err, w)
	}
	want := shapeMask(g, cuboid(grid.Vec{-5, -1, -1}, grid.Vec{1, 1, 1}))
	if Dice(out, want) != 1 {
		t.Errorf("contraction at the image edge: %d voxels, want %d", count(out), count(want))
	}
	if _, w, _ := ApplyMargin(m, UniformMargin(1), 1); len(w) != 1 {
		t.Errorf("expansion beyond the edge: warnings %q", w)
	}
}

func BenchmarkMargin(b *testing.B) {
	g := testGrid([3]int{256, 256, 120}, [3]float64{1.2, 1.2, 3}, axial)
	m := shapeMask(g, sphere(grid.Vec{}, 60))
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				ApplyMargin(m, Margin{Anterior: 7, Posterior: 5, Left: 5, Right: 5, Superior: 10, Inferior: 10}, w)
			}
		})
	}
}
