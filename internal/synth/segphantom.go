package synth

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// This file gives the phantom what a CT segmenter needs to be tested against: airways (trachea
// and main bronchi, air tubes joining the lungs), ribs and a sternum beside the spine, and
// ground-truth masks made from the same analytic shapes as the CT pixels. None of these shapes
// is contoured in the RTSTRUCT; they only change CT pixels that were soft tissue (and, for the
// bronchi's ends, lung), so the organisation and DVH truth do not depend on them.

// capsule is the set of points closer than r to the segment from a to b.
type capsule struct {
	a, b vec3
	r    float64
}

func capsuleOf(s Shape) capsule {
	return capsule{a: vec3(s.CenterMM), b: vec3(*s.EndMM), r: s.RadiusMM}
}

// zRange returns the z extent of the capsule.
func (c capsule) zRange() (lo, hi float64) {
	return math.Min(c.a[2], c.b[2]) - c.r, math.Max(c.a[2], c.b[2]) + c.r
}

// contains tells whether p lies inside the capsule.
func (c capsule) contains(p vec3) bool {
	d := c.b.sub(c.a)
	t := 0.0
	if l := d.dot(d); l > 0 {
		t = math.Min(1, math.Max(0, p.sub(c.a).dot(d)/l))
	}
	q := p.sub(c.a.add(d.scale(t)))
	return q.dot(q) < c.r*c.r
}

// span returns the x interval (lo < x < hi) of the line (·, y, z) inside the capsule. A capsule
// is convex, so the line meets it in one interval: the hull of the line's intersections with
// the two end balls and with the cylinder between them.
func (c capsule) span(y, z float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	add := func(l, h float64) {
		if l < h {
			lo, hi = math.Min(lo, l), math.Max(hi, h)
		}
	}
	ball := func(p vec3) {
		q := c.r*c.r - (y-p[1])*(y-p[1]) - (z-p[2])*(z-p[2])
		if q > 0 {
			add(p[0]-math.Sqrt(q), p[0]+math.Sqrt(q))
		}
	}
	ball(c.a)
	ball(c.b)
	d := c.b.sub(c.a)
	l := d.dot(d)
	if l > 0 {
		// With u = x - a.x, w = (u, y-a.y, z-a.z): the projection parameter is
		// t = (u·d.x + c0)/l and the squared distance from the axis
		// |w|² - (w·d)²/l = α u² + β u + γ + r², which must stay below r².
		wy, wz := y-c.a[1], z-c.a[2]
		c0 := wy*d[1] + wz*d[2]
		alpha := 1 - d[0]*d[0]/l
		beta := -2 * d[0] * c0 / l
		gamma := wy*wy + wz*wz - c0*c0/l - c.r*c.r
		cl, ch := math.Inf(-1), math.Inf(1)
		if alpha > 1e-12 {
			disc := beta*beta - 4*alpha*gamma
			if disc <= 0 {
				cl, ch = 1, -1
			} else {
				s := math.Sqrt(disc)
				cl, ch = (-beta-s)/(2*alpha), (-beta+s)/(2*alpha)
			}
		} else if gamma >= 0 {
			cl, ch = 1, -1
		}
		// 0 <= t <= 1.
		switch {
		case d[0] > 0:
			cl, ch = math.Max(cl, -c0/d[0]), math.Min(ch, (l-c0)/d[0])
		case d[0] < 0:
			cl, ch = math.Max(cl, (l-c0)/d[0]), math.Min(ch, -c0/d[0])
		case c0 < 0 || c0 > l:
			cl, ch = 1, -1
		}
		add(c.a[0]+cl, c.a[0]+ch)
	}
	if lo > hi {
		return 1, -1
	}
	return lo, hi
}

// capsulesAt returns the capsules that reach the plane z.
func capsulesAt(list []capsule, z float64) []capsule {
	var out []capsule
	for _, c := range list {
		if lo, hi := c.zRange(); z > lo && z < hi {
			out = append(out, c)
		}
	}
	return out
}

// Shape groups of the capsules.
const (
	groupAirways = "airways"
	groupBones   = "bones"
)

