package radiomics

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// rsFixture is testdata/resample/itk_resample.json, written by gen_itk_resample.cxx (ITK 5.2).
type rsFixture struct {
	ITKVersion  string                   `json:"itk_version"`
	PolePowers  []string                 `json:"pole_powers"`
	Geometries  map[string]rsFixtureGeom `json:"geometries"`
	Cases       []rsFixtureCase          `json:"cases"`
	Extractions []struct {
		Input   string     `json:"input"`
		Formula string     `json:"formula"`
		Lo      [3]int     `json:"lo"`
		Hi      [3]int     `json:"hi"`
		Pad     int        `json:"pad"`
		Spacing []float64  `json:"spacing"`
		Origin  [3]float64 `json:"origin"`
		Size    [3]int     `json:"size"`
		Image   []float64  `json:"image"`
		Mask    []float64  `json:"mask"`
	} `json:"extractions"`
	ExtractionGeometries map[string]rsFixtureGeom `json:"extraction_geometries"`
	Inverses             []struct {
		Direction [9]string `json:"direction"`
		Spacing   [3]string `json:"spacing"`
		Inverse   [9]string `json:"inverse"`
	} `json:"inverses"`
}

type rsFixtureGeom struct {
	Origin    [3]float64 `json:"origin"`
	Spacing   [3]float64 `json:"spacing"`
	Direction [9]float64 `json:"direction"` // row-major: component r of index axis c at 3r+c
	Size      [3]int     `json:"size"`
}

type rsFixtureCase struct {
	Input        string        `json:"input"`
	Formula      string        `json:"formula"`
	PixelType    string        `json:"pixel_type"`
	Output       string        `json:"output"`
	Interpolator string        `json:"interpolator"`
	Values       []json.Number `json:"values"`
}

func (g rsFixtureGeom) grid() *grid.Grid {
	out := &grid.Grid{Origin: g.Origin, Spacing: g.Spacing, Size: g.Size}
	for r := range 3 {
		for c := range 3 {
			out.Axes[c][r] = g.Direction[3*r+c]
		}
	}
	return out
}

// rsFormula mirrors value() in gen_itk_resample.cxx.
func rsFormula(name string, i, j, k int) float64 {
	switch name {
	case "smooth":
		return float64(5*i*i + 3*j*j - 7*k*k + i*j - 2*j*k + 3*i*k - 100)
	case "wide":
		return float64((i*7919+j*6007+k*3001+i*j*k*13)%65536 - 32768)
	case "byte":
		return float64((i*37 + j*101 + k*53 + i*j*k) % 256)
	}
	return float64(3*i*i+7*j-5*k*k+i*j*k-50) / 7.0
}

// rsFormulaImage builds the synthetic input on g, cast to pixelType as the C++ static_cast does
// (the formulas stay in range, so only float32 rounds).
func rsFormulaImage(g *grid.Grid, formula, pixelType string) *imageio.Image {
	im := &imageio.Image{Grid: g, Data: make([]float64, 0, g.Voxels()), PixelType: pixelType}
	for k := range g.Size[2] {
		for j := range g.Size[1] {
			for i := range g.Size[0] {
				v := rsFormula(formula, i, j, k)
				if pixelType == "float32" {
					v = float64(float32(v))
				}
				im.Data = append(im.Data, v)
			}
		}
	}
	return im
}

