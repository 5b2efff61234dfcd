// Package builtin is a pure-Go CT segmenter that needs no model weights: it finds the body, the
// left and right lungs, the trachea with the main bronchi, and the bones of a CT from CT numbers
// and simple anatomical rules. It is meant as a fallback and a cross-check for learned
// segmenters (TotalSegmentator), and for tests that need masks without a GPU.
//
// Geometry always comes from the image grid: the axial plane is the plane of the image's first
// two axes, patient left is +x and superior +z in DICOM patient coordinates (LPS), and every
// left/right or superior/inferior decision uses the voxels' physical coordinates. Nothing
// assumes a head-first-supine patient, so HFS, FFS, HFP and FFP series (and mirrored grids) give
// the same anatomy.
//
// The method, with the thresholds of this file:
//
//   - Body: voxels above BodyHU (−500 HU), opened slice by slice with a disc of radius
//     OpeningMM (5 mm) so that thin plates and thin bridges (couch top shells, mattresses,
//     immobilisation masks) come off, the largest 6-connected 3-D component kept with any other
//     of at least 10% of its volume that is not the couch (arms), and holes filled slice by
//     slice. The couch is a component that is flat along the patient's antero-posterior axis,
//     wide, and wholly posterior or anterior of the body (by the voxels' patient coordinates,
//     so prone patients' couches are found anterior).
//   - Lungs: voxels below LungHU (−400 HU) inside the body. Their 3-D components are lung
//     candidates when they hold at least 20 cm³, are not gas-like (gas pockets in bowel or
//     stomach have most voxels below −950 HU; lung parenchyma does not), hold at least 5% of
//     the largest candidate's volume and do not lie wholly below it. The airways are followed
//     inside these candidates from the superior end down (see airways.go) and removed; the rest
//     is assigned to the left or right lung by the physical x of its voxels against the
//     midline (the trachea's x, else the trunk's centre), a component with much of itself on
//     both sides (touching lungs) being cut per slice at the emptiest position within 60 mm of
//     the midline. Holes in each lung (vessels, tumours) are filled slice by slice.
//   - Airways: the trachea and main bronchi found by that tracking.
//   - Bones: voxels above BoneHU (200 HU) and at most MetalHU (3000 HU) inside the body, 3-D
//     components of at least 0.5 cm³, without large components that look like contrast (mean
//     below 280 HU and no voxel above 450 HU).
//
// The smallest volumes kept (lung candidates, bone components) scale down for images thinner
// than 40 mm along the slice axis, so single slices work. Every mask comes with notes saying
// what was kept and removed (couch, gas, midline, carina), in Mask.Notes.
//
// The work runs slice by slice on Options.Workers goroutines and is deterministic: the result
// does not depend on the number of workers. Working memory is one byte per voxel plus
// run-length lists (proportional to the number of runs, not voxels) and per-worker slice
// buffers; each returned mask is an imageio.Image (8 bytes per voxel), so callers that need
// only some structures should name them in Options.Structures.
package builtin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// Structure names, in the order of Result.Masks.
const (
	Body      = "body"
	LungLeft  = "lung_left"
	LungRight = "lung_right"
	Airways   = "airways"
	Bones     = "bones"
)

// Names lists every structure Segment can return, in order.
func Names() []string { return []string{Body, LungLeft, LungRight, Airways, Bones} }

// Thresholds and sizes of the method (see the package documentation).
const (
	// BodyHU is the body threshold: air is about −1000 HU, fat about −100 HU.
	BodyHU = -500.0
	// OpeningMM is the radius of the disc the body mask is opened with.
	OpeningMM = 5.0
	// LungHU is the threshold below which voxels inside the body are air (lung, airways, gas).
	LungHU = -400.0
	// GasHU and gasFraction make a component gas-like: more than gasFraction of its voxels below
	// GasHU.
	GasHU = -950.0
	// BoneHU is the bone threshold and MetalHU the CT number above which voxels count as metal,
	// not bone.
	BoneHU  = 200.0
	MetalHU = 3000.0
)

