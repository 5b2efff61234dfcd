// Package structures turns RTSTRUCT contours into voxel masks on an image grid and measures
// masks (volume, Dice overlap).
package structures

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// boundaryEps is the distance (in voxels, index space) within which a voxel centre counts as
// lying on a contour edge.
const boundaryEps = 1e-6

// offPlaneWarn is the distance (in slices) from the nearest slice plane beyond which contours
// that are still rasterised are mentioned in a warning.
const offPlaneWarn = 0.1

// point2 is a contour vertex in the continuous (i, j) index space of one slice.
type point2 struct{ x, y float64 }

// Rasterize converts the CLOSED_PLANAR contours of an ROI into a mask on the grid of ref: an
// image of the same geometry with PixelType "uint8" and values 0 and 1.
//
// Everything happens in the continuous index space of ref's grid, so any orientation works
// (HFS, FFS, HFP, FFP, oblique) and nothing assumes axial slices or ordered contours:
//
//   - Each contour's points are mapped to fractional indices (i, j, k). The contour belongs to
//     slice round(k) when every point lies less than half a slice from that slice's plane and the
//     slice exists; otherwise it is skipped and reported in the warnings (outside the image,
//     between two slices, or not parallel to the slices). Contours rasterised although they lie
//     more than 0.1 slice off their plane are summarised in one warning.
//   - On a slice, a voxel is set when its CENTRE lies inside the polygon formed by the contour's
//     (i, j) points, vertices taken as they are (no rounding). Several contours on one slice are
//     combined with the even-odd rule: a centre is inside when a ray from it crosses the contours
//     an odd number of times, so a contour inside another cuts a hole, and an island inside the
//     hole is filled again. Centres on an edge (within 1e-6 voxel) count as inside, which makes
//     the result independent of the direction of the axes (a mirrored grid gives the same
//     physical voxels).
//
// This differs from rt-utils (Python), which rounds each vertex to the nearest pixel
// (np.around) and fills the polygon with OpenCV's fillPoly, combining a slice's contours by XOR:
// fillPoly also sets every pixel the rounded outline passes through, so rt-utils masks are
// larger by up to about half a voxel ring (relatively more for small or thin structures), its
// vertex rounding shifts edges by up to half a voxel, and it assigns contours to slices through
// their ContourImageSequence SOP instance UIDs rather than by geometry. Centre-inside keeps the
// mask volume close to the volume the contours enclose, without a systematic bias.
//
// Contours of other geometric types (POINT, OPEN_PLANAR, ...) and contours with fewer than three
// points are ignored with a warning. Parts of a contour outside the image are clipped, with a
// warning. Errors are reserved for an unusable reference image.
func Rasterize(roi *rt.ROIContours, ref *imageio.Image) (*imageio.Image, []string, error) {
	if roi == nil {
		return nil, nil, errors.New("no ROI")
	}
	if ref == nil || ref.Grid == nil {
		return nil, nil, errors.New("no reference image")
	}
	g := ref.Grid
	nx, ny, nz := g.Size[0], g.Size[1], g.Size[2]
	if nx <= 0 || ny <= 0 || nz <= 0 || g.Spacing[0] <= 0 || g.Spacing[1] <= 0 {
		return nil, nil, fmt.Errorf("reference grid %v with spacing %v is empty", g.Size, g.Spacing)
	}
	mask := &imageio.Image{Grid: cloneGrid(g), Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	var warnings []string
	warnf := func(format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("ROI %q: ", roi.Name)+fmt.Sprintf(format, args...))
	}
	perSlice := map[int][][]point2{}
	ignored := map[string]int{}
	offPlane, maxOff := 0, 0.0
	for ci, c := range roi.Contours {
		if c.Type != rt.ContourClosedPlanar {
			ignored[c.Type]++
			continue
		}
		if len(c.Points) < 3 {
			warnf("contour %d has %d point(s), not a polygon; skipped", ci+1, len(c.Points))
			continue
		}
		poly := make([]point2, len(c.Points))
		kmin, kmax, ksum := math.Inf(1), math.Inf(-1), 0.0
		xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for p, pt := range c.Points {
			fi, fj, fk := g.ContinuousIndex(pt)
			poly[p] = point2{fi, fj}
			kmin, kmax, ksum = math.Min(kmin, fk), math.Max(kmax, fk), ksum+fk
			xmin, xmax = math.Min(xmin, fi), math.Max(xmax, fi)
			ymin, ymax = math.Min(ymin, fj), math.Max(ymax, fj)
		}
		kmean := ksum / float64(len(c.Points))
		kr := math.Round(kmean)
		switch {
		case math.IsNaN(kmean) || math.IsInf(kmean, 0) || kr < 0 || kr > float64(nz-1):
			warnf("contour %d (first point %v mm) lies at slice index %.3g, outside the image (slices 0 to %d); skipped",
				ci+1, c.Points[0], kmean, nz-1)
			continue
		case kmax-kr >= 0.5 || kr-kmin >= 0.5:
			warnf("contour %d (first point %v mm) lies at slice indices %.3f to %.3f, not within half a slice of a single image slice; skipped",
				ci+1, c.Points[0], kmin, kmax)
			continue
		}
		if off := math.Max(kmax-kr, kr-kmin); off > offPlaneWarn {
			offPlane++
			maxOff = math.Max(maxOff, off)
		}
		if xmin < -0.5 || ymin < -0.5 || xmax > float64(nx)-0.5 || ymax > float64(ny)-0.5 {
			warnf("contour %d (slice %d) extends beyond the image in-plane; clipped", ci+1, int(kr))
		}
		perSlice[int(kr)] = append(perSlice[int(kr)], poly)
	}
	if offPlane > 0 {
		warnf("%d contour(s) lie up to %.2f slice off the image slice planes (assigned to the nearest slice)", offPlane, maxOff)
	}
	types := make([]string, 0, len(ignored))
	for t := range ignored {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		warnf("%d contour(s) of type %q ignored (only %s are rasterised)", ignored[t], t, rt.ContourClosedPlanar)
	}
	for k, polys := range perSlice {
		fillSlice(mask.Data[k*nx*ny:(k+1)*nx*ny], nx, ny, polys)
	}
	return mask, warnings, nil
}

