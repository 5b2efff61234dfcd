package aggregate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/results"
)

// The fixture is a hand-written output folder (no DICOM): a manifest, organize's Data tables and
// four course folders with stage sentinels and course tables.
//
//	P2/2020-02   organize ok, dvh FAILED (a stale dvh_metrics.csv and dvh.png lie there),
//	             radiomics ok, qc ok (one WARNING check)
//	A_B/2020-03  patient_id "A/B"; everything ok; DVH rows with duplicate names across sources,
//	             radiomics CSV and a different Parquet twin, a duplicate radiomics row, per-course
//	             fractions with a duplicate fraction (and other rows in Data/fractions.csv),
//	             QC with a FAIL check whose message needs escaping
//	P1/2020-01   everything ok; DVH rows naming another patient, an extra DVH column, no
//	             per-course fractions (Data/fractions.csv is used), legacy QC file name with
//	             object-form checks, an MR radiomics table, a header-only CT radiomics table
//	P3/2020-04   organize FAILED: every table of it is stale and must be left out
//
// The manifest lists P2, A_B, P1, P3 and P1 again (aggregated once).

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeCSV(t *testing.T, p string, header []string, rows ...[]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	for _, r := range rows {
		w.Write(r)
	}
	w.Flush()
	writeFile(t, p, b.Bytes())
}

func writeJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, data)
}

