// Package grid describes regular 3-D sampling grids in DICOM patient coordinates (LPS, mm) and
// the volumes sampled on them. Orientation always comes from the image's direction cosines;
// nothing here assumes a head-first-supine patient.
package grid

import (
	"errors"
	"math"
	"sort"
)

// MaxVoxels bounds the grids this package builds from headers or unions, so a corrupt header
// cannot ask for an impossible allocation.
const MaxVoxels = 1 << 28

// Vec is a point or direction in patient coordinates (mm).
type Vec [3]float64

// Add returns a+b.
func (a Vec) Add(b Vec) Vec { return Vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }

// Sub returns a-b.
func (a Vec) Sub(b Vec) Vec { return Vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

// Scale returns s·a.
func (a Vec) Scale(s float64) Vec { return Vec{a[0] * s, a[1] * s, a[2] * s} }

// Dot returns a·b.
func (a Vec) Dot(b Vec) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// Cross returns a×b.
func (a Vec) Cross(b Vec) Vec {
	return Vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// Norm returns |a|.
func (a Vec) Norm() float64 { return math.Sqrt(a.Dot(a)) }

// Grid is a sampling grid. Index i runs along Axes[0] (the DICOM row direction: increasing column
// number), j along Axes[1] (the column direction: increasing row number) and k along Axes[2]
// (slices). Voxel (0,0,0) is centred at Origin.
type Grid struct {
	Origin  Vec
	Axes    [3]Vec
	Spacing [3]float64
	Size    [3]int
	// SliceOffsets, when set, gives each slice's position along Axes[2] relative to Origin, for
	// grids whose slices are not evenly spaced (allowed by RTDOSE GridFrameOffsetVector).
	SliceOffsets []float64
}

// ErrBadGeometry reports direction cosines or spacings that do not define a grid.
var ErrBadGeometry = errors.New("invalid grid geometry")

// FromDICOM builds a grid from ImagePositionPatient, ImageOrientationPatient, PixelSpacing
// (row spacing, column spacing), the matrix size and the slice offsets along the normal.
func FromDICOM(ipp, iop, pixelSpacing []float64, rows, cols int, sliceOffsets []float64) (*Grid, error) {
	if len(ipp) != 3 || len(iop) != 6 || len(pixelSpacing) != 2 || rows <= 0 || cols <= 0 {
		return nil, ErrBadGeometry
	}
	for _, v := range [][]float64{ipp, iop, pixelSpacing, sliceOffsets} {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, ErrBadGeometry
			}
		}
	}
	rowDir := Vec{iop[0], iop[1], iop[2]}
	colDir := Vec{iop[3], iop[4], iop[5]}
	if math.Abs(rowDir.Norm()-1) > 1e-3 || math.Abs(colDir.Norm()-1) > 1e-3 || math.Abs(rowDir.Dot(colDir)) > 1e-3 {
		return nil, ErrBadGeometry
	}
	if pixelSpacing[0] <= 0 || pixelSpacing[1] <= 0 || rows*cols*max(len(sliceOffsets), 1) > MaxVoxels {
		return nil, ErrBadGeometry
	}
	g := &Grid{
		Origin:  Vec{ipp[0], ipp[1], ipp[2]},
		Axes:    [3]Vec{rowDir, colDir, rowDir.Cross(colDir)},
		Spacing: [3]float64{pixelSpacing[1], pixelSpacing[0], 1},
		Size:    [3]int{cols, rows, max(len(sliceOffsets), 1)},
	}
	offs := append([]float64(nil), sliceOffsets...)
	// A non-zero first offset equal to the z of ImagePositionPatient on an axial grid means the
	// offsets are absolute z positions (PS3.3 C.8.8.3.2, case b): make them relative.
	if nz := g.Axes[2][2]; len(offs) > 0 && offs[0] != 0 && math.Abs(math.Abs(nz)-1) < 1e-6 && math.Abs(offs[0]-ipp[2]) < 1e-3 {
		z0 := offs[0]
		for i := range offs {
			offs[i] = (offs[i] - z0) * nz
		}
	}
	if len(offs) > 1 {
		if offs[1] < offs[0] {
			// Frames stored against the normal: flip the slice axis so k still counts frames.
			g.Axes[2] = g.Axes[2].Scale(-1)
			for i := range offs {
				offs[i] = -offs[i]
			}
		}
		uniform := true
		step := offs[1] - offs[0]
		for i := 2; i < len(offs); i++ {
			if math.Abs(offs[i]-offs[i-1]-step) > 1e-3*math.Max(1, math.Abs(step)) {
				uniform = false
			}
		}
		if step == 0 {
			return nil, ErrBadGeometry
		}
		if uniform {
			g.Origin = g.Origin.Add(g.Axes[2].Scale(offs[0]))
			g.Spacing[2] = step
		} else {
			// Keep offsets relative to the first frame, which is the origin.
			g.Origin = g.Origin.Add(g.Axes[2].Scale(offs[0]))
			for i := len(offs) - 1; i >= 0; i-- {
				offs[i] -= offs[0]
			}
			for i := 1; i < len(offs); i++ {
				if offs[i] <= offs[i-1] {
					return nil, ErrBadGeometry // frames must be distinct and ordered
				}
			}
			g.SliceOffsets = offs
		}
	} else if len(offs) == 1 {
		g.Origin = g.Origin.Add(g.Axes[2].Scale(offs[0]))
	}
	return g, nil
}

