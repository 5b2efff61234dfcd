package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/radiomics"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// calcFake stands in for radiomics.Extract: a diagnostic, then the voxel count and mean of the
// ROI (mask == label) and the label used.
func calcFake(ctx context.Context, image, mask *imageio.Image, p *radiomics.Params) (*radiomics.Result, error) {
	n, sum := 0, 0.0
	for i, v := range mask.Data {
		if v == float64(p.Settings.Label) {
			n++
			sum += image.Data[i]
		}
	}
	if n == 0 {
		return nil, errors.New("fake: empty ROI")
	}
	return &radiomics.Result{
		Names:    []string{"diagnostics_Versions_fake", "original_shape_VoxelCount", "original_firstorder_Mean", "label"},
		Values:   []radiomics.Value{{Text: `fake "1"`, IsText: true}, {Num: float64(n)}, {Num: sum / float64(n)}, {Num: float64(p.Settings.Label)}},
		Warnings: []string{"fake warning"},
	}, nil
}

// withExtractor sets the commands' extractor for one test.
func withExtractor(t *testing.T, e func(context.Context, *imageio.Image, *imageio.Image, *radiomics.Params) (*radiomics.Result, error)) {
	t.Helper()
	prev := radiomicsExtract
	radiomicsExtract = e
	t.Cleanup(func() { radiomicsExtract = prev })
}

// writeCalcInputs writes a 20³ 1 mm int16 image and a mask with a ball of label 1 (radius 5)
// and a slab of label 2; it returns their paths and the label-1 voxel count.
func writeCalcInputs(t *testing.T, dir string) (string, string, int) {
	t.Helper()
	g := &grid.Grid{Origin: grid.Vec{-10, -12, 30}, Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: [3]float64{1, 1, 1}, Size: [3]int{20, 20, 20}}
	img := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "int16"}
	mask := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	n := 0
	for k := 0; k < 20; k++ {
		for j := 0; j < 20; j++ {
			for i := 0; i < 20; i++ {
				idx := img.Index(i, j, k)
				img.Data[idx] = float64((i*7+j*13+k*29)%50 - 20 + 2*i)
				switch {
				case (i-10)*(i-10)+(j-10)*(j-10)+(k-10)*(k-10) <= 25:
					mask.Data[idx] = 1
					n++
				case k < 3 && i > 2 && j > 2:
					mask.Data[idx] = 2
				}
			}
		}
	}
	ip, mp := filepath.Join(dir, "image.nrrd"), filepath.Join(dir, "mask.nrrd")
	if err := imageio.WriteNRRD(ip, img); err != nil {
		t.Fatal(err)
	}
	if err := imageio.WriteNRRD(mp, mask); err != nil {
		t.Fatal(err)
	}
	return ip, mp, n
}

