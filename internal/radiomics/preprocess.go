package radiomics

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// BoundingBox is an ROI's voxel bounding box, inclusive: Lo[a] <= index <= Hi[a] on axis a (x, y, z).
type BoundingBox struct {
	Lo, Hi [3]int
}

// Size returns the box's extent in voxels per axis.
func (b BoundingBox) Size() [3]int {
	return [3]int{b.Hi[0] - b.Lo[0] + 1, b.Hi[1] - b.Lo[1] + 1, b.Hi[2] - b.Lo[2] + 1}
}

// ErrROI marks problems with the ROI itself (empty, too small, too few dimensions, outside the
// image): the input is unusable, not the program broken.
var ErrROI = errors.New("invalid ROI")

// maskLabel returns the label value of a mask voxel as PyRadiomics sees it after casting the
// mask to UInt32 (truncation toward zero; negative and non-finite values become 0).
func maskLabel(v float64) int {
	if !(v >= 1) || v > math.MaxUint32 {
		return 0
	}
	return int(v)
}

// roiVoxels returns, for mask, whether each voxel belongs to label.
func roiVoxels(mask *imageio.Image, label int) []bool {
	in := make([]bool, len(mask.Data))
	for i, v := range mask.Data {
		in[i] = maskLabel(v) == label
	}
	return in
}

// checkLabels reproduces PyRadiomics' getMask checks: the mask must segment something, and the
// label must be among its values.
func checkLabels(mask *imageio.Image, label int) error {
	labels := map[int]bool{}
	for _, v := range mask.Data {
		labels[maskLabel(v)] = true
	}
	if len(labels) == 1 {
		return fmt.Errorf("%w: no labels found in this mask (nothing is segmented)", ErrROI)
	}
	if !labels[label] {
		var present []int
		for l := range labels {
			if l != 0 {
				present = append(present, l)
			}
		}
		sort.Ints(present)
		return fmt.Errorf("%w: label %d not present in mask; it holds %v", ErrROI, label, present)
	}
	return nil
}

// boundingBox returns the bounding box of the voxels of in and their count.
func boundingBox(in []bool, size [3]int) (BoundingBox, int) {
	b := BoundingBox{Lo: size, Hi: [3]int{-1, -1, -1}}
	n := 0
	i := 0
	for z := 0; z < size[2]; z++ {
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				if in[i] {
					n++
					b.Lo[0], b.Hi[0] = min(b.Lo[0], x), max(b.Hi[0], x)
					b.Lo[1], b.Hi[1] = min(b.Lo[1], y), max(b.Hi[1], y)
					b.Lo[2], b.Hi[2] = min(b.Lo[2], z), max(b.Hi[2], z)
				}
				i++
			}
		}
	}
	return b, n
}

// sameGeometry is SimpleITK's check that two images occupy the same physical space: equal sizes,
// origins and spacings within tol times the first spacing, directions within tol.
func sameGeometry(a, b *grid.Grid, tol float64) bool {
	if tol <= 0 {
		tol = 1e-6
	}
	if a.Size != b.Size || a.SliceOffsets != nil || b.SliceOffsets != nil {
		return a.Size == b.Size && grid.SameGeometry(a, b, tol*a.Spacing[0])
	}
	ct := tol * a.Spacing[0]
	for i := range 3 {
		if math.Abs(a.Origin[i]-b.Origin[i]) > ct || math.Abs(a.Spacing[i]-b.Spacing[i]) > ct {
			return false
		}
		for j := range 3 {
			if math.Abs(a.Axes[i][j]-b.Axes[i][j]) > tol {
				return false
			}
		}
	}
	return true
}