// Airways: the trachea runs down the midline, anterior to the oesophagus, and divides at the
// carina (z = 40 mm) into the main bronchi, which end about 15 mm inside each lung, so that the
// airways join both lungs into one air volume as on a real CT.
var (
	carinaMM    = [3]float64{0, 10, 40}
	airwayShape = []Shape{
		{Name: "trachea", Kind: kindCapsule, CenterMM: carinaMM, EndMM: &[3]float64{0, 10, 400}, RadiusMM: 9, HU: huAir, Group: groupAirways},
		{Name: "left_main_bronchus", Kind: kindCapsule, CenterMM: carinaMM, EndMM: &[3]float64{62, -5, 2}, RadiusMM: 6, HU: huAir, Group: groupAirways},
		{Name: "right_main_bronchus", Kind: kindCapsule, CenterMM: carinaMM, EndMM: &[3]float64{-55, -5, 12}, RadiusMM: 7, HU: huAir, Group: groupAirways},
	}
	boneShapes     = ribShapes()
	airwayCapsules = capsules(airwayShape)
	boneCapsules   = capsules(boneShapes)
)

// Rib geometry: ribs follow the ellipse (ribSemiX, ribSemiY) about the body axis, between the
// lungs and the skin, from the spine round the side to the front, dropping ribDropMM on the
// way; each is a chain of capsules. Rib i (from 1) leaves the spine at z = ribTopZ - (i-1)·ribStepZ.
const (
	ribCount    = 9
	ribTopZ     = 100
	ribStepZ    = 22
	ribDropMM   = 30
	ribRadiusMM = 4
	ribSemiX    = 162
	ribSemiY    = 113
	ribTheta0   = 0.3  // angle from posterior where the arc starts
	ribTheta1   = 2.35 // and ends (anterior, before the costal cartilage)
	ribSegments = 7
)

// ribShapes builds the ribs of both sides and the sternum.
func ribShapes() []Shape {
	var out []Shape
	for _, side := range []struct {
		name string
		sign float64
	}{{"l", 1}, {"r", -1}} {
		for i := 1; i <= ribCount; i++ {
			z0 := float64(ribTopZ - (i-1)*ribStepZ)
			pts := []vec3{{side.sign * 16, 84, z0}} // inside the vertebra: ribs join the spine
			for s := 0; s <= ribSegments; s++ {
				f := float64(s) / ribSegments
				th := ribTheta0 + (ribTheta1-ribTheta0)*f
				pts = append(pts, vec3{side.sign * ribSemiX * math.Sin(th), ribSemiY * math.Cos(th), z0 - ribDropMM*f}.rounded(0.01))
			}
			for s := 1; s < len(pts); s++ {
				end := [3]float64(pts[s])
				out = append(out, Shape{Name: fmt.Sprintf("rib_%s%d_%d", side.name, i, s), Kind: kindCapsule, CenterMM: pts[s-1], EndMM: &end,
					RadiusMM: ribRadiusMM, HU: huRibBone, Group: groupBones})
			}
		}
	}
	return append(out, Shape{Name: "sternum", Kind: kindCapsule, CenterMM: [3]float64{0, -107, -45}, EndMM: &[3]float64{0, -107, 95},
		RadiusMM: 6, HU: huRibBone, Group: groupBones})
}

func capsules(shapes []Shape) []capsule {
	out := make([]capsule, len(shapes))
	for i, s := range shapes {
		out[i] = capsuleOf(s)
	}
	return out
}

// Names of the segmentation truth structures (see SegmentationTruth).
const (
	TruthBody      = "body"
	TruthLungLeft  = "lung_left"
	TruthLungRight = "lung_right"
	TruthAirways   = "airways"
	TruthBones     = "bones"
	TruthCouch     = "couch"
)

// segmentationTruth lists how the truth structures are made of the anatomy's shapes.
func segmentationTruth() []SegmentationStructure {
	names := func(shapes []Shape) []string {
		out := make([]string, len(shapes))
		for i, s := range shapes {
			out[i] = s.Name
		}
		return out
	}
	airways := names(airwayShape)
	return []SegmentationStructure{
		{Name: TruthBody, Shapes: []string{shapeBody.Name}, Minus: []string{}},
		{Name: TruthLungLeft, Shapes: []string{shapeLungL.Name}, Minus: airways},
		{Name: TruthLungRight, Shapes: []string{shapeLungR.Name}, Minus: airways},
		{Name: TruthAirways, Shapes: airways, Minus: []string{}},
		{Name: TruthBones, Shapes: append([]string{shapeSpine.Name}, names(boneShapes)...), Minus: []string{shapeCord.Name}},
		{Name: TruthCouch, Shapes: []string{shapeCouch.Name}, Minus: []string{shapeBody.Name}},
	}
}

