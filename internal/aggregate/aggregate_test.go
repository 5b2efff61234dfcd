package aggregate

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/rtpipeline/rtpipeline/internal/results"
)

func runFixture(t *testing.T, out string, workers int) Result {
	t.Helper()
	res, err := Run(context.Background(), out, Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readCSVFile(t *testing.T, p string) [][]string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return recs
}

// column returns the cells of one column (by name) of a CSV read with readCSVFile.
func column(t *testing.T, recs [][]string, name string) []string {
	t.Helper()
	i := slices.Index(recs[0], name)
	if i < 0 {
		t.Fatalf("no column %q in %v", name, recs[0])
	}
	var out []string
	for _, r := range recs[1:] {
		out = append(out, r[i])
	}
	return out
}

func summary(t *testing.T, res Result, name string) TableSummary {
	t.Helper()
	for _, s := range res.Tables {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no table %s in the result", name)
	return TableSummary{}
}

func skippedPaths(s TableSummary) map[string]string {
	m := map[string]string{}
	for _, c := range s.Skipped {
		m[c.Path] = c.Reason
	}
	return m
}

func TestKeysOrderAndGating(t *testing.T) {
	out := writeFixture(t)
	res := runFixture(t, out, 2)
	dir := filepath.Join(out, ResultsDir)
	if data, _ := os.ReadFile(filepath.Join(dir, Sentinel)); string(data) != "ok\n" {
		t.Fatalf("sentinel %q", data)
	}
	if res.Patients != 4 || len(res.Courses) != 4 {
		t.Fatalf("patients %d, courses %d (P1 is listed twice in the manifest)", res.Patients, len(res.Courses))
	}
	var paths []string
	for _, c := range res.Courses {
		paths = append(paths, c.Path)
	}
	if want := []string{"P2/2020-02", "A_B/2020-03", "P1/2020-01", "P3/2020-04"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("course order %v, want the manifest's %v", paths, want)
	}
	for _, def := range Tables() {
		recs := readCSVFile(t, filepath.Join(dir, def.Name+".csv"))
		if recs[0][0] != "patient_id" || recs[0][1] != "course_id" {
			t.Errorf("%s: first columns %v", def.Name, recs[0][:2])
		}
		for i, c := range def.Columns {
			if recs[0][i] != c.Name {
				t.Fatalf("%s: column %d is %q, want the known column %q", def.Name, i, recs[0][i], c.Name)
			}
		}
		for _, pid := range column(t, recs, "patient_id") {
			if pid == "P3" {
				t.Errorf("%s: rows of P3, whose organize failed", def.Name)
			}
		}
		if r := skippedPaths(summary(t, res, def.Name))["P3/2020-04"]; r != "organize: failed: disk full" {
			t.Errorf("%s: P3 skip reason %q", def.Name, r)
		}
	}

	// dvh_metrics: P2's dvh failed, so its stale table is left out.
	dvh := readCSVFile(t, filepath.Join(dir, "dvh_metrics.csv"))
	if got, want := column(t, dvh, "patient_id"), []string{"A/B", "A/B", "A/B", "A/B", "P1", "P1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dvh patient_id %v, want %v", got, want)
	}
	if got, want := column(t, dvh, "ROI_Name"), []string{"bladder", "PTV", "Rectum", "Femur_L", "Bladder", "PTV"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dvh ROI_Name %v, want %v", got, want)
	}
	ds := summary(t, res, "dvh_metrics")
	if r := skippedPaths(ds)["P2/2020-02"]; r != "dvh: failed: dose: boom" {
		t.Errorf("P2 skip reason %q", r)
	}
	if ds.Courses != 2 || ds.Rows != 6 {
		t.Errorf("dvh summary %+v", ds)
	}
	// Extra columns after the known ones, in first-seen order.
	if tail := dvh[0][len(dvh[0])-2:]; !reflect.DeepEqual(tail, []string{"custom_metric", "flag_extra"}) {
		t.Errorf("dvh extra columns %v", tail)
	}
	// P1's rows named another patient: the folder's identity wins, with a warning.
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, `"OTHER"`) && strings.Contains(w, "P1/2020-01") }) {
		t.Errorf("no identity warning for P1: %v", res.Warnings)
	}

	// radiomics: the CSV is read (not its Parquet twin); extra columns merged by position.
	rad := readCSVFile(t, filepath.Join(dir, "radiomics_ct.csv"))
	if got, want := rad[0][len(radiomicsIdentity(false)):], []string{"diagnostics_Versions_rtpipeline", "original_shape_MeshVolume",
		"original_shape_Sphericity", "original_firstorder_Mean"}; !reflect.DeepEqual(got, want) {
		t.Errorf("radiomics feature columns %v, want %v", got, want)
	}
	if got, want := column(t, rad, "roi_name"), []string{"bladder", "ptv", "ptv"}; !reflect.DeepEqual(got, want) {
		t.Errorf("radiomics roi_name %v, want %v", got, want)
	}
	if got := column(t, rad, "original_shape_MeshVolume"); !reflect.DeepEqual(got, []string{"12345.678901234567", "", "300"}) {
		t.Errorf("MeshVolume %v (values must be the course tables' text)", got)
	}
	rs := summary(t, res, "radiomics_ct")
	if rs.Courses != 3 || len(rs.Dropped) != 1 {
		t.Errorf("radiomics_ct summary %+v", rs)
	}
	mr := summary(t, res, "radiomics_mr")
	if mr.Rows != 1 || mr.Courses != 1 || len(mr.Skipped) != 1 {
		t.Errorf("radiomics_mr summary %+v (courses without MR are not left out)", mr)
	}

	// case_metadata: one row per course, from Data/.
	cm := readCSVFile(t, filepath.Join(dir, "case_metadata.csv"))
	if got := column(t, cm, "patient_dir"); !reflect.DeepEqual(got, []string{"P2", "A_B", "P1"}) {
		t.Errorf("case_metadata patient_dir %v", got)
	}
	if got := column(t, cm, "plan_label"); !reflect.DeepEqual(got, []string{"", "007", "PROSTATE"}) {
		t.Errorf("case_metadata plan_label %v", got)
	}
	if s := summary(t, res, "case_metadata"); len(s.Dropped) != 1 || !strings.Contains(s.Dropped[0], "P1/2020-01") {
		t.Errorf("case_metadata dropped %v", s.Dropped)
	}

	// fractions: the course's own table, once; Data/fractions.csv only when the course has none.
	fr := readCSVFile(t, filepath.Join(dir, "fractions.csv"))
	if got := column(t, fr, "patient_id"); !reflect.DeepEqual(got, []string{"P2", "A/B", "A/B", "P1", "P1"}) {
		t.Errorf("fractions patient_id %v", got)
	}
	if got := column(t, fr, "delivered_dose_gy"); !reflect.DeepEqual(got, []string{"2", "2", "2", "1.8", "1.8"}) {
		t.Errorf("fractions delivered_dose_gy %v (A/B must come from its own fractions.csv)", got)
	}
	if got := column(t, fr, "treatment_time"); !reflect.DeepEqual(got, []string{"070000", "080000", "080000", "093000", "093000"}) {
		t.Errorf("fractions treatment_time %v", got)
	}

	// qc_reports: long form, one row per check.
	qc := readCSVFile(t, filepath.Join(dir, "qc_reports.csv"))
	if got, want := column(t, qc, "check_id"), []string{"files.ct", "dose.units", "frame_of_reference.match", "plan.rx", "file_existence", "ct_validation"}; !reflect.DeepEqual(got, want) {
		t.Errorf("qc check_id %v, want %v", got, want)
	}
	if got, want := column(t, qc, "overall_status"), []string{"WARNING", "WARNING", "FAIL", "FAIL", "PASS", "PASS"}; !reflect.DeepEqual(got, want) {
		t.Errorf("qc overall_status %v, want %v", got, want)
	}
	if got, want := column(t, qc, "check_status"), []string{"PASS", "WARNING", "FAIL", "INFO", "", "PASS"}; !reflect.DeepEqual(got, want) {
		t.Errorf("qc check_status %v, want %v", got, want)
	}
	if got, want := column(t, qc, "check_details")[2], `{"a":{"x":"s","y":1e-7},"b":[2,1]}`; got != want {
		t.Errorf("qc details %s, want %s", got, want)
	}
	if got, want := column(t, qc, "check_details")[4], `{"CT":true,"RP":true}`; got != want {
		t.Errorf("qc details %s, want %s", got, want)
	}
	if got := column(t, qc, "report_file")[4]; got != "qc_reports/qc_report_P1_2020-01.json" {
		t.Errorf("legacy report file %q", got)
	}
	if got := column(t, qc, "check_objects")[2]; got != "RD.dcm; RS.dcm" {
		t.Errorf("qc objects %q", got)
	}
	for _, c := range res.Courses {
		if c.Path == "A_B/2020-03" && c.QCStatus != "FAIL" {
			t.Errorf("A/B QC status %q", c.QCStatus)
		}
	}
}

