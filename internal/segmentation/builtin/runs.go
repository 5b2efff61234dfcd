package builtin

import (
	"context"
	"sync"
)

// forSlices calls fn(k, w) for every slice k in [0, nz) on up to workers goroutines; w is the
// worker's index (0 <= w < workers), for per-worker scratch buffers. Slices are handed out in
// order, and fn must only touch its own slice's voxels, so the outcome never depends on the
// scheduling. It stops early, returning ctx's error, when ctx is cancelled.
func forSlices(ctx context.Context, nz, workers int, fn func(k, w int)) error {
	workers = max(1, min(workers, nz))
	if workers == 1 {
		for k := range nz {
			if err := ctx.Err(); err != nil {
				return err
			}
			fn(k, 0)
		}
		return ctx.Err()
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				fn(k, w)
			}
		}()
	}
	var err error
	for k := range nz {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// run is a maximal horizontal segment of set pixels on row j of a slice: i0 <= i < i1.
type run struct {
	j, i0, i1 int32
}

// sliceRuns are the runs of one slice in row order, with rowStart[j] the index of the first run
// of row j (rowStart has ny+1 entries).
type sliceRuns struct {
	runs     []run
	rowStart []int32
}

// runsOf collects the runs of the pixels of slice s (nx×ny, row-major) for which
// (s[i]&bit != 0) == set, reusing dst's storage.
func runsOf(dst sliceRuns, s []uint8, bit uint8, set bool, nx, ny int) sliceRuns {
	dst.runs = dst.runs[:0]
	if cap(dst.rowStart) < ny+1 {
		dst.rowStart = make([]int32, ny+1)
	}
	dst.rowStart = dst.rowStart[:ny+1]
	for j := range ny {
		dst.rowStart[j] = int32(len(dst.runs))
		row := s[j*nx : (j+1)*nx]
		i := 0
		for i < nx {
			for i < nx && (row[i]&bit != 0) != set {
				i++
			}
			if i == nx {
				break
			}
			i0 := i
			for i < nx && (row[i]&bit != 0) == set {
				i++
			}
			dst.runs = append(dst.runs, run{int32(j), int32(i0), int32(i)})
		}
	}
	dst.rowStart[ny] = int32(len(dst.runs))
	return dst
}

// row returns the runs of row j.
func (s *sliceRuns) row(j int) []run {
	return s.runs[s.rowStart[j]:s.rowStart[j+1]]
}

// find returns the root of x, halving paths on the way.
func find(parent []int32, x int32) int32 {
	for parent[x] != x {
		parent[x] = parent[parent[x]]
		x = parent[x]
	}
	return x
}

// union joins the sets of a and b; the smaller root index becomes the root, which keeps the
// result independent of the order of unions.
func union(parent []int32, a, b int32) {
	a, b = find(parent, a), find(parent, b)
	switch {
	case a < b:
		parent[b] = a
	case b < a:
		parent[a] = b
	}
}

// joinRows unions every pair of overlapping runs (4-connectivity) of two row run lists whose
// global indices start at offA and offB.
func joinRows(parent []int32, a []run, offA int32, b []run, offB int32) {
	ia, ib := 0, 0
	for ia < len(a) && ib < len(b) {
		ra, rb := a[ia], b[ib]
		if ra.i0 < rb.i1 && rb.i0 < ra.i1 {
			union(parent, offA+int32(ia), offB+int32(ib))
		}
		if ra.i1 < rb.i1 {
			ia++
		} else {
			ib++
		}
	}
}

// components2D labels the runs of one slice into 4-connected components: comp[r] is the
// component of run r, numbered 0.. in order of their first run; n is their number. The
// returned slices reuse the storage of parent and comp.
func components2D(s *sliceRuns, ny int, parent, comp []int32) (labels []int32, n int, par []int32) {
	nr := len(s.runs)
	if cap(parent) < nr {
		parent = make([]int32, nr)
	}
	parent = parent[:nr]
	for i := range parent {
		parent[i] = int32(i)
	}
	for j := 1; j < ny; j++ {
		joinRows(parent, s.row(j-1), s.rowStart[j-1], s.row(j), s.rowStart[j])
	}
	if cap(comp) < nr {
		comp = make([]int32, nr)
	}
	comp = comp[:nr]
	for i := range nr {
		r := find(parent, int32(i))
		if r == int32(i) {
			comp[i] = int32(n)
			n++
		} else {
			comp[i] = comp[r]
		}
	}
	return comp, n, parent
}

// volumeRuns holds the runs of a mask bit over the whole volume and their 6-connected
// components: the memory is proportional to the number of runs, not of voxels.
type volumeRuns struct {
	nx, ny, nz int
	slices     []sliceRuns
	base       []int32 // global index of each slice's first run; base[nz] is the total
	comp       []int32 // component of every run, numbered 0.. in order of first run
	ncomp      int
	size       []int64 // voxels per component
}

// components3D finds the 6-connected components of the voxels of lab with bit set.
func components3D(ctx context.Context, lab []uint8, bit uint8, nx, ny, nz, workers int) (*volumeRuns, error) {
	v := &volumeRuns{nx: nx, ny: ny, nz: nz, slices: make([]sliceRuns, nz), base: make([]int32, nz+1)}
	nxy := nx * ny
	if err := forSlices(ctx, nz, workers, func(k, _ int) {
		v.slices[k] = runsOf(sliceRuns{}, lab[k*nxy:(k+1)*nxy], bit, true, nx, ny)
	}); err != nil {
		return nil, err
	}
	for k := range nz {
		v.base[k+1] = v.base[k] + int32(len(v.slices[k].runs))
	}
	total := v.base[nz]
	parent := make([]int32, total)
	for i := range parent {
		parent[i] = int32(i)
	}
	// Within slices in parallel: every slice only touches its own range of parent.
	if err := forSlices(ctx, nz, workers, func(k, _ int) {
		s := &v.slices[k]
		for j := 1; j < ny; j++ {
			joinRows(parent, s.row(j-1), v.base[k]+s.rowStart[j-1], s.row(j), v.base[k]+s.rowStart[j])
		}
	}); err != nil {
		return nil, err
	}
	for k := 1; k < nz; k++ {
		a, b := &v.slices[k-1], &v.slices[k]
		for j := range ny {
			joinRows(parent, a.row(j), v.base[k-1]+a.rowStart[j], b.row(j), v.base[k]+b.rowStart[j])
		}
	}
	v.comp = make([]int32, total)
	for i := range total {
		r := find(parent, i)
		if r == i {
			v.comp[i] = int32(v.ncomp)
			v.ncomp++
		} else {
			v.comp[i] = v.comp[r]
		}
	}
	v.size = make([]int64, v.ncomp)
	for k := range nz {
		for r, ru := range v.slices[k].runs {
			v.size[v.comp[v.base[k]+int32(r)]] += int64(ru.i1 - ru.i0)
		}
	}
	return v, nil
}

// largest returns the component with the most voxels (the first of equals), or -1.
func (v *volumeRuns) largest() int {
	best := -1
	for c, n := range v.size {
		if best < 0 || n > v.size[best] {
			best = c
		}
	}
	return best
}

// each calls fn for every run of slice k with its component.
func (v *volumeRuns) each(k int, fn func(r run, comp int)) {
	for i, ru := range v.slices[k].runs {
		fn(ru, int(v.comp[v.base[k]+int32(i)]))
	}
}