func cloneGrid(g *grid.Grid) *grid.Grid {
	c := *g
	if g.SliceOffsets != nil {
		c.SliceOffsets = append([]float64(nil), g.SliceOffsets...)
	}
	return &c
}

// fillSlice sets to 1 the pixels of one slice (nx × ny, i fastest) whose centres lie inside the
// polygons by the even-odd rule or on an edge.
func fillSlice(dst []float64, nx, ny int, polys [][]point2) {
	crossings := make([][]float64, ny)
	for _, poly := range polys {
		for e := range poly {
			a, b := poly[e], poly[(e+1)%len(poly)]
			markEdge(dst, nx, ny, a, b)
			if a.y == b.y {
				continue // horizontal edges never cross a scan line under the half-open rule
			}
			lo, hi := math.Min(a.y, b.y), math.Max(a.y, b.y)
			// Scan line y = j crosses the edge when lo <= j < hi.
			j0, j1 := max(0, ceilInt(lo)), min(ny-1, ceilInt(hi)-1)
			for j := j0; j <= j1; j++ {
				x := a.x + (float64(j)-a.y)*(b.x-a.x)/(b.y-a.y)
				crossings[j] = append(crossings[j], x)
			}
		}
	}
	for j, xs := range crossings {
		sort.Float64s(xs)
		row := dst[j*nx : (j+1)*nx]
		// A centre x is inside when an odd number of crossings lie beyond it: c[2m] <= x < c[2m+1].
		for m := 0; m+1 < len(xs); m += 2 {
			i0, i1 := max(0, ceilInt(xs[m])), min(nx-1, ceilInt(xs[m+1])-1)
			for i := i0; i <= i1; i++ {
				row[i] = 1
			}
		}
	}
}

// markEdge sets the pixels whose centres lie within boundaryEps of segment ab. It walks the
// segment along its major axis and tests the two nearest centres on each line exactly.
func markEdge(dst []float64, nx, ny int, a, b point2) {
	steep := math.Abs(b.y-a.y) >= math.Abs(b.x-a.x)
	// u is the major coordinate, v the minor one.
	au, av, bu, bv := a.x, a.y, b.x, b.y
	nu, nv := nx, ny
	if steep {
		au, av, bu, bv = a.y, a.x, b.y, b.x
		nu, nv = ny, nx
	}
	lo, hi := math.Min(au, bu), math.Max(au, bu)
	u0, u1 := max(0, ceilInt(lo-boundaryEps)), min(nu-1, floorInt(hi+boundaryEps))
	for u := u0; u <= u1; u++ {
		t := 0.0
		if bu != au {
			t = math.Max(0, math.Min(1, (float64(u)-au)/(bu-au)))
		}
		v := av + t*(bv-av)
		for _, vc := range [2]int{floorInt(v), floorInt(v) + 1} {
			if vc < 0 || vc >= nv {
				continue
			}
			i, j := vc, u
			if !steep {
				i, j = u, vc
			}
			if segmentDistance(point2{float64(i), float64(j)}, a, b) <= boundaryEps {
				dst[j*nx+i] = 1
			}
		}
	}
}