// checkMask is PyRadiomics' checkMask: it returns the ROI's bounding box, a mask resampled onto the
// image grid when the geometries differ and correctMask is on (else nil), and an error when the
// ROI is unusable.
func checkMask(image, mask *imageio.Image, s *Settings) (BoundingBox, *imageio.Image, error) {
	var corrected *imageio.Image
	if !sameGeometry(image.Grid, mask.Grid, s.GeometryTolerance) {
		if !s.CorrectMask {
			return BoundingBox{}, nil, fmt.Errorf("%w: image and mask geometry differ (size %v vs %v, origin %v vs %v, spacing %v vs %v); enable correctMask to resample the mask onto the image",
				ErrROI, image.Grid.Size, mask.Grid.Size, image.Grid.Origin, mask.Grid.Origin, image.Grid.Spacing, mask.Grid.Spacing)
		}
		if err := checkROIInside(image, mask, s.Label); err != nil {
			return BoundingBox{}, nil, err
		}
		var err error
		corrected, err = ResampleOnto(mask, image.Grid, InterpolatorNearest)
		if err != nil {
			return BoundingBox{}, nil, fmt.Errorf("correcting the mask onto the image grid: %w", err)
		}
		mask = corrected
	}
	in := roiVoxels(mask, s.Label)
	bb, n := boundingBox(in, mask.Grid.Size)
	if n == 0 {
		return BoundingBox{}, nil, fmt.Errorf("%w: label %d not present in mask", ErrROI, s.Label)
	}
	ndims := 0
	for _, e := range bb.Size() {
		if e > 1 {
			ndims++
		}
	}
	if ndims == 0 {
		return BoundingBox{}, nil, fmt.Errorf("%w: mask contains only 1 segmented voxel; features need more", ErrROI)
	}
	if ndims < s.MinimumROIDimensions {
		return BoundingBox{}, nil, fmt.Errorf("%w: mask has too few dimensions (%d, minimum required %d)", ErrROI, ndims, s.MinimumROIDimensions)
	}
	if s.MinimumROISize > 0 && n <= s.MinimumROISize {
		return BoundingBox{}, nil, fmt.Errorf("%w: ROI too small (%d voxels; more than minimumROISize %d required)", ErrROI, n, s.MinimumROISize)
	}
	return bb, corrected, nil
}

// checkROIInside is PyRadiomics' _checkROI: the ROI's bounding box (voxel corners) must lie inside
// the image's physical extent, within 1e-3 voxel.
func checkROIInside(image, mask *imageio.Image, label int) error {
	bb, n := boundingBox(roiVoxels(mask, label), mask.Grid.Size)
	if n == 0 {
		return fmt.Errorf("%w: label %d not present in mask", ErrROI, label)
	}
	const tol = 1e-3
	lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, corner := range [2][3]float64{
		{float64(bb.Lo[0]) - 0.5, float64(bb.Lo[1]) - 0.5, float64(bb.Lo[2]) - 0.5},
		{float64(bb.Hi[0]) + 0.5, float64(bb.Hi[1]) + 0.5, float64(bb.Hi[2]) + 0.5},
	} {
		p := continuousPoint(mask.Grid, corner)
		i, j, k := image.Grid.ContinuousIndex(p)
		for a, v := range [3]float64{i, j, k} {
			lo[a] = math.Min(lo[a], v)
			hi[a] = math.Max(hi[a], v)
		}
	}
	for a := range 3 {
		if lo[a] < -0.5-tol || hi[a] > float64(image.Grid.Size[a])-0.5+tol {
			return fmt.Errorf("%w: the ROI's bounding box extends outside the image (axis %d: %.3f..%.3f, image 0..%d)", ErrROI, a, lo[a], hi[a], image.Grid.Size[a]-1)
		}
	}
	return nil
}

// continuousPoint maps a continuous index to patient coordinates (even spacing assumed).
func continuousPoint(g *grid.Grid, idx [3]float64) grid.Vec {
	return g.Origin.Add(g.Axes[0].Scale(idx[0] * g.Spacing[0])).
		Add(g.Axes[1].Scale(idx[1] * g.Spacing[1])).
		Add(g.Axes[2].Scale(idx[2] * g.Spacing[2]))
}