func rsLoadFixture(t testing.TB) *rsFixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "resample", "itk_resample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f rsFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestResampleOntoMatchesITK(t *testing.T) {
	f := rsLoadFixture(t)
	if len(f.Cases) < 60 {
		t.Fatalf("fixture has %d cases", len(f.Cases))
	}
	total, exact := 0, 0
	maxRel := 0.0
	for _, c := range f.Cases {
		in, ok1 := f.Geometries[c.Input]
		out, ok2 := f.Geometries[c.Output]
		if !ok1 || !ok2 {
			t.Fatalf("case %s -> %s: unknown geometry", c.Input, c.Output)
		}
		name := c.Output + "/" + c.PixelType + "/" + c.Interpolator
		im := rsFormulaImage(in.grid(), c.Formula, c.PixelType)
		res, err := ResampleOnto(im, out.grid(), c.Interpolator)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.PixelType != c.PixelType || res.Grid.Size != out.Size || len(res.Data) != len(c.Values) {
			t.Fatalf("%s: type %s size %v, %d values for %d expected", name, res.PixelType, res.Grid.Size, len(res.Data), len(c.Values))
		}
		bad := 0
		for n, num := range c.Values {
			bits := 64
			if c.PixelType == "float32" {
				bits = 32 // parse as float32 directly: %.9g round-trips a float32
			}
			want, err := strconv.ParseFloat(num.String(), bits)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Data[n]
			total++
			if got == want {
				exact++
				continue
			}
			rel := math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
			maxRel = math.Max(maxRel, rel)
			integer := c.PixelType != "float32" && c.PixelType != "float64"
			if integer || rel > 1e-9 {
				if bad++; bad <= 5 {
					t.Errorf("%s voxel %d: got %.17g, ITK %.17g", name, n, got, want)
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %d voxels differ from ITK", name, bad)
		}
	}
	t.Logf("ITK %s: %d cases, %d voxels, %d bit-identical, max relative difference %.3g", f.ITKVersion, len(f.Cases), total, exact, maxRel)
}

// TestResampleForExtractionMatchesITK runs PyRadiomics' resampleImage end to end against the
// generator's ITK run of it (grid by numpy's formulas, BSpline int16 image, nearest-neighbour
// UInt32 mask): the grid origin must be bit-identical and every voxel equal. On the oblique grid
// the mask's z indices are half-integer ties that ITK's last-bit noise decides voxel by voxel.
func TestResampleForExtractionMatchesITK(t *testing.T) {
	f := rsLoadFixture(t)
	if len(f.Extractions) != 2 {
		t.Fatalf("%d extractions in the fixture", len(f.Extractions))
	}
	for _, c := range f.Extractions {
		g := f.ExtractionGeometries[c.Input].grid()
		image := rsFormulaImage(g, c.Formula, "int16")
		mask := rsBoxMask(g, 1, c.Lo, c.Hi)
		ri, rm, err := ResampleForExtraction(image, mask, 1, c.Spacing, InterpolatorBSpline, c.Pad)
		if err != nil {
			t.Fatal(err)
		}
		if ri.Grid.Size != c.Size || ri.Grid.Origin != grid.Vec(c.Origin) || rm.Grid.Origin != ri.Grid.Origin {
			t.Fatalf("%s: grid %v at %v, ITK %v at %v", c.Input, ri.Grid.Size, ri.Grid.Origin, c.Size, c.Origin)
		}
		roi := 0
		for i := range c.Image {
			if ri.Data[i] != c.Image[i] || rm.Data[i] != c.Mask[i] {
				t.Fatalf("%s voxel %d: image %v mask %v, ITK %v %v", c.Input, i, ri.Data[i], rm.Data[i], c.Image[i], c.Mask[i])
			}
			if rm.Data[i] == 1 {
				roi++
			}
		}
		t.Logf("%s: %v grid, %d ROI voxels, all %d voxels equal to ITK", c.Input, c.Size, roi, len(c.Image))
	}
}

// TestResampleInverseMatchesITK: the physical-to-index matrix (ITK: SVD by LINPACK dsvdc) is
// bit-identical for signed axis permutations, random rotations and slightly skewed DICOM cosines.
func TestResampleInverseMatchesITK(t *testing.T) {
	f := rsLoadFixture(t)
	if len(f.Inverses) < 50 {
		t.Fatalf("%d inverses in the fixture", len(f.Inverses))
	}
	hex := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for n, c := range f.Inverses {
		g := &grid.Grid{Size: [3]int{1, 1, 1}}
		for a := range 3 {
			g.Spacing[a] = hex(c.Spacing[a])
			for r := range 3 {
				g.Axes[a][r] = hex(c.Direction[3*r+a])
			}
		}
		geom, err := rsGeometry(g, "test")
		if err != nil {
			t.Fatal(err)
		}
		for r := range 3 {
			for col := range 3 {
				if got, want := geom.inv[r][col], hex(c.Inverse[3*r+col]); got != want {
					t.Errorf("matrix %d: inverse[%d][%d] = %x, ITK %x", n, r, col, got, want)
				}
			}
		}
	}
}

// TestResamplePolePowers checks rsPow against glibc's pow, which ITK's full causal initialisation
// uses for lines of at most 18 samples.
func TestResamplePolePowers(t *testing.T) {
	f := rsLoadFixture(t)
	for n, s := range f.PolePowers {
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := rsPow(rsPole, n); got != want {
			t.Errorf("pole^%d = %x, glibc %x (math.Pow %x)", n, got, want, math.Pow(rsPole, float64(n)))
		}
	}
	if rsHorizon != 18 {
		t.Errorf("horizon %d, ITK's is 18", rsHorizon)
	}
}

// TestResampleCoefficientRegion: coefficients kept for a box are bit-identical to those of the
// whole volume, which is what ITK computes.
func TestResampleCoefficientRegion(t *testing.T) {
	n := [3]int{23, 9, 30} // both initialisations (lines longer and shorter than 18)
	g := &grid.Grid{Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: [3]float64{1, 1, 1}, Size: n}
	im := rsFormulaImage(g, "wide", "int16")
	full := rsBSplineCoefficients(im.Data, n, [3]int{}, [3]int{n[0] - 1, n[1] - 1, n[2] - 1})
	for _, box := range [][2][3]int{{{3, 2, 5}, {10, 6, 20}}, {{0, 0, 0}, {0, 0, 0}}, {{22, 8, 29}, {22, 8, 29}}, {{5, 0, 0}, {22, 8, 3}}} {
		lo, hi := box[0], box[1]
		part := rsBSplineCoefficients(im.Data, n, lo, hi)
		w0, w1 := hi[0]-lo[0]+1, hi[1]-lo[1]+1
		for k := lo[2]; k <= hi[2]; k++ {
			for j := lo[1]; j <= hi[1]; j++ {
				for i := lo[0]; i <= hi[0]; i++ {
					got := part[((k-lo[2])*w1+j-lo[1])*w0+i-lo[0]]
					if want := full[(k*n[1]+j)*n[0]+i]; got != want {
						t.Fatalf("box %v: coefficient (%d,%d,%d) %v, full volume %v", box, i, j, k, got, want)
					}
				}
			}
		}
	}
	// Interpolating at the nodes reproduces the data (to the prefilter's 1e-10 truncation).
	res, err := ResampleOnto(&imageio.Image{Grid: g, Data: im.Data, PixelType: "float64"}, g, InterpolatorBSpline)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range res.Data {
		if math.Abs(v-im.Data[i]) > 1e-9*32768 {
			t.Fatalf("node %d: %v, data %v", i, v, im.Data[i])
		}
	}
}

// TestResampleInterleavedLines: filtering lines in lockstep gives each line exactly what filtering
// it alone gives, for both causal initialisations, and stopping the anticausal sweep early leaves
// the samples above the stop unchanged.
func TestResampleInterleavedLines(t *testing.T) {
	for _, n := range []int{1, 2, 3, 17, 18, 19, 40} {
		lines := make([][]float64, rsLanes)
		inter := make([]float64, n*rsLanes)
		for l := range lines {
			lines[l] = make([]float64, n)
			for i := range n {
				v := rsFormula("wide", i, l, n)
				lines[l][i], inter[i*rsLanes+l] = v, v
			}
			rsBSplineLines(lines[l], n, 1, 0)
		}
		stop := n / 2
		rsBSplineLines(inter, n, rsLanes, stop)
		for l := range lines {
			for i := stop; i < n; i++ {
				if got, want := inter[i*rsLanes+l], lines[l][i]; got != want {
					t.Fatalf("n=%d line %d sample %d: %v interleaved, %v alone", n, l, i, got, want)
				}
			}
		}
	}
}

// TestResampleAxesMatchesGeneral: the per-axis shortcut gives exactly what the per-voxel path
// (ITK's scan-line arithmetic) gives, for axis-aligned grids of the same direction.
func TestResampleAxesMatchesGeneral(t *testing.T) {
	f := rsLoadFixture(t)
	in := f.Geometries["flipY"].grid()
	for _, target := range []string{"flipY/fine", "flipY/double", "flipY/aligned"} {
		out := f.Geometries[target]
		for _, kind := range []rsKind{rsNearest, rsLinear, rsBSpline} {
			im := rsFormulaImage(in, "frac", "float64")
			src, _ := rsGeometry(in, "in")
			dst, _ := rsGeometry(out.grid(), "out")
			a := make([]float64, out.grid().Voxels())
			b := make([]float64, len(a))
			id := func(v float64) float64 { return v }
			rsResampleAxes(im, src, dst, kind, id, a)
			rsResampleGeneral(im, src, dst, kind, id, b)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("%s kind %d voxel %d: per-axis %v, per-voxel %v", target, kind, i, a[i], b[i])
				}
			}
		}
	}
}

