package synth

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// testOptions is the cohort most tests share: every scenario (18 patients, because one
// scenario takes two), small images so that the race detector stays fast, and some noise so
// the noisy path is covered by the determinism test too.
var testOptions = Options{Patients: 18, Seed: 7, Matrix: 64, MinSlices: 16, MaxSlices: 24, NoiseHU: 2, Workers: 4}

var (
	cohortOnce  sync.Once
	cohortDir   string
	cohortTruth *Truth
	cohortErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cohortDir != "" {
		os.RemoveAll(filepath.Dir(cohortDir))
	}
	os.Exit(code)
}

// cohort generates the shared cohort once per test binary.
func cohort(t *testing.T) (string, *Truth) {
	t.Helper()
	cohortOnce.Do(func() {
		base, err := os.MkdirTemp("", "synth-test-")
		if err != nil {
			cohortErr = err
			return
		}
		cohortDir = filepath.Join(base, "a")
		cohortTruth, cohortErr = Generate(context.Background(), cohortDir, testOptions)
	})
	if cohortErr != nil {
		t.Fatalf("generating the test cohort: %v", cohortErr)
	}
	return cohortDir, cohortTruth
}

func dicomPath(dir string, f FileTruth) string {
	return filepath.Join(dir, "dicom", filepath.FromSlash(f.Path))
}

// hashTree maps every file below root (by slash-separated relative path) to its SHA-256.
func hashTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		h, err := fsutil.FileSHA256(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = h
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	dir, _ := cohort(t)
	other := filepath.Join(filepath.Dir(dir), "b")
	opt := testOptions
	opt.Workers = 1
	if _, err := Generate(context.Background(), other, opt); err != nil {
		t.Fatal(err)
	}
	a, b := hashTree(t, dir), hashTree(t, other)
	if len(a) != len(b) {
		t.Fatalf("%d files with 4 workers, %d with 1", len(a), len(b))
	}
	for p, h := range a {
		if b[p] != h {
			t.Errorf("%s differs between worker counts", p)
		}
	}
	if _, ok := a["truth.json"]; !ok {
		t.Error("truth.json missing")
	}
	if _, err := Generate(context.Background(), other, opt); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("regenerating into a used folder: error %v, want one saying it is not empty", err)
	}
}

func TestTruthFileMatchesReturnedTruth(t *testing.T) {
	dir, truth := cohort(t)
	data, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk Truth
	if err := json.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	again, err := onDisk.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Error("truth.json does not round-trip through Truth")
	}
	want, _ := truth.marshal()
	if !bytes.Equal(want, data) {
		t.Error("truth.json differs from the returned truth")
	}
	if strings.Contains(string(data), `"workers"`) {
		t.Error("the worker count must not be recorded: it would make outputs differ")
	}
}

func TestEveryFileAccountedFor(t *testing.T) {
	dir, truth := cohort(t)
	seen := map[string]bool{}
	for _, p := range truth.Patients {
		for _, f := range p.Files {
			if seen[f.Path] {
				t.Errorf("%s listed twice", f.Path)
			}
			seen[f.Path] = true
		}
	}
	onDisk := hashTree(t, filepath.Join(dir, "dicom"))
	for p := range onDisk {
		if !seen[p] {
			t.Errorf("%s is on disk but not in the truth", p)
		}
	}
	for p := range seen {
		if _, ok := onDisk[p]; !ok {
			t.Errorf("%s is in the truth but not on disk", p)
		}
	}
	for _, p := range truth.Patients {
		for _, f := range p.Files {
			hdr, err := dicomio.ReadHeader(dicomPath(dir, f))
			switch f.Category {
			case CategoryUnreadable:
				if err == nil {
					t.Errorf("%s (%s) should not be readable", f.Path, f.ReasonHint)
				}
				continue
			case CategoryDuplicate:
				if f.DuplicateOf == "" || f.DuplicateOf >= f.Path || onDisk[f.DuplicateOf] != onDisk[f.Path] {
					t.Errorf("%s: duplicate of %q must be byte-identical and sort first", f.Path, f.DuplicateOf)
				}
			}
			if err != nil {
				t.Errorf("%s: %v", f.Path, err)
				continue
			}
			if got := hdr.String(dicomio.TagSOPInstanceUID); got != f.SOPInstanceUID {
				t.Errorf("%s: SOP instance %s, truth %s", f.Path, got, f.SOPInstanceUID)
			}
			if got := hdr.String(dicomio.TagModality); got != f.Modality {
				t.Errorf("%s: modality %s, truth %s", f.Path, got, f.Modality)
			}
			if got := hdr.String(dicomio.TagPatientID); got != p.PatientID {
				t.Errorf("%s: patient %q, truth %q", f.Path, got, p.PatientID)
			}
			if hdr.TransferSyntax != p.TransferSyntax {
				t.Errorf("%s: transfer syntax %s, truth %s", f.Path, hdr.TransferSyntax, p.TransferSyntax)
			}
		}
	}
}