// cropImage returns the sub-image of im in the box lo..hi (inclusive), on a grid whose origin is
// voxel lo's centre.
func cropImage(im *imageio.Image, lo, hi [3]int) *imageio.Image {
	g := *im.Grid
	g.SliceOffsets = nil
	for a := range 3 {
		g.Size[a] = hi[a] - lo[a] + 1
	}
	g.Origin = im.Grid.Point(lo[0], lo[1], lo[2])
	if im.Grid.SliceOffsets != nil {
		g.SliceOffsets = make([]float64, g.Size[2])
		base := im.Grid.SliceOffsets[lo[2]]
		for k := range g.SliceOffsets {
			g.SliceOffsets[k] = im.Grid.SliceOffsets[lo[2]+k] - base
		}
	}
	nx, ny := im.Grid.Size[0], im.Grid.Size[1]
	data := make([]float64, 0, g.Voxels())
	for z := lo[2]; z <= hi[2]; z++ {
		for y := lo[1]; y <= hi[1]; y++ {
			row := (z*ny + y) * nx
			data = append(data, im.Data[row+lo[0]:row+hi[0]+1]...)
		}
	}
	return &imageio.Image{Grid: &g, Data: data, PixelType: im.PixelType}
}

// padBox widens bb by pad voxels, clipped to the image.
func padBox(bb BoundingBox, pad int, size [3]int) (lo, hi [3]int) {
	for a := range 3 {
		lo[a] = max(bb.Lo[a]-pad, 0)
		hi[a] = min(bb.Hi[a]+pad, size[a]-1)
	}
	return lo, hi
}

// normalizeImage is PyRadiomics' normalizeImage (SimpleITK Normalize): z-score over the whole
// image with the sample standard deviation, optional clamping at ±removeOutliers, then scaling.
func normalizeImage(im *imageio.Image, s *Settings) (*imageio.Image, error) {
	n := float64(len(im.Data))
	var sum, sum2 kahan
	for _, v := range im.Data {
		sum.add(v)
		sum2.add(v * v)
	}
	mean := sum.value() / n
	variance := (sum2.value() - sum.value()*sum.value()/n) / (n - 1)
	sigma := math.Sqrt(variance)
	if !(sigma > 0) {
		return nil, errors.New("normalize: the image has a single gray value (standard deviation 0)")
	}
	out := &imageio.Image{Grid: im.Grid, Data: make([]float64, len(im.Data)), PixelType: "float64"}
	for i, v := range im.Data {
		z := (v - mean) / sigma
		if s.RemoveOutliers != nil {
			z = math.Max(-*s.RemoveOutliers, math.Min(*s.RemoveOutliers, z))
		}
		out.Data[i] = z * s.NormalizeScale
	}
	return out, nil
}

// kahan is a compensated (Neumaier) sum, as ITK's statistics filters use.
type kahan struct{ sum, c float64 }

func (k *kahan) add(v float64) {
	t := k.sum + v
	if math.Abs(k.sum) >= math.Abs(v) {
		k.c += (k.sum - t) + v
	} else {
		k.c += (v - t) + k.sum
	}
	k.sum = t
}

func (k *kahan) value() float64 { return k.sum + k.c }

// resegment is PyRadiomics' resegmentMask: it keeps the ROI voxels whose intensity lies within the
// thresholds (one value: lower bound only) in absolute, relative (to the ROI maximum) or sigma
// (mean ± k·population SD) mode.
func resegment(image, mask *imageio.Image, s *Settings) (*imageio.Image, error) {
	r := append([]float64(nil), s.ResegmentRange...)
	if len(r) == 0 || len(r) > 2 {
		return nil, fmt.Errorf("resegmentRange must hold 1 or 2 values, got %d", len(r))
	}
	sort.Float64s(r)
	in := roiVoxels(mask, s.Label)
	var vals []float64
	for i, ok := range in {
		if ok {
			vals = append(vals, image.Data[i])
		}
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("%w: label %d not present in mask", ErrROI, s.Label)
	}
	switch s.ResegmentMode {
	case "", "absolute":
	case "relative":
		mx := math.Inf(-1)
		for _, v := range vals {
			mx = math.Max(mx, v)
		}
		for i := range r {
			r[i] *= mx
		}
	case "sigma":
		mean, sd := meanStd(vals)
		for i := range r {
			r[i] = mean + sd*r[i]
		}
	default:
		return nil, fmt.Errorf("resegmentMode %q not recognised (absolute, relative or sigma)", s.ResegmentMode)
	}
	out := &imageio.Image{Grid: mask.Grid, Data: make([]float64, len(mask.Data)), PixelType: mask.PixelType}
	kept := 0
	for i, ok := range in {
		if !ok {
			continue
		}
		v := image.Data[i]
		if v >= r[0] && (len(r) == 1 || v <= r[1]) {
			out.Data[i] = float64(s.Label)
			kept++
		}
	}
	if kept <= 1 {
		return nil, fmt.Errorf("%w: resegmentation excluded too many voxels of label %d (retained %d voxel(s))", ErrROI, s.Label, kept)
	}
	return out, nil
}

