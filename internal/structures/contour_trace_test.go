package structures

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// traceCheckSlice traces one slice mask (nx × ny, values 0/1), checks that the even-odd
// centre-inside fill of the contours (Rasterize's fillSlice) gives the mask back exactly, that
// the non-zero winding rule does too, that the enclosed area is the pixel count (less the cut
// corners), and that the contours are well formed: at least 4 vertices, no collinear or
// repeated vertices, and no two edges touching or crossing (the contours are simple and
// pairwise disjoint).
func traceCheckSlice(t *testing.T, tr *maskTracer, mask []float64, nx, ny int, name string) int {
	t.Helper()
	polys := tr.traceSlice(mask, nil, 0, nx, ny)
	var p2 [][]point2
	for _, xy := range polys {
		poly := make([]point2, len(xy)/2)
		for i := range poly {
			poly[i] = point2{xy[2*i], xy[2*i+1]}
		}
		p2 = append(p2, poly)
	}
	got := make([]float64, nx*ny)
	fillSlice(got, nx, ny, p2)
	for i := range got {
		if got[i] != mask[i] {
			t.Fatalf("%s: pixel (%d,%d) is %v after trace and fill, %v in the mask\nmask:\n%s\ncontours %v",
				name, i%nx, i/nx, got[i], mask[i], traceSliceString(mask, nx, ny), p2)
		}
	}
	// Outlines and holes run in opposite senses: the winding number of every pixel centre is
	// exactly 1 inside the mask and 0 outside, so readers using the non-zero rule agree too.
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			wn := 0
			c := point2{float64(i), float64(j)}
			for _, poly := range p2 {
				for e := range poly {
					a, b := poly[e], poly[(e+1)%len(poly)]
					switch {
					case a.y <= c.y && b.y > c.y && traceCross(a, b, c) > 0:
						wn++
					case a.y > c.y && b.y <= c.y && traceCross(a, b, c) < 0:
						wn--
					}
				}
			}
			if math.Abs(float64(wn)) != mask[j*nx+i] {
				t.Fatalf("%s: pixel (%d,%d) has winding number %d, mask %v", name, i, j, wn, mask[j*nx+i])
			}
		}
	}
	// The polygons' area is the pixel count, less the corners cut at saddles (two chamfer
	// points each) and the strip the image border inset removes.
	area, inside, cuts, perim := 0.0, 0.0, 0, 0.0
	for _, poly := range p2 {
		for i := range poly {
			a, b := poly[i], poly[(i+1)%len(poly)]
			area += a.x*b.y - b.x*a.y
			perim += math.Abs(b.x-a.x) + math.Abs(b.y-a.y)
			half := func(v float64) bool { return v+0.5 == math.Round(v+0.5) }
			border := a.x < 0 || a.y < 0 || a.x > float64(nx)-1 || a.y > float64(ny)-1
			if !border && (!half(a.x) || !half(a.y)) {
				cuts++ // one of the two points of a cut corner
			}
		}
	}
	for _, v := range mask {
		inside += v
	}
	area = math.Abs(area) / 2
	if loss := inside - area; loss < -1e-9 || loss > float64(cuts)/2*traceChamfer*traceChamfer/2+perim*traceBorderInset*1.01+1e-9 {
		t.Fatalf("%s: polygons enclose %v pixels for %v mask pixels (%d chamfer points)", name, area, inside, cuts)
	}
	type seg struct {
		a, b  point2
		poly  int
		index int
	}
	var segs []seg
	seen := map[point2]bool{}
	for pi, poly := range p2 {
		if len(poly) < 4 {
			t.Fatalf("%s: contour %d has %d vertices", name, pi, len(poly))
		}
		for i := range poly {
			a, b, c := poly[i], poly[(i+1)%len(poly)], poly[(i+2)%len(poly)]
			if seen[a] {
				t.Fatalf("%s: vertex %v appears twice", name, a)
			}
			seen[a] = true
			if traceCross(a, b, c) == 0 {
				t.Fatalf("%s: contour %d has collinear vertices %v %v %v", name, pi, a, b, c)
			}
			segs = append(segs, seg{a, b, pi, i})
		}
	}
	for x := range segs {
		for y := x + 1; y < len(segs); y++ {
			s, u := segs[x], segs[y]
			if s.poly == u.poly {
				n := len(p2[s.poly])
				if (s.index+1)%n == u.index || (u.index+1)%n == s.index {
					continue // consecutive edges share their common vertex only (no collinear vertices)
				}
			}
			if traceSegmentsTouch(s.a, s.b, u.a, u.b) {
				t.Fatalf("%s: edges %v-%v (contour %d) and %v-%v (contour %d) touch\nmask:\n%s",
					name, s.a, s.b, s.poly, u.a, u.b, u.poly, traceSliceString(mask, nx, ny))
			}
		}
	}
	return len(polys)
}

func traceCross(a, b, c point2) float64 { return (b.x-a.x)*(c.y-a.y) - (b.y-a.y)*(c.x-a.x) }

// traceSegmentsTouch tells whether closed segments ab and cd share a point.
func traceSegmentsTouch(a, b, c, d point2) bool {
	d1, d2 := traceCross(c, d, a), traceCross(c, d, b)
	d3, d4 := traceCross(a, b, c), traceCross(a, b, d)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	on := func(p, q, r point2) bool { // r on segment pq, given collinear
		return math.Min(p.x, q.x) <= r.x && r.x <= math.Max(p.x, q.x) && math.Min(p.y, q.y) <= r.y && r.y <= math.Max(p.y, q.y)
	}
	return (d1 == 0 && on(c, d, a)) || (d2 == 0 && on(c, d, b)) || (d3 == 0 && on(a, b, c)) || (d4 == 0 && on(a, b, d))
}