// testPNG returns a small PNG whose pixels depend on seed.
func testPNG(t *testing.T, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 120, 80))
	for y := 0; y < 80; y++ {
		for x := 0; x < 120; x++ {
			img.Set(x, y, color.White)
		}
	}
	for x := 0; x < 120; x++ {
		y := 10 + (x*seed)%60
		img.Set(x, y, color.RGBA{200, 40, 40, 255})
		img.Set(x, 79-x*2/3, color.RGBA{30, 90, 200, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var dvhFixtureHeader = []string{"patient_id", "course_id", "ROI_Number", "ROI_Name", "ROI_OriginalName", "Segmentation_Source",
	"structure_cropped", "DmeanGy", "Volume (cm³)", "V20Gy (%)", "rx_gy", "metric_version"}

var radFixtureHeader = []string{"patient_id", "course_id", "roi_name", "roi_original_name", "roi_number", "segmentation_source",
	"modality", "structure_cropped", "status", "mask_voxels", "params", "rtstruct_path", "course_dir", "roi_warnings",
	"diagnostics_Versions_rtpipeline", "original_shape_MeshVolume", "original_firstorder_Mean"}

var fracFixtureHeader = []string{"patient_id", "course_id", "treatment_date", "treatment_time", "treatment_time_end", "plan_sop",
	"plan_label", "fraction_number", "treatment_machine", "delivered_dose_gy", "delivered_meterset", "beams_delivered",
	"termination_status", "records_merged", "source_paths", "sop_instance_uids"}

func sentinels(t *testing.T, dir string, status map[string]string) {
	t.Helper()
	for _, st := range Stages {
		if s, ok := status[st.Name]; ok {
			writeFile(t, filepath.Join(dir, st.Sentinel), []byte(s+"\n"))
		}
	}
}

// writeFixture builds the fixture in a new temporary folder and returns it.
func writeFixture(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	writeJSONFile(t, filepath.Join(out, "_COURSES", "manifest.json"), map[string]any{"courses": []map[string]any{
		{"patient": "P2", "patient_id": "P2", "course": "2020-02", "path": "P2/2020-02", "complexity": 3, "status": "ok"},
		{"patient": "A_B", "patient_id": "A/B", "course": "2020-03", "path": "A_B/2020-03", "complexity": 4, "status": "ok"},
		{"patient": "P1", "patient_id": "P1", "course": "2020-01", "path": "P1/2020-01", "complexity": 5, "status": "ok"},
		{"patient": "P3", "patient_id": "P3", "course": "2020-04", "path": "P3/2020-04", "complexity": 6, "status": "failed: disk full"},
		{"patient": "P1", "patient_id": "P1", "course": "2020-01", "path": "P1/2020-01", "complexity": 5, "status": "ok"},
	}})
	// organize's cohort tables.
	writeCSV(t, filepath.Join(out, "Data", "case_metadata.csv"),
		[]string{"patient_id", "patient_dir", "course_id", "course_kind", "status", "total_prescription_gy", "planned_fractions", "plan_label", "beam_energies", "warnings"},
		[]string{"A/B", "A_B", "2020-03", "plan", "ok", "60", "30", "007", "6", ""},
		[]string{"P1", "P1", "2020-01", "plan", "ok", "50.4", "28", "PROSTATE", "6;10", "a | b"},
		[]string{"P1", "P1", "2020-01", "plan", "ok", "99", "99", "DUPLICATE", "", ""},
		[]string{"P2", "P2", "2020-02", "plan", "ok", "", "", "", "", ""},
		[]string{"P3", "P3", "2020-04", "plan", "failed: disk full", "", "", "STALE", "", ""},
	)
	writeCSV(t, filepath.Join(out, "Data", "fractions.csv"), fracFixtureHeader,
		[]string{"A/B", "2020-03", "2020-03-01", "080000", "", "1.2.3", "AB", "1", "M1", "9", "100", "2", "NORMAL", "1", "x", "y"},
		[]string{"A/B", "2020-03", "2020-03-02", "080000", "", "1.2.3", "AB", "2", "M1", "9", "100", "2", "NORMAL", "1", "x", "y"},
		[]string{"A/B", "2020-03", "2020-03-03", "080000", "", "1.2.3", "AB", "3", "M1", "9", "100", "2", "NORMAL", "1", "x", "y"},
		[]string{"P1", "2020-01", "2020-01-10", "093000", "093500", "1.2.9", "PROSTATE", "1", "TB1", "1.8", "250.5", "2", "NORMAL", "1", "r1.dcm", "1.9.1"},
		[]string{"P1", "2020-01", "2020-01-11", "093000", "093500", "1.2.9", "PROSTATE", "2", "TB1", "1.8", "250.5", "2", "NORMAL", "1", "r2.dcm", "1.9.2"},
		[]string{"P3", "2020-04", "2020-04-01", "", "", "1.2.7", "X", "1", "", "", "", "", "", "", "", ""},
	)

	// P2: dvh failed with a stale table and plot.
	p2 := filepath.Join(out, "P2", "2020-02")
	sentinels(t, p2, map[string]string{"organize": "ok", "dvh": "failed: dose: boom", "radiomics": "ok", "qc": "ok"})
	writeCSV(t, filepath.Join(p2, "dvh_metrics.csv"), dvhFixtureHeader,
		[]string{"P2", "2020-02", "1", "STALE", "STALE", "Manual", "false", "1", "1", "1", "", "v0"})
	writeFile(t, filepath.Join(p2, "dvh.png"), testPNG(t, 1))
	writeCSV(t, filepath.Join(p2, "radiomics_ct.csv"), radFixtureHeader,
		[]string{"P2", "2020-02", "bladder", "Bladder", "1", "Manual", "CT", "false", "ok", "1200", "ct", "RS.dcm", "P2/2020-02", "", "0.1.0", "12345.678901234567", "0.1"},
		[]string{"P2", "2020-02", "ptv", "PTV", "2", "Manual", "CT", "true", "skipped: too small", "", "", "RS.dcm", "P2/2020-02", "", "", "", ""},
	)
	writeCSV(t, filepath.Join(p2, "fractions.csv"), fracFixtureHeader,
		[]string{"P2", "2020-02", "2020-02-03", "070000", "070500", "1.2.5", "P2PLAN", "1", "TB2", "2", "300", "1", "NORMAL", "1", "f.dcm", "1.5.1"})
	writeJSONFile(t, filepath.Join(p2, "qc_reports", "qc_report.json"), map[string]any{
		"schema_version": 1, "patient_id": "P2", "course_id": "2020-02", "stage_status": "ok", "overall_status": "WARNING",
		"checks": []map[string]any{
			{"id": "files.ct", "category": "files", "status": "PASS", "message": "CT present", "objects": []string{"DICOM/CT"}, "details": map[string]any{"files": 12}},
			{"id": "dose.units", "category": "dose", "status": "WARNING", "message": "dose in CGY", "objects": []string{"RD.dcm"}, "details": map[string]any{"z": 1, "a": 2.5}},
		}})

	// A/B: everything ok.
	ab := filepath.Join(out, "A_B", "2020-03")
	sentinels(t, ab, map[string]string{"organize": "ok", "dvh": "ok", "radiomics": "ok", "qc": "ok"})
	writeCSV(t, filepath.Join(ab, "dvh_metrics.csv"), dvhFixtureHeader,
		[]string{"A/B", "2020-03", "4", "Bladder", "Bladder", "AutoRTS", "false", "20.5", "150", "40", "60", "v1"},
		[]string{"A/B", "2020-03", "1", "bladder", "bladder", "Manual", "false", "21.25", "140.5", "41", "60", "v1"},
		[]string{"A/B", "2020-03", "2", "PTV", "PTV", "Manual", "false", "60.1", "300", "100", "60", "v1"},
		[]string{"A/B", "2020-03", "3", "Rectum", "Rectum", "PlanRTSTRUCT", "false", "30", "80", "55", "60", "v1"},
		[]string{"A/B", "2020-03", "3", "rectum ", "rectum ", "Manual", "false", "31", "81", "56", "60", "v1"},
		[]string{"A/B", "2020-03", "7", "Femur_L", "Femur_L", "AutoRTS", "false", "5", "200", "1e-05", "60", "v1"},
	)
	writeFile(t, filepath.Join(ab, "dvh.png"), testPNG(t, 2))
	abRad := append(append([]string{}, radFixtureHeader[:16]...), "original_shape_Sphericity", "original_firstorder_Mean")
	writeCSV(t, filepath.Join(ab, "radiomics_ct.csv"), abRad,
		[]string{"A/B", "2020-03", "ptv", "PTV", "2", "Manual", "CT", "false", "ok", "5000", "ct", "RS.dcm", "A_B/2020-03", "", "0.1.0", "300", "0.8", "-0"},
		[]string{"A/B", "2020-03", "ptv", "PTV", "2", "Manual", "CT", "false", "ok", "5000", "ct", "RS.dcm", "A_B/2020-03", "", "0.1.0", "999", "0.9", "1"},
	)
	// A Parquet twin with other content: the CSV must be the one read.
	pt := results.NewTable("radiomics_ct", "patient_id", "course_id", "roi_name")
	pt.Add(map[string]any{"patient_id": "A/B", "course_id": "2020-03", "roi_name": "FROM_PARQUET"})
	if err := pt.WriteParquet(filepath.Join(ab, "radiomics_ct.parquet")); err != nil {
		t.Fatal(err)
	}
	writeCSV(t, filepath.Join(ab, "fractions.csv"), fracFixtureHeader,
		[]string{"A/B", "2020-03", "2020-03-01", "080000", "", "1.2.3", "AB", "1", "M1", "2", "100", "2", "NORMAL", "1", "x", "y"},
		[]string{"A/B", "2020-03", "2020-03-02", "080000", "", "1.2.3", "AB", "2", "M1", "2", "100", "2", "NORMAL", "1", "x", "y"},
		[]string{"A/B", "2020-03", "2020-03-02", "081000", "", "1.2.3", "AB", "2", "M1", "2", "100", "2", "NORMAL", "1", "x2", "y2"},
	)
	writeJSONFile(t, filepath.Join(ab, "qc_reports", "qc_report.json"), map[string]any{
		"schema_version": 1, "patient_id": "A/B", "course_id": "2020-03", "stage_status": "ok", "overall_status": "FAIL",
		"checks": []map[string]any{
			{"id": "frame_of_reference.match", "category": "frame_of_reference", "status": "FAIL", "message": "<script>alert('x')</script> & FoR differ",
				"objects": []string{"RD.dcm", "RS.dcm"}, "details": map[string]any{"b": []int{2, 1}, "a": map[string]any{"y": 1e-7, "x": "s"}}},
			{"id": "plan.rx", "category": "plan", "status": "INFO", "message": "no prescription", "objects": []string{}, "details": map[string]any{}},
		}})

	// P1: everything ok.
	p1 := filepath.Join(out, "P1", "2020-01")
	sentinels(t, p1, map[string]string{"organize": "ok", "dvh": "ok", "radiomics": "ok", "qc": "ok"})
	p1DVH := []string{"patient_id", "course_id", "ROI_Number", "ROI_Name", "Segmentation_Source", "DmeanGy", "custom_metric", "Volume (cm³)", "flag_extra"}
	writeCSV(t, filepath.Join(p1, "dvh_metrics.csv"), p1DVH,
		[]string{"OTHER", "2020-01", "1", "Bladder", "AutoRTS", "10", "0.25", "120", "007"},
		[]string{"OTHER", "2020-01", "2", "PTV", "Manual", "50", "1", "250", "8"},
	)
	writeFile(t, filepath.Join(p1, "dvh.png"), testPNG(t, 3))
	writeCSV(t, filepath.Join(p1, "radiomics_ct.csv"), radFixtureHeader)
	mrHeader := []string{"patient_id", "course_id", "roi_name", "roi_original_name", "roi_number", "segmentation_source", "modality",
		"structure_cropped", "status", "mask_voxels", "params", "series_dir", "series_uid", "nifti_path", "mask_path", "mr_normalize",
		"course_dir", "roi_warnings", "original_firstorder_Mean"}
	writeCSV(t, filepath.Join(p1, "MR", "radiomics_mr.csv"), mrHeader,
		[]string{"P1", "2020-01", "liver", "liver", "", "AutoTS_total_mr", "MR", "false", "ok", "900", "mr", "MR/1.2", "1.2", "", "m.nii.gz", "true", "P1/2020-01", "", "3.5"})
	writeJSONFile(t, filepath.Join(p1, "qc_reports", "qc_report_P1_2020-01.json"), map[string]any{
		"patient_id": "P1", "course_id": "2020-01",
		"checks": json.RawMessage(`{"file_existence": {"CT": true, "RP": true}, "ct_validation": {"status": "pass", "message": "ok"}}`)})

	// P3: organize failed; stale outputs everywhere.
	p3 := filepath.Join(out, "P3", "2020-04")
	sentinels(t, p3, map[string]string{"organize": "failed: disk full", "dvh": "ok", "radiomics": "ok", "qc": "ok"})
	writeCSV(t, filepath.Join(p3, "dvh_metrics.csv"), dvhFixtureHeader,
		[]string{"P3", "2020-04", "1", "STALE", "STALE", "Manual", "false", "1", "1", "1", "", "v0"})
	writeFile(t, filepath.Join(p3, "dvh.png"), testPNG(t, 4))
	writeCSV(t, filepath.Join(p3, "fractions.csv"), fracFixtureHeader,
		[]string{"P3", "2020-04", "2020-04-01", "", "", "1.2.7", "X", "1", "", "", "", "", "", "", "", ""})
	writeJSONFile(t, filepath.Join(p3, "qc_reports", "qc_report.json"), map[string]any{"overall_status": "FAIL",
		"checks": []map[string]any{{"id": "stale.check", "status": "FAIL", "message": "STALE"}}})
	return out
}
