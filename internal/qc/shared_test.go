package qc

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// qcShared organises one folder of the shared public DICOM-RT data and runs QC on every course.
func qcShared(t *testing.T, sub string) map[string]*Report {
	t.Helper()
	in := testutil.SharedTestdata(t, "dicom-rt/"+sub)
	out := t.TempDir()
	opt := organize.DefaultOptions()
	opt.Workers = 2
	opt.Hardlink = false
	_, outcomes, err := organize.Run(context.Background(), in, out, organize.RunOptions{Options: opt})
	if err != nil {
		t.Fatal(err)
	}
	reports := map[string]*Report{}
	for _, oc := range outcomes {
		if oc.Status != "ok" {
			continue
		}
		dir := filepath.Join(out, filepath.FromSlash(oc.Dir))
		res, err := RunCourse(context.Background(), dir, Options{Workers: 2})
		if err != nil || res.Status != "ok" {
			t.Fatalf("%s: %+v, %v", oc.Dir, res, err)
		}
		if s, _ := os.ReadFile(filepath.Join(dir, Sentinel)); string(s) != "ok\n" {
			t.Errorf("%s: sentinel %q", oc.Dir, s)
		}
		rep, err := ReadReport(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Checks {
			if c.Status == StatusFail || c.Status == StatusWarning {
				t.Logf("%s: %s %s: %s", oc.Dir, c.Status, c.ID, c.Message)
			}
		}
		reports[oc.Dir] = rep
	}
	if len(reports) == 0 {
		t.Fatalf("%s: no organised course", sub)
	}
	return reports
}

func wantStatus(t *testing.T, course string, rep *Report, want map[string]Status) {
	t.Helper()
	for id, st := range want {
		c := rep.Find(id)
		switch {
		case c == nil:
			t.Errorf("%s: no check %s", course, id)
		case c.Status != st:
			t.Errorf("%s: %s is %s (%s), want %s", course, id, c.Status, c.Message, st)
		}
	}
}

// TestSharedRTUtils: the rt-utils export is two CT slices and structure sets drawn from masks
// (keyhole contours with bridges), one of which references images absent from the export.
func TestSharedRTUtils(t *testing.T) {
	for course, rep := range qcShared(t, "rt-utils") {
		wantStatus(t, course, rep, map[string]Status{
			"files.ct": StatusPass, "files.rtstruct": StatusPass, "files.rtplan": StatusWarning, "files.rtdose": StatusWarning,
			"ct.modality": StatusPass, "ct.series": StatusPass, "ct.slice_spacing": StatusPass, "ct.missing_slices": StatusPass,
			"frame_of_reference.consistency": StatusPass, "patient.identity": StatusPass,
			// Keyhole contours touch themselves by construction: INFO, not a crossing.
			"structures.self_intersections": StatusInfo,
			// 3 of the 5 images the contours reference are not in the export (organize warns too).
			"structures.image_references":   StatusWarning,
			"coverage.targets_in_dose_grid": StatusInfo,
		})
		if rep.OverallStatus != StatusWarning {
			t.Errorf("%s: overall %s", course, rep.OverallStatus)
		}
	}
}

// TestSharedDicompylerCore: one CT slice, a breast structure set with an empty ROI and a plan
// without dose.
func TestSharedDicompylerCore(t *testing.T) {
	for course, rep := range qcShared(t, "dicompyler-core") {
		wantStatus(t, course, rep, map[string]Status{
			"files.ct": StatusPass, "files.rtstruct": StatusPass, "files.rtplan": StatusPass, "files.rtdose": StatusWarning,
			"ct.slice_spacing": StatusInfo, "plan.sop_class": StatusPass, "plan.structure_reference": StatusPass,
			"dose.selection": StatusInfo, "frame_of_reference.consistency": StatusPass, "patient.identity": StatusPass,
			"structures.empty_rois": StatusWarning, "structures.duplicate_names": StatusPass, "structures.duplicate_roi_numbers": StatusPass,
		})
		if c := rep.Find("structures.empty_rois"); c != nil && len(c.Objects) != 1 {
			t.Errorf("%s: empty ROIs %v, want one", course, c.Objects)
		}
		if rep.OverallStatus != StatusWarning {
			t.Errorf("%s: overall %s", course, rep.OverallStatus)
		}
	}
}

// TestSharedAllNoCrash organises the whole shared DICOM-RT folder (vendor exports, courses
// without CT or dose, the Nelms phantom) and checks that every course gets a complete report.
func TestSharedAllNoCrash(t *testing.T) {
	reports := qcShared(t, "")
	for course, rep := range reports {
		if len(rep.Checks) < 30 || rep.StageStatus != "ok" {
			t.Errorf("%s: %d checks, stage %s", course, len(rep.Checks), rep.StageStatus)
		}
	}
}
