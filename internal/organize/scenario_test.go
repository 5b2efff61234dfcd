package organize

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/synth"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// cohort is one synthetic cohort with every scenario, generated once per test binary.
var (
	cohortOnce  sync.Once
	cohortDir   string
	cohortTruth *synth.Truth
	cohortErr   error
)

func syntheticCohort(t *testing.T) (string, *synth.Truth) {
	t.Helper()
	cohortOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rtpipeline-organize-cohort-")
		if err != nil {
			cohortErr = err
			return
		}
		cohortDir = dir
		opt := synth.Options{Patients: len(synth.AllScenarios) + 1, Seed: 7, Matrix: 48, MinSlices: 12, MaxSlices: 20, Workers: 2}
		cohortTruth, cohortErr = synth.Generate(context.Background(), dir, opt)
	})
	if cohortErr != nil {
		t.Fatal(cohortErr)
	}
	return filepath.Join(cohortDir, "dicom"), cohortTruth
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cohortDir != "" {
		os.RemoveAll(cohortDir)
	}
	os.Exit(code)
}

func organizeInto(t *testing.T, root, out string, opt Options) (*Result, []*CourseOutcome) {
	t.Helper()
	inv, err := Index(context.Background(), root, IndexOptions{Workers: opt.Workers})
	if err != nil {
		t.Fatal(err)
	}
	res := Build(inv, opt)
	oc, err := Write(context.Background(), res, out, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res, oc
}

// TestSyntheticScenarios organises a cohort holding every synthetic scenario and checks each
// course (name, dose decision and sources, prescription and its source, CT series and selection,
// fractions) and the accounting of every file against the generator's truth.
func TestSyntheticScenarios(t *testing.T) {
	root, truth := syntheticCohort(t)
	opt := DefaultOptions()
	opt.Workers = 2
	out := t.TempDir()
	res, outcomes := organizeInto(t, root, out, opt)
	byPatient := map[string][]*CourseOutcome{}
	for _, oc := range outcomes {
		byPatient[oc.Course.Patient.ID] = append(byPatient[oc.Course.Patient.ID], oc)
	}
	seenScenario := map[string]bool{}
	for _, pt := range truth.Patients {
		pt := pt
		seenScenario[pt.Scenario] = true
		t.Run(pt.Scenario+"/"+pt.PatientID, func(t *testing.T) {
			got := byPatient[pt.PatientID]
			if len(got) != len(pt.Courses) {
				t.Fatalf("%d courses, want %d", len(got), len(pt.Courses))
			}
			for _, want := range pt.Courses {
				oc := matchCourse(got, want)
				if oc == nil {
					t.Errorf("no course for study %s (%s)", want.StudyUID, want.Month)
					continue
				}
				checkCourse(t, out, oc, want)
			}
		})
	}
	for _, s := range synth.AllScenarios {
		if !seenScenario[s] {
			t.Errorf("scenario %s not in the cohort", s)
		}
	}
	// Accounting: every generated file is in the report exactly once, in the expected category.
	records := map[string]*FileRecord{}
	for _, fr := range res.Files {
		if _, dup := records[fr.Path]; dup {
			t.Errorf("%s listed twice", fr.Path)
		}
		records[fr.Path] = fr
	}
	n := 0
	for _, pt := range truth.Patients {
		for _, f := range pt.Files {
			n++
			fr := records[f.Path]
			if fr == nil {
				t.Errorf("%s (%s) missing from the report", f.Path, f.ReasonHint)
				continue
			}
			if fr.Category != f.Category {
				t.Errorf("%s: category %s (%s), want %s (%s)", f.Path, fr.Category, fr.Reason, f.Category, f.ReasonHint)
			}
			if f.Category == CategoryDuplicate && fr.DuplicateOf != f.DuplicateOf {
				t.Errorf("%s: duplicate of %s, want %s", f.Path, fr.DuplicateOf, f.DuplicateOf)
			}
			if fr.Category != CategoryPlaced && fr.Reason == "" {
				t.Errorf("%s: %s without a reason", f.Path, fr.Category)
			}
			if fr.Category == CategoryPlaced && len(fr.Destinations) == 0 {
				t.Errorf("%s: placed but no destination", f.Path)
			}
		}
	}
	if n != len(res.Files) {
		t.Errorf("report lists %d files, the generator wrote %d", len(res.Files), n)
	}
	// The shared study of two patients is reported.
	found := false
	for _, w := range res.Warnings {
		if strings.Contains(w, "appears under several patient IDs") {
			found = true
		}
	}
	if !found {
		t.Error("no warning for a study shared by two patient IDs")
	}
}

func matchCourse(got []*CourseOutcome, want synth.CourseTruth) *CourseOutcome {
	for _, oc := range got {
		if !strings.HasPrefix(oc.Course.Name, want.Month) {
			continue
		}
		study, _ := (&patientBuilder{}).courseStudyFrame(oc.Course)
		if oc.Course.CT != nil {
			study = oc.Course.CT.StudyUID
		}
		if study == want.StudyUID {
			return oc
		}
	}
	return nil
}

func checkCourse(t *testing.T, out string, oc *CourseOutcome, want synth.CourseTruth) {
	t.Helper()
	c := oc.Course
	if oc.Status != "ok" {
		t.Errorf("%s: status %s", oc.Dir, oc.Status)
	}
	if c.Name != want.Month && !strings.HasPrefix(c.Name, want.Month+"_") {
		t.Errorf("%s: name, want %s[_suffix]", c.Name, want.Month)
	}
	if c.Dose.Reason == "" {
		t.Errorf("%s: dose decision without a reason", oc.Dir)
	}
	if c.Dose.Decision != want.ExpectedDose.Decision {
		t.Errorf("%s: dose decision %s (%s), want %s", oc.Dir, c.Dose.Decision, c.Dose.Reason, want.ExpectedDose.Decision)
	}
	var srcs []string
	for _, s := range c.Dose.Sources {
		srcs = append(srcs, s.Obj.SOPInstanceUID)
	}
	if !sameSet(srcs, want.ExpectedDose.DoseUIDs) {
		t.Errorf("%s: dose sources %v, want %v", oc.Dir, srcs, want.ExpectedDose.DoseUIDs)
	}
	if math.Abs(c.Rx.TotalGy-want.RxGy) > 1e-6 || c.Rx.Source != want.RxSource {
		t.Errorf("%s: Rx %v Gy (%s), want %v Gy (%s)", oc.Dir, c.Rx.TotalGy, c.Rx.Source, want.RxGy, want.RxSource)
	}
	ctUID := ""
	if c.CT != nil {
		ctUID = c.CT.UID
		if len(c.CT.Slices) != want.CTSlices {
			t.Errorf("%s: CT has %d slices, want %d", oc.Dir, len(c.CT.Slices), want.CTSlices)
		}
	}
	if ctUID != want.CTSeriesUID || c.CTSelection != want.CTSelection {
		t.Errorf("%s: CT %s (%s: %s), want %s (%s)", oc.Dir, ctUID, c.CTSelection, c.CTReason, want.CTSeriesUID, want.CTSelection)
	}
	dir := filepath.Join(out, filepath.FromSlash(oc.Dir))
	rows := fractionRows(c)
	if len(rows) != want.FractionsDelivered {
		t.Errorf("%s: %d fractions delivered, want %d", oc.Dir, len(rows), want.FractionsDelivered)
	}
	// Delivered dose: each recorded fraction delivers its plan's dose per fraction.
	perFraction := map[string]float64{}
	for _, p := range want.Plans {
		if p.FractionsPlanned > 0 {
			perFraction[p.SOPInstanceUID] = p.RxGy / float64(p.FractionsPlanned)
		}
	}
	wantDose, gotDose := 0.0, 0.0
	for _, f := range want.Fractions {
		wantDose += perFraction[f.PlanUID]
	}
	for _, r := range rows {
		gotDose += r.DoseGy
	}
	if math.Abs(gotDose-wantDose) > 1e-6 {
		t.Errorf("%s: delivered %v Gy in the records, want %v", oc.Dir, gotDose, wantDose)
	}
	// Root files exist for what was selected; RD.dcm holds the expected maximum dose.
	mustExist := map[string]bool{RootStruct: want.RTStructUID != "", RootPlan: len(want.PlanUIDs) > 0, RootDose: len(want.ExpectedDose.DoseUIDs) > 0}
	for name, should := range mustExist {
		_, err := os.Stat(filepath.Join(dir, name))
		if should != (err == nil) {
			t.Errorf("%s: %s exists=%v, want %v", oc.Dir, name, err == nil, should)
		}
	}
	if want.ExpectedDose.MaxGy > 0 {
		v, err := rt.LoadDoseVolume(filepath.Join(dir, RootDose))
		if err != nil {
			t.Fatalf("%s: %v", oc.Dir, err)
		}
		maxGy := 0.0
		for _, x := range v.Data {
			maxGy = math.Max(maxGy, float64(x))
		}
		if math.Abs(maxGy-want.ExpectedDose.MaxGy) > 1e-3*want.ExpectedDose.MaxGy {
			t.Errorf("%s: RD.dcm max %v Gy, want %v", oc.Dir, maxGy, want.ExpectedDose.MaxGy)
		}
	}
	if want.RTStructUID != "" {
		f, err := dicomio.ReadHeader(filepath.Join(dir, RootStruct))
		if err != nil || f.String(dicomio.TagSOPInstanceUID) != want.RTStructUID {
			t.Errorf("%s: RS.dcm is not structure set %s (%v)", oc.Dir, want.RTStructUID, err)
		}
	}
	if c.CT != nil {
		// Slices are ordered along the normal of ImageOrientationPatient whatever the patient
		// position, evenly spaced at the generator's slice thickness.
		spacing, uniform := sliceSpacing(c.CT)
		var thickness float64
		for _, s := range want.CTSeries {
			if s.SeriesUID == c.CT.UID {
				thickness = s.SliceThicknessMM
			}
		}
		if !uniform || math.Abs(spacing-thickness) > 1e-6 {
			t.Errorf("%s: slice spacing %v (uniform %v), want %v", oc.Dir, spacing, uniform, thickness)
		}
	}
	if ctUID != "" {
		n := countFiles(filepath.Join(dir, "DICOM", "CT"))
		if n != want.CTSlices {
			t.Errorf("%s: DICOM/CT holds %d files, want %d", oc.Dir, n, want.CTSlices)
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, Sentinel)); err != nil || strings.TrimSpace(string(data)) != "ok" {
		t.Errorf("%s: sentinel %q %v", oc.Dir, data, err)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// treeHashes maps every file under dir (relative path) to the SHA-256 of its content.
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(data)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffTrees(t *testing.T, label string, a, b map[string]string) {
	t.Helper()
	n := 0
	for p, h := range a {
		if b[p] != h && n < 10 {
			t.Errorf("%s: %s differs or is missing", label, p)
			n++
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok && n < 10 {
			t.Errorf("%s: extra file %s", label, p)
			n++
		}
	}
}

// TestDeterministicAcrossWorkers: one worker and two workers give byte-identical output trees.
func TestDeterministicAcrossWorkers(t *testing.T) {
	root, _ := syntheticCohort(t)
	var trees []map[string]string
	for _, w := range []int{1, 2} {
		opt := DefaultOptions()
		opt.Workers = w
		out := t.TempDir()
		organizeInto(t, root, out, opt)
		trees = append(trees, treeHashes(t, out))
	}
	if len(trees[0]) < 100 {
		t.Fatalf("only %d output files", len(trees[0]))
	}
	diffTrees(t, "workers 1 vs 2", trees[0], trees[1])
}

// TestRerunIdempotent: organising again into the same output changes no byte and adds no file;
// --force-redo rebuilds the same tree.
func TestRerunIdempotent(t *testing.T) {
	root, _ := syntheticCohort(t)
	opt := DefaultOptions()
	opt.Workers = 2
	out := t.TempDir()
	organizeInto(t, root, out, opt)
	first := treeHashes(t, out)
	organizeInto(t, root, out, opt)
	diffTrees(t, "rerun", first, treeHashes(t, out))
	// A stale file in a managed folder is removed; a user's file elsewhere is kept.
	var course string
	for p := range first {
		if strings.HasSuffix(p, "/"+Sentinel) {
			course = strings.TrimSuffix(p, "/"+Sentinel)
			break
		}
	}
	stale := filepath.Join(out, filepath.FromSlash(course), "DICOM", "RTPLAN", "stale.dcm")
	user := filepath.Join(out, filepath.FromSlash(course), "notes.txt")
	os.MkdirAll(filepath.Dir(stale), 0o755)
	os.WriteFile(stale, []byte("x"), 0o644)
	os.WriteFile(user, []byte("mine"), 0o644)
	organizeInto(t, root, out, opt)
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale file in DICOM/RTPLAN survived a rerun")
	}
	if _, err := os.Stat(user); err != nil {
		t.Error("user file outside managed folders was removed")
	}
	os.Remove(user)
	opt.ForceRedo = true
	organizeInto(t, root, out, opt)
	diffTrees(t, "force-redo", first, treeHashes(t, out))

	// --force-redo with a course filter rebuilds only the filtered course: the others keep
	// their files (a user's note in another course survives).
	var other string
	for p := range first {
		if strings.HasSuffix(p, "/"+Sentinel) && !strings.HasPrefix(p, course+"/") {
			other = strings.TrimSuffix(p, "/"+Sentinel)
			break
		}
	}
	note := filepath.Join(out, filepath.FromSlash(other), "notes.txt")
	os.WriteFile(note, []byte("mine"), 0o644)
	opt.CourseFilter = course
	organizeInto(t, root, out, opt)
	if _, err := os.Stat(note); err != nil {
		t.Errorf("force-redo filtered to %s removed course %s", course, other)
	}
	os.Remove(note)
	opt.CourseFilter = ""
}

// TestSynthesisedObjectsReadByDcmdump: summed RD.dcm and synthetic RP.dcm written by organize
// parse cleanly in dcmtk's dcmdump.
func TestSynthesisedObjectsReadByDcmdump(t *testing.T) {
	dcmdump := testutil.Tool(t, "dcmdump")
	root, _ := syntheticCohort(t)
	opt := DefaultOptions()
	opt.Workers = 2
	out := t.TempDir()
	_, outcomes := organizeInto(t, root, out, opt)
	checked := 0
	for _, oc := range outcomes {
		for _, name := range []string{RootDose, RootPlan} {
			synthetic := (name == RootDose && oc.Course.Dose.Summed) || (name == RootPlan && oc.Course.Dose.SyntheticPlan)
			if !synthetic {
				continue
			}
			p := filepath.Join(out, filepath.FromSlash(oc.Dir), name)
			outb, err := exec.Command(dcmdump, "-q", p).CombinedOutput()
			if err != nil || strings.Contains(string(outb), "E: ") || strings.Contains(string(outb), "W: ") {
				t.Errorf("dcmdump %s: %v\n%s", p, err, firstLines(string(outb), 10))
			}
			checked++
		}
	}
	if checked < 3 {
		t.Fatalf("only %d synthesised objects checked", checked)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