// meanStd returns the mean and population standard deviation (numpy.std) of v.
func meanStd(v []float64) (mean, sd float64) {
	mean = pairwiseSum(v) / float64(len(v))
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(pairwiseSum(d) / float64(len(v)))
}

// pairwiseSum sums v as numpy does (pairwise, blocks of 8 below 128 elements), so means and
// variances agree with PyRadiomics to the last bits more often than a naive loop.
func pairwiseSum(v []float64) float64 {
	n := len(v)
	if n < 8 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s
	}
	if n <= 128 {
		var r [8]float64
		copy(r[:], v[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range 8 {
				r[j] += v[i+j]
			}
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += v[i]
		}
		return s
	}
	m := n / 2
	m -= m % 8
	return pairwiseSum(v[:m]) + pairwiseSum(v[m:])
}

// pyMod is Python's float modulo: the result has the sign of the divisor.
func pyMod(x, w float64) float64 {
	m := math.Mod(x, w)
	if m != 0 && (w < 0) != (m < 0) {
		m += w
	}
	return m
}

// binEdges is PyRadiomics' getBinEdges over the ROI values vals (fixed bin width, or fixed bin
// count when s.BinCount > 0). With ibsiOrigin set (IBSI mode) and a resegmentation lower bound,
// fixed-width bins start at that bound instead of a multiple of the bin width.
func binEdges(vals []float64, s *Settings, ibsiOrigin *float64) []float64 {
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		mn = math.Min(mn, v)
		mx = math.Max(mx, v)
	}
	if s.BinCount > 0 {
		first, last := mn, mx
		if first == last {
			first, last = first-0.5, last+0.5
		}
		n := s.BinCount
		edges := make([]float64, n+1)
		step := (last - first) / float64(n)
		for i := range edges {
			edges[i] = float64(i)*step + first
		}
		edges[n] = last + 1
		return edges
	}
	w := s.BinWidth
	low := mn - pyMod(mn, w)
	if ibsiOrigin != nil && *ibsiOrigin <= mn {
		low = *ibsiOrigin
	}
	high := mx + 2*w
	count := int(math.Ceil((high - low) / w))
	if count < 1 {
		count = 1
	}
	edges := make([]float64, count)
	edges[0] = low
	delta := (low + w) - low
	for i := 1; i < count; i++ {
		edges[i] = low + float64(i)*delta
	}
	if count == 1 {
		return []float64{edges[0] - 0.5, edges[0] + 0.5}
	}
	return edges
}

// digitize is numpy.digitize for increasing edges: the number of edges <= v.
func digitize(v float64, edges []float64) int {
	return sort.Search(len(edges), func(i int) bool { return edges[i] > v })
}

// discretize bins the ROI voxels of a cropped image: it returns the texture input (0 outside the
// ROI) and the ROI's intensities in voxel order.
func discretize(im *imageio.Image, in []bool, s *Settings, ibsiOrigin *float64) (*Discretized, []float64, error) {
	var vals []float64
	for i, ok := range in {
		if ok {
			vals = append(vals, im.Data[i])
		}
	}
	if len(vals) == 0 {
		return nil, nil, fmt.Errorf("%w: the ROI is empty", ErrROI)
	}
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, errors.New("the image holds non-finite values inside the ROI")
		}
	}
	edges := binEdges(vals, s, ibsiOrigin)
	d := &Discretized{Size: im.Grid.Size, Spacing: im.Grid.Spacing, Levels: make([]int, len(in))}
	present := map[int]bool{}
	j := 0
	for i, ok := range in {
		if ok {
			l := digitize(vals[j], edges)
			j++
			d.Levels[i] = l
			present[l] = true
		}
	}
	for l := range present {
		d.GrayLevels = append(d.GrayLevels, l)
	}
	sort.Ints(d.GrayLevels)
	return d, vals, nil
}
