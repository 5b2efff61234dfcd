package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// TestCapsuleSpan checks the analytic line intersection against the point test.
func TestCapsuleSpan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(s float64) float64 { return (rng.Float64()*2 - 1) * s }
	for n := 0; n < 300; n++ {
		c := capsule{a: vec3{rnd(20), rnd(20), rnd(20)}, b: vec3{rnd(20), rnd(20), rnd(20)}, r: 1 + rng.Float64()*8}
		switch n % 4 {
		case 1:
			c.b = vec3{c.a[0] + rnd(20), c.a[1], c.a[2]} // along x
		case 2:
			c.b = c.a // a ball
		}
		y, z := rnd(25), rnd(25)
		lo, hi := c.span(y, z)
		for x := -50.0; x <= 50; x += 0.05 {
			in := c.contains(vec3{x, y, z})
			got := x > lo && x < hi
			if in != got && math.Min(math.Abs(x-lo), math.Abs(x-hi)) > 1e-6 {
				t.Fatalf("capsule %+v, line y=%v z=%v: x=%v inside %v, span (%v, %v)", c, y, z, x, in, lo, hi)
			}
		}
	}
}

// TestSegmentationShapesDoNotOverlap samples the phantom every 1.5 mm and requires the airways
// to touch nothing but the lungs, and the ribs and sternum to lie inside the body and apart
// from every organ, so that the new shapes change no contoured organ except the bronchi's ends
// inside the lungs.
func TestSegmentationShapesDoNotOverlap(t *testing.T) {
	const step = 1.5
	airInLung := 0
	for z := -140.0; z <= 180; z += step {
		air, bone := capsulesAt(airwayCapsules, z), capsulesAt(boneCapsules, z)
		if len(air)+len(bone) == 0 {
			continue
		}
		sh := shapesAt(z, tumour{}, false)
		for y := -125.0; y <= 125; y += step {
			sp := sh.spans(y)
			for x := -175.0; x <= 175; x += step {
				inAir, inBone := anyHas(sp.airways, x), anyHas(sp.ribs, x)
				if !inAir && !inBone {
					continue
				}
				p := vec3{x, y, z}
				if !sp.body.has(x) {
					t.Fatalf("%v: airway %v, bone %v outside the body", p, inAir, inBone)
				}
				if inAir && inBone {
					t.Fatalf("%v: airway and bone overlap", p)
				}
				organs := map[string]bool{"heart": sp.heart.has(x), "cord": sp.cord.has(x), "esophagus": sp.esoph.has(x)}
				if inBone {
					organs["lung"] = sp.lungL.has(x) || sp.lungR.has(x)
				} else {
					organs["spine"] = sp.spine.has(x)
					if sp.lungL.has(x) || sp.lungR.has(x) {
						airInLung++
					}
				}
				for name, in := range organs {
					if in {
						t.Fatalf("%v: airway %v / bone %v overlaps the %s", p, inAir, inBone, name)
					}
				}
			}
		}
	}
	if airInLung == 0 {
		t.Error("the bronchi do not reach the lungs")
	}
	// No tumour reaches an airway: its centre stays within (±8, ±15, ±30) mm of the lung's centre
	// and its GTV radius is at most 18 mm.
	for _, lung := range []Shape{shapeLungL, shapeLungR} {
		for _, dx := range []float64{-8, 8} {
			for _, dy := range []float64{-15, 15} {
				for _, dz := range []float64{-30, 30} {
					c := vec3(lung.CenterMM).add(vec3{dx, dy, dz})
					for _, cp := range airwayCapsules {
						if d := segmentDistance(c, cp); d < 18+cp.r {
							t.Errorf("a tumour at %v may touch an airway (distance %.1f mm)", c, d)
						}
					}
				}
			}
		}
	}
}

// segmentDistance returns the distance from p to the capsule's axis segment.
func segmentDistance(p vec3, c capsule) float64 {
	best := math.Inf(1)
	for i := 0; i <= 1000; i++ {
		q := c.a.add(c.b.sub(c.a).scale(float64(i) / 1000)).sub(p)
		best = math.Min(best, math.Sqrt(q.dot(q)))
	}
	return best
}

