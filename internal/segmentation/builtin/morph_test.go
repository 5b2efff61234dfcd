package builtin

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSqDistance compares the separable distance transform with brute force on random slices
// with anisotropic pixels.
func TestSqDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sc := &scratch{}
	for n := range 40 {
		nx, ny := 1+rng.IntN(23), 1+rng.IntN(17)
		sx, sy := 0.5+rng.Float64(), 0.5+2*rng.Float64()
		s := make([]uint8, nx*ny)
		p := rng.Float64() * 0.3
		if n%7 == 0 {
			p = 0 // no feature at all
		}
		for i := range s {
			if rng.Float64() < p {
				s[i] = bitWork
			}
		}
		d := sqDistance(sc, s, bitWork, true, nx, ny, sx, sy)
		for j := range ny {
			for i := range nx {
				want := math.Inf(1)
				for q := range ny {
					for r := range nx {
						if s[q*nx+r]&bitWork != 0 {
							dx, dy := float64(i-r)*sx, float64(j-q)*sy
							want = math.Min(want, dx*dx+dy*dy)
						}
					}
				}
				if got := d[j*nx+i]; got != want && math.Abs(got-want) > 1e-9 {
					t.Fatalf("%dx%d (%v, %v) pixel (%d, %d): %v, want %v", nx, ny, sx, sy, i, j, got, want)
				}
			}
		}
	}
}

// TestOpenSlice checks the opening: a plate thinner than the disc goes, blocks stay (but for
// their rounded corners).
func TestOpenSlice(t *testing.T) {
	const nx, ny = 60, 40
	s := make([]uint8, nx*ny)
	set := func(i0, i1, j0, j1 int) {
		for j := j0; j < j1; j++ {
			for i := i0; i < i1; i++ {
				s[j*nx+i] |= bitWork
			}
		}
	}
	set(10, 40, 5, 25)  // 30×20 mm block
	set(0, 60, 25, 29)  // 4 mm plate touching it
	set(45, 56, 10, 21) // 11 mm square: survives a 5 mm opening
	openSlice(&scratch{}, s, bitWork, bitTmp, bitBody, nx, ny, 1, 1, 5)
	for j := range ny {
		for i := range nx {
			b := s[j*nx+i]
			// Rounded corners go; the block's cross (its sides away from the corners) stays.
			cross := i >= 10 && i < 40 && j >= 5 && j < 25 && (i >= 15 && i < 35 || j >= 10 && j < 20)
			plate := j >= 25 && j < 29 && (i < 5 || i >= 44)
			switch {
			case b&bitTmp != 0, b&bitBody != 0 && b&bitWork == 0:
				t.Fatalf("pixel (%d, %d): labels %08b", i, j, b)
			case cross && b&bitBody == 0:
				t.Fatalf("pixel (%d, %d) of the block removed", i, j)
			case plate && b&bitBody != 0:
				t.Fatalf("pixel (%d, %d) of the plate kept", i, j)
			}
		}
	}
	if s[15*nx+50]&bitBody == 0 {
		t.Error("the 11 mm square's centre was removed")
	}
}

// TestComponents3D compares the run-length labelling with a flood fill on random volumes.
func TestComponents3D(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		nx, ny, nz := 1+rng.IntN(12), 1+rng.IntN(10), 1+rng.IntN(8)
		lab := make([]uint8, nx*ny*nz)
		for i := range lab {
			if rng.Float64() < 0.45 {
				lab[i] = bitAir
			}
		}
		for _, w := range []int{1, 3} {
			v, err := components3D(context.Background(), lab, bitAir, nx, ny, nz, w)
			if err != nil {
				t.Fatal(err)
			}
			// Component of every voxel from the runs.
			comp := make([]int, len(lab))
			for i := range comp {
				comp[i] = -1
			}
			for k := range nz {
				v.each(k, func(r run, c int) {
					for i := r.i0; i < r.i1; i++ {
						comp[(k*ny+int(r.j))*nx+int(i)] = c
					}
				})
			}
			// Flood fill: two voxels share a component exactly when they are 6-connected.
			seen := make([]bool, len(lab))
			sizes := map[int]int64{}
			for start := range lab {
				if lab[start] == 0 || seen[start] {
					continue
				}
				want := comp[start]
				queue := []int{start}
				seen[start] = true
				n := int64(0)
				for len(queue) > 0 {
					p := queue[len(queue)-1]
					queue = queue[:len(queue)-1]
					n++
					if comp[p] != want {
						t.Fatalf("voxel %d in component %d, its neighbour's is %d", p, comp[p], want)
					}
					i, j, k := p%nx, p/nx%ny, p/(nx*ny)
					for _, d := range [][3]int{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}} {
						a, b, c := i+d[0], j+d[1], k+d[2]
						if a < 0 || b < 0 || c < 0 || a >= nx || b >= ny || c >= nz {
							continue
						}
						q := (c*ny+b)*nx + a
						if lab[q] != 0 && !seen[q] {
							seen[q] = true
							queue = append(queue, q)
						}
					}
				}
				if _, dup := sizes[want]; dup {
					t.Fatalf("component %d found twice", want)
				}
				sizes[want] = n
			}
			if len(sizes) != v.ncomp {
				t.Fatalf("%d components, flood fill %d", v.ncomp, len(sizes))
			}
			for c, n := range sizes {
				if v.size[c] != n {
					t.Fatalf("component %d: %d voxels, flood fill %d", c, v.size[c], n)
				}
			}
		}
	}
}

// TestFillHoles fills enclosed regions only, up to the size limit, and leaves holes holding an
// avoided label.
func TestFillHoles(t *testing.T) {
	const nx, ny = 12, 8
	s := make([]uint8, nx*ny)
	ring := func(i0, i1, j0, j1 int) {
		for j := j0; j <= j1; j++ {
			for i := i0; i <= i1; i++ {
				if i == i0 || i == i1 || j == j0 || j == j1 {
					s[j*nx+i] |= bitLungL
				}
			}
		}
	}
	ring(0, 4, 0, 4)  // hole of 9 pixels
	ring(6, 9, 1, 4)  // hole of 4 pixels, one holding the right lung
	ring(5, 11, 5, 7) // touches the border: hole of 5 pixels inside is enclosed
	s[2*nx+7] |= bitLungR
	filled := fillHolesAvoiding(&scratch{}, s, bitLungL, bitLungR, nx, ny, 8)
	if filled != 5 {
		t.Errorf("%d pixels filled, want 5 (the 9-pixel hole is too big, the other holds the right lung)", filled)
	}
	if s[6*nx+8]&bitLungL == 0 || s[2*nx+2]&bitLungL != 0 || s[2*nx+8]&bitLungL != 0 {
		t.Error("wrong holes filled")
	}
	if n := fillHoles(&scratch{}, s, bitLungL, nx, ny, 0); n != 9+4 {
		t.Errorf("without limits %d pixels filled, want 13", n)
	}
}