// Voxels returns the number of voxels.
func (g *Grid) Voxels() int { return g.Size[0] * g.Size[1] * g.Size[2] }

// sliceOffset returns slice k's position along Axes[2] relative to Origin.
func (g *Grid) sliceOffset(k float64) float64 {
	if g.SliceOffsets == nil {
		return k * g.Spacing[2]
	}
	return g.SliceOffsets[int(k)]
}

// Point returns the patient coordinates of voxel (i, j, k).
func (g *Grid) Point(i, j, k int) Vec {
	return g.Origin.Add(g.Axes[0].Scale(float64(i) * g.Spacing[0])).
		Add(g.Axes[1].Scale(float64(j) * g.Spacing[1])).
		Add(g.Axes[2].Scale(g.sliceOffset(float64(k))))
}

// ContinuousIndex returns the fractional voxel index of point p.
func (g *Grid) ContinuousIndex(p Vec) (fi, fj, fk float64) {
	d := p.Sub(g.Origin)
	fi = d.Dot(g.Axes[0]) / g.Spacing[0]
	fj = d.Dot(g.Axes[1]) / g.Spacing[1]
	z := d.Dot(g.Axes[2])
	if g.SliceOffsets == nil {
		fk = z / g.Spacing[2]
		return
	}
	offs := g.SliceOffsets
	n := len(offs)
	switch {
	case n == 1:
		fk = z - offs[0]
		if fk != 0 {
			fk = math.Copysign(math.Inf(1), fk)
		}
	case z <= offs[0]:
		fk = (z - offs[0]) / (offs[1] - offs[0])
	case z >= offs[n-1]:
		fk = float64(n-1) + (z-offs[n-1])/(offs[n-1]-offs[n-2])
	default:
		k := sort.SearchFloat64s(offs, z)
		fk = float64(k-1) + (z-offs[k-1])/(offs[k]-offs[k-1])
	}
	return
}