const (
	gasFraction      = 0.7
	minLungCC        = 20.0 // smallest lung candidate
	minLungRelative  = 0.05 // smallest lung candidate relative to the largest
	minLungPartCC    = 1.0  // smallest piece kept after the airways are removed
	sideFraction     = 0.1  // a component with more than this share on each side is split
	splitBandMM      = 60.0 // half-width of the band searched for the cut between touching lungs
	maxLungHoleMM2   = 3000.0
	minBoneCC        = 0.5
	contrastMeanHU   = 280.0
	contrastMaxHU    = 450.0
	contrastMinCC    = 2.0
	couchMaxThickMM  = 100.0 // a removed component thinner than this along y...
	couchMinWidthMM  = 200.0
	couchMinWidthRel = 0.6 // ...and wider than this share of the body (and couchMinWidthMM) is the couch
	couchOverlapMM   = 5.0 // how far the couch may reach into the body's antero-posterior extent
	// sizeScaleMM: images thinner than this (along the slice axis) scale the smallest volumes
	// kept (lung candidates and pieces, bones, contrast) by their thickness over it.
	sizeScaleMM = 40.0
	// extraBodyRelative is the smallest share of the largest body component another component
	// must hold to be kept as body (an arm beside the trunk).
	extraBodyRelative = 0.1
)

// Options tune Segment.
type Options struct {
	// Workers is the number of goroutines; <= 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Structures limits the masks returned (names from Names); empty means all. Every
	// structure is still computed (lungs and bones need the body), but each mask not asked for
	// saves an image of 8 bytes per voxel.
	Structures []string
}

// Mask is one segmented structure: a 0/1 image on the CT's grid (PixelType "uint8") with its
// volume and notes on how it was found.
type Mask struct {
	Name     string
	Mask     *imageio.Image
	VolumeCC float64
	Notes    []string
}

// Result is the outcome of Segment: the masks in the order of Names (those asked for) and
// notes that concern the whole image.
type Result struct {
	Masks []Mask
	Notes []string
}

// Get returns the mask of a structure, or nil.
func (r *Result) Get(name string) *Mask {
	for i := range r.Masks {
		if r.Masks[i].Name == name {
			return &r.Masks[i]
		}
	}
	return nil
}

// Bits of the label volume.
const (
	bitWork   uint8 = 1 << iota // threshold before the opening; scratch
	bitBody                     // body
	bitAir                      // air inside the body: lung candidates
	bitAirway                   // trachea and main bronchi
	bitLungL                    // left lung
	bitLungR                    // right lung
	bitBone                     // bones
	bitTmp                      // scratch of slice operations
)

// seg is one segmentation run.
type seg struct {
	ct      *imageio.Image
	g       *grid.Grid
	nx, ny  int
	nz, nxy int
	sx, sy  float64
	di, dj  grid.Vec   // step of one voxel along i and j, mm
	p0      []grid.Vec // position of voxel (0, 0, k)
	thick   []float64  // thickness of every slice, mm
	lab     []uint8
	workers int
	sc      []*scratch
	notes   map[string][]string
	general []string
	// Per slice: number of voxels of the trunk (the largest body component, opened, holes not
	// filled) and the sum of their x.
	bodyN  []int
	bodySX []float64
	// sizeScale scales the smallest volumes kept for images thinner than sizeScaleMM along
	// their slice axis (a single slice cannot hold 20 cm³ of lung).
	sizeScale float64
	// midX is the x of the midline (mm) and midSource what it came from.
	midX      float64
	midSource string
}