func TestResampleCast(t *testing.T) {
	for _, c := range []struct {
		typ     string
		in, out float64
	}{
		{"int16", 41000.7, 32767}, {"int16", -41000.7, -32768}, {"int16", 12.99, 12}, {"int16", -12.99, -12},
		{"int16", -0.5, 0}, {"uint8", -3, 0}, {"uint8", 255.5, 255}, {"uint8", 254.9999, 254},
		{"uint32", -1, 0}, {"int32", 3e9, math.MaxInt32}, {"float32", 0.1, float64(float32(0.1))},
		{"float32", 1e40, math.MaxFloat32}, {"float32", math.Inf(-1), -math.MaxFloat32},
		{"float64", 1e300, 1e300}, {"", -2.5, -2.5}, {"int8", -200, -128},
	} {
		cast, err := rsCaster(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		if got := cast(c.in); got != c.out {
			t.Errorf("%s(%v) = %v, want %v", c.typ, c.in, got, c.out)
		}
	}
	if _, err := rsCaster("complex"); err == nil {
		t.Error("complex pixel type accepted")
	}
}

// TestResampleITKRounding pins the x86-64 ITK rounding helpers the interpolators use.
func TestResampleITKRounding(t *testing.T) {
	for _, c := range []struct {
		x            float64
		floor, round int
	}{
		{-0.5, -1, 0}, {-0.25, -1, 0}, {0.5, 0, 1}, {1.5, 1, 2}, {2.5, 2, 3}, {-1.5, -2, -1},
		{2.9999999999999996, 2, 3}, {3, 3, 3}, {-2.0000000000000004, -3, -2},
	} {
		if f, r := rsFloor(c.x), rsRound(c.x); f != c.floor || r != c.round {
			t.Errorf("x=%v: floor %d round %d, want %d %d", c.x, f, r, c.floor, c.round)
		}
	}
	// Mirror boundaries: reflections about 0 and n-1; a 2-voxel axis folds instead of leaving it.
	for _, c := range [][3]int{{-1, 5, 1}, {-2, 5, 2}, {5, 5, 3}, {6, 5, 2}, {4, 5, 4}, {3, 2, 1}, {-2, 2, 0}, {7, 1, 0}} {
		if got := rsMirror(c[0], c[1]); got != c[2] {
			t.Errorf("mirror(%d, n=%d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

// rsAxes returns unit axes: "flipY" (x, -y, z, as the brain test images), "identity", or
// "oblique" (a rotation).
func rsAxes(name string) [3]grid.Vec {
	switch name {
	case "flipY":
		return [3]grid.Vec{{1, 0, 0}, {0, -1, 0}, {0, 0, 1}}
	case "oblique":
		c, s := math.Cos(0.3), math.Sin(0.3)
		return [3]grid.Vec{{c, s, 0}, {-s, c, 0}, {0, 0, 1}}
	}
	return [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
}

// rsBoxMask returns a uint8 mask on g with label in the box lo..hi.
func rsBoxMask(g *grid.Grid, label int, lo, hi [3]int) *imageio.Image {
	m := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				m.Data[m.Index(i, j, k)] = float64(label)
			}
		}
	}
	return m
}

// rsRamp is a linear image v = i + 100 j + 10000 k, so linear interpolation returns the continuous
// index it was evaluated at.
func rsRamp(g *grid.Grid) *imageio.Image {
	im := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "float64"}
	for k := range g.Size[2] {
		for j := range g.Size[1] {
			for i := range g.Size[0] {
				im.Data[im.Index(i, j, k)] = float64(i) + 100*float64(j) + 10000*float64(k)
			}
		}
	}
	return im
}

// TestResampleForExtractionGrid checks the new grids against PyRadiomics' formulas worked by hand:
//
//	ratio = maskSpacing/newSpacing
//	LB = max(floor((lo-0.5)·ratio - pad), 0)
//	UB = min(ceil((lo+size-0.5)·ratio + pad), ceil(maskSize·ratio)-1)
//	size = UB-LB+1, origin = maskOrigin + Σ axis_a·(0.5·(new_a-old_a) + LB_a·new_a)
//
// (the origin index 0.5·(new-old)/old + LB/ratio, times the old spacing).
func TestResampleForExtractionGrid(t *testing.T) {
	type tc struct {
		name       string
		size       [3]int
		spacing    [3]float64
		axes       string
		lo, hi     [3]int
		pad        int
		request    []float64
		wantSp     [3]float64
		wantLB     [3]int
		wantSize   [3]int
		wantOffset [3]float64 // 0.5·(new-old) + LB·new, mm along each mask axis
	}
	cases := []tc{
		{
			// x: floor(9.5·0.39-5) = -2 → 0, ceil(17.5·0.39+5) = 12; y: floor(11.5·0.39-5) = -1 → 0,
			// ceil(17.5·0.39+5) = 12; z: floor(4.5·0.5-5) = -3 → 0, ceil(8.5·0.5+5) = 10 → clipped
			// to ceil(20·0.5)-1 = 9.
			name: "2mm from 0.78x0.78x1, clipped", size: [3]int{40, 40, 20}, spacing: [3]float64{0.78, 0.78, 1}, axes: "flipY",
			lo: [3]int{10, 12, 5}, hi: [3]int{17, 17, 8}, pad: 5, request: []float64{2, 2, 2},
			wantSp: [3]float64{2, 2, 2}, wantLB: [3]int{0, 0, 0}, wantSize: [3]int{13, 13, 10},
			wantOffset: [3]float64{0.61, 0.61, 0.5},
		},
		{
			// x: floor(29.5·0.39-5) = 6, ceil(39.5·0.39+5) = 21; y: floor(24.5·0.39-5) = 4,
			// ceil(33.5·0.39+5) = 19; z: floor(11.5·0.5-5) = 0, ceil(17.5·0.5+5) = 14 (= max 14).
			name: "2mm interior", size: [3]int{60, 60, 30}, spacing: [3]float64{0.78, 0.78, 1}, axes: "flipY",
			lo: [3]int{30, 25, 12}, hi: [3]int{39, 33, 17}, pad: 5, request: []float64{2, 2, 2},
			wantSp: [3]float64{2, 2, 2}, wantLB: [3]int{6, 4, 0}, wantSize: [3]int{16, 16, 15},
			wantOffset: [3]float64{0.61 + 12, 0.61 + 8, 0.5},
		},
		{
			// As above on an oblique mask, with z left at 0: z keeps 1 mm, ratio 1:
			// floor(11.5-5) = 6, ceil(17.5+5) = 23 (max 29).
			name: "spacing 0 keeps the mask's, oblique", size: [3]int{60, 60, 30}, spacing: [3]float64{0.78, 0.78, 1}, axes: "oblique",
			lo: [3]int{30, 25, 12}, hi: [3]int{39, 33, 17}, pad: 5, request: []float64{2, 2, 0},
			wantSp: [3]float64{2, 2, 1}, wantLB: [3]int{6, 4, 6}, wantSize: [3]int{16, 16, 18},
			wantOffset: [3]float64{0.61 + 12, 0.61 + 8, 6},
		},
		{
			// One slice thick in z: z keeps 3 mm. x: floor(19.5·0.78-5) = 10, ceil(24.5·0.78+5) = 25;
			// y: floor(19.5·0.78-5) = 10, ceil(25.5·0.78+5) = 25; z: floor(3.5-5) → 0,
			// ceil(4.5+5) = 10 → 9.
			name: "1-voxel-thick ROI", size: [3]int{50, 50, 10}, spacing: [3]float64{0.78, 0.78, 3}, axes: "identity",
			lo: [3]int{20, 20, 4}, hi: [3]int{24, 25, 4}, pad: 5, request: []float64{1, 1, 1},
			wantSp: [3]float64{1, 1, 3}, wantLB: [3]int{10, 10, 0}, wantSize: [3]int{16, 16, 10},
			wantOffset: [3]float64{0.11 + 10, 0.11 + 10, 0},
		},
		{
			// ROI on three faces of the volume, upsampled (ratio 2). x: floor(-0.5·2-2) → 0,
			// ceil(2.5·2+2) = 7; y: floor(14.5·2-2) = 27, ceil(19.5·2+2) = 41 → 39; z: → 0 and
			// ceil(9.5·2+2) = 21 → 19.
			name: "ROI at the volume edge, upsampled", size: [3]int{20, 20, 10}, spacing: [3]float64{1, 1, 1}, axes: "flipY",
			lo: [3]int{0, 15, 0}, hi: [3]int{2, 19, 9}, pad: 2, request: []float64{0.5, 0.5, 0.5},
			wantSp: [3]float64{0.5, 0.5, 0.5}, wantLB: [3]int{0, 27, 0}, wantSize: [3]int{8, 13, 20},
			wantOffset: [3]float64{-0.25, -0.25 + 13.5, -0.25},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			axes := rsAxes(c.axes)
			g := &grid.Grid{Origin: grid.Vec{-100.25, 50.5, -30.75}, Axes: axes, Spacing: c.spacing, Size: c.size}
			mask := rsBoxMask(g, 3, c.lo, c.hi)
			image := rsRamp(g)
			for _, interp := range []string{InterpolatorBSpline, InterpolatorLinear, InterpolatorNearest} {
				ri, rm, err := ResampleForExtraction(image, mask, 3, c.request, interp, c.pad)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range []*imageio.Image{ri, rm} {
					if r.Grid.Size != c.wantSize || r.Grid.Spacing != c.wantSp || r.Grid.Axes != axes {
						t.Fatalf("%s: size %v spacing %v axes %v, want %v %v %v", interp, r.Grid.Size, r.Grid.Spacing, r.Grid.Axes, c.wantSize, c.wantSp, axes)
					}
					want := g.Origin
					for a := range 3 {
						want = want.Add(axes[a].Scale(c.wantOffset[a]))
					}
					if d := r.Grid.Origin.Sub(want).Norm(); d > 1e-9 {
						t.Fatalf("%s: origin %v, want %v", interp, r.Grid.Origin, want)
					}
				}
				if ri.PixelType != "float64" || rm.PixelType != "uint32" {
					t.Fatalf("pixel types %s %s", ri.PixelType, rm.PixelType)
				}
				if interp != InterpolatorLinear {
					continue
				}
				// The linear ramp returns the (clamped) continuous index of each output voxel.
				for k := range c.wantSize[2] {
					for j := range c.wantSize[1] {
						for i := range c.wantSize[0] {
							var ci [3]float64
							for a, n := range [3]int{i, j, k} {
								ci[a] = (c.wantOffset[a] + float64(n)*c.wantSp[a]) / c.spacing[a] // mask index
								ci[a] = math.Max(0, math.Min(ci[a], float64(c.size[a]-1)))
							}
							want := ci[0] + 100*ci[1] + 10000*ci[2]
							if got := ri.Data[ri.Index(i, j, k)]; math.Abs(got-want) > 1e-9*math.Max(1, want) {
								t.Fatalf("voxel (%d,%d,%d): %v, want %v", i, j, k, got, want)
							}
						}
					}
				}
			}
			if c.name == "ROI at the volume edge, upsampled" {
				// Ratio 2 on every axis: each ROI voxel becomes exactly 8 (nearest-neighbour ties at
				// ±0.25 fall inside the voxel).
				_, rm, _ := ResampleForExtraction(image, mask, 3, c.request, InterpolatorNearest, c.pad)
				n := 0
				for _, v := range rm.Data {
					if v == 3 {
						n++
					}
				}
				roi := (c.hi[0] - c.lo[0] + 1) * (c.hi[1] - c.lo[1] + 1) * (c.hi[2] - c.lo[2] + 1)
				if n != 8*roi {
					t.Fatalf("resampled ROI has %d voxels, want %d", n, 8*roi)
				}
			}
		})
	}
}

func TestResampleForExtractionEqualSpacing(t *testing.T) {
	g := &grid.Grid{Origin: grid.Vec{10, -20, 5}, Axes: rsAxes("flipY"), Spacing: [3]float64{1, 1, 2}, Size: [3]int{20, 20, 8}}
	image := rsFormulaImage(g, "smooth", "int16")
	t.Run("same grid", func(t *testing.T) {
		// Requested [1, 1, 0]: z keeps 2 mm, all equal to the image's: crop to the box ± 3,
		// lo (5,6,2)-3 → (2,3,0) clipped, hi (8,8,3)+3 → (11,11,6).
		mask := rsBoxMask(g, 1, [3]int{5, 6, 2}, [3]int{8, 8, 3})
		ri, rm, err := ResampleForExtraction(image, mask, 1, []float64{1, 1, 0}, InterpolatorBSpline, 3)
		if err != nil {
			t.Fatal(err)
		}
		if ri.Grid.Size != [3]int{10, 9, 7} || rm.Grid.Size != ri.Grid.Size || ri.Grid.Spacing != g.Spacing {
			t.Fatalf("sizes %v %v spacing %v", ri.Grid.Size, rm.Grid.Size, ri.Grid.Spacing)
		}
		if d := ri.Grid.Origin.Sub(g.Point(2, 3, 0)).Norm(); d > 1e-12 || rm.Grid.Origin != ri.Grid.Origin {
			t.Fatalf("origin %v, want %v", ri.Grid.Origin, g.Point(2, 3, 0))
		}
		if ri.PixelType != "int16" || rm.PixelType != "uint32" {
			t.Fatalf("types %s %s", ri.PixelType, rm.PixelType)
		}
		for k := range 7 {
			for j := range 9 {
				for i := range 10 {
					if ri.Data[ri.Index(i, j, k)] != image.Data[image.Index(i+2, j+3, k)] || rm.Data[rm.Index(i, j, k)] != mask.Data[mask.Index(i+2, j+3, k)] {
						t.Fatalf("voxel (%d,%d,%d) not the cropped input", i, j, k)
					}
				}
			}
		}
	})
	t.Run("coarser mask", func(t *testing.T) {
		// A 2x2x2 mm mask over the same region (voxel centres between image voxels): PyRadiomics
		// compares the new spacing (1, 1, 2) with the image's, so nothing is interpolated; the
		// mask goes nearest neighbour onto the image grid (mask voxel m covers image voxels 2m and
		// 2m+1 in x and y) and both are cropped: box x 4..7, y 6..9, z 1..2, ± 1.
		mg := &grid.Grid{Origin: g.Point(0, 0, 0).Add(grid.Vec{0.5, -0.5, 0}), Axes: g.Axes, Spacing: [3]float64{2, 2, 2}, Size: [3]int{10, 10, 8}}
		mask := rsBoxMask(mg, 2, [3]int{2, 3, 1}, [3]int{3, 4, 2})
		ri, rm, err := ResampleForExtraction(image, mask, 2, []float64{1, 1, 0}, InterpolatorBSpline, 1)
		if err != nil {
			t.Fatal(err)
		}
		if ri.Grid.Size != [3]int{6, 6, 4} || rm.Grid.Size != ri.Grid.Size {
			t.Fatalf("sizes %v %v", ri.Grid.Size, rm.Grid.Size)
		}
		if d := ri.Grid.Origin.Sub(g.Point(3, 5, 0)).Norm(); d > 1e-12 {
			t.Fatalf("origin %v, want %v", ri.Grid.Origin, g.Point(3, 5, 0))
		}
		n := 0
		for k := range 4 {
			for j := range 6 {
				for i := range 6 {
					in := i >= 1 && i <= 4 && j >= 1 && j <= 4 && k >= 1 && k <= 2
					if v := rm.Data[rm.Index(i, j, k)]; (v == 2) != in {
						t.Fatalf("mask voxel (%d,%d,%d) = %v", i, j, k, v)
					} else if in {
						n++
					}
					if ri.Data[ri.Index(i, j, k)] != image.Data[image.Index(i+3, j+5, k)] {
						t.Fatalf("image voxel (%d,%d,%d) not the cropped input", i, j, k)
					}
				}
			}
		}
		if n != 32 {
			t.Fatalf("%d ROI voxels", n)
		}
	})
}

func TestResampleErrors(t *testing.T) {
	g := &grid.Grid{Axes: rsAxes("identity"), Spacing: [3]float64{1, 1, 1}, Size: [3]int{10, 10, 5}}
	image := rsRamp(g)
	mask := rsBoxMask(g, 1, [3]int{2, 2, 1}, [3]int{5, 5, 3})
	big := &grid.Grid{Axes: g.Axes, Spacing: g.Spacing, Size: [3]int{20, 20, 5}}
	outside := rsBoxMask(big, 1, [3]int{12, 2, 1}, [3]int{15, 5, 3})
	for _, c := range []struct {
		name    string
		image   *imageio.Image
		mask    *imageio.Image
		label   int
		spacing []float64
		interp  string
		pad     int
		want    string
		roi     bool
	}{
		{"interpolator", image, mask, 1, []float64{2, 2, 2}, "sitkCubic", 5, `unknown interpolator "sitkCubic"`, false},
		{"spacing length", image, mask, 1, []float64{2, 2}, InterpolatorBSpline, 5, "needs 3 values", false},
		{"negative spacing", image, mask, 1, []float64{2, -1, 2}, InterpolatorBSpline, 5, "resampledPixelSpacing[1] = -1", false},
		{"NaN spacing", image, mask, 1, []float64{2, math.NaN(), 2}, InterpolatorBSpline, 5, "finite", false},
		{"negative pad", image, mask, 1, []float64{2, 2, 2}, InterpolatorBSpline, -1, "padDistance -1", false},
		{"empty ROI", image, mask, 7, []float64{2, 2, 2}, InterpolatorBSpline, 5, "label 7 not present", true},
		{"ROI outside image", image, outside, 1, []float64{2, 2, 2}, InterpolatorBSpline, 5, "outside the image", true},
		{"nil mask", image, nil, 1, []float64{2, 2, 2}, InterpolatorBSpline, 5, "mask is missing", false},
		{"pixel type", &imageio.Image{Grid: g, Data: image.Data, PixelType: "complex"}, mask, 1, []float64{2, 2, 2}, InterpolatorBSpline, 5, `unsupported pixel type "complex"`, false},
	} {
		_, _, err := ResampleForExtraction(c.image, c.mask, c.label, c.spacing, c.interp, c.pad)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		} else if errors.Is(err, ErrROI) != c.roi {
			t.Errorf("%s: errors.Is(ErrROI) = %v", c.name, !c.roi)
		}
	}
	if _, err := ResampleOnto(image, g, "linear"); err == nil || !strings.Contains(err.Error(), "unknown interpolator") {
		t.Errorf("ResampleOnto interpolator: %v", err)
	}
	uneven := &grid.Grid{Axes: g.Axes, Spacing: g.Spacing, Size: g.Size, SliceOffsets: []float64{0, 1, 2, 4, 5}}
	if _, err := ResampleOnto(image, uneven, InterpolatorLinear); err == nil || !strings.Contains(err.Error(), "unevenly spaced") {
		t.Errorf("uneven slices: %v", err)
	}
	if _, err := ResampleOnto(&imageio.Image{Grid: g, Data: image.Data[:7]}, g, InterpolatorLinear); err == nil {
		t.Error("short data accepted")
	}
}