// TestDedupPerCourse checks the duplicate rules: within a course only, by source priority for
// DVH rows, and every course table read from one file.
func TestDedupPerCourse(t *testing.T) {
	out := writeFixture(t)
	res := runFixture(t, out, 1)
	dir := filepath.Join(out, ResultsDir)
	dvh := readCSVFile(t, filepath.Join(dir, "dvh_metrics.csv"))
	src := column(t, dvh, "Segmentation_Source")
	names := column(t, dvh, "ROI_Name")
	dmean := column(t, dvh, "DmeanGy")
	type row struct{ name, src, dmean string }
	var got []row
	for i := range names {
		got = append(got, row{names[i], src[i], dmean[i]})
	}
	want := []row{
		{"bladder", "Manual", "21.25"},   // Manual wins over the earlier AutoRTS "Bladder"
		{"PTV", "Manual", "60.1"},        //
		{"Rectum", "PlanRTSTRUCT", "30"}, // PlanRTSTRUCT counts as manual and wins over Manual "rectum "
		{"Femur_L", "AutoRTS", "5"},      //
		{"Bladder", "AutoRTS", "10"},     // another course: an AutoRTS Bladder is kept (per-course rule)
		{"PTV", "Manual", "50"},          //
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dvh rows\n got %v\nwant %v", got, want)
	}
	dropped := summary(t, res, "dvh_metrics").Dropped
	if len(dropped) != 2 || !strings.Contains(dropped[0], `"AutoRTS"`) || !strings.Contains(dropped[1], `ROI_Name="rectum "`) {
		t.Errorf("dvh dropped %q", dropped)
	}
	fr := summary(t, res, "fractions")
	if fr.Rows != 5 || len(fr.Dropped) != 1 || !strings.Contains(fr.Dropped[0], "A_B/2020-03") {
		t.Errorf("fractions %+v", fr)
	}
}

