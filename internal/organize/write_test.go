package organize

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// TestFailedCourseIsolated: a course whose dose cannot be summed (a source dose damaged after
// indexing) is marked failed in its sentinel and the manifest; the other courses are written and
// Write itself succeeds.
func TestFailedCourseIsolated(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 2, Seed: 5, Matrix: 32, MinSlices: 8, MaxSlices: 10,
		Scenarios: []string{synth.ScenarioPrimaryBoost, synth.ScenarioSingleCourse}}); err != nil {
		t.Fatal(err)
	}
	inv, err := Index(context.Background(), filepath.Join(dir, "in", "dicom"), IndexOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	opt := DefaultOptions()
	opt.Workers = 2
	res := Build(inv, opt)
	var boost *Course
	for _, c := range res.Courses {
		if c.Dose.Decision == DosePrimaryBoostSum {
			boost = c
		}
	}
	if boost == nil {
		t.Fatal("no primary+boost course")
	}
	if err := os.Truncate(boost.Dose.Sources[1].Abs, 600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	outcomes, err := Write(context.Background(), res, out, WriteOptions{})
	if err != nil {
		t.Fatalf("Write failed as a whole: %v", err)
	}
	ok, failed := 0, 0
	for _, oc := range outcomes {
		data, _ := os.ReadFile(filepath.Join(out, filepath.FromSlash(oc.Dir), Sentinel))
		s := strings.TrimSpace(string(data))
		switch {
		case oc.Course == boost:
			if !strings.HasPrefix(s, "failed: ") || !strings.Contains(s, "summing doses") {
				t.Errorf("boost course sentinel %q", s)
			}
			failed++
		case s == "ok":
			ok++
		}
	}
	if ok != 1 || failed != 1 {
		t.Fatalf("%d ok, %d failed", ok, failed)
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, c := range m {
		statuses[c.Path] = c.Status
	}
	if !strings.HasPrefix(statuses[boost.Patient.Dir+"/"+boost.Name], "failed") {
		t.Errorf("manifest statuses %v", statuses)
	}
}

// TestManifestOrderAndMetadata: short courses first; case_metadata.json carries the plan details
// the generator wrote; copies instead of hard links when asked.
func TestManifestOrderAndMetadata(t *testing.T) {
	root, truth := syntheticCohort(t)
	opt := DefaultOptions()
	opt.Workers = 2
	opt.Hardlink = false
	out := t.TempDir()
	_, outcomes := organizeInto(t, root, out, opt)
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != len(outcomes) {
		t.Fatalf("manifest lists %d courses, %d written", len(m), len(outcomes))
	}
	for i := 1; i < len(m); i++ {
		if m[i].Complexity < m[i-1].Complexity {
			t.Fatalf("manifest not ordered by complexity at %d: %d after %d", i, m[i].Complexity, m[i-1].Complexity)
		}
	}
	opt.PrioritizeShortCourses = false
	out2 := t.TempDir()
	organizeInto(t, root, out2, opt)
	m2, _ := ReadManifest(out2)
	for i := 1; i < len(m2); i++ {
		if m2[i].Path < m2[i-1].Path {
			t.Fatalf("manifest not in path order without prioritisation")
		}
	}
	checked := 0
	for _, oc := range outcomes {
		pt := truth.Patient(oc.Course.Patient.ID)
		data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(oc.Dir), "metadata", "case_metadata.json"))
		if err != nil {
			t.Fatal(err)
		}
		var md CaseMetadata
		if err := json.Unmarshal(data, &md); err != nil {
			t.Fatal(err)
		}
		if md.PatientID != pt.PatientID || md.Patient.Sex != pt.Sex || md.Patient.BirthDate == "" {
			t.Errorf("%s: patient %+v", oc.Dir, md.Patient)
		}
		if md.Plan == nil {
			continue
		}
		var want *synth.PlanTruth
		for _, c := range pt.Courses {
			for i := range c.Plans {
				if c.Plans[i].SOPInstanceUID == md.Plan.SOPInstanceUID {
					want = &c.Plans[i]
				}
			}
		}
		if want == nil {
			t.Errorf("%s: plan %s not in the truth", oc.Dir, md.Plan.SOPInstanceUID)
			continue
		}
		tech := map[string]string{"VMAT": "VMAT/ARC"}[want.Technique] // the generator writes "3D" or "VMAT"
		if tech == "" {
			tech = "STATIC/IMRT"
		}
		if md.Plan.Label != want.Label || md.Plan.Technique != tech || md.Plan.TreatmentBeams != want.Beams ||
			strings.Join(md.Plan.Machines, ";") != want.Machine || md.Plan.PlannedFractions != want.FractionsPlanned ||
			len(md.Plan.Energies) != 1 || md.Plan.Energies[0] != trimFloat(want.EnergyMV) {
			t.Errorf("%s: plan %+v, want %+v", oc.Dir, md.Plan, want)
		}
		checked++
		// Copies, not links.
		if md.Files.RP == RootPlan {
			st, _ := os.Stat(filepath.Join(out, filepath.FromSlash(oc.Dir), RootPlan))
			if n := linkCount(st); n > 1 {
				t.Errorf("%s: RP.dcm has %d links with hardlink=false", oc.Dir, n)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d plans checked", checked)
	}
}

func trimFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestSymlinksAndHiddenFolders: a link to a file inside the root is read, a link escaping the
// root is reported, symlinked and hidden folders are not entered (and are listed).
func TestSymlinksAndHiddenFolders(t *testing.T) {
	root, _ := syntheticCohort(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	outside := filepath.Join(dir, "outside.dcm")
	os.MkdirAll(filepath.Join(in, ".hidden"), 0o755)
	os.WriteFile(filepath.Join(in, ".hidden", "x.dcm"), []byte("x"), 0o644)
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(in, "escape.dcm"))
	os.Symlink(root, filepath.Join(in, "linked_folder"))
	var someFile string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if someFile == "" && err == nil && !d.IsDir() && strings.HasSuffix(p, ".dcm") {
			someFile = p
		}
		return nil
	})
	data, _ := os.ReadFile(someFile)
	os.WriteFile(filepath.Join(in, "real.dcm"), data, 0o644)
	os.Symlink(filepath.Join(in, "real.dcm"), filepath.Join(in, "inside_link.dcm"))
	got, err := Index(context.Background(), in, IndexOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*Entry{}
	for _, e := range got.Entries {
		byPath[e.Path] = e
	}
	if e := byPath["escape.dcm"]; e == nil || e.Err != ErrLinkEscapes {
		t.Errorf("escaping link: %+v", e)
	}
	if e := byPath["inside_link.dcm"]; e == nil || e.Err != nil || e.Obj == nil {
		t.Errorf("inside link not read: %+v", e)
	}
	if _, ok := byPath[".hidden/x.dcm"]; ok {
		t.Error("hidden folder entered")
	}
	skipped := map[string]string{}
	for _, s := range got.Skipped {
		skipped[s.Path] = s.Reason
	}
	if skipped[".hidden"] == "" || skipped["linked_folder"] == "" {
		t.Errorf("skipped %v", skipped)
	}
	for p := range byPath {
		if strings.HasPrefix(p, "linked_folder/") {
			t.Fatalf("symlinked folder entered: %s", p)
		}
	}
}

// TestCourseFilterKeepsCohortTables: reorganising one course leaves every organised course in
// Data/ and in the manifest, and says why the other courses' files have no destination.
func TestCourseFilterKeepsCohortTables(t *testing.T) {
	root, _ := syntheticCohort(t)
	opt := DefaultOptions()
	opt.Workers = 2
	out := t.TempDir()
	_, outcomes := organizeInto(t, root, out, opt)
	rows := func() int {
		data, err := os.ReadFile(filepath.Join(out, "Data", "case_metadata.csv"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(data), "\n") - 1
	}
	all := rows()
	if all != len(outcomes) {
		t.Fatalf("%d rows for %d courses", all, len(outcomes))
	}
	opt.CourseFilter = "SYN001"
	res, _ := organizeInto(t, root, out, opt)
	if got := rows(); got != all {
		t.Fatalf("after a filtered run: %d rows, want %d", got, all)
	}
	m, _ := ReadManifest(out)
	if len(m) != all {
		t.Fatalf("manifest lists %d courses, want %d", len(m), all)
	}
	for _, fr := range res.Files {
		if fr.Category == CategoryPlaced && len(fr.Destinations) == 0 && !strings.Contains(fr.Reason, "course filter") {
			t.Fatalf("%s placed without destination or reason: %+v", fr.Path, fr)
		}
	}
	opt.CourseFilter = "NOBODY"
	inv, _ := Index(context.Background(), root, IndexOptions{Workers: 2})
	if _, err := Write(context.Background(), Build(inv, opt), out, WriteOptions{}); err == nil || !strings.Contains(err.Error(), "matches none") {
		t.Fatalf("unmatched filter: %v", err)
	}
}

// TestDICOMDIROrphan: a DICOMDIR (SOP instance UID only in its file meta) is an orphan.
func TestDICOMDIROrphan(t *testing.T) {
	dir := t.TempDir()
	b := dicomio.NewBuilder().Str(dicomio.NewTag(0x0004, 0x1130), "EXPORT").Str(dicomio.TagPatientID, "P")
	if err := b.WriteFile(filepath.Join(dir, "DICOMDIR"), rt.SOPClassMediaStorageDirectory, "1.2.3.4.5", dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	inv, err := Index(context.Background(), dir, IndexOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	res := Build(inv, DefaultOptions())
	if fr := res.Files[0]; fr.Category != CategoryOrphan || !strings.Contains(fr.Reason, "DICOMDIR") {
		t.Fatalf("%+v", fr)
	}
}
