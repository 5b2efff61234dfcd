package qc

import (
	"math"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

func poly(xy ...float64) []pt2 {
	out := make([]pt2, len(xy)/2)
	for i := range out {
		out[i] = pt2{xy[2*i], xy[2*i+1]}
	}
	return out
}

func circle(n int, r float64) []pt2 {
	out := make([]pt2, n)
	for i := range out {
		a := 2 * math.Pi * float64(i) / float64(n)
		out[i] = pt2{r * math.Cos(a), r * math.Sin(a)}
	}
	return out
}

func TestSelfIntersect(t *testing.T) {
	big := circle(5000, 100)
	bigCross := append([]pt2(nil), big...)
	bigCross[10], bigCross[2500] = bigCross[2500], bigCross[10]
	for _, tc := range []struct {
		name               string
		p                  []pt2
		crossing, touching bool
	}{
		{"triangle", poly(0, 0, 10, 0, 0, 10), false, false},
		{"square", poly(0, 0, 10, 0, 10, 10, 0, 10), false, false},
		{"concave", poly(0, 0, 10, 0, 10, 10, 5, 2, 0, 10), false, false},
		{"bow-tie", poly(0, 0, 10, 10, 10, 0, 0, 10), true, false},
		{"figure eight touching at a vertex", poly(0, 0, 5, 5, 10, 0, 10, 10, 5, 5, 0, 10), false, true},
		{"vertex on an edge", poly(0, 0, 10, 0, 10, 10, 5, 0, 0, 10), false, true},
		{"spike", poly(0, 0, 10, 0, 15, 0, 10, 0, 10, 10, 0, 10), false, true},
		{"keyhole", poly(0, 0, 10, 0, 10, 4, 6, 4, 6, 6, 4, 6, 4, 4, 10, 4, 10, 10, 0, 10), false, true},
		{"collinear overlap", poly(0, 0, 10, 0, 10, 5, 2, 5, 2, 0, 8, 0, 8, -5, 0, -5), false, true},
		{"big circle", big, false, false},
		{"big circle with a crossing", bigCross, true, false},
	} {
		got := selfIntersect(dedupe(tc.p, 1e-9), 1<<30)
		if got.crossing != tc.crossing || got.touching != tc.touching || !got.complete {
			t.Errorf("%s: %+v, want crossing %v touching %v", tc.name, got, tc.crossing, tc.touching)
		}
	}
	// The sweep keeps the pair tests near linear for a convex contour.
	if got := selfIntersect(big, 1<<30); got.pairs > 20*len(big) {
		t.Errorf("big circle: %d pair tests", got.pairs)
	}
	// The cap stops the search and says so (a star: every edge passes near the centre, so
	// all bounding boxes overlap).
	star := circle(200, 10)
	for i := 1; i < len(star); i += 2 {
		star[i] = pt2{star[i].x / 50, star[i].y / 50}
	}
	if got := selfIntersect(star, 1<<30); got.crossing || !got.complete {
		t.Errorf("star: %+v", got)
	}
	if got := selfIntersect(star, 5); got.complete {
		t.Errorf("cap of 5 pairs not reported: %+v", got)
	}
}

func TestProjectKeepsIntersections(t *testing.T) {
	// A bow-tie on a sagittal plane (x constant) is still a bow-tie after projection.
	pts := []grid.Vec{{5, 0, 0}, {5, 10, 10}, {5, 10, 0}, {5, 0, 10}}
	if got := selfIntersect(project(pts), 100); !got.crossing {
		t.Errorf("sagittal bow-tie not found: %+v", got)
	}
	if got := dedupe(poly(0, 0, 0, 0, 1, 0, 1, 1, 0, 0), 1e-9); len(got) != 3 {
		t.Errorf("dedupe: %v", got)
	}
}

func TestIsTarget(t *testing.T) {
	for _, tc := range []struct {
		name, kind string
		want       bool
	}{
		{"PTV", "", true}, {"ptv_60", "", true}, {"PTV1", "", true}, {"CTVp", "", true}, {"GTVn 2", "", true},
		{"ITV", "", true}, {"1_PTV", "", true}, {"Tumour", "PTV", true}, {"PTV 1 AND 2", "", true},
		{"zPTV", "", false}, {"PTV_ring", "", false}, {"Ring PTV", "", false}, {"BRAIN - PTV", "", false},
		{"Body-PTV", "ORGAN", false}, {"Lung minus GTV", "", false}, {"PTV_opt", "PTV", false}, {"HEART", "ORGAN", false},
		{"SPINAL_CORD", "ORGAN", false}, {"External", "EXTERNAL", false}, {"PTVshell", "", true},
	} {
		if got := isTarget(tc.name, tc.kind); got != tc.want {
			t.Errorf("isTarget(%q, %q) = %v", tc.name, tc.kind, got)
		}
	}
	if !couchName.MatchString("CouchSurface") || !couchName.MatchString("Table top") || couchName.MatchString("BODY") {
		t.Error("couch pattern")
	}
}

func TestNormName(t *testing.T) {
	if normName("Doe^John^^ ") != normName("DOE^JOHN") || normName("DOE^JOHN") == normName("DOE^JANE") {
		t.Error("normName")
	}
}

func TestWorst(t *testing.T) {
	if Worst() != StatusPass || Worst(StatusInfo, StatusPass) != StatusInfo || Worst(StatusWarning, StatusFail, StatusInfo) != StatusFail {
		t.Error("Worst")
	}
}

// TestTargetCoverage measures a sphere of contours against a dose grid that covers it, one it
// sticks out of by 2 mm on a small cap, and one holding only an octant of it.
func TestTargetCoverage(t *testing.T) {
	const r = 20.0
	roi := &rt.ROIContours{ROI: rt.ROI{Name: "PTV"}}
	for z := -18.0; z <= 18; z += 2 {
		rz := math.Sqrt(r*r - z*z)
		var pts []grid.Vec
		for _, q := range circle(64, rz) {
			pts = append(pts, grid.Vec{q.x, q.y, z})
		}
		roi.Contours = append(roi.Contours, rt.Contour{Type: rt.ContourClosedPlanar, Points: pts})
	}
	doseGrid := func(lo, hi float64) *grid.Grid {
		n := int((hi-lo)/2) + 1
		g, err := grid.FromDICOM([]float64{lo, lo, lo}, []float64{1, 0, 0, 0, 1, 0}, []float64{2, 2}, n, n, offsets(n, 2))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	th := DefaultThresholds()
	full := targetCoverage(roi, doseGrid(-30, 30), th)
	if full.Status != StatusPass || full.InsideFraction != 1 || full.MaxOutsideMM != 0 || full.Method != "volume" {
		t.Errorf("covered: %+v", full)
	}
	if want := 4.0 / 3 * math.Pi * r * r * r / 1000; math.Abs(full.VolumeCC-want) > 0.1*want {
		t.Errorf("volume %v cc, sphere %v cc", full.VolumeCC, want)
	}
	// The grid ends at x = 18: the sphere sticks out 2 mm on a cap holding well under 0.5 % of
	// its volume, a WARNING.
	lo := doseGrid(-30, 30)
	shifted, err := grid.FromDICOM([]float64{-48, -30, -30}, []float64{1, 0, 0, 0, 1, 0}, []float64{2, 2}, lo.Size[1], 34, offsets(lo.Size[2], 2))
	if err != nil {
		t.Fatal(err)
	}
	edge := targetCoverage(roi, shifted, th)
	if edge.Status != StatusWarning || edge.MaxOutsideMM < 1.9 || edge.MaxOutsideMM > 2.1 || edge.OutsideFraction <= 0 || edge.OutsideFraction > 0.005 {
		t.Errorf("cap outside: %+v", edge)
	}
	half := targetCoverage(roi, doseGrid(0, 40), th)
	if half.Status != StatusFail || math.Abs(half.InsideFraction-0.125) > 0.05 {
		t.Errorf("octant inside: %+v", half)
	}
}

func offsets(n int, step float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i) * step
	}
	return out
}
