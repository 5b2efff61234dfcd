package aggregate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dvh"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// TestSyntheticCohort runs organize and dvh on a small synthetic cohort and aggregates it: the
// real course tables must hold only known columns, every row must arrive once, and organize's
// Data tables must agree with the per-course ones.
func TestSyntheticCohort(t *testing.T) {
	if testing.Short() {
		t.Skip("synthetic cohort: skipped with -short")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := synth.Generate(ctx, filepath.Join(dir, "in"), synth.Options{Patients: 4, Seed: 3, Matrix: 32, MinSlices: 8, MaxSlices: 10, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	opts := organize.DefaultOptions()
	opts.Workers = 2
	_, outcomes, err := organize.Run(ctx, filepath.Join(dir, "in", "dicom"), out, organize.RunOptions{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	dvhRows, plots := 0, 0
	for _, oc := range outcomes {
		if oc.Status != "ok" {
			continue
		}
		cdir := filepath.Join(out, filepath.FromSlash(oc.Dir))
		r, err := dvh.RunCourse(ctx, cdir, dvh.StageOptions{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		dvhRows += r.Rows
		if _, err := os.Stat(filepath.Join(cdir, "dvh.png")); err == nil && r.Status != "skipped" {
			plots++
		}
	}
	if dvhRows == 0 || plots == 0 {
		t.Fatalf("the synthetic cohort gave %d DVH rows, %d plots", dvhRows, plots)
	}
	res, err := Run(ctx, out, Options{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	rdir := filepath.Join(out, ResultsDir)
	for _, def := range Tables() {
		recs := readCSVFile(t, filepath.Join(rdir, def.Name+".csv"))
		if len(recs[0]) != len(def.Columns) {
			t.Errorf("%s: %d columns, %d known: the stage writes columns aggregate does not know: %v", def.Name, len(recs[0]), len(def.Columns), recs[0][len(def.Columns):])
		}
		if s := summary(t, res, def.Name); len(s.Dropped) > 0 {
			t.Errorf("%s: duplicates dropped from real stage output: %v", def.Name, s.Dropped)
		}
	}
	if s := summary(t, res, "dvh_metrics"); s.Rows != dvhRows {
		t.Errorf("dvh_metrics: %d rows, the courses wrote %d", s.Rows, dvhRows)
	}
	// organize's cohort tables: the same columns (aggregate moves the keys first) and rows.
	dataCM := readCSVFile(t, filepath.Join(out, "Data", "case_metadata.csv"))
	cm := readCSVFile(t, filepath.Join(rdir, "case_metadata.csv"))
	a, b := slices.Clone(dataCM[0]), slices.Clone(cm[0])
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Errorf("case_metadata columns differ from Data/case_metadata.csv:\n%v\n%v", dataCM[0], cm[0])
	}
	if len(cm) != len(dataCM) {
		t.Errorf("case_metadata: %d rows, Data has %d", len(cm)-1, len(dataCM)-1)
	}
	if dataFr, fr := readCSVFile(t, filepath.Join(out, "Data", "fractions.csv")), readCSVFile(t, filepath.Join(rdir, "fractions.csv")); len(fr) != len(dataFr) || !slices.Equal(fr[0], dataFr[0]) {
		t.Errorf("fractions: %d rows, Data has %d", len(fr)-1, len(dataFr)-1)
	}
	data, err := os.ReadFile(filepath.Join(rdir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	els, _ := parseReport(t, data)
	imgs := 0
	for _, e := range els {
		if e.name == "img" {
			imgs++
		}
	}
	if imgs != plots {
		t.Errorf("report shows %d plots, %d courses have one", imgs, plots)
	}
}