// patientsWith returns the patients of a scenario.
func patientsWith(truth *Truth, scenario string) []PatientTruth {
	var out []PatientTruth
	for _, p := range truth.Patients {
		if p.Scenario == scenario {
			out = append(out, p)
		}
	}
	return out
}

func filesWhere(p PatientTruth, keep func(FileTruth) bool) []FileTruth {
	var out []FileTruth
	for _, f := range p.Files {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

func TestScenarioTruth(t *testing.T) {
	dir, truth := cohort(t)
	one := func(t *testing.T, p PatientTruth) CourseTruth {
		t.Helper()
		if len(p.Courses) != 1 {
			t.Fatalf("%d courses, want 1", len(p.Courses))
		}
		return p.Courses[0]
	}
	completeCourse := func(t *testing.T, c CourseTruth) {
		t.Helper()
		if c.CTSeriesUID == "" || c.CTSelection != CTReferenced || c.RTStructUID == "" || len(c.PlanUIDs) == 0 {
			t.Errorf("incomplete course: CT %q (%s), RTSTRUCT %q, plans %v", c.CTSeriesUID, c.CTSelection, c.RTStructUID, c.PlanUIDs)
		}
		if c.FractionsDelivered != c.FractionsPlanned || c.RxGy <= 0 || c.RxSource != "target_prescription_dose" {
			t.Errorf("rx %v from %s, fractions %d/%d", c.RxGy, c.RxSource, c.FractionsDelivered, c.FractionsPlanned)
		}
	}
	singleDose := func(t *testing.T, c CourseTruth) {
		t.Helper()
		completeCourse(t, c)
		if c.ExpectedDose.Decision != DecisionSingleDose || len(c.DoseUIDs) != 1 || !slices.Equal(c.ExpectedDose.DoseUIDs, c.DoseUIDs) ||
			c.DoseSummationTypes[0] != "PLAN" || c.ExpectedDose.MaxGy != c.RxGy {
			t.Errorf("dose: %+v, doses %v %v", c.ExpectedDose, c.DoseUIDs, c.DoseSummationTypes)
		}
	}
	categories := func(p PatientTruth) map[string]int {
		out := map[string]int{}
		for _, f := range p.Files {
			out[f.Category]++
		}
		return out
	}
	cases := []struct {
		scenario string
		check    func(t *testing.T, p PatientTruth)
	}{
		{ScenarioSingleCourse, func(t *testing.T, p PatientTruth) { singleDose(t, one(t, p)) }},
		{ScenarioPrimaryBoost, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			completeCourse(t, c)
			if len(c.Plans) != 2 || c.Plans[0].Label != "PRIMARY" || !strings.Contains(c.Plans[1].Label, "Boost") || c.Plans[1].Date <= c.Plans[0].Date {
				t.Fatalf("plans %+v", c.Plans)
			}
			if c.RxGy != 60 || c.FractionsPlanned != 30 || c.ExpectedDose.Decision != DecisionPrimaryBoostSummed ||
				!slices.Equal(c.ExpectedDose.DoseUIDs, c.DoseUIDs) || c.ExpectedDose.MaxGy != 60 {
				t.Errorf("rx %v/%d, dose %+v", c.RxGy, c.FractionsPlanned, c.ExpectedDose)
			}
			primary, boost := c.Doses[0], c.Doses[1]
			if !(boost.SpacingMM < primary.SpacingMM && float64(boost.Size[0])*boost.SpacingMM < float64(primary.Size[0])*primary.SpacingMM) {
				t.Errorf("boost grid %v mm x %d is not finer and smaller than primary %v mm x %d", boost.SpacingMM, boost.Size[0], primary.SpacingMM, primary.Size[0])
			}
		}},
		{ScenarioPlanSum, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			if !slices.Equal(c.DoseSummationTypes, []string{"PLAN", "PLAN", "PLAN_SUM"}) || c.ExpectedDose.Decision != DecisionPlanSumUsed ||
				!slices.Equal(c.ExpectedDose.DoseUIDs, c.DoseUIDs[2:]) || c.RxGy != 60 {
				t.Fatalf("doses %v, expected %+v", c.DoseSummationTypes, c.ExpectedDose)
			}
			if !slices.Equal(c.Doses[2].ReferencedPlanUIDs, c.PlanUIDs) || c.Doses[2].MaxGy != 60 {
				t.Errorf("PLAN_SUM refs %v, max %v", c.Doses[2].ReferencedPlanUIDs, c.Doses[2].MaxGy)
			}
		}},
		{ScenarioTwoCourses, func(t *testing.T, p PatientTruth) {
			if len(p.Courses) != 2 || p.Courses[0].StudyUID == p.Courses[1].StudyUID || p.Courses[0].Month >= p.Courses[1].Month {
				t.Fatalf("courses %+v", p.Courses)
			}
			for _, c := range p.Courses {
				singleDose(t, c)
			}
		}},
		{ScenarioTwoCoursesSameMonth, func(t *testing.T, p PatientTruth) {
			if len(p.Courses) != 2 || p.Courses[0].Month != p.Courses[1].Month || p.Courses[0].StudyUID == p.Courses[1].StudyUID ||
				p.Courses[0].CTSeriesUID == p.Courses[1].CTSeriesUID || p.Courses[0].StartDate >= p.Courses[1].StartDate {
				t.Fatalf("courses %+v", p.Courses)
			}
			for _, c := range p.Courses {
				singleDose(t, c)
			}
		}},
		{ScenarioReplan, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			completeCourse(t, c)
			a, b := c.Plans[0], c.Plans[1]
			if !(strings.Contains(b.Label, "replan") || strings.Contains(b.Label, "v2")) || a.RxGy != b.RxGy || b.Date <= a.Date {
				t.Errorf("plans %+v", c.Plans)
			}
			if c.ExpectedDose.Decision != DecisionReplanITTFirst || len(c.ExpectedDose.DoseUIDs) != 1 ||
				!slices.Equal(c.Doses[slices.IndexFunc(c.Doses, func(d DoseTruth) bool { return d.SOPInstanceUID == c.ExpectedDose.DoseUIDs[0] })].ReferencedPlanUIDs, []string{a.SOPInstanceUID}) {
				t.Errorf("expected dose %+v is not plan A's", c.ExpectedDose)
			}
			perPlan := map[string]int{}
			for _, f := range c.Fractions {
				perPlan[f.PlanUID]++
			}
			if perPlan[a.SOPInstanceUID] != 10 || perPlan[b.SOPInstanceUID] != 20 || c.FractionsDelivered != 30 {
				t.Errorf("fractions per plan %v", perPlan)
			}
		}},
		{ScenarioBeamDosesOnly, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			completeCourse(t, c)
			pl := c.Plans[0]
			if pl.Beams < 3 || pl.Beams > 5 || len(c.Doses) != pl.Beams || c.ExpectedDose.Decision != DecisionBeamDosesSummed {
				t.Fatalf("%d beams, %d doses, %+v", pl.Beams, len(c.Doses), c.ExpectedDose)
			}
			sum := 0.0
			for _, d := range c.Doses {
				if d.SummationType != "BEAM" || len(d.ReferencedBeams) != 1 {
					t.Errorf("dose %+v", d)
				}
				sum += d.MaxGy
			}
			if math.Abs(sum-pl.RxGy) > 1e-9 || math.Abs(c.ExpectedDose.MaxGy-pl.RxGy) > 1e-9 {
				t.Errorf("beam doses sum to %v, rx %v", sum, pl.RxGy)
			}
		}},
		{ScenarioMissingDose, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			if len(c.DoseUIDs) != 0 || c.ExpectedDose.Decision != DecisionNoDose || c.RxGy <= 0 || c.Plans[0].Approval != "UNAPPROVED" {
				t.Errorf("course %+v", c)
			}
		}},
		{ScenarioOrphanDose, func(t *testing.T, p PatientTruth) {
			singleDose(t, one(t, p))
			orphans := filesWhere(p, func(f FileTruth) bool { return f.Category == CategoryOrphan })
			if len(orphans) != 1 || orphans[0].Modality != "RTDOSE" {
				t.Fatalf("orphans %+v", orphans)
			}
			hdr, err := dicomio.ReadHeader(dicomPath(dir, orphans[0]))
			if err != nil {
				t.Fatal(err)
			}
			ref := hdr.First(dicomio.TagReferencedRTPlanSequence).String(dicomio.TagReferencedSOPInstanceUID)
			for _, q := range truth.Patients {
				for _, f := range q.Files {
					if f.SOPInstanceUID == ref {
						t.Errorf("the orphan's plan %s exists as %s", ref, f.Path)
					}
				}
			}
		}},
		{ScenarioDuplicateFile, func(t *testing.T, p PatientTruth) {
			singleDose(t, one(t, p))
			dups := filesWhere(p, func(f FileTruth) bool { return f.Category == CategoryDuplicate })
			if len(dups) != 2 || dups[0].Modality == dups[1].Modality {
				t.Errorf("duplicates %+v", dups)
			}
		}},
		{ScenarioTruncatedFile, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			singleDose(t, c)
			bad := filesWhere(p, func(f FileTruth) bool { return f.Category == CategoryUnreadable })
			if len(bad) != 2 {
				t.Fatalf("unreadable %+v", bad)
			}
			for _, f := range bad {
				if _, err := dicomio.ReadHeader(dicomPath(dir, f)); err == nil || !strings.Contains(err.Error(), "truncated") {
					t.Errorf("%s: error %v, want truncated", f.Path, err)
				}
			}
			cts := filesWhere(p, func(f FileTruth) bool { return f.Modality == "CT" && f.Category == CategoryPlaced })
			if len(cts) != c.CTSlices {
				t.Errorf("%d readable CT files, course CT has %d slices", len(cts), c.CTSlices)
			}
		}},
		{ScenarioNonDICOM, func(t *testing.T, p PatientTruth) {
			singleDose(t, one(t, p))
			bad := filesWhere(p, func(f FileTruth) bool { return f.Category == CategoryUnreadable })
			if len(bad) != 2 || !strings.HasSuffix(bad[0].Path, "notes.txt") || !strings.HasSuffix(bad[1].Path, "scan.jpg") {
				t.Errorf("unreadable %+v", bad)
			}
		}},
		{ScenarioRTStructOnly, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			if c.RTStructUID == "" || c.CTSelection != CTReferenced || len(c.PlanUIDs)+len(c.DoseUIDs) != 0 ||
				c.ExpectedDose.Decision != DecisionNoDose || c.RxGy != 0 || c.RxSource != "none" || len(c.ROIs) != 8 {
				t.Errorf("course %+v", c)
			}
		}},
		{ScenarioCTOnly, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			if c.RTStructUID != "" || c.CTSelection != CTFallbackLargest || c.CTSeriesUID == "" || len(c.ROIs) != 0 || c.RxSource != "none" {
				t.Errorf("course %+v", c)
			}
		}},
		{ScenarioTwoCTSeries, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			singleDose(t, c)
			if len(c.CTSeries) != 2 || c.CTSeries[0].SeriesUID != c.CTSeriesUID || c.CTSeries[1].Slices <= c.CTSeries[0].Slices {
				t.Errorf("CT series %+v, chosen %s", c.CTSeries, c.CTSeriesUID)
			}
		}},
		{ScenarioUnresolvedReference, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			if c.CTSeriesUID != "" || c.CTSelection != CTUnresolvedReference || c.CTSlices != 0 || len(c.CTSeries) != 1 {
				t.Fatalf("course %+v", c)
			}
			rs := filesWhere(p, func(f FileTruth) bool { return f.Modality == "RTSTRUCT" })
			hdr, err := dicomio.ReadHeader(dicomPath(dir, rs[0]))
			if err != nil {
				t.Fatal(err)
			}
			series := hdr.First(dicomio.TagReferencedFrameOfReferenceSequence).First(dicomio.TagRTReferencedStudySequence).
				First(dicomio.TagRTReferencedSeriesSequence)
			if series.String(dicomio.TagSeriesInstanceUID) == c.CTSeries[0].SeriesUID {
				t.Error("the RTSTRUCT references the CT present")
			}
			for _, img := range series.Seq(dicomio.TagContourImageSequence) {
				sop := img.String(dicomio.TagReferencedSOPInstanceUID)
				if len(filesWhere(p, func(f FileTruth) bool { return f.SOPInstanceUID == sop })) != 0 {
					t.Fatalf("referenced image %s is in the export", sop)
				}
			}
		}},
		{ScenarioSharedStudy, func(t *testing.T, p PatientTruth) {
			c := one(t, p)
			singleDose(t, c)
			other := truth.Patient(p.SharedStudyWith)
			if other == nil || other.PatientID == p.PatientID || other.Courses[0].StudyUID != c.StudyUID ||
				other.Courses[0].FrameOfReferenceUID != c.FrameOfReferenceUID || len(p.Warnings) == 0 {
				t.Fatalf("shared with %q: %+v", p.SharedStudyWith, other)
			}
			if other.Courses[0].CTSeriesUID == c.CTSeriesUID || other.Courses[0].PlanUIDs[0] == c.PlanUIDs[0] {
				t.Error("the two patients share objects, not just the study")
			}
		}},
	}
	if len(cases) != len(AllScenarios) {
		t.Fatalf("%d scenario checks for %d scenarios", len(cases), len(AllScenarios))
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			ps := patientsWith(truth, tc.scenario)
			if len(ps) == 0 {
				t.Fatal("no patient has this scenario")
			}
			for _, p := range ps {
				if n := categories(p)[CategoryPlaced]; n == 0 {
					t.Errorf("%s has no placed files", p.PatientID)
				}
				tc.check(t, p)
			}
		})
	}
}