// Bounds returns the axis-aligned box (in patient coordinates) of the voxel centres.
func (g *Grid) Bounds() (lo, hi Vec) {
	lo = Vec{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi = Vec{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, i := range []int{0, g.Size[0] - 1} {
		for _, j := range []int{0, g.Size[1] - 1} {
			for _, k := range []int{0, g.Size[2] - 1} {
				p := g.Point(i, j, k)
				for a := 0; a < 3; a++ {
					lo[a] = math.Min(lo[a], p[a])
					hi[a] = math.Max(hi[a], p[a])
				}
			}
		}
	}
	return lo, hi
}

// SameGeometry tells whether two grids sample the same points (within tol mm).
func SameGeometry(a, b *Grid, tol float64) bool {
	if a.Size != b.Size {
		return false
	}
	for _, c := range [][3]int{{0, 0, 0}, {a.Size[0] - 1, 0, 0}, {0, a.Size[1] - 1, 0}, {0, 0, a.Size[2] - 1}, {a.Size[0] - 1, a.Size[1] - 1, a.Size[2] - 1}} {
		if a.Point(c[0], c[1], c[2]).Sub(b.Point(c[0], c[1], c[2])).Norm() > tol {
			return false
		}
	}
	if (a.SliceOffsets == nil) != (b.SliceOffsets == nil) {
		return false
	}
	for k := range a.SliceOffsets {
		if math.Abs(a.SliceOffsets[k]-b.SliceOffsets[k]) > tol {
			return false
		}
	}
	return true
}

// OverlapFraction returns the volume of the intersection of two boxes divided by the smaller
// box's volume. Degenerate (flat) boxes are thickened by 1 mm so single-slice grids compare.
func OverlapFraction(alo, ahi, blo, bhi Vec) float64 {
	vol := func(lo, hi Vec) float64 {
		v := 1.0
		for a := 0; a < 3; a++ {
			v *= math.Max(hi[a]-lo[a], 1)
		}
		return v
	}
	inter := 1.0
	for a := 0; a < 3; a++ {
		lo := math.Max(alo[a], blo[a])
		hi := math.Min(ahi[a], bhi[a])
		if hi < lo {
			return 0
		}
		inter *= math.Max(hi-lo, 1)
	}
	return inter / math.Min(vol(alo, ahi), vol(blo, bhi))
}

// Volume is a grid with one float32 value per voxel, i fastest, then j, then k.
type Volume struct {
	Grid *Grid
	Data []float32
}

// At returns the value at voxel (i, j, k).
func (v *Volume) At(i, j, k int) float32 {
	return v.Data[(k*v.Grid.Size[1]+j)*v.Grid.Size[0]+i]
}

// SampleTrilinear interpolates the volume at point p; points outside the box of voxel centres
// give 0 (a dose grid says nothing about dose beyond its extent).
func (v *Volume) SampleTrilinear(p Vec) float64 {
	g := v.Grid
	fi, fj, fk := g.ContinuousIndex(p)
	const eps = 1e-6
	nx, ny, nz := g.Size[0], g.Size[1], g.Size[2]
	if fi < -eps || fj < -eps || fk < -eps || fi > float64(nx-1)+eps || fj > float64(ny-1)+eps || fk > float64(nz-1)+eps {
		return 0
	}
	i0, ti := split(fi, nx)
	j0, tj := split(fj, ny)
	k0, tk := split(fk, nz)
	i1, j1, k1 := min(i0+1, nx-1), min(j0+1, ny-1), min(k0+1, nz-1)
	c := func(i, j, k int) float64 { return float64(v.At(i, j, k)) }
	c00 := c(i0, j0, k0)*(1-ti) + c(i1, j0, k0)*ti
	c10 := c(i0, j1, k0)*(1-ti) + c(i1, j1, k0)*ti
	c01 := c(i0, j0, k1)*(1-ti) + c(i1, j0, k1)*ti
	c11 := c(i0, j1, k1)*(1-ti) + c(i1, j1, k1)*ti
	c0 := c00*(1-tj) + c10*tj
	c1 := c01*(1-tj) + c11*tj
	return c0*(1-tk) + c1*tk
}

// split returns the lower voxel index and the interpolation weight of a fractional index.
func split(f float64, n int) (int, float64) {
	if f <= 0 {
		return 0, 0
	}
	i := int(math.Floor(f))
	if i >= n-1 {
		return n - 1, 0
	}
	return i, f - float64(i)
}