// TestResampleOntoIdentity: nearest neighbour onto the image's own grid returns the image, and
// every interpolator is exact at the nodes of a unit grid.
func TestResampleOntoIdentity(t *testing.T) {
	g := &grid.Grid{Origin: grid.Vec{-7.3, 2.9, 11.1}, Axes: rsAxes("oblique"), Spacing: [3]float64{0.9, 1.1, 2.5}, Size: [3]int{9, 8, 6}}
	im := rsFormulaImage(g, "wide", "int16")
	res, err := ResampleOnto(im, g, InterpolatorNearest)
	if err != nil {
		t.Fatal(err)
	}
	for i := range im.Data {
		if res.Data[i] != im.Data[i] {
			t.Fatalf("voxel %d: %v, want %v", i, res.Data[i], im.Data[i])
		}
	}
	unit := &grid.Grid{Axes: rsAxes("identity"), Spacing: [3]float64{1, 1, 1}, Size: [3]int{9, 8, 6}}
	im = rsFormulaImage(unit, "smooth", "int16")
	for _, interp := range []string{InterpolatorLinear, InterpolatorNearest} {
		res, err := ResampleOnto(im, unit, interp)
		if err != nil {
			t.Fatal(err)
		}
		for i := range im.Data {
			if res.Data[i] != im.Data[i] {
				t.Fatalf("%s voxel %d: %v, want %v", interp, i, res.Data[i], im.Data[i])
			}
		}
	}
}