// segmentDistance returns the distance from p to segment ab.
func segmentDistance(p, a, b point2) float64 {
	dx, dy := b.x-a.x, b.y-a.y
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = math.Max(0, math.Min(1, ((p.x-a.x)*dx+(p.y-a.y)*dy)/l2))
	}
	return math.Hypot(p.x-(a.x+t*dx), p.y-(a.y+t*dy))
}

// ceilInt and floorInt clamp to the int range so that huge coordinates stay harmless.
func ceilInt(x float64) int  { return int(math.Max(-1<<40, math.Min(1<<40, math.Ceil(x)))) }
func floorInt(x float64) int { return int(math.Max(-1<<40, math.Min(1<<40, math.Floor(x)))) }

// inMask tells whether a mask value counts as inside: non-zero and not NaN.
func inMask(v float64) bool { return v > 0 || v < 0 }

// MaskVolume returns the volume in cm³ of the non-zero voxels of a mask (NaN counts as zero):
// their number times the voxel volume, with each slice's thickness taken halfway to its
// neighbours when the slices are unevenly spaced.
func MaskVolume(mask *imageio.Image) float64 {
	g := mask.Grid
	nxy := g.Size[0] * g.Size[1]
	area := g.Spacing[0] * g.Spacing[1]
	total := 0.0
	for k := 0; k < g.Size[2]; k++ {
		n := 0
		for _, v := range mask.Data[k*nxy : (k+1)*nxy] {
			if inMask(v) {
				n++
			}
		}
		total += float64(n) * area * sliceThickness(g, k)
	}
	return total / 1000
}

func sliceThickness(g *grid.Grid, k int) float64 {
	offs := g.SliceOffsets
	if offs == nil || len(offs) < 2 {
		return g.Spacing[2]
	}
	switch k {
	case 0:
		return offs[1] - offs[0]
	case len(offs) - 1:
		return offs[k] - offs[k-1]
	}
	return (offs[k+1] - offs[k-1]) / 2
}

// Dice returns the Dice similarity coefficient 2|A∩B| / (|A| + |B|) of two masks (non-zero voxels,
// NaN counting as zero); two empty masks give 1. The masks must sample the same points: either
// the same grid, or grids whose voxel centres coincide (within 1e-3 voxel) in another index
// order (for instance a DICOM series and a NIfTI file of it with flipped axes), voxels being
// paired by physical position. Otherwise Dice returns NaN.
func Dice(a, b *imageio.Image) float64 {
	pair, ok := correspondence(a.Grid, b.Grid)
	if !ok || len(a.Data) != a.Grid.Voxels() || len(b.Data) != b.Grid.Voxels() {
		return math.NaN()
	}
	na, nb, both := 0, 0, 0
	for i, v := range a.Data {
		ib := i
		if pair != nil {
			ib = pair[i]
		}
		ina, inb := inMask(v), inMask(b.Data[ib])
		if ina {
			na++
		}
		if inb {
			nb++
		}
		if ina && inb {
			both++
		}
	}
	if na+nb == 0 {
		return 1
	}
	return 2 * float64(both) / float64(na+nb)
}

// correspondence maps each voxel of grid a to the voxel of grid b at the same point. A nil map
// with ok means the identity.
func correspondence(a, b *grid.Grid) ([]int, bool) {
	minSpacing := math.Min(a.Spacing[0], math.Min(a.Spacing[1], a.Spacing[2]))
	if grid.SameGeometry(a, b, 1e-3*minSpacing) {
		return nil, true
	}
	if a.Voxels() != b.Voxels() {
		return nil, false
	}
	const tol = 1e-3
	pair := make([]int, a.Voxels())
	n := 0
	for k := 0; k < a.Size[2]; k++ {
		for j := 0; j < a.Size[1]; j++ {
			for i := 0; i < a.Size[0]; i++ {
				fi, fj, fk := b.ContinuousIndex(a.Point(i, j, k))
				ri, rj, rk := math.Round(fi), math.Round(fj), math.Round(fk)
				if math.Abs(fi-ri) > tol || math.Abs(fj-rj) > tol || math.Abs(fk-rk) > tol ||
					ri < 0 || rj < 0 || rk < 0 || ri >= float64(b.Size[0]) || rj >= float64(b.Size[1]) || rk >= float64(b.Size[2]) {
					return nil, false
				}
				pair[n] = (int(rk)*b.Size[1]+int(rj))*b.Size[0] + int(ri)
				n++
			}
		}
	}
	return pair, true
}
