package organize

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// organizeShared organises one folder of the shared public test data into a temporary output.
func organizeShared(t *testing.T, sub string) (*Result, []*CourseOutcome, string) {
	t.Helper()
	root := testutil.SharedTestdata(t, filepath.Join("dicom-rt", sub))
	opt := DefaultOptions()
	opt.Workers = 2
	inv, err := Index(context.Background(), root, IndexOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	res := Build(inv, opt)
	out := t.TempDir()
	oc, err := Write(context.Background(), res, out, WriteOptions{})
	if err != nil {
		t.Fatalf("organize %s: %v", sub, err)
	}
	for _, o := range oc {
		if o.Status != "ok" {
			t.Errorf("%s: %s", o.Dir, o.Status)
		}
	}
	return res, oc, out
}

func fileRecord(res *Result, suffix string) *FileRecord {
	for _, f := range res.Files {
		if strings.HasSuffix(f.Path, suffix) {
			return f
		}
	}
	return nil
}

// TestSharedRayStationTwoPlans: one patient, one course holding the structure set, both plans
// and both doses. The IMRT and VMAT plans share the structure set, the fractionation (5) and the
// planning day and carry no prescription, no replan or boost keyword: they are alternative plans
// (a plan comparison). Nothing is summed; the earliest is kept as RP/RD (neither is approved or
// has treatment records).
func TestSharedRayStationTwoPlans(t *testing.T) {
	res, oc, out := organizeShared(t, "brain-srs-raystation")
	if len(res.Patients) != 1 || len(oc) != 1 {
		t.Fatalf("%d patients, %d courses; want 1 and 1", len(res.Patients), len(oc))
	}
	c := oc[0].Course
	if len(c.Structs) != 1 || len(c.Plans) != 2 || len(c.Doses) != 2 {
		t.Fatalf("course holds %d RTSTRUCT, %d RTPLAN, %d RTDOSE; want 1, 2, 2", len(c.Structs), len(c.Plans), len(c.Doses))
	}
	if c.Dose.Decision != DoseAlternativesFirst || c.Dose.Summed || len(c.Dose.Sources) != 1 {
		t.Fatalf("decision %s summed=%v sources=%d (%s)", c.Dose.Decision, c.Dose.Summed, len(c.Dose.Sources), c.Dose.Reason)
	}
	if c.Dose.Plans[0].Obj.Plan.Label != "imrt 4" {
		t.Errorf("kept plan %q, want the earlier \"imrt 4\"", c.Dose.Plans[0].Obj.Plan.Label)
	}
	if c.Rx.Source != "none" {
		t.Errorf("rx_source %s: RayStation beam doses at several points must not be summed into a prescription", c.Rx.Source)
	}
	if c.CTSelection != CTUnresolvedReference || c.CT != nil {
		t.Errorf("CT %s: the export has no CT, the reference must stay unresolved", c.CTSelection)
	}
	for _, sub := range []string{"DICOM/RTPLAN", "DICOM/RTDOSE"} {
		if n := countFiles(filepath.Join(out, filepath.FromSlash(oc[0].Dir), sub)); n != 2 {
			t.Errorf("%s holds %d files, want 2", sub, n)
		}
	}
	for _, f := range []string{RootPlan, RootDose, RootStruct} {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(oc[0].Dir), f)); err != nil {
			t.Errorf("%s missing", f)
		}
	}
}

// TestSharedGammaPlanSeparatePatient: the GammaPlan export shares the RayStation study and frame
// of reference under another PatientID; organised together they stay two patients, with a
// warning.
func TestSharedGammaPlanSeparatePatient(t *testing.T) {
	res, _, _ := organizeShared(t, "")
	ids := map[string]bool{}
	for _, p := range res.Patients {
		ids[p.ID] = true
	}
	if !ids["brain"] || !ids["2018_Comp_SRS-Brain"] {
		t.Fatalf("patients %v", ids)
	}
	warned := false
	for _, w := range res.Warnings {
		if strings.Contains(w, "2018_Comp_SRS-Brain") && strings.Contains(w, "brain") && strings.Contains(w, "several patient IDs") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no shared-study warning in %q", res.Warnings)
	}
	// Every input file is accounted for exactly once.
	seen := map[string]bool{}
	for _, f := range res.Files {
		if seen[f.Path] {
			t.Errorf("%s listed twice", f.Path)
		}
		seen[f.Path] = true
		if f.Category == "" {
			t.Errorf("%s has no category", f.Path)
		}
	}
}

// TestSharedPydicomEncodings: every pydicom file is either read (implicit VR, explicit big
// endian, RLE, no file meta) or listed as unreadable with its reason (the truncated plan).
func TestSharedPydicomEncodings(t *testing.T) {
	res, _, _ := organizeShared(t, "pydicom")
	for _, f := range res.Files {
		switch {
		case strings.HasSuffix(f.Path, "rtplan_truncated.dcm"):
			if f.Category != CategoryUnreadable || !strings.Contains(f.Reason, "truncated") {
				t.Errorf("%s: %s (%s), want unreadable because truncated", f.Path, f.Category, f.Reason)
			}
		case f.Category == CategoryUnreadable:
			t.Errorf("%s unreadable: %s", f.Path, f.Reason)
		case f.Category != CategoryPlaced && f.Reason == "":
			t.Errorf("%s: %s without reason", f.Path, f.Category)
		}
	}
	if len(res.Files) != 9 {
		t.Errorf("%d files, want 9", len(res.Files))
	}
}

// TestSharedRTUtilsReferences: structure sets whose contours reference images missing from the
// export are reported on their course, and the run goes on.
func TestSharedRTUtilsReferences(t *testing.T) {
	res, oc, _ := organizeShared(t, "rt-utils")
	var warned bool
	for _, o := range oc {
		for _, w := range o.Course.Warnings {
			if strings.Contains(w, "images referenced by the contours are not in the input") {
				warned = true
			}
		}
	}
	if !warned {
		t.Error("missing image references not reported")
	}
	if f := fileRecord(res, "mock_data/non_existent_reference_rt.dcm"); f == nil || f.Category == "" || f.Reason == "" {
		t.Errorf("non_existent_reference_rt.dcm not accounted with a reason: %+v", f)
	}
	for _, name := range []string{"one_slice_data/0.dcm", "oriented_data/1.dcm"} {
		if f := fileRecord(res, name); f == nil || f.Category != CategoryOrphan || !strings.Contains(f.Reason, "PatientID") {
			t.Errorf("%s: %+v, want orphan without PatientID", name, f)
		}
	}
}

// TestSharedNelmsOrganizes: the analytical DVH phantom organises without error; its structure
// sets form one course on the 3 mm CT and its doses, whose plans are absent, are orphans.
func TestSharedNelmsOrganizes(t *testing.T) {
	res, oc, _ := organizeShared(t, "nelms-dvh-analytical")
	if len(oc) != 1 {
		t.Fatalf("%d courses, want 1", len(oc))
	}
	c := oc[0].Course
	if c.CT == nil || len(c.CT.Slices) != 20 || c.CTSelection != CTReferenced {
		t.Fatalf("CT %v (%s)", c.CT != nil, c.CTSelection)
	}
	if len(c.Structs) != 50 {
		t.Errorf("%d structure sets, want 50", len(c.Structs))
	}
	for _, f := range res.Files {
		if strings.Contains(f.Path, "/dose/") && f.Category != CategoryOrphan && f.Category != CategoryDuplicate {
			t.Errorf("%s: %s", f.Path, f.Category)
		}
	}
}