func traceSliceString(m []float64, nx, ny int) string {
	s := ""
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			if m[j*nx+i] != 0 {
				s += "#"
			} else {
				s += "."
			}
		}
		s += "\n"
	}
	return s
}

// TestTraceSliceExhaustive traces every mask of 3×3 and 4×4 pixels (all saddle, hole, island
// and border configurations of that size).
func TestTraceSliceExhaustive(t *testing.T) {
	var tr maskTracer
	for _, n := range []int{1, 2, 3, 4} {
		mask := make([]float64, n*n)
		for code := 0; code < 1<<(n*n); code++ {
			for i := range mask {
				mask[i] = float64(code >> i & 1)
			}
			got := traceCheckSlice(t, &tr, mask, n, n, fmt.Sprintf("%dx%d #%d", n, n, code))
			if code == 0 && got != 0 {
				t.Fatalf("empty %dx%d mask gave %d contours", n, n, got)
			}
		}
	}
}

// TestTraceSliceRandom traces random masks of several densities (speckle with many saddles,
// holes and islands) and smooth blobs with holes.
func TestTraceSliceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tr maskTracer
	for trial := 0; trial < 30; trial++ {
		nx, ny := 5+rng.IntN(30), 5+rng.IntN(30)
		p := 0.1 + 0.8*rng.Float64()
		mask := make([]float64, nx*ny)
		for i := range mask {
			if rng.Float64() < p {
				mask[i] = 1
			}
		}
		traceCheckSlice(t, &tr, mask, nx, ny, fmt.Sprintf("random %dx%d p=%.2f", nx, ny, p))
	}
	// A disc with a ring-shaped hole holding an island, and a diagonal staircase line.
	nx, ny := 41, 37
	mask := make([]float64, nx*ny)
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			r := math.Hypot(float64(i)-20, float64(j)-18)
			if r < 16 && (r < 5 || r > 10) || i == j {
				mask[j*nx+i] = 1
			}
		}
	}
	if n := traceCheckSlice(t, &tr, mask, nx, ny, "ring"); n < 3 {
		t.Errorf("ring gave %d contours, want outline, hole and island", n)
	}
}

// TestTraceSliceFigures checks contour counts and vertex counts of simple figures.
func TestTraceSliceFigures(t *testing.T) {
	var tr maskTracer
	for _, tc := range []struct {
		name     string
		rows     []string
		contours int
		points   []int
	}{
		{"single pixel", []string{"...", ".#.", "..."}, 1, []int{4}},
		{"corner pixel", []string{"#.", ".."}, 1, []int{4}},
		{"full image", []string{"##", "##"}, 1, []int{4}},
		{"bar", []string{"####"}, 1, []int{4}},
		{"L", []string{"#.", "##"}, 1, []int{6}},
		{"ring", []string{"###", "#.#", "###"}, 2, []int{4, 4}},
		{"diagonal pair", []string{"#.", ".#"}, 2, []int{5, 5}},
		{"ring and diagonal pixel", []string{"###.", "#.#.", "###.", "...#"}, 3, nil},
	} {
		nx, ny := len(tc.rows[0]), len(tc.rows)
		mask := make([]float64, nx*ny)
		for j, r := range tc.rows {
			for i, c := range r {
				if c == '#' {
					mask[j*nx+i] = 1
				}
			}
		}
		if n := traceCheckSlice(t, &tr, mask, nx, ny, tc.name); n != tc.contours {
			t.Errorf("%s: %d contours, want %d", tc.name, n, tc.contours)
		}
		if tc.points != nil {
			polys := tr.traceSlice(mask, nil, 0, nx, ny)
			for i, p := range polys {
				if len(p)/2 != tc.points[i] {
					t.Errorf("%s: contour %d has %d points, want %d: %v", tc.name, i, len(p)/2, tc.points[i], p)
				}
			}
		}
	}
}

// TestTraceMaskRasterizeOblique traces a random 3-D mask on oblique grids with non-square pixels
// (mirrored too) and rasterises the contours back through patient coordinates.
func TestTraceMaskRasterizeOblique(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c, s := math.Cos(0.4), math.Sin(0.4)
	row := grid.Vec{c, s, 0}
	col := grid.Vec{-s * math.Cos(0.3), c * math.Cos(0.3), math.Sin(0.3)}
	for _, mirror := range []bool{false, true} {
		r, cl := row, col
		if mirror {
			r = r.Scale(-1)
		}
		g := &grid.Grid{Origin: grid.Vec{-31.7, 12.25, -80.5}, Axes: [3]grid.Vec{r, cl, r.Cross(cl)},
			Spacing: [3]float64{0.77, 1.23, 2.5}, Size: [3]int{23, 19, 6}}
		mask := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
		for i := range mask.Data {
			if rng.Float64() < 0.45 {
				mask.Data[i] = 1
			}
		}
		cs, err := TraceMask(mask)
		if err != nil {
			t.Fatal(err)
		}
		roi := &rt.ROIContours{ROI: rt.ROI{Name: "speckle"}}
		for _, sc := range cs {
			roi.Contours = append(roi.Contours, rt.Contour{Type: rt.ContourClosedPlanar, Points: sc.Points})
		}
		back, warnings, err := Rasterize(roi, &imageio.Image{Grid: g})
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) > 0 {
			t.Errorf("mirror %v: warnings %q", mirror, warnings)
		}
		for i := range back.Data {
			if back.Data[i] != mask.Data[i] {
				t.Fatalf("mirror %v: voxel %d differs after round trip", mirror, i)
			}
		}
	}
}
