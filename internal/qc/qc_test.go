package qc

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// organizedCourses synthesises n single-course patients (all four patient positions, explicit
// and implicit VR) and organises them; it returns the course folders in a stable order.
func organizedCourses(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	scen := make([]string, n)
	for i := range scen {
		scen[i] = synth.ScenarioSingleCourse
	}
	if _, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: n, Seed: 7, Matrix: 48,
		MinSlices: 24, MaxSlices: 30, Workers: 2, Scenarios: scen}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	opt := organize.DefaultOptions()
	opt.Workers = 2
	_, outcomes, err := organize.Run(context.Background(), filepath.Join(dir, "in", "dicom"), out, organize.RunOptions{Options: opt})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, oc := range outcomes {
		if oc.Status == "ok" {
			dirs = append(dirs, filepath.Join(out, filepath.FromSlash(oc.Dir)))
		}
	}
	sort.Strings(dirs)
	if len(dirs) != n {
		t.Fatalf("%d courses organised, want %d", len(dirs), n)
	}
	return dirs
}

// rewrite edits a DICOM file with the project's own reader and writer (ToBuilder), keeping its
// pixel data.
func rewrite(t *testing.T, path string, edit func(ds *dicomio.Dataset)) {
	t.Helper()
	f, err := dicomio.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(&f.Dataset)
	b := dicomio.ToBuilder(&f.Dataset)
	if f.HasPixelData {
		b.PixelData(f.PixelData)
	}
	if err := b.WriteFile(path, f.String(dicomio.TagSOPClassUID), f.String(dicomio.TagSOPInstanceUID), dicomio.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// setValue replaces the raw value of an existing element, padded to even length.
func setValue(t *testing.T, ds *dicomio.Dataset, tag dicomio.Tag, v string) {
	t.Helper()
	el := ds.Find(tag)
	if el == nil {
		t.Fatalf("tag %s absent", tag)
	}
	if len(v)%2 == 1 {
		v += " "
	}
	el.Value = []byte(v)
}

// replaceAll replaces every text value equal to old, in the data set and all its items.
func replaceAll(ds *dicomio.Dataset, old, new string) int {
	n := 0
	for i := range ds.Elements {
		el := &ds.Elements[i]
		for _, it := range el.Items {
			n += replaceAll(it, old, new)
		}
		if len(el.Items) == 0 && strings.TrimRight(string(el.Value), " \x00") == old {
			v := new
			if len(v)%2 == 1 {
				v += "\x00"
			}
			el.Value = []byte(v)
			n++
		}
	}
	return n
}

func removeTag(ds *dicomio.Dataset, tag dicomio.Tag) {
	ds.Elements = slices.DeleteFunc(ds.Elements, func(e dicomio.Element) bool { return e.Tag == tag })
}

func formatDS(vs []float64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = dicomio.FormatDS(v)
	}
	return strings.Join(s, `\`)
}

// roiNumber returns the ROI number of a named ROI.
func roiNumber(t *testing.T, ds *dicomio.Dataset, name string) int {
	t.Helper()
	for _, it := range ds.Seq(dicomio.TagStructureSetROISequence) {
		if it.String(dicomio.TagROIName) == name {
			n, _ := it.Int(dicomio.TagROINumber)
			return n
		}
	}
	t.Fatalf("no ROI %q", name)
	return 0
}

// roiContours returns the ROIContourSequence item of an ROI.
func roiContours(t *testing.T, ds *dicomio.Dataset, name string) *dicomio.Dataset {
	t.Helper()
	n := roiNumber(t, ds, name)
	for _, it := range ds.Seq(dicomio.TagROIContourSequence) {
		if m, _ := it.Int(dicomio.TagReferencedROINumber); m == n {
			return it
		}
	}
	t.Fatalf("no contours of ROI %q", name)
	return nil
}

// middleCT returns the CT files sorted by name and the middle one.
func middleCT(t *testing.T, dir string) ([]string, string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "DICOM", "CT", "*.dcm"))
	sort.Strings(files)
	if len(files) < 10 {
		t.Fatalf("%d CT files", len(files))
	}
	return files, files[len(files)/2]
}

type faultCase struct {
	name   string
	inject func(t *testing.T, dir string)
	// want gives the expected status of the checks the fault must trip; every other check
	// must be PASS or INFO, except those in allow.
	want map[string]Status
	// objects: a substring one of the check's Objects must contain.
	objects map[string]string
	allow   []string
}

var faultCases = []faultCase{
	{name: "clean"},
	{
		name: "frame_of_reference_mismatch",
		inject: func(t *testing.T, dir string) {
			ct, _ := middleCT(t, dir)
			h, err := dicomio.ReadHeader(ct[0])
			if err != nil {
				t.Fatal(err)
			}
			old := h.String(dicomio.TagFrameOfReferenceUID)
			rewrite(t, filepath.Join(dir, "RS.dcm"), func(ds *dicomio.Dataset) {
				if replaceAll(ds, old, dicomio.DeriveUID("qc-test", "other-frame")) == 0 {
					t.Fatal("RS.dcm does not name the CT's frame of reference")
				}
			})
		},
		want:    map[string]Status{"frame_of_reference.consistency": StatusFail},
		objects: map[string]string{"frame_of_reference.consistency": "RS.dcm"},
	},
	{
		name: "dose_grid_not_covering_ptv",
		inject: func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "RD.dcm"), func(ds *dicomio.Dataset) {
				ipp := ds.Floats(dicomio.TagImagePositionPatient)
				iop := ds.Floats(dicomio.TagImageOrientationPatient)
				ps := ds.Floats(dicomio.TagPixelSpacing)
				cols, _ := ds.Int(dicomio.TagColumns)
				shift := float64(cols) * ps[1] / 2 // half the grid width along the rows
				for a := 0; a < 3; a++ {
					ipp[a] += shift * iop[a]
				}
				setValue(t, ds, dicomio.TagImagePositionPatient, formatDS(ipp))
			})
		},
		want:    map[string]Status{"coverage.targets_in_dose_grid": StatusFail},
		objects: map[string]string{"coverage.targets_in_dose_grid": "RS.dcm: PTV"},
	},
	{
		name: "missing_ct_slice",
		inject: func(t *testing.T, dir string) {
			_, mid := middleCT(t, dir)
			if err := os.Remove(mid); err != nil {
				t.Fatal(err)
			}
		},
		want: map[string]Status{"ct.missing_slices": StatusFail},
		// The structure set still references the deleted image.
		allow: []string{"structures.image_references"},
	},
	{
		name: "patient_name_differs",
		inject: func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "RP.dcm"), func(ds *dicomio.Dataset) {
				setValue(t, ds, dicomio.TagPatientName, "SOMEONE^ELSE")
			})
		},
		want:    map[string]Status{"patient.identity": StatusFail},
		objects: map[string]string{"patient.identity": "RP.dcm"},
	},
	{
		name: "empty_roi",
		inject: func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "RS.dcm"), func(ds *dicomio.Dataset) {
				removeTag(roiContours(t, ds, "HEART"), dicomio.TagContourSequence)
			})
		},
		want:    map[string]Status{"structures.empty_rois": StatusWarning},
		objects: map[string]string{"structures.empty_rois": "RS.dcm: HEART"},
	},
	{
		name: "self_intersecting_contour",
		inject: func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "RS.dcm"), func(ds *dicomio.Dataset) {
				c := roiContours(t, ds, "LUNG_L").Seq(dicomio.TagContourSequence)[0]
				pts := c.Floats(dicomio.TagContourData)
				n := len(pts) / 3
				// Swap two vertices a quarter turn apart on the convex contour: a bow-tie.
				i, j := 1, 1+n/4
				for a := 0; a < 2; a++ {
					pts[3*i+a], pts[3*j+a] = pts[3*j+a], pts[3*i+a]
				}
				setValue(t, c, dicomio.TagContourData, formatDS(pts))
			})
		},
		want:    map[string]Status{"structures.self_intersections": StatusWarning},
		objects: map[string]string{"structures.self_intersections": "RS.dcm: LUNG_L"},
	},
	{
		name: "duplicate_roi_name",
		inject: func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "RS.dcm"), func(ds *dicomio.Dataset) {
				for _, it := range ds.Seq(dicomio.TagStructureSetROISequence) {
					if it.String(dicomio.TagROIName) == "ESOPHAGUS" {
						setValue(t, it, dicomio.TagROIName, "Heart")
					}
				}
			})
		},
		want:    map[string]Status{"structures.duplicate_names": StatusWarning},
		objects: map[string]string{"structures.duplicate_names": "HEART"},
	},
	{
		name: "beam_dose_as_course_dose",
		inject: func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "RD.dcm"), func(ds *dicomio.Dataset) {
				setValue(t, ds, dicomio.TagDoseSummationType, "BEAM")
			})
		},
		want: map[string]Status{"dose.summation_type": StatusFail},
	},
	{
		name: "dose_grid_scaling_missing",
		inject: func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, "RD.dcm"), func(ds *dicomio.Dataset) { removeTag(ds, dicomio.TagDoseGridScaling) })
		},
		want: map[string]Status{"dose.scaling": StatusFail},
	},
	{
		name: "uneven_ct_spacing",
		inject: func(t *testing.T, dir string) {
			files, mid := middleCT(t, dir)
			h0, _ := dicomio.ReadHeader(files[0])
			h1, _ := dicomio.ReadHeader(files[1])
			gap := h1.Floats(dicomio.TagImagePositionPatient)[2] - h0.Floats(dicomio.TagImagePositionPatient)[2]
			rewrite(t, mid, func(ds *dicomio.Dataset) {
				ipp := ds.Floats(dicomio.TagImagePositionPatient)
				ipp[2] += 0.4 * gap
				setValue(t, ds, dicomio.TagImagePositionPatient, formatDS(ipp))
			})
		},
		want: map[string]Status{"ct.slice_spacing": StatusFail},
		// Contours drawn on the moved slice's old plane now sit between slices.
		allow: []string{"structures.image_references"},
	},
}

// TestFaultInjection is the acceptance table: one synthetic course per fault, each fault
// tripping its check with the expected status and nothing else, and a clean course passing.
func TestFaultInjection(t *testing.T) {
	dirs := organizedCourses(t, len(faultCases))
	for i, fc := range faultCases {
		t.Run(fc.name, func(t *testing.T) {
			dir := dirs[i]
			if fc.inject != nil {
				fc.inject(t, dir)
			}
			res, err := RunCourse(context.Background(), dir, Options{Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != "ok" {
				t.Fatalf("stage %s: %s", res.Status, res.Reason)
			}
			if s, _ := os.ReadFile(filepath.Join(dir, Sentinel)); string(s) != "ok\n" {
				t.Errorf("sentinel %q", s)
			}
			rep, err := ReadReport(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Checks) != res.Checks || res.Checks < 30 {
				t.Errorf("%d checks in the report, result says %d", len(rep.Checks), res.Checks)
			}
			worst := StatusPass
			for id, want := range fc.want {
				c := rep.Find(id)
				if c == nil {
					t.Fatalf("no check %s", id)
				}
				if c.Status != want {
					t.Errorf("%s: %s (%s), want %s", id, c.Status, c.Message, want)
				}
				if sub := fc.objects[id]; sub != "" && !slices.ContainsFunc(c.Objects, func(o string) bool { return strings.Contains(o, sub) }) {
					t.Errorf("%s: objects %v do not name %q", id, c.Objects, sub)
				}
				worst = Worst(worst, want)
				t.Logf("%s %s: %s", c.Status, id, c.Message)
			}
			for _, c := range rep.Checks {
				if _, ok := fc.want[c.ID]; ok || slices.Contains(fc.allow, c.ID) {
					continue
				}
				if c.Status != StatusPass && c.Status != StatusInfo {
					t.Errorf("unexpected %s %s: %s", c.Status, c.ID, c.Message)
				}
			}
			if len(fc.allow) == 0 && rep.OverallStatus != worst && !(worst == StatusPass && rep.OverallStatus == StatusInfo) {
				t.Errorf("overall %s, want %s", rep.OverallStatus, worst)
			}
			if rep.CategoryStatus[strings.SplitN(rep.Checks[0].ID, ".", 2)[0]] == "" {
				t.Error("category roll-up missing")
			}
		})
	}
}

// TestDeterministicAndSentinel: the report is byte-identical across worker counts and reruns;
// a course organize failed is skipped; a report that cannot be written fails the stage and the
// sentinel says so (the stale "ok" is gone).
func TestDeterministicAndSentinel(t *testing.T) {
	dirs := organizedCourses(t, 3)
	dir := dirs[0]
	var reports [][]byte
	for _, w := range []int{1, 8, 1} {
		if _, err := RunCourse(context.Background(), dir, Options{Workers: w}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, ReportDir, ReportName))
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, data)
	}
	for i := 1; i < len(reports); i++ {
		if !bytes.Equal(reports[0], reports[i]) {
			t.Fatalf("report %d differs from the first", i)
		}
	}

	// Skipped: organize failed for the course.
	skip := dirs[1]
	if err := os.WriteFile(filepath.Join(skip, ".organized"), []byte("failed: test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := RunCourse(context.Background(), skip, Options{})
	if err != nil || res.Status != "skipped" {
		t.Fatalf("skipped course: %+v, %v", res, err)
	}
	if s, _ := os.ReadFile(filepath.Join(skip, Sentinel)); !strings.HasPrefix(string(s), "skipped: ") {
		t.Errorf("sentinel %q", s)
	}

	// Failed: qc_reports is a file, so the report cannot be written.
	bad := dirs[2]
	if err := os.WriteFile(filepath.Join(bad, Sentinel), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, ReportDir), []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = RunCourse(context.Background(), bad, Options{})
	if err == nil || res.Status != "failed" {
		t.Fatalf("unwritable report: %+v, %v", res, err)
	}
	if s, _ := os.ReadFile(filepath.Join(bad, Sentinel)); !strings.HasPrefix(string(s), "failed: ") {
		t.Errorf("sentinel %q", s)
	}

	// An interrupted run is no outcome: it fails and leaves no sentinel.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := RunCourse(ctx, dir, Options{}); err == nil || res.Status != "failed" {
		t.Errorf("cancelled: %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, Sentinel)); !os.IsNotExist(err) {
		t.Errorf("sentinel left by an interrupted run: %v", err)
	}
}