// Segment segments a CT (values in HU) into the structures of Names.
func Segment(ctx context.Context, ct *imageio.Image, opts Options) (*Result, error) {
	if ct == nil || ct.Grid == nil {
		return nil, errors.New("builtin: no CT image")
	}
	g := ct.Grid
	if g.Size[0] < 2 || g.Size[1] < 2 || g.Size[2] < 1 || len(ct.Data) != g.Voxels() {
		return nil, fmt.Errorf("builtin: CT of size %v with %d values", g.Size, len(ct.Data))
	}
	if g.Spacing[0] <= 0 || g.Spacing[1] <= 0 || g.Spacing[2] == 0 || math.IsNaN(g.Spacing[2]) {
		return nil, fmt.Errorf("builtin: CT spacing %v", g.Spacing)
	}
	want := map[string]bool{}
	for _, n := range opts.Structures {
		if !slices.Contains(Names(), n) {
			return nil, fmt.Errorf("builtin: unknown structure %q (known: %v)", n, Names())
		}
		want[n] = true
	}
	if len(want) == 0 {
		for _, n := range Names() {
			want[n] = true
		}
	}
	s := newSeg(ct, opts.Workers)
	steps := []func(context.Context) error{s.body, s.lungs, s.bones}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	res := &Result{Notes: s.general}
	bits := map[string]uint8{Body: bitBody, LungLeft: bitLungL, LungRight: bitLungR, Airways: bitAirway, Bones: bitBone}
	for _, name := range Names() {
		if !want[name] {
			continue
		}
		m, vol := s.maskImage(bits[name])
		res.Masks = append(res.Masks, Mask{Name: name, Mask: m, VolumeCC: vol, Notes: s.notes[name]})
	}
	return res, nil
}

func newSeg(ct *imageio.Image, workers int) *seg {
	g := ct.Grid
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	s := &seg{ct: ct, g: g, nx: g.Size[0], ny: g.Size[1], nz: g.Size[2], nxy: g.Size[0] * g.Size[1],
		sx: g.Spacing[0], sy: g.Spacing[1], workers: workers, notes: map[string][]string{}}
	s.di = g.Axes[0].Scale(g.Spacing[0])
	s.dj = g.Axes[1].Scale(g.Spacing[1])
	s.p0 = make([]grid.Vec, s.nz)
	s.thick = make([]float64, s.nz)
	for k := range s.nz {
		s.p0[k] = g.Point(0, 0, k)
	}
	for k := range s.nz {
		switch {
		case s.nz == 1:
			s.thick[k] = math.Abs(g.Spacing[2])
		case k == 0:
			s.thick[k] = s.p0[1].Sub(s.p0[0]).Norm()
		case k == s.nz-1:
			s.thick[k] = s.p0[k].Sub(s.p0[k-1]).Norm()
		default:
			s.thick[k] = s.p0[k+1].Sub(s.p0[k-1]).Norm() / 2
		}
	}
	extent := 0.0
	for _, t := range s.thick {
		extent += t
	}
	s.sizeScale = math.Min(1, extent/sizeScaleMM)
	s.lab = make([]uint8, g.Voxels())
	s.sc = make([]*scratch, workers)
	for w := range s.sc {
		s.sc[w] = &scratch{}
	}
	s.bodyN = make([]int, s.nz)
	s.bodySX = make([]float64, s.nz)
	return s
}

// note records a note on a structure.
func (s *seg) note(name, format string, args ...any) {
	s.notes[name] = append(s.notes[name], fmt.Sprintf(format, args...))
}

// slice returns the labels of slice k.
func (s *seg) slice(k int) []uint8 { return s.lab[k*s.nxy : (k+1)*s.nxy] }

// hu returns the CT values of slice k.
func (s *seg) hu(k int) []float64 { return s.ct.Data[k*s.nxy : (k+1)*s.nxy] }

// voxelCC returns the volume of one voxel of slice k in cm³.
func (s *seg) voxelCC(k int) float64 { return s.sx * s.sy * s.thick[k] / 1000 }

// point returns the patient coordinates of voxel (i, j, k).
func (s *seg) point(i, j, k int) grid.Vec {
	return s.p0[k].Add(s.di.Scale(float64(i))).Add(s.dj.Scale(float64(j)))
}

// superiorOrder returns the slice indices from the most superior to the most inferior, and
// whether the slices are axial enough (slice normal within 45° of the patient's z) for
// superior/inferior reasoning.
func (s *seg) superiorOrder() ([]int, bool) {
	order := make([]int, s.nz)
	for k := range order {
		order[k] = k
	}
	if s.nz > 1 && s.p0[s.nz-1][2] > s.p0[0][2] {
		slices.Reverse(order)
	}
	return order, math.Abs(s.g.Axes[2][2]) >= math.Sqrt2/2
}