func TestCohortVariety(t *testing.T) {
	dir, truth := cohort(t)
	posSeen, layoutSeen := map[string]bool{}, map[string]bool{}
	implicit, noExt, rsWithFOR, rsWithoutFOR := 0, 0, 0, 0
	folders := map[string][]string{}
	var awkwardSpace, nonASCII bool
	for _, p := range truth.Patients {
		posSeen[p.PatientPosition] = true
		layoutSeen[p.Layout] = true
		if p.TransferSyntax == dicomio.ImplicitVRLittleEndian {
			implicit++
		}
		folders[fsutil.SafeName(p.PatientID, 64)] = append(folders[fsutil.SafeName(p.PatientID, 64)], p.PatientID)
		awkwardSpace = awkwardSpace || (strings.Contains(p.PatientID, "/") && strings.Contains(p.PatientID, " "))
		nonASCII = nonASCII || !isASCII(p.PatientID)
		for _, f := range p.Files {
			if f.Category != CategoryUnreadable && filepath.Ext(f.Path) == "" {
				noExt++
			}
			base := filepath.Base(f.Path)
			if base == "RT_RECORD_0001.dcm" && f.Modality != "RTSTRUCT" {
				t.Errorf("%s is a %s, want the RTSTRUCT named like a record", f.Path, f.Modality)
			}
			if base == "IMG_0042.dcm" && f.Modality != "RTRECORD" {
				t.Errorf("%s is a %s, want the record named like an image", f.Path, f.Modality)
			}
			if f.Modality == "RTSTRUCT" && f.Category == CategoryPlaced {
				hdr, err := dicomio.ReadHeader(dicomPath(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if hdr.Has(dicomio.TagFrameOfReferenceUID) {
					rsWithFOR++
				} else {
					rsWithoutFOR++
				}
			}
		}
	}
	if len(posSeen) != 4 || len(layoutSeen) != 3 {
		t.Errorf("positions %v, layouts %v", posSeen, layoutSeen)
	}
	if implicit == 0 || noExt == 0 || rsWithFOR == 0 || rsWithoutFOR == 0 || !awkwardSpace || !nonASCII {
		t.Errorf("implicit-VR patients %d, files without extension %d, RTSTRUCTs with/without FOR %d/%d, ID with / and space %v, non-ASCII ID %v",
			implicit, noExt, rsWithFOR, rsWithoutFOR, awkwardSpace, nonASCII)
	}
	clash := false
	for _, ids := range folders {
		clash = clash || len(ids) > 1
	}
	if !clash {
		t.Error("no two patient IDs sanitise to the same folder name")
	}
	for _, name := range []string{"RT_RECORD_0001.dcm", "IMG_0042.dcm"} {
		found := false
		for _, p := range truth.Patients {
			found = found || len(filesWhere(p, func(f FileTruth) bool { return filepath.Base(f.Path) == name })) > 0
		}
		if !found {
			t.Errorf("no file named %s", name)
		}
	}
}

func TestUndatedRecordIsNotLast(t *testing.T) {
	dir, truth := cohort(t)
	found := false
	for _, p := range truth.Patients {
		for _, c := range p.Courses {
			for i, f := range c.Fractions {
				if !f.TreatmentDateMissing {
					continue
				}
				found = true
				last := true
				for _, g := range c.Fractions[i+1:] {
					last = last && g.PlanUID != f.PlanUID
				}
				if last {
					t.Errorf("%s: the undated record is the last of its plan", p.PatientID)
				}
				rec := filesWhere(p, func(x FileTruth) bool { return x.SOPInstanceUID == f.SOPInstanceUID })
				hdr, err := dicomio.ReadHeader(dicomPath(dir, rec[0]))
				if err != nil {
					t.Fatal(err)
				}
				if hdr.Has(dicomio.TagTreatmentDate) || hdr.String(dicomio.TagSeriesDate) != f.Date {
					t.Errorf("%s: TreatmentDate %q, SeriesDate %q", rec[0].Path, hdr.String(dicomio.TagTreatmentDate), hdr.String(dicomio.TagSeriesDate))
				}
			}
		}
	}
	if !found {
		t.Error("no record lacks TreatmentDate")
	}
}

// ctImage is one CT image read back with its geometry.
type ctImage struct {
	sop         string
	ipp, row    vec3
	col         vec3
	dRow, dCol  float64
	rows, cols  int
	slope, icpt float64
	pixels      []byte
}

// readSeries reads every readable CT file of a patient that belongs to series.
func readSeries(t *testing.T, dir string, p PatientTruth, series string) []ctImage {
	t.Helper()
	var out []ctImage
	for _, f := range filesWhere(p, func(f FileTruth) bool { return f.Modality == "CT" && f.Category == CategoryPlaced }) {
		img, err := dicomio.ReadFile(dicomPath(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if img.String(dicomio.TagSeriesInstanceUID) != series {
			continue
		}
		iop, ipp, ps := img.Floats(dicomio.TagImageOrientationPatient), img.Floats(dicomio.TagImagePositionPatient), img.Floats(dicomio.TagPixelSpacing)
		rows, _ := img.Int(dicomio.TagRows)
		cols, _ := img.Int(dicomio.TagColumns)
		slope, _ := img.Float(dicomio.TagRescaleSlope)
		icpt, _ := img.Float(dicomio.TagRescaleIntercept)
		if pr, _ := img.Int(dicomio.TagPixelRepresentation); pr != 1 || slope != 1 || icpt != -1024 {
			t.Fatalf("%s: pixel representation %d, rescale %v/%v", f.Path, pr, slope, icpt)
		}
		if pos := img.String(dicomio.TagPatientPosition); pos != p.PatientPosition {
			t.Fatalf("%s: PatientPosition %s, truth %s", f.Path, pos, p.PatientPosition)
		}
		out = append(out, ctImage{sop: f.SOPInstanceUID, ipp: vec3{ipp[0], ipp[1], ipp[2]}, row: vec3{iop[0], iop[1], iop[2]},
			col: vec3{iop[3], iop[4], iop[5]}, dRow: ps[0], dCol: ps[1], rows: rows, cols: cols, slope: slope, icpt: icpt, pixels: img.PixelData})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no slice of series %s", p.PatientID, series)
	}
	return out
}

// nearest returns the slice whose plane is closest to point.
func nearest(imgs []ctImage, point vec3) (ctImage, float64) {
	best, bestD := imgs[0], math.Inf(1)
	for _, im := range imgs {
		d := point.sub(im.ipp).dot(cross(im.row, im.col))
		if math.Abs(d) < math.Abs(bestD) {
			best, bestD = im, d
		}
	}
	return best, bestD
}

// huAt maps a patient-coordinate point into the image through IOP/IPP (the inverse of
// IPP + c*dCol*row + r*dRow*col) and returns its HU; ok is false outside the image.
func (im ctImage) huAt(point vec3) (float64, bool) {
	v := point.sub(im.ipp)
	c := int(math.Round(v.dot(im.row) / im.dCol))
	r := int(math.Round(v.dot(im.col) / im.dRow))
	if r < 0 || c < 0 || r >= im.rows || c >= im.cols {
		return 0, false
	}
	s := int16(binary.LittleEndian.Uint16(im.pixels[2*(r*im.cols+c):]))
	return float64(s)*im.slope + im.icpt, true
}

// toPatient maps pixel (r, c) to patient coordinates.
func (im ctImage) toPatient(r, c int) vec3 {
	return im.ipp.add(im.row.scale(float64(c) * im.dCol)).add(im.col.scale(float64(r) * im.dRow))
}

func TestGeometryPerPosition(t *testing.T) {
	dir, truth := cohort(t)
	for _, pos := range positions {
		t.Run(pos, func(t *testing.T) {
			var p PatientTruth
			var c CourseTruth
			for _, q := range truth.Patients {
				if q.PatientPosition == pos && len(q.Courses) > 0 && q.Courses[0].CTSeriesUID != "" && q.Courses[0].RTStructUID != "" {
					p, c = q, q.Courses[0]
					break
				}
			}
			if p.PatientID == "" {
				t.Fatal("no patient with a CT and an RTSTRUCT in this position")
			}
			imgs := readSeries(t, dir, p, c.CTSeriesUID)
			if len(imgs) != c.CTSlices {
				t.Fatalf("%d slices, truth %d", len(imgs), c.CTSlices)
			}
			wantRow, wantCol := orientation(pos)
			if imgs[0].row != wantRow || imgs[0].col != wantCol {
				t.Fatalf("IOP %v %v, want %v %v", imgs[0].row, imgs[0].col, wantRow, wantCol)
			}
			centre := vec3(c.PTVCenterMM)
			im, _ := nearest(imgs, centre)
			if hu, ok := im.huAt(centre); !ok || math.Abs(hu-huTumour) > 15 {
				t.Errorf("HU at the PTV centre %v = %v (inside %v), want tumour %d", centre, hu, ok, huTumour)
			}
			// The spine must be found posterior (+y) in patient coordinates, whatever the grid.
			var sumY float64
			n := 0
			for r := range im.rows {
				for cc := range im.cols {
					s := int16(binary.LittleEndian.Uint16(im.pixels[2*(r*im.cols+cc):]))
					if float64(s)+im.icpt > 500 {
						sumY += im.toPatient(r, cc)[1]
						n++
					}
				}
			}
			if n == 0 || sumY/float64(n) < 50 {
				t.Errorf("bone voxels: %d, mean y %.1f mm; the spine must be posterior (+y)", n, sumY/float64(max(n, 1)))
			}
			// Air anterior of the body, couch below it (posterior when supine, anterior when prone).
			if hu, _ := im.huAt(vec3{0, -200, im.ipp[2]}); hu > -900 {
				t.Errorf("HU anterior of the body %v, want air", hu)
			}
			couchY := 130.0
			if prone(pos) {
				couchY = -130
			}
			if hu, _ := im.huAt(vec3{0, couchY, im.ipp[2]}); math.Abs(hu-huCouch) > 15 {
				t.Errorf("HU at the couch %v, want %d", hu, huCouch)
			}
			checkGTVContour(t, dir, p, c, imgs)
		})
	}
}

// checkGTVContour requires the GTV contour on the slice nearest the tumour centre to enclose the
// area of the sphere's cross-section (within 2%) and to reference that slice.
func checkGTVContour(t *testing.T, dir string, p PatientTruth, c CourseTruth, imgs []ctImage) {
	t.Helper()
	rsFile := filesWhere(p, func(f FileTruth) bool { return f.SOPInstanceUID == c.RTStructUID && f.Category == CategoryPlaced })
	rs, err := dicomio.ReadHeader(dicomPath(dir, rsFile[0]))
	if err != nil {
		t.Fatal(err)
	}
	gtv := 0
	for _, it := range rs.Seq(dicomio.TagStructureSetROISequence) {
		if it.String(dicomio.TagROIName) == "GTV" {
			gtv, _ = it.Int(dicomio.TagROINumber)
		}
	}
	centre := vec3(c.PTVCenterMM)
	im, _ := nearest(imgs, centre)
	for _, it := range rs.Seq(dicomio.TagROIContourSequence) {
		if n, _ := it.Int(dicomio.TagReferencedROINumber); n != gtv {
			continue
		}
		for _, ct := range it.Seq(dicomio.TagContourSequence) {
			pts := ct.Floats(dicomio.TagContourData)
			if len(pts) < 3*24 || math.Abs(pts[2]-im.ipp[2]) > 1e-6 {
				continue
			}
			if ref := ct.First(dicomio.TagContourImageSequence).String(dicomio.TagReferencedSOPInstanceUID); ref != im.sop {
				t.Errorf("GTV contour references %s, want slice %s", ref, im.sop)
			}
			area := 0.0
			for i := 0; i < len(pts); i += 3 {
				j := (i + 3) % len(pts)
				area += pts[i]*pts[j+1] - pts[j]*pts[i+1]
			}
			area = math.Abs(area) / 2
			dz := im.ipp[2] - centre[2]
			want := math.Pi * (c.GTVRadiusMM*c.GTVRadiusMM - dz*dz)
			if math.Abs(area-want) > 0.02*want {
				t.Errorf("GTV contour area %.1f mm², want %.1f", area, want)
			}
			return
		}
	}
	t.Errorf("no GTV contour on the slice at z=%v", im.ipp[2])
}

func TestDoseMatchesModel(t *testing.T) {
	dir, truth := cohort(t)
	checked := 0
	for _, p := range truth.Patients {
		if p.Scenario != ScenarioBeamDosesOnly && p.Scenario != ScenarioPlanSum {
			continue
		}
		c := p.Courses[0]
		for _, d := range c.Doses {
			f := filesWhere(p, func(f FileTruth) bool { return f.SOPInstanceUID == d.SOPInstanceUID })[0]
			checkDose(t, dicomPath(dir, f), d, p.PatientPosition)
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no dose checked")
	}
}

// checkDose compares every voxel of an RTDOSE with the analytic model of its truth.
func checkDose(t *testing.T, path string, d DoseTruth, pos string) {
	t.Helper()
	f, err := dicomio.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	scaling, _ := f.Float(dicomio.TagDoseGridScaling)
	iop, ipp := f.Floats(dicomio.TagImageOrientationPatient), f.Floats(dicomio.TagImagePositionPatient)
	offsets := f.Floats(dicomio.TagGridFrameOffsetVector)
	ps := f.Floats(dicomio.TagPixelSpacing)
	n, _ := f.Int(dicomio.TagRows)
	wantRow, wantCol := orientation(pos)
	row, col := vec3{iop[0], iop[1], iop[2]}, vec3{iop[3], iop[4], iop[5]}
	if row != wantRow || col != wantCol || offsets[0] != 0 || len(offsets) != n {
		t.Fatalf("IOP %v, offsets %v", iop, offsets)
	}
	if fip := f.Find(dicomio.TagFrameIncrementPointer); fip == nil || !bytes.Equal(fip.Value, []byte{0x04, 0x30, 0x0C, 0x00}) {
		t.Fatalf("FrameIncrementPointer %v", fip)
	}
	normal := cross(row, col)
	var maxStored uint32
	worst := 0.0
	for k := range n {
		for r := range n {
			for c := range n {
				v := binary.LittleEndian.Uint32(f.PixelData[4*((k*n+r)*n+c):])
				maxStored = max(maxStored, v)
				p := vec3{ipp[0], ipp[1], ipp[2]}.add(row.scale(float64(c) * ps[1])).add(col.scale(float64(r) * ps[0])).add(normal.scale(offsets[k]))
				want := 0.0
				for _, comp := range d.Components {
					rr := math.Sqrt(p.sub(comp.CenterMM).dot(p.sub(comp.CenterMM)))
					switch {
					case rr <= comp.PlateauRadiusMM:
						want += comp.PeakGy
					case rr < comp.ZeroRadiusMM:
						want += comp.PeakGy * (comp.ZeroRadiusMM - rr) / (comp.ZeroRadiusMM - comp.PlateauRadiusMM)
					}
				}
				worst = max(worst, math.Abs(float64(v)*scaling-want))
			}
		}
	}
	if worst > 1e-6 {
		t.Errorf("%s: dose differs from the model by up to %g Gy", filepath.Base(path), worst)
	}
	if float64(maxStored) < 0.9*math.MaxUint32 || math.Abs(float64(maxStored)*scaling-d.MaxGy) > 1e-6 {
		t.Errorf("%s: max stored %d (x %g = %v Gy, truth %v)", filepath.Base(path), maxStored, scaling, float64(maxStored)*scaling, d.MaxGy)
	}
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name    string
		opt     Options
		wantErr string
		want    int // patients with shared_study_two_patients
	}{
		{"no patients", Options{}, "Patients", 0},
		{"bad slices", Options{Patients: 1, MinSlices: 30, MaxSlices: 20}, "slice range", 0},
		{"unknown scenario", Options{Patients: 1, Scenarios: []string{"nope"}}, "unknown scenario", 0},
		{"negative noise", Options{Patients: 1, NoiseHU: -1}, "NoiseHU", 0},
		{"shared needs two", Options{Patients: 3, Scenarios: []string{ScenarioSharedStudy}}, "needs two patients", 0},
		{"default mix of 17 skips the pair", Options{Patients: 17}, "", 0},
		{"default mix of 18 has everything", Options{Patients: 18}, "", 2},
		{"pair then single", Options{Patients: 3, Scenarios: []string{ScenarioSharedStudy, ScenarioCTOnly}}, "", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.opt.withDefaults()
			var scen []string
			if err == nil {
				scen, err = assignScenarios(o)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(scen) != tc.opt.Patients {
				t.Fatalf("%d scenarios for %d patients", len(scen), tc.opt.Patients)
			}
			n := 0
			for _, s := range scen {
				if s == ScenarioSharedStudy {
					n++
				}
			}
			if n != tc.want {
				t.Errorf("%d patients in the shared-study pair, want %d", n, tc.want)
			}
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		if _, err := Generate(context.Background(), b.TempDir(), Options{Patients: 10, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGenerateStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := Generate(ctx, dir, Options{Patients: 2, Matrix: 32, MinSlices: 8, MaxSlices: 8}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "truth.json")); err == nil {
		t.Error("a cancelled run wrote truth.json, which marks a complete cohort")
	}
}

// TestEachScenarioAlone generates every scenario on its own, tiny, so that no scenario depends
// on another having been planned first.
func TestEachScenarioAlone(t *testing.T) {
	for _, s := range AllScenarios {
		t.Run(s, func(t *testing.T) {
			truth, err := Generate(context.Background(), t.TempDir(), Options{Patients: 2, Seed: 3, Matrix: 32, MinSlices: 8, MaxSlices: 10, Scenarios: []string{s}})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range truth.Patients {
				if p.Scenario != s || len(p.Files) == 0 {
					t.Errorf("%s: scenario %s with %d files", p.PatientID, p.Scenario, len(p.Files))
				}
			}
		})
	}
}
