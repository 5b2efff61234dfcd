package dvh

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/dvh/analytic"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// organizedCohort synthesises and organises a cohort whose courses all have a dose, in all four
// patient positions.
func organizedCohort(t *testing.T) (string, *synth.Truth, []*organize.CourseOutcome) {
	t.Helper()
	dir := t.TempDir()
	truth, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 8, Seed: 21, Matrix: 64, MinSlices: 30, MaxSlices: 40, Workers: 2,
		Scenarios: []string{synth.ScenarioSingleCourse, synth.ScenarioPrimaryBoost, synth.ScenarioBeamDosesOnly, synth.ScenarioPlanSum,
			synth.ScenarioReplan, synth.ScenarioSingleCourse, synth.ScenarioTwoCTSeries, synth.ScenarioRTStructOnly}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	opt := organize.DefaultOptions()
	opt.Workers = 2
	_, outcomes, err := organize.Run(context.Background(), filepath.Join(dir, "in", "dicom"), out, organize.RunOptions{Options: opt})
	if err != nil {
		t.Fatal(err)
	}
	return out, truth, outcomes
}

func readRows(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return v
}

// TestStageReproducesSyntheticDVHs runs the dvh stage on organised synthetic courses (all four
// patient positions, single, summed boost, summed beam and plan-sum doses) and checks what the
// phantom makes analytic: the GTV lies inside the dose plateau, so every GTV dose metric equals
// the course prescription; GTV and PTV volumes equal the slab model of their spheres on the CT
// planes. The outputs are byte-identical with one and two workers.
func TestStageReproducesSyntheticDVHs(t *testing.T) {
	out, truth, outcomes := organizedCohort(t)
	positions := map[string]bool{}
	checked := 0
	for _, oc := range outcomes {
		dir := filepath.Join(out, filepath.FromSlash(oc.Dir))
		res, err := RunCourse(context.Background(), dir, StageOptions{Workers: 1})
		if err != nil {
			t.Fatalf("%s: %v", oc.Dir, err)
		}
		sentinel, _ := os.ReadFile(filepath.Join(dir, Sentinel))
		var qc QC
		data, _ := os.ReadFile(filepath.Join(dir, "metadata", "dvh_qc.json"))
		if err := json.Unmarshal(data, &qc); err != nil {
			t.Fatalf("%s: dvh_qc.json: %v", oc.Dir, err)
		}
		if oc.Course.Dose.Decision == organize.DoseNone {
			if res.Status != "skipped" || !strings.HasPrefix(string(sentinel), "skipped: ") || qc.Status != "skipped" {
				t.Errorf("%s without dose: %s / %q / %s", oc.Dir, res.Status, sentinel, qc.Status)
			}
			continue
		}
		if strings.TrimSpace(string(sentinel)) != "ok" || qc.RowCount != 8 || qc.MetricVersion != MetricVersion {
			t.Fatalf("%s: sentinel %q, %d rows, qc %+v", oc.Dir, sentinel, qc.RowCount, qc)
		}
		for _, f := range []string{"dvh_metrics.csv", "dvh_metrics.xlsx", "dvh_curves.csv", "dvh.png"} {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s: %s missing", oc.Dir, f)
			}
		}
		pt := truth.Patient(oc.Course.Patient.ID)
		var want *synth.CourseTruth
		for i := range pt.Courses {
			if strings.HasPrefix(oc.Course.Name, pt.Courses[i].Month) {
				want = &pt.Courses[i]
			}
		}
		positions[pt.PatientPosition] = true
		rows := readRows(t, filepath.Join(dir, "dvh_metrics.csv"))
		byName := map[string]map[string]string{}
		for _, r := range rows {
			byName[r["ROI_Name"]] = r
		}
		for _, r := range rows {
			cov := num(t, r["dose_grid_coverage_pct"])
			if (cov < 100) != (r["dose_coverage_flag"] != "") {
				t.Errorf("%s: %s coverage %v%% but flag %q", oc.Dir, r["ROI_Name"], cov, r["dose_coverage_flag"])
			}
		}
		gtv, ptv := byName["GTV"], byName["PTV"]
		if num(t, gtv["dose_grid_coverage_pct"]) != 100 || num(t, byName["BODY"]["dose_grid_coverage_pct"]) >= 100 {
			t.Errorf("%s: coverage GTV %s, BODY %s", oc.Dir, gtv["dose_grid_coverage_pct"], byName["BODY"]["dose_grid_coverage_pct"])
		}
		if gtv == nil || ptv == nil {
			t.Fatalf("%s: no GTV/PTV rows", oc.Dir)
		}
		rx := want.RxGy
		// A boost's plateau ends 2 mm outside the GTV, closer than one dose voxel, so there the
		// interpolated grid dose (not the DVH) dips at the GTV edge: only its bulk is exact.
		metrics := []string{"DmeanGy", "DminGy", "DmaxGy", "D95Gy", "D2Gy", "D98Gy"}
		tol := 1e-3
		if len(want.Plans) > 1 && want.ExpectedDose.Decision != synth.DecisionReplanITTFirst {
			metrics, tol = []string{"DmeanGy", "DmaxGy", "D50Gy", "D2Gy"}, 2e-3
		}
		for _, m := range metrics {
			if v := num(t, gtv[m]); math.Abs(v-rx) > tol*rx {
				t.Errorf("%s (%s): GTV %s = %v, want the prescription %v", oc.Dir, pt.PatientPosition, m, v, rx)
			}
		}
		if v := num(t, gtv["D95%"]); math.Abs(v-100) > 0.1 || gtv["rx_source"] != "target_prescription_dose" {
			t.Errorf("%s: GTV D95%% %v, rx_source %s", oc.Dir, v, gtv["rx_source"])
		}
		// Volumes: slab model of the spheres on the CT planes.
		var thickness float64
		for _, s := range want.CTSeries {
			if s.SeriesUID == want.CTSeriesUID {
				thickness = s.SliceThicknessMM
			}
		}
		planes := ctPlanes(t, dir)
		for _, roi := range []struct {
			row map[string]string
			r   float64
		}{{gtv, want.GTVRadiusMM}, {ptv, want.PTVRadiusMM}} {
			c := want.PTVCenterMM
			o := analytic.NewOracle(analytic.Sphere(roi.r), c[0], c[1], c[2], planes, thickness, analytic.Field{AlongZ: true, Slope: 0})
			if v := num(t, roi.row["Volume (cm³)"]); math.Abs(v-o.VolumeCC()) > 0.01*o.VolumeCC() {
				t.Errorf("%s: %s volume %v, slab model %v", oc.Dir, roi.row["ROI_Name"], v, o.VolumeCC())
			}
		}
		// Determinism across worker counts.
		before := snapshot(t, dir)
		if _, err := RunCourse(context.Background(), dir, StageOptions{Workers: 2}); err != nil {
			t.Fatal(err)
		}
		after := snapshot(t, dir)
		for f := range before {
			if !bytes.Equal(before[f], after[f]) {
				t.Errorf("%s: %s differs between 1 and 2 workers", oc.Dir, f)
			}
		}
		checked++
	}
	if checked < 6 {
		t.Fatalf("only %d courses checked", checked)
	}
	for _, p := range []string{"HFS", "FFS", "HFP", "FFP"} {
		if !positions[p] {
			t.Errorf("no course in position %s", p)
		}
	}
}