func TestRadiomicsCalcOutputAndErrors(t *testing.T) {
	withExtractor(t, calcFake)
	dir := t.TempDir()
	ip, mp, n := writeCalcInputs(t, dir)

	// JSON: an object in key order, diagnostics left out by default.
	stdout, stderr, code := run(t, "radiomics-calc", "--image", ip, "--mask", mp)
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	want := fmt.Sprintf("{\n  \"original_shape_VoxelCount\": %d,\n  \"original_firstorder_Mean\": ", n)
	if !strings.HasPrefix(stdout, want) || !strings.HasSuffix(stdout, "\n  \"label\": 1\n}\n") || !strings.Contains(stderr, "fake warning") {
		t.Fatalf("json output:\n%s\nstderr %s", stdout, stderr)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil || len(obj) != 3 {
		t.Fatalf("not a JSON object of 3 keys: %v", err)
	}
	stdout, _, _ = run(t, "radiomics-calc", "--image", ip, "--mask", mp, "--diagnostics")
	if !strings.HasPrefix(stdout, "{\n  \"diagnostics_Versions_fake\": \"fake \\\"1\\\"\",\n") {
		t.Fatalf("json with diagnostics:\n%s", stdout)
	}
	// CSV with --label 2.
	stdout, _, code = run(t, "radiomics-calc", "--image", ip, "--mask", mp, "--format", "csv", "--label", "2", "--diagnostics")
	recs, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if code != 0 || err != nil || len(recs) != 5 || strings.Join(recs[0], ",") != "feature,value" || recs[1][1] != `fake "1"` ||
		recs[2][0] != "original_shape_VoxelCount" || recs[2][1] != strconv.Itoa(17*17*3) || recs[4][1] != "2" {
		t.Fatalf("csv output (code %d):\n%s", code, stdout)
	}

	// Errors name the file or flag at fault.
	txt := filepath.Join(dir, "image.txt")
	os.WriteFile(txt, []byte("x"), 0o644)
	badParams := filepath.Join(dir, "params.yaml")
	os.WriteFile(badParams, []byte("setting:\n  binWidht: 5\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mask", mp}, "--image and --mask are required"},
		{[]string{"--image", ip, "--mask", mp, "--format", "xml"}, `--format must be json or csv, not "xml"`},
		{[]string{"--image", filepath.Join(dir, "absent.nrrd"), "--mask", mp}, "image " + filepath.Join(dir, "absent.nrrd")},
		{[]string{"--image", txt, "--mask", mp}, "image " + txt + ": unknown format"},
		{[]string{"--image", ip, "--mask", filepath.Join(dir, "absent.nii.gz")}, "mask " + filepath.Join(dir, "absent.nii.gz")},
		{[]string{"--image", ip, "--mask", mp, "--roi", "GTV"}, "--roi applies to an RTSTRUCT mask, but " + mp},
		{[]string{"--image", ip, "--mask", txt}, "mask " + txt + ": neither NRRD, NIfTI nor DICOM"},
		{[]string{"--image", ip, "--mask", mp, "--params", badParams}, badParams},
		{[]string{"--image", ip, "--mask", mp, "--label", "0"}, "--label must be at least 1"},
		{[]string{"--image", ip, "--mask", mp, "--label", "3"}, "extracting features of " + mp + " on " + ip + ": fake: empty ROI"},
	} {
		_, stderr, code := run(t, append([]string{"radiomics-calc"}, c.args...)...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

// TestRadiomicsCalcRTStruct rasterises an ROI of a synthetic course's RTSTRUCT on its CT series
// folder.
func TestRadiomicsCalcRTStruct(t *testing.T) {
	withExtractor(t, calcFake)
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 1, Seed: 3, Matrix: 32, MinSlices: 12, MaxSlices: 12, Workers: 2,
		Scenarios: []string{synth.ScenarioRTStructOnly}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, stderr, code := run(t, "organize", "--dicom-root", filepath.Join(dir, "in", "dicom"), "--outdir", out); code != 0 {
		t.Fatal(stderr)
	}
	rs, _ := filepath.Glob(filepath.Join(out, "*", "*", "RS.dcm"))
	if len(rs) != 1 {
		t.Fatalf("%d RS.dcm", len(rs))
	}
	ctDir := filepath.Join(filepath.Dir(rs[0]), "DICOM", "CT")
	stdout, stderr, code := run(t, "radiomics-calc", "--image", ctDir, "--mask", rs[0], "--roi", "ptv", "--format", "csv")
	if code != 0 || !strings.Contains(stdout, "original_shape_VoxelCount,") {
		t.Fatalf("code %d\n%s\n%s", code, stdout, stderr)
	}
	_, stderr, code = run(t, "radiomics-calc", "--image", ctDir, "--mask", rs[0])
	if code == 0 || !strings.Contains(stderr, "choose the ROI with --roi (one of ") || !strings.Contains(stderr, "GTV") {
		t.Errorf("no --roi: code %d, %s", code, stderr)
	}
	_, stderr, code = run(t, "radiomics-calc", "--image", ctDir, "--mask", rs[0], "--roi", "liver")
	if code == 0 || !strings.Contains(stderr, `has no ROI named "liver"`) {
		t.Errorf("unknown ROI: code %d, %s", code, stderr)
	}
	ctFiles, _ := filepath.Glob(filepath.Join(ctDir, "*.dcm"))
	_, stderr, code = run(t, "radiomics-calc", "--image", ctDir, "--mask", ctFiles[0], "--roi", "GTV")
	if code == 0 || !strings.Contains(stderr, "not an RTSTRUCT") {
		t.Errorf("CT slice as mask: code %d, %s", code, stderr)
	}
}

// TestRadiomicsCalcRealExtractor runs radiomics-calc with radiomics.Extract and the built-in CT
// recipe. It is skipped only while Extract reports that it is not implemented.
func TestRadiomicsCalcRealExtractor(t *testing.T) {
	probe := &imageio.Image{}
	if _, err := radiomics.Extract(context.Background(), probe, probe, radiomics.DefaultCTParams()); err != nil && strings.Contains(err.Error(), "not implemented") {
		t.Skip("radiomics.Extract is not implemented yet")
	}
	dir := t.TempDir()
	ip, mp, n := writeCalcInputs(t, dir)
	stdout, stderr, code := run(t, "radiomics-calc", "--image", ip, "--mask", mp, "--format", "json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil {
		t.Fatal(err)
	}
	if len(obj) != radiomics.DefaultCTParams().FeatureCount() {
		t.Errorf("%d features, want %d", len(obj), radiomics.DefaultCTParams().FeatureCount())
	}
	if v, ok := obj["original_shape_VoxelVolume"].(float64); !ok || v != float64(n) {
		t.Errorf("VoxelVolume %v, want %d", obj["original_shape_VoxelVolume"], n)
	}
	stdout, _, code = run(t, "radiomics-calc", "--image", ip, "--mask", mp, "--format", "csv", "--diagnostics")
	if code != 0 || !strings.Contains(stdout, "diagnostics_Mask-original_VoxelNum,"+strconv.Itoa(n)+"\n") {
		t.Errorf("csv with diagnostics (code %d):\n%.500s", code, stdout)
	}
}

// TestRadiomicsCommand runs the radiomics stage on an organised synthetic cohort: a course
// with structures (rows, sentinel ok), a CT-only course (skipped, not failed), --course and a
// bad parameter file.
func TestRadiomicsCommand(t *testing.T) {
	withExtractor(t, calcFake)
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 2, Seed: 4, Matrix: 32, MinSlices: 12, MaxSlices: 12, Workers: 2,
		Scenarios: []string{synth.ScenarioSingleCourse, synth.ScenarioCTOnly}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, stderr, code := run(t, "organize", "--dicom-root", filepath.Join(dir, "in", "dicom"), "--outdir", out); code != 0 {
		t.Fatal(stderr)
	}
	stdout, stderr, code := run(t, "radiomics", "--outdir", out, "--max-workers", "2")
	if code != 0 || strings.Count(stdout, ": ok (") != 1 || strings.Count(stdout, ": skipped (") != 1 {
		t.Fatalf("radiomics: code %d\n%s\n%s", code, stdout, stderr)
	}
	tables, _ := filepath.Glob(filepath.Join(out, "*", "*", "radiomics_ct.parquet"))
	sentinels, _ := filepath.Glob(filepath.Join(out, "*", "*", ".radiomics_done"))
	if len(tables) != 2 || len(sentinels) != 2 {
		t.Errorf("%d tables, %d sentinels", len(tables), len(sentinels))
	}
	if _, _, code := run(t, "radiomics", "--outdir", out, "--course", "NOBODY"); code == 0 {
		t.Error("radiomics with an unknown course exited 0")
	}
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("radiomics:\n  params_file: "+filepath.Join(dir, "absent.yaml")+"\n"), 0o644)
	_, stderr, code = run(t, "radiomics", "--outdir", out, "--config", cfg)
	if code == 0 || !strings.Contains(stderr, "radiomics.params_file") || !strings.Contains(stderr, "absent.yaml") {
		t.Errorf("bad params file: code %d, %s", code, stderr)
	}
	// Every extraction failing fails the course and the command.
	withExtractor(t, func(context.Context, *imageio.Image, *imageio.Image, *radiomics.Params) (*radiomics.Result, error) {
		return nil, errors.New("boom")
	})
	stdout, _, code = run(t, "radiomics", "--outdir", out)
	if code == 0 || !strings.Contains(stdout, "failed: all ") {
		t.Errorf("all failing: code %d\n%s", code, stdout)
	}
}