func TestEmptyInputsGiveHeaderOnlyTables(t *testing.T) {
	out := t.TempDir()
	writeFile(t, filepath.Join(out, "_COURSES", "manifest.json"), []byte(`{"courses": []}`))
	res := runFixture(t, out, 3)
	dir := filepath.Join(out, ResultsDir)
	if res.Patients != 0 || len(res.Courses) != 0 {
		t.Fatalf("%+v", res)
	}
	for _, def := range Tables() {
		names := columnNames(def.Columns)
		recs := readCSVFile(t, filepath.Join(dir, def.Name+".csv"))
		if len(recs) != 1 || !reflect.DeepEqual(recs[0], names) {
			t.Errorf("%s.csv: %v", def.Name, recs)
		}
		pt, err := results.ReadParquet(filepath.Join(dir, def.Name+".parquet"))
		if err != nil || len(pt.Rows) != 0 || !reflect.DeepEqual(pt.Columns, names) {
			t.Errorf("%s.parquet: %v %v", def.Name, err, pt)
		}
		rows := xlsxRows(t, filepath.Join(dir, def.Name+".xlsx"))
		if len(rows) != 1 || !reflect.DeepEqual(rows[0], names) {
			t.Errorf("%s.xlsx: %v", def.Name, rows)
		}
	}
	for _, f := range []string{ReadmeFile, ReportFile, SummaryFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestMissingManifestFails(t *testing.T) {
	out := t.TempDir()
	if _, err := Run(context.Background(), out, Options{}); err == nil || !strings.Contains(err.Error(), "run organize first") {
		t.Fatalf("err %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(out, ResultsDir, Sentinel))
	if !strings.HasPrefix(string(data), "failed: course manifest") {
		t.Errorf("sentinel %q", data)
	}
}

func TestCancelled(t *testing.T) {
	out := writeFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, out, Options{Workers: 2}); err == nil {
		t.Fatal("no error for a cancelled context")
	}
	data, _ := os.ReadFile(filepath.Join(out, ResultsDir, Sentinel))
	if !strings.HasPrefix(string(data), "failed: ") {
		t.Errorf("sentinel %q", data)
	}
}

// xlsxRows reads the only sheet of a workbook as raw cell values, rows padded to the header.
func xlsxRows(t *testing.T, p string) [][]string {
	t.Helper()
	f, err := excelize.OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) != 1 {
		t.Fatalf("%s: sheets %v", p, sheets)
	}
	rows, err := f.GetRows(sheets[0], excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		for len(rows[i]) < len(rows[0]) {
			rows[i] = append(rows[i], "")
		}
	}
	return rows
}

// sameValue tells whether an XLSX raw cell holds the value of a CSV cell. excelize (v2.11)
// writes numbers cut (not rounded) to Excel's 15 significant digits, so numbers are compared to
// a relative 1e-14 (the CSV and Parquet files hold them exactly).
func sameValue(csvText, xlsx string) bool {
	if csvText == xlsx {
		return true
	}
	switch csvText {
	case "true":
		return xlsx == "1" || strings.EqualFold(xlsx, "TRUE")
	case "false":
		return xlsx == "0" || strings.EqualFold(xlsx, "FALSE")
	}
	a, err1 := strconv.ParseFloat(csvText, 64)
	b, err2 := strconv.ParseFloat(xlsx, 64)
	return err1 == nil && err2 == nil && math.Abs(a-b) <= 1e-14*math.Abs(a)
}

// TestFormatsHoldTheSameValues reads every table back from its three files.
func TestFormatsHoldTheSameValues(t *testing.T) {
	out := writeFixture(t)
	runFixture(t, out, 4)
	dir := filepath.Join(out, ResultsDir)
	for _, def := range Tables() {
		recs := readCSVFile(t, filepath.Join(dir, def.Name+".csv"))
		pt, err := results.ReadParquet(filepath.Join(dir, def.Name+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		xr := xlsxRows(t, filepath.Join(dir, def.Name+".xlsx"))
		if !reflect.DeepEqual(pt.Columns, recs[0]) || !reflect.DeepEqual(xr[0], recs[0]) {
			t.Fatalf("%s: headers differ:\ncsv     %v\nparquet %v\nxlsx    %v", def.Name, recs[0], pt.Columns, xr[0])
		}
		if len(pt.Rows) != len(recs)-1 || len(xr) != len(recs) {
			t.Fatalf("%s: rows csv %d, parquet %d, xlsx %d", def.Name, len(recs)-1, len(pt.Rows), len(xr)-1)
		}
		for r, rec := range recs[1:] {
			for c, text := range rec {
				if p := results.FormatCell(pt.Rows[r][c]); p != text {
					t.Errorf("%s row %d %s: parquet %q, csv %q", def.Name, r+1, rec[c], p, text)
				}
				if x := xr[r+1][c]; !sameValue(text, x) {
					t.Errorf("%s row %d column %s: xlsx %q, csv %q", def.Name, r+1, recs[0][c], x, text)
				}
			}
		}
	}
	// Types: known columns by their kind, others inferred; text that would change stays text.
	check := func(table, col string, row int, want any) {
		t.Helper()
		pt, err := results.ReadParquet(filepath.Join(dir, table+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(pt.Columns, col)
		if got := pt.Rows[row][i]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s.%s row %d: %#v, want %#v", table, col, row, got, want)
		}
	}
	check("dvh_metrics", "DmeanGy", 0, 21.25)
	check("dvh_metrics", "ROI_Number", 0, int64(1))
	check("dvh_metrics", "structure_cropped", 0, false)
	check("dvh_metrics", "V20Gy (%)", 3, 1e-05)
	check("dvh_metrics", "custom_metric", 4, 0.25)
	check("dvh_metrics", "flag_extra", 4, "007")
	check("dvh_metrics", "flag_extra", 5, "8")
	check("case_metadata", "plan_label", 1, "007")
	check("case_metadata", "beam_energies", 1, "6")
	check("case_metadata", "planned_fractions", 1, int64(30))
	check("case_metadata", "total_prescription_gy", 2, 50.4)
	check("radiomics_ct", "original_firstorder_Mean", 2, -0.0)
	check("radiomics_ct", "diagnostics_Versions_rtpipeline", 0, "0.1.0")
	check("radiomics_mr", "mr_normalize", 0, true)
	check("fractions", "treatment_time", 0, "070000")
}

// TestByteIdenticalForAnyWorkerCount runs twice with different worker counts.
func TestByteIdenticalForAnyWorkerCount(t *testing.T) {
	out := writeFixture(t)
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		entries, err := os.ReadDir(filepath.Join(out, ResultsDir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(out, ResultsDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			m[e.Name()] = data
		}
		return m
	}
	runFixture(t, out, 1)
	a := snapshot()
	runFixture(t, out, 8)
	b := snapshot()
	if len(a) != 3*len(Tables())+4 {
		t.Errorf("%d files in _RESULTS", len(a))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs between 1 and 8 workers", name)
		}
	}
	// No temporary files are left behind.
	for name := range b {
		if strings.Contains(name, ".tmp-") {
			t.Errorf("temporary file %s left", name)
		}
	}
}