// ctPlanes returns the z of the course CT slices, read back from the organised CT files.
func ctPlanes(t *testing.T, dir string) []float64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "DICOM", "CT", "*.dcm"))
	var zs []float64
	for _, f := range files {
		zs = append(zs, sliceZ(t, f))
	}
	return zs
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range []string{"dvh_metrics.csv", "dvh_metrics.xlsx", "dvh_curves.csv", "dvh.png", "metadata/dvh_qc.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	return out
}

func sliceZ(t *testing.T, path string) float64 {
	t.Helper()
	f, err := dicomio.ReadHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Floats(dicomio.TagImagePositionPatient)
	if len(p) != 3 {
		t.Fatalf("%s: no ImagePositionPatient", path)
	}
	return p[2]
}

// TestStructureSourcePriority: with RS.dcm and an RS_auto.dcm holding the same ROI names plus one
// more, each name gives one row from the higher-priority source, the extra ROI comes from AutoRTS,
// the shadowed duplicates are listed, and a structure set in another frame of reference is
// excluded with the reason.
func TestStructureSourcePriority(t *testing.T) {
	out, _, outcomes := organizedCohort(t)
	var dir string
	for _, oc := range outcomes {
		if oc.Course.Dose.Decision == organize.DoseSingle {
			dir = filepath.Join(out, filepath.FromSlash(oc.Dir))
			break
		}
	}
	f, err := dicomio.ReadFile(filepath.Join(dir, "RS.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	auto := dicomio.ToBuilder(&f.Dataset).Str(dicomio.TagSOPInstanceUID, "2.25.1234")
	var items []*dicomio.Builder
	for _, it := range f.Seq(dicomio.TagStructureSetROISequence) {
		b := dicomio.ToBuilder(it)
		if it.String(dicomio.TagROIName) == "HEART" {
			b.Str(dicomio.TagROIName, "heart_auto")
		}
		items = append(items, b)
	}
	auto.Seq(dicomio.TagStructureSetROISequence, items...)
	if err := auto.WriteFile(filepath.Join(dir, "RS_auto.dcm"), f.String(dicomio.TagSOPClassUID), "2.25.1234", dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A custom model in another frame of reference.
	other := dicomio.ToBuilder(&f.Dataset).Str(dicomio.TagSOPInstanceUID, "2.25.5678")
	var frames []*dicomio.Builder
	for range f.Seq(dicomio.TagReferencedFrameOfReferenceSequence) {
		frames = append(frames, dicomio.NewBuilder().Str(dicomio.TagFrameOfReferenceUID, "2.25.999"))
	}
	other.Seq(dicomio.TagReferencedFrameOfReferenceSequence, frames...).Remove(dicomio.TagFrameOfReferenceUID)
	var rois []*dicomio.Builder
	for _, it := range f.Seq(dicomio.TagStructureSetROISequence) {
		rois = append(rois, dicomio.ToBuilder(it).Str(dicomio.TagReferencedFrameOfReferenceUID, "2.25.999"))
	}
	other.Seq(dicomio.TagStructureSetROISequence, rois...)
	os.MkdirAll(filepath.Join(dir, "Segmentation_CustomModels", "lungs"), 0o755)
	if err := other.WriteFile(filepath.Join(dir, "Segmentation_CustomModels", "lungs", "rtstruct.dcm"), f.String(dicomio.TagSOPClassUID), "2.25.5678", dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := RunCourse(context.Background(), dir, StageOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, filepath.Join(dir, "dvh_metrics.csv"))
	sources := map[string]string{}
	for _, r := range rows {
		if _, dup := sources[r["ROI_Name"]]; dup {
			t.Errorf("ROI %s tabulated twice", r["ROI_Name"])
		}
		sources[r["ROI_Name"]] = r["Segmentation_Source"]
	}
	if len(rows) != 9 || sources["heart_auto"] != SourceAutoRTS || sources["HEART"] != SourcePlanRTSTRUCT {
		t.Fatalf("%d rows, sources %v", len(rows), sources)
	}
	var qc QC
	data, _ := os.ReadFile(filepath.Join(dir, "metadata", "dvh_qc.json"))
	json.Unmarshal(data, &qc)
	shadowed, _ := qc.StructureResolution["shadowed_duplicates"].([]any)
	srcs, _ := qc.StructureResolution["sources"].(map[string]any)
	if len(shadowed) != 7 || !strings.Contains(srcs["CustomModel:lungs"].(string), "frame of reference") {
		t.Fatalf("shadowed %d, sources %v", len(shadowed), srcs)
	}
}