// rsBenchInput is a 60x60x60 crop at 0.78 mm with a central ROI, as ResampleForExtraction sees
// it after PyRadiomics' checks.
func rsBenchInput() (*imageio.Image, *imageio.Image) {
	g := &grid.Grid{Origin: grid.Vec{-23, 40, -17}, Axes: rsAxes("flipY"), Spacing: [3]float64{0.78, 0.78, 0.78}, Size: [3]int{60, 60, 60}}
	return rsFormulaImage(g, "wide", "int16"), rsBoxMask(g, 1, [3]int{6, 6, 6}, [3]int{53, 53, 53})
}

func BenchmarkResampleForExtractionBSpline60(b *testing.B) {
	image, mask := rsBenchInput()
	b.ResetTimer()
	for b.Loop() {
		ri, _, err := ResampleForExtraction(image, mask, 1, []float64{1, 1, 1}, InterpolatorBSpline, 5)
		if err != nil || ri.Grid.Voxels() < 40*40*40 {
			b.Fatal(err)
		}
	}
}

func BenchmarkResampleOntoBSpline60(b *testing.B) {
	image, _ := rsBenchInput()
	ref := &grid.Grid{Origin: image.Grid.Origin, Axes: image.Grid.Axes, Spacing: [3]float64{1, 1, 1}, Size: [3]int{47, 47, 47}}
	b.ResetTimer()
	for b.Loop() {
		if _, err := ResampleOnto(image, ref, InterpolatorBSpline); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResampleForExtractionCT: a small ROI in a 512x512x120 CT; the B-spline prefilter
// still has to run along every x line of the volume (ITK filters the whole image).
func BenchmarkResampleForExtractionCT(b *testing.B) {
	g := &grid.Grid{Axes: rsAxes("identity"), Spacing: [3]float64{0.78, 0.78, 2.5}, Size: [3]int{512, 512, 120}}
	image := rsFormulaImage(g, "wide", "int16")
	mask := rsBoxMask(g, 1, [3]int{200, 220, 50}, [3]int{260, 270, 70})
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := ResampleForExtraction(image, mask, 1, []float64{1, 1, 1}, InterpolatorBSpline, 5); err != nil {
			b.Fatal(err)
		}
	}
}