// truthMaterials maps each truth structure to the materials whose voxels make it up.
var truthMaterials = map[string][]int{
	TruthBody:      {matTissue, matTumour, matAirway, matLungL, matLungR, matHeart, matCord, matSpine, matRib, matEsoph},
	TruthLungLeft:  {matLungL},
	TruthLungRight: {matLungR},
	TruthAirways:   {matAirway},
	TruthBones:     {matSpine, matRib},
	TruthCouch:     {matCouch},
}

// SegmentationTruthNames lists the structures PhantomTruth returns, in a fixed order.
func SegmentationTruthNames() []string {
	return []string{TruthBody, TruthLungLeft, TruthLungRight, TruthAirways, TruthBones, TruthCouch}
}

// PhantomTruth returns the ground-truth masks of the phantom's anatomy on grid g for a patient
// in position pos (HFS, FFS, HFP or FFP; it places the couch): every voxel whose centre the CT
// classification puts in the structure is 1 (PixelType "uint8"). The structures are those of
// Truth.Segmentation: body (the body cylinder: everything inside the skin), lung_left and
// lung_right (each lung's ellipsoid without the airways; a tumour inside a lung counts as lung),
// airways (trachea and main bronchi, including the bronchi's ends inside the lungs), bones (the
// spine without the spinal cord, the ribs and the sternum) and couch. Any grid works (any
// orientation, oblique ones included); the masks equal the CT pixels' materials exactly, because
// both come from the same classification of voxel centres.
func PhantomTruth(g *grid.Grid, pos string) (map[string]*imageio.Image, error) {
	if !slices.Contains(positions, pos) {
		return nil, fmt.Errorf("synth: unknown patient position %q", pos)
	}
	if g == nil || g.Voxels() <= 0 || g.Voxels() > grid.MaxVoxels {
		return nil, fmt.Errorf("synth: invalid grid")
	}
	out := map[string]*imageio.Image{}
	byMat := [numMaterials][]*imageio.Image{}
	for _, name := range SegmentationTruthNames() {
		gc := *g
		gc.SliceOffsets = slices.Clone(g.SliceOffsets)
		im := &imageio.Image{Grid: &gc, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
		out[name] = im
		for _, m := range truthMaterials[name] {
			byMat[m] = append(byMat[m], im)
		}
	}
	classify(g, tumour{}, prone(pos), func(idx, mat int) {
		for _, im := range byMat[mat] {
			im.Data[idx] = 1
		}
	})
	return out, nil
}

// classify calls set with the material of every voxel centre of g (flat index as in
// imageio.Image). Rows along x (axial grids of any position) are classified through their x
// intervals; other grids voxel by voxel.
func classify(g *grid.Grid, t tumour, isProne bool, set func(idx, mat int)) {
	nx, ny, nz := g.Size[0], g.Size[1], g.Size[2]
	ax := g.Axes[0]
	alongX := math.Abs(ax[1]) < 1e-9 && math.Abs(ax[2]) < 1e-9
	var (
		sh     sliceShapes
		cacheZ float64
		cached bool
	)
	shapes := func(z float64) *sliceShapes {
		if !cached || z != cacheZ {
			sh, cacheZ, cached = shapesAt(z, t, isProne), z, true
			if t.gtvR == 0 {
				sh.tumour = section{}
			}
		}
		return &sh
	}
	for k := range nz {
		for j := range ny {
			row := (k*ny + j) * nx
			p0 := vec3(g.Point(0, j, k))
			if alongX {
				sp := shapes(p0[2]).spans(p0[1])
				step := ax[0] * g.Spacing[0]
				for i := range nx {
					set(row+i, sp.material(p0[0]+float64(i)*step))
				}
				continue
			}
			for i := range nx {
				p := vec3(g.Point(i, j, k))
				sp := shapes(p[2]).spans(p[1])
				set(row+i, sp.material(p[0]))
			}
		}
	}
}

// PhantomOptions choose an in-memory CT of the phantom (see PhantomCT). Zero values mean the
// defaults.
type PhantomOptions struct {
	// Position is HFS (default), FFS, HFP or FFP.
	Position string
	// Matrix is the number of rows and columns (default 128), Slices the number of slices
	// (default 60) and SliceMM their spacing (default 5).
	Matrix  int
	Slices  int
	SliceMM float64
	// FOVMM is the field of view (default 500 mm) and CentreMM its centre (x, y and the z of the
	// middle slice).
	FOVMM    float64
	CentreMM [3]float64
	// NoiseHU is the standard deviation of Gaussian noise (default none), seeded by Seed.
	NoiseHU float64
	// Seed also places the tumour; NoTumour leaves it out.
	Seed     int64
	NoTumour bool
}

// PhantomCT renders the phantom as a CT volume in HU, on the grid imageio.ReadDICOMSeries
// would return for the series Generate writes with the same geometry: axes row direction,
// column direction and their cross product (the slice normal, along which k increases), so
// the volume's index directions depend on the position exactly as a read DICOM series' do.
// It needs no files, which makes large phantoms (512×512×150) cheap for benchmarks.
func PhantomCT(o PhantomOptions) (*imageio.Image, error) {
	if o.Position == "" {
		o.Position = "HFS"
	}
	if !slices.Contains(positions, o.Position) {
		return nil, fmt.Errorf("synth: unknown patient position %q", o.Position)
	}
	if o.Matrix == 0 {
		o.Matrix = 128
	}
	if o.Slices == 0 {
		o.Slices = 60
	}
	if o.SliceMM == 0 {
		o.SliceMM = 5
	}
	if o.FOVMM == 0 {
		o.FOVMM = 500
	}
	if o.Matrix < 16 || o.Matrix > 1024 || o.Slices < 1 || o.Slices > 2000 || o.SliceMM <= 0 || o.FOVMM <= 0 || o.NoiseHU < 0 {
		return nil, fmt.Errorf("synth: invalid phantom options %+v", o)
	}
	ctg := newCTGrid(o.Position, o.Matrix, o.Slices, o.SliceMM, o.FOVMM, vec3(o.CentreMM))
	g := ctg.imageGrid()
	t := tumour{}
	if !o.NoTumour {
		h := fnv.New64a()
		fmt.Fprintf(h, "phantom/%d", o.Seed)
		t = newTumour(rand.New(rand.NewPCG(uint64(o.Seed), h.Sum64())))
	}
	im := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "int16"}
	classify(g, t, prone(o.Position), func(idx, mat int) { im.Data[idx] = materialHU[mat] })
	if o.NoiseHU > 0 {
		nxy := g.Size[0] * g.Size[1]
		for k := range g.Size[2] {
			rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(k)+1))
			for i := k * nxy; i < (k+1)*nxy; i++ {
				im.Data[i] = math.Round(math.Min(math.Max(im.Data[i]+rng.NormFloat64()*o.NoiseHU, -1024), 3071))
			}
		}
	}
	return im, nil
}

// imageGrid returns the volume grid of the series: slices sorted along the normal.
func (g *ctGrid) imageGrid() *grid.Grid {
	normal := cross(g.row, g.col)
	zs := slices.Clone(g.z)
	if normal[2] > 0 {
		slices.Sort(zs)
	} else {
		slices.Sort(zs)
		slices.Reverse(zs)
	}
	first := vec3{g.corner[0], g.corner[1], zs[0]}
	sp := g.thickness
	if len(zs) > 1 {
		sp = math.Abs(zs[len(zs)-1]-zs[0]) / float64(len(zs)-1)
	}
	return &grid.Grid{
		Origin:  grid.Vec(first),
		Axes:    [3]grid.Vec{grid.Vec(g.row), grid.Vec(g.col), grid.Vec(normal)},
		Spacing: [3]float64{g.spacing, g.spacing, sp},
		Size:    [3]int{g.size, g.size, len(zs)},
	}
}
