package structures

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// TestIBSICTPhantomGTV rasterises ROI GTV-1 of the IBSI 1 CT phantom on its DICOM series and
// compares it, voxel by voxel at the same physical points, with the IBSI NIfTI mask made from
// the same RTSTRUCT.
func TestIBSICTPhantomGTV(t *testing.T) {
	dir := testutil.SharedTestdata(t, "radiomics/ibsi1")
	ct, _, err := imageio.ReadDICOMSeriesDir(filepath.Join(dir, "ct_phantom/dicom/image"))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rt.ReadStructureSetFile(filepath.Join(dir, "ct_phantom/dicom/mask/DCM_RS_00060.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	var gtv *rt.ROIContours
	for _, r := range ss.ROIs {
		if r.Name == "GTV-1" {
			gtv = r
		}
	}
	if gtv == nil {
		t.Fatal("no ROI GTV-1")
	}
	mask, warnings, err := Rasterize(gtv, ct)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if mask.PixelType != "uint8" || !grid.SameGeometry(mask.Grid, ct.Grid, 0) {
		t.Fatalf("mask type %s grid %+v", mask.PixelType, mask.Grid)
	}
	ref, err := imageio.ReadNIfTI(filepath.Join(dir, "ct_phantom/nifti/mask/mask.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	// Pair the voxels through their physical positions, without resampling.
	g, rg := mask.Grid, ref.Grid
	var ours, theirs, both, onlyOurs, onlyTheirs int
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				fi, fj, fk := rg.ContinuousIndex(g.Point(i, j, k))
				ri, rj, rk := math.Round(fi), math.Round(fj), math.Round(fk)
				if math.Abs(fi-ri)+math.Abs(fj-rj)+math.Abs(fk-rk) > 1e-3 {
					t.Fatalf("voxel (%d,%d,%d) is not a voxel centre of the NIfTI mask", i, j, k)
				}
				a := mask.Data[mask.Index(i, j, k)] != 0
				b := ref.Data[ref.Index(int(ri), int(rj), int(rk))] != 0
				switch {
				case a && b:
					both++
				case a:
					onlyOurs++
				case b:
					onlyTheirs++
				}
			}
		}
	}
	ours, theirs = both+onlyOurs, both+onlyTheirs
	dice := 2 * float64(both) / float64(ours+theirs)
	if d := Dice(mask, ref); math.Abs(d-dice) > 1e-12 {
		t.Fatalf("Dice() %v, voxel count %v", d, dice)
	}
	vOurs, vTheirs := MaskVolume(mask), MaskVolume(ref)
	t.Logf("GTV-1: Dice %.4f; %d voxels (%.3f cm³) rasterised vs %d (%.3f cm³) IBSI, difference %+.2f%%; %d only here, %d only in IBSI",
		dice, ours, vOurs, theirs, vTheirs, 100*(vOurs-vTheirs)/vTheirs, onlyOurs, onlyTheirs)
	if dice < 0.97 {
		t.Fatalf("Dice %.4f < 0.97", dice)
	}
	if math.Abs(vOurs-vTheirs) > 0.03*vTheirs {
		t.Fatalf("volume %.3f cm³ vs %.3f cm³", vOurs, vTheirs)
	}
}

func TestIBSIDigitalPhantomVolume(t *testing.T) {
	dir := testutil.SharedTestdata(t, "radiomics/ibsi1")
	mask, err := imageio.ReadNIfTI(filepath.Join(dir, "digital_phantom/nifti/mask/mask.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if v := MaskVolume(mask); math.Abs(v-74*8.0/1000) > 1e-12 {
		t.Fatalf("volume %v cm³, want 0.592", v)
	}
	if d := Dice(mask, mask); d != 1 {
		t.Fatalf("self Dice %v", d)
	}
}

// orientedGrid returns a grid with the axes of a DICOM orientation (rows along iop[0:3],
// columns along iop[3:6], slices along their cross product) whose voxel centres are
// lo + (i·sp[0], j·sp[1], k·sp[2]) for world-axis-aligned orientations: the same physical
// points in every orientation, indexed differently.
func orientedGrid(iop [6]float64, lo grid.Vec, sp [3]float64, n [3]int) *grid.Grid {
	row, col := grid.Vec{iop[0], iop[1], iop[2]}, grid.Vec{iop[3], iop[4], iop[5]}
	g := &grid.Grid{Axes: [3]grid.Vec{row, col, row.Cross(col)}, Size: n}
	for a := 0; a < 3; a++ {
		for w := 0; w < 3; w++ {
			switch g.Axes[a][w] {
			case 1:
				g.Origin[w], g.Spacing[a] = lo[w], sp[w]
			case -1:
				g.Origin[w], g.Spacing[a] = lo[w]+float64(n[w]-1)*sp[w], sp[w]
			}
		}
		g.Size[a] = 0
		for w := 0; w < 3; w++ {
			if g.Axes[a][w] != 0 {
				g.Size[a] = n[w]
			}
		}
	}
	return g
}

func circle(cx, cy, r, z float64, n int) []grid.Vec {
	pts := make([]grid.Vec, n)
	for i := range pts {
		a := 2 * math.Pi * float64(i) / float64(n)
		pts[i] = grid.Vec{cx + r*math.Cos(a), cy + r*math.Sin(a), z}
	}
	return pts
}

func rect(x0, y0, x1, y1, z float64) []grid.Vec {
	return []grid.Vec{{x0, y0, z}, {x1, y0, z}, {x1, y1, z}, {x0, y1, z}}
}

func closed(pts ...[]grid.Vec) []rt.Contour {
	var out []rt.Contour
	for _, p := range pts {
		out = append(out, rt.Contour{Type: rt.ContourClosedPlanar, Points: p})
	}
	return out
}

// polygonArea returns the area of the exact polygon (shoelace) in the xy plane.
func polygonArea(pts []grid.Vec) float64 {
	s := 0.0
	for i := range pts {
		a, b := pts[i], pts[(i+1)%len(pts)]
		s += a[0]*b[1] - b[0]*a[1]
	}
	return math.Abs(s) / 2
}

func perimeter(pts []grid.Vec) float64 {
	s := 0.0
	for i := range pts {
		s += pts[(i+1)%len(pts)].Sub(pts[i]).Norm()
	}
	return s
}

// TestRasterizeOrientations rasterises analytic shapes on grids in HFS, FFS, HFP and FFP
// orientation that sample the same physical points: the masks must select the same points, and
// the area on each slice must match the analytic one within one voxel ring (also on an oblique
// grid).
func TestRasterizeOrientations(t *testing.T) {
	lo, sp, n := grid.Vec{-16, -18, 10}, [3]float64{0.8, 1.1, 2.5}, [3]int{40, 34, 6}
	z := func(k int) float64 { return lo[2] + float64(k)*sp[2] }
	square := rect(-6, -9.4, 8.6, 5.2, 0)
	outer, hole, island := circle(0.7, 1.1, 9, 0, 400), circle(0.7, 1.1, 4, 0, 400), circle(0.7, 1.1, 1.5, 0, 400)
	at := func(pts []grid.Vec, k int) []grid.Vec {
		out := make([]grid.Vec, len(pts))
		for i, p := range pts {
			out[i] = grid.Vec{p[0], p[1], z(k)}
		}
		return out
	}
	// Edges exactly through voxel centres: 11 × 11 centres, whatever the orientation.
	aligned := rect(lo[0]+10*sp[0], lo[1]+5*sp[1], lo[0]+20*sp[0], lo[1]+15*sp[1], 0)
	rois := []struct {
		name   string
		roi    *rt.ROIContours
		slices []int
		area   float64 // per slice, mm²
		ring   float64 // allowed area error, mm²
		count  int     // exact voxels per slice when > 0
	}{
		{name: "square", roi: &rt.ROIContours{ROI: rt.ROI{Name: "square"}, Contours: closed(at(square, 1), at(square, 2))},
			slices: []int{1, 2}, area: polygonArea(square), ring: perimeter(square) * 1.1},
		{name: "annulus with island", roi: &rt.ROIContours{ROI: rt.ROI{Name: "annulus"},
			// Contours in any order: the hole before the outline, on slices given backwards.
			Contours: closed(at(hole, 4), at(outer, 4), at(island, 4), at(outer, 3), at(hole, 3), at(island, 3))},
			slices: []int{3, 4}, area: polygonArea(outer) - polygonArea(hole) + polygonArea(island),
			ring: (perimeter(outer) + perimeter(hole) + perimeter(island)) * 1.1},
		{name: "aligned", roi: &rt.ROIContours{ROI: rt.ROI{Name: "aligned"}, Contours: closed(at(aligned, 0), at(aligned, 5))},
			slices: []int{0, 5}, count: 121},
	}
	orientations := map[string][6]float64{
		"HFS": {1, 0, 0, 0, 1, 0}, "FFS": {-1, 0, 0, 0, 1, 0}, "HFP": {-1, 0, 0, 0, -1, 0}, "FFP": {1, 0, 0, 0, -1, 0},
		// Rows along y, columns along x: a transposed in-plane order.
		"transposed": {0, 1, 0, 1, 0, 0},
	}
	for _, r := range rois {
		hfs := orientedGrid(orientations["HFS"], lo, sp, n)
		refMask, warnings, err := Rasterize(r.roi, &imageio.Image{Grid: hfs})
		if err != nil || len(warnings) != 0 {
			t.Fatalf("%s: %v %q", r.name, err, warnings)
		}
		for name, iop := range orientations {
			g := orientedGrid(iop, lo, sp, n)
			mask, warnings, err := Rasterize(r.roi, &imageio.Image{Grid: g})
			if err != nil || len(warnings) != 0 {
				t.Fatalf("%s %s: %v %q", r.name, name, err, warnings)
			}
			if d := Dice(mask, refMask); d != 1 || MaskVolume(mask) != MaskVolume(refMask) {
				t.Fatalf("%s %s: Dice with HFS %v, volumes %v %v", r.name, name, d, MaskVolume(mask), MaskVolume(refMask))
			}
			perSlice := map[float64]int{}
			for k := 0; k < g.Size[2]; k++ {
				for j := 0; j < g.Size[1]; j++ {
					for i := 0; i < g.Size[0]; i++ {
						if v := mask.Data[mask.Index(i, j, k)]; v == 1 {
							perSlice[math.Round(g.Point(i, j, k)[2]*1e6)/1e6]++
						} else if v != 0 {
							t.Fatalf("mask value %v", v)
						}
					}
				}
			}
			if len(perSlice) != len(r.slices) {
				t.Fatalf("%s %s: voxels on slices %v, want z of slices %v", r.name, name, perSlice, r.slices)
			}
			for _, k := range r.slices {
				cnt := perSlice[z(k)]
				area := float64(cnt) * sp[0] * sp[1]
				if r.count > 0 && cnt != r.count {
					t.Fatalf("%s %s slice %d: %d voxels, want %d", r.name, name, k, cnt, r.count)
				}
				if r.count == 0 && math.Abs(area-r.area) > r.ring {
					t.Fatalf("%s %s slice %d: area %.2f mm², want %.2f ± %.2f", r.name, name, k, area, r.area, r.ring)
				}
				if name == "HFS" && r.count == 0 {
					t.Logf("%s slice %d: %d voxels, %.2f mm² (analytic %.2f)", r.name, k, cnt, area, r.area)
				}
			}
		}
	}

	// Oblique: rotated 30° in-plane and flipped slices, centred on the shapes.
	c, s := math.Cos(math.Pi/6), math.Sin(math.Pi/6)
	og := &grid.Grid{Axes: [3]grid.Vec{{c, s, 0}, {s, -c, 0}, {0, 0, -1}}, Spacing: [3]float64{0.7, 0.9, 2.5}, Size: [3]int{50, 44, 6}}
	og.Origin = grid.Vec{0.7, 1.1, z(5)}.Sub(og.Axes[0].Scale(24.5 * 0.7)).Sub(og.Axes[1].Scale(21.5 * 0.9))
	for _, r := range rois[:2] {
		mask, warnings, err := Rasterize(r.roi, &imageio.Image{Grid: og})
		if err != nil || len(warnings) != 0 {
			t.Fatalf("oblique %s: %v %q", r.name, err, warnings)
		}
		for _, k := range r.slices {
			ko := 5 - k // slice k of the HFS grid
			cnt := 0
			for _, v := range mask.Data[ko*50*44 : (ko+1)*50*44] {
				cnt += int(v)
			}
			area := float64(cnt) * 0.7 * 0.9
			if math.Abs(area-r.area) > r.ring/1.1*0.9 {
				t.Fatalf("oblique %s slice %d: area %.2f mm², want %.2f", r.name, k, area, r.area)
			}
			t.Logf("oblique %s slice %d: %.2f mm² (analytic %.2f)", r.name, k, area, r.area)
		}
	}
}

// TestRasterizeWarnings checks that contours off the image slices, of other types or partly
// outside the image are reported, and that the remaining ones are still rasterised.
func TestRasterizeWarnings(t *testing.T) {
	lo, sp, n := grid.Vec{-16, -18, 10}, [3]float64{0.8, 1.1, 2.5}, [3]int{40, 34, 6}
	g := orientedGrid([6]float64{-1, 0, 0, 0, -1, 0}, lo, sp, n) // HFP
	zk := func(k float64) float64 { return lo[2] + k*sp[2] }
	tilted := []grid.Vec{{-5, -5, zk(1)}, {5, -5, zk(1)}, {5, 5, zk(2.2)}, {-5, 5, zk(2.2)}}
	cases := []struct {
		name     string
		contours []rt.Contour
		want     []string // substrings, one per warning
		slices   []int    // HFS-order slices (z index) with voxels
	}{
		{name: "on slice", contours: closed(rect(-5, -5, 5, 5, zk(2))), slices: []int{2}},
		{name: "halfway between slices", contours: closed(rect(-5, -5, 5, 5, zk(2.5)), rect(-5, -5, 5, 5, zk(1))),
			want: []string{"contour 1 (first point [-5 -5 16.25] mm) lies at slice indices 2.500 to 2.500, not within half a slice"}, slices: []int{1}},
		{name: "below the image", contours: closed(rect(-5, -5, 5, 5, zk(-2))), want: []string{"outside the image (slices 0 to 5)"}},
		{name: "above the image", contours: closed(rect(-5, -5, 5, 5, zk(5.6))), want: []string{"outside the image"}},
		{name: "just inside the last slice", contours: closed(rect(-5, -5, 5, 5, zk(5.4))),
			want: []string{"1 contour(s) lie up to 0.40 slice off"}, slices: []int{5}},
		{name: "tilted", contours: closed(tilted), want: []string{"not within half a slice"}},
		{name: "other types", contours: append(closed(rect(-5, -5, 5, 5, zk(3))),
			rt.Contour{Type: rt.ContourPoint, Points: []grid.Vec{{0, 0, zk(3)}}},
			rt.Contour{Type: rt.ContourOpenPlanar, Points: rect(-5, -5, 5, 5, zk(3))},
			rt.Contour{Type: rt.ContourClosedPlanar, Points: []grid.Vec{{0, 0, zk(3)}, {1, 1, zk(3)}}}),
			want:   []string{"contour 4 has 2 point(s)", `1 contour(s) of type "OPEN_PLANAR" ignored`, `1 contour(s) of type "POINT" ignored`},
			slices: []int{3}},
		{name: "partly outside in-plane", contours: closed(rect(0, 0, 40, 40, zk(4))), want: []string{"contour 1 (slice 4) extends beyond the image in-plane; clipped"},
			slices: []int{4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mask, warnings, err := Rasterize(&rt.ROIContours{ROI: rt.ROI{Name: "R"}, Contours: c.contours}, &imageio.Image{Grid: g})
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != len(c.want) {
				t.Fatalf("warnings %q, want %q", warnings, c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(warnings[i], w) || !strings.HasPrefix(warnings[i], `ROI "R": `) {
					t.Fatalf("warning %q, want %q", warnings[i], w)
				}
			}
			var got []int
			for k := 0; k < g.Size[2]; k++ {
				for _, v := range mask.Data[k*40*34 : (k+1)*40*34] {
					if v != 0 {
						got = append(got, int(math.Round((g.Point(0, 0, k)[2]-lo[2])/sp[2])))
						break
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.slices) && !(len(got) == 0 && len(c.slices) == 0) {
				t.Fatalf("voxels on slices %v, want %v", got, c.slices)
			}
		})
	}
	if _, _, err := Rasterize(&rt.ROIContours{}, nil); err == nil {
		t.Fatal("nil reference: no error")
	}
}

func TestMaskVolumeAndDice(t *testing.T) {
	g := &grid.Grid{Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: [3]float64{2, 5, 10}, Size: [3]int{2, 2, 3}}
	a := &imageio.Image{Grid: g, Data: []float64{1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, math.NaN()}}
	if v := MaskVolume(a); math.Abs(v-4*0.1) > 1e-12 {
		t.Fatalf("volume %v", v)
	}
	uneven := *g
	uneven.SliceOffsets = []float64{0, 10, 30}
	if v := MaskVolume(&imageio.Image{Grid: &uneven, Data: a.Data}); math.Abs(v-(0.1*10+0.2*15+0.1*20)/10) > 1e-12 {
		t.Fatalf("uneven volume %v", v)
	}
	b := &imageio.Image{Grid: g, Data: []float64{1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0}}
	if d := Dice(a, b); math.Abs(d-0.75) > 1e-12 {
		t.Fatalf("Dice %v", d)
	}
	// The same mask on a grid with x flipped pairs voxels by position.
	flipped := &grid.Grid{Origin: grid.Vec{2, 0, 0}, Axes: [3]grid.Vec{{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: g.Spacing, Size: g.Size}
	fb := &imageio.Image{Grid: flipped, Data: make([]float64, 12)}
	for i := range b.Data {
		fb.Data[i^1] = b.Data[i]
	}
	if d := Dice(a, fb); math.Abs(d-0.75) > 1e-12 {
		t.Fatalf("flipped Dice %v", d)
	}
	shifted := *g
	shifted.Origin = grid.Vec{0.5, 0, 0}
	if d := Dice(a, &imageio.Image{Grid: &shifted, Data: b.Data}); !math.IsNaN(d) {
		t.Fatalf("Dice on shifted grids %v, want NaN", d)
	}
	empty := &imageio.Image{Grid: g, Data: make([]float64, 12)}
	if d := Dice(empty, empty); d != 1 {
		t.Fatalf("empty Dice %v", d)
	}
}