// maskImage builds the 0/1 image of a label bit and its volume in cm³.
func (s *seg) maskImage(bit uint8) (*imageio.Image, float64) {
	gc := *s.g
	gc.SliceOffsets = slices.Clone(s.g.SliceOffsets)
	im := &imageio.Image{Grid: &gc, Data: make([]float64, len(s.lab)), PixelType: "uint8"}
	vol := 0.0
	for k := range s.nz {
		n := 0
		base := k * s.nxy
		for i, v := range s.slice(k) {
			if v&bit != 0 {
				im.Data[base+i] = 1
				n++
			}
		}
		vol += float64(n) * s.voxelCC(k)
	}
	return im, vol
}

// runStats accumulates the geometry and CT numbers of a set of runs.
type runStats struct {
	n                  int64
	cc                 float64
	sum                grid.Vec // sum of voxel positions
	lo, hi             grid.Vec // bounding box of voxel centres
	huSum, huMax       float64
	below              int64 // voxels below GasHU
	kLo, kHi           int
	superior, inferior float64 // z extent
	nLeft              int64   // voxels with x > midX
}

func newRunStats() *runStats {
	inf := math.Inf(1)
	return &runStats{lo: grid.Vec{inf, inf, inf}, hi: grid.Vec{-inf, -inf, -inf}, kLo: math.MaxInt, kHi: -1,
		superior: -inf, inferior: inf, huMax: -inf}
}

// add accumulates run r of slice k.
func (s *seg) addRun(st *runStats, k int, r run, withHU bool, midX float64) {
	n := int(r.i1 - r.i0)
	st.n += int64(n)
	st.cc += float64(n) * s.voxelCC(k)
	a := s.point(int(r.i0), int(r.j), k)
	b := s.point(int(r.i1-1), int(r.j), k)
	st.sum = st.sum.Add(a.Add(b).Scale(float64(n) / 2))
	for c := range 3 {
		st.lo[c] = math.Min(st.lo[c], math.Min(a[c], b[c]))
		st.hi[c] = math.Max(st.hi[c], math.Max(a[c], b[c]))
	}
	st.kLo, st.kHi = min(st.kLo, k), max(st.kHi, k)
	st.superior = math.Max(st.superior, math.Max(a[2], b[2]))
	st.inferior = math.Min(st.inferior, math.Min(a[2], b[2]))
	if withHU {
		hu := s.hu(k)[int(r.j)*s.nx:]
		for i := r.i0; i < r.i1; i++ {
			v := hu[i]
			st.huSum += v
			st.huMax = math.Max(st.huMax, v)
			if v < GasHU {
				st.below++
			}
		}
	}
	st.nLeft += int64(countAbove(a[0], s.di[0], n, midX))
}

// countAbove counts i in [0, n) with x0 + i·dx > mid.
func countAbove(x0, dx float64, n int, mid float64) int {
	switch {
	case dx == 0:
		if x0 > mid {
			return n
		}
		return 0
	case dx > 0:
		// x0 + i·dx > mid  <=>  i > (mid-x0)/dx
		first := int(math.Floor((mid-x0)/dx)) + 1
		return max(0, n-max(0, first))
	default:
		// i < (mid-x0)/dx
		last := int(math.Ceil((mid-x0)/dx)) - 1
		return max(0, min(n-1, last)+1)
	}
}

// componentStats gathers runStats for every component of v.
func (s *seg) componentStats(v *volumeRuns, withHU bool) []*runStats {
	st := make([]*runStats, v.ncomp)
	for c := range st {
		st[c] = newRunStats()
	}
	for k := range s.nz {
		v.each(k, func(r run, c int) { s.addRun(st[c], k, r, withHU, s.midX) })
	}
	return st
}

// keepComponents clears bit on the voxels of every component keep rejects.
func (s *seg) keepComponents(ctx context.Context, v *volumeRuns, bit uint8, keep func(c int) bool) error {
	return forSlices(ctx, s.nz, s.workers, func(k, _ int) {
		sl := s.slice(k)
		v.each(k, func(r run, c int) {
			if keep(c) {
				return
			}
			row := sl[int(r.j)*s.nx:]
			for i := r.i0; i < r.i1; i++ {
				row[i] &^= bit
			}
		})
	})
}