// TestPhantomTruthMatchesDICOM reads one CT series per patient position back through
// imageio and requires the truth masks, rasterised on the grid read, to agree with the CT
// numbers voxel by voxel.
func TestPhantomTruthMatchesDICOM(t *testing.T) {
	dir, truth := cohort(t)
	if len(truth.Segmentation) != len(SegmentationTruthNames()) {
		t.Fatalf("truth.json lists %d segmentation structures", len(truth.Segmentation))
	}
	for _, pos := range positions {
		t.Run(pos, func(t *testing.T) {
			var files []string
			for _, p := range truth.Patients {
				if p.PatientPosition != pos || len(p.Courses) == 0 || p.Courses[0].CTSeriesUID == "" {
					continue
				}
				for _, f := range filesWhere(p, func(f FileTruth) bool { return f.Modality == "CT" && f.Category == CategoryPlaced }) {
					h, err := dicomio.ReadHeader(dicomPath(dir, f))
					if err != nil {
						t.Fatal(err)
					}
					if h.String(dicomio.TagSeriesInstanceUID) == p.Courses[0].CTSeriesUID {
						files = append(files, dicomPath(dir, f))
					}
				}
				break
			}
			im, err := imageio.ReadDICOMSeries(files)
			if err != nil {
				t.Fatal(err)
			}
			checkTruthAgainstCT(t, im, pos, testOptions.NoiseHU*6, true)
		})
	}
}

// TestPhantomCT checks the in-memory phantom: its grid is the one a DICOM series of the same
// geometry reads as, its truth agrees with its CT numbers, and the truth holds every structure.
func TestPhantomCT(t *testing.T) {
	for _, pos := range positions {
		t.Run(pos, func(t *testing.T) {
			im, err := PhantomCT(PhantomOptions{Position: pos, Matrix: 96, Slices: 64, SliceMM: 5, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			g := im.Grid
			row, col := orientation(pos)
			if g.Axes[0] != grid.Vec(row) || g.Axes[1] != grid.Vec(col) || g.Axes[2] != grid.Vec(cross(row, col)) {
				t.Fatalf("axes %v", g.Axes)
			}
			if d := g.Point(0, 0, 1).Sub(g.Point(0, 0, 0)); math.Abs(d.Norm()-5) > 1e-9 {
				t.Fatalf("slice step %v", d)
			}
			masks := checkTruthAgainstCT(t, im, pos, 0, true)
			for _, name := range SegmentationTruthNames() {
				n := 0
				for _, v := range masks[name].Data {
					if v == 1 {
						n++
					}
				}
				if n < 50 {
					t.Errorf("%s: %d voxels", name, n)
				}
			}
		})
	}
	if _, err := PhantomCT(PhantomOptions{Position: "XYZ"}); err == nil {
		t.Error("unknown position accepted")
	}
}

// checkTruthAgainstCT requires every truth voxel to carry its material's CT number (within
// tol); tumour voxels are allowed inside the lungs when withTumour.
func checkTruthAgainstCT(t *testing.T, im *imageio.Image, pos string, tol float64, withTumour bool) map[string]*imageio.Image {
	t.Helper()
	masks, err := PhantomTruth(im.Grid, pos)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float64{
		TruthLungLeft: {huLung}, TruthLungRight: {huLung}, TruthAirways: {huAir}, TruthBones: {huBone, huRibBone}, TruthCouch: {huCouch},
	}
	if withTumour {
		want[TruthLungLeft] = append(want[TruthLungLeft], huTumour)
		want[TruthLungRight] = append(want[TruthLungRight], huTumour)
	}
	for name, hus := range want {
		for i, v := range masks[name].Data {
			if v != 1 {
				continue
			}
			if !slices.ContainsFunc(hus, func(h float64) bool { return math.Abs(im.Data[i]-h) <= tol }) {
				t.Fatalf("%s voxel %d has %v HU, want one of %v", name, i, im.Data[i], hus)
			}
		}
	}
	for i, v := range masks[TruthBody].Data {
		outside := masks[TruthCouch].Data[i] == 0 && v == 0
		if outside != (math.Abs(im.Data[i]-huAir) <= tol && masks[TruthAirways].Data[i] == 0) {
			t.Fatalf("voxel %d: body %v, couch %v, %v HU", i, v, masks[TruthCouch].Data[i], im.Data[i])
		}
	}
	return masks
}
