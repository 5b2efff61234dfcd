package structures

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// stageDefinitions exercises every feature on the ROIs of the synthetic structure sets
// (BODY, LUNG_L, LUNG_R, HEART, SPINAL_CORD, ESOPHAGUS, GTV, PTV). PTV_ring uses PTV_5, which
// comes later in the file.
const stageDefinitions = `custom_structures:
  - name: LUNGS
    source_structures: [LUNG_L, LUNG_R]
  - name: PTV_ring
    operation: subtract
    source_structures: [PTV_5, PTV]
  - name: PTV_5
    source_structures: [ptv]
    margin: 5
  - name: HEART_ant
    source_structures: [HEART]
    margin: {anterior: 10}
  - name: LUNGS_minus_PTV
    operation: subtract
    source_structures: [LUNGS, PTV]
  - name: OARS
    source_structures: [SPINAL_CORD, ESOPHAGUS, NOT_CONTOURED]
  - name: HEART_AND_MISSING
    operation: intersection
    source_structures: [HEART, NOT_CONTOURED]
  - name: ALL_LUNG
    source_structures: ["lung_*"]
    color: [0, 128, 255]
`

// organizedCourses synthesises and organises one single-course patient per patient position.
func organizedCourses(t *testing.T) (string, []*organize.CourseOutcome) {
	t.Helper()
	dir := t.TempDir()
	_, err := synth.Generate(context.Background(), filepath.Join(dir, "in"), synth.Options{Patients: 4, Seed: 5, Matrix: 64, MinSlices: 30, MaxSlices: 36, Workers: 2,
		Scenarios: []string{synth.ScenarioSingleCourse}})
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
	return out, outcomes
}

// TestStageWritesComposites runs the stage on organised synthetic courses in all four patient
// positions and checks RS_custom.dcm against composites built independently from RS.dcm: every
// built composite (partial union named __partial, skipped intersection absent) reads back with
// rt.ReadStructureSetFile and rasterises on the CT to its mask (Dice ≥ 0.98; the writer makes it
// exact), with unique ROI numbers and new UIDs; the anterior margin grows HEART towards patient
// anterior (−y) in every position; the QC record and sentinel agree; a rerun without definitions
// is skipped and removes RS_custom.dcm.
func TestStageWritesComposites(t *testing.T) {
	out, outcomes := organizedCourses(t)
	defsFile := filepath.Join(t.TempDir(), "custom.yaml")
	if err := os.WriteFile(defsFile, []byte(stageDefinitions), 0o644); err != nil {
		t.Fatal(err)
	}
	defs, err := LoadCompositeDefinitions(defsFile)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"LUNGS", "PTV_ring", "PTV_5", "HEART_ant", "LUNGS_minus_PTV", "OARS__partial", "ALL_LUNG"}
	positions := map[string]bool{}
	for _, oc := range outcomes {
		dir := filepath.Join(out, filepath.FromSlash(oc.Dir))
		res, err := RunCourse(context.Background(), dir, Options{Workers: 2, DefinitionsFile: defsFile})
		if err != nil {
			t.Fatalf("%s: %v", oc.Dir, err)
		}
		sentinel, _ := os.ReadFile(filepath.Join(dir, Sentinel))
		if res.Status != StatusOK || strings.TrimSpace(string(sentinel)) != "ok" || res.Built != 7 || res.Partial != 1 || res.Skipped != 1 {
			t.Fatalf("%s: %+v, sentinel %q", oc.Dir, res, sentinel)
		}
		var qc QC
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(QCFile)))
		if err != nil || json.Unmarshal(data, &qc) != nil {
			t.Fatalf("%s: QC %v", oc.Dir, err)
		}
		if qc.Status != StatusOK || qc.Output != CustomFile || len(qc.Composites) != 8 || qc.StructureSources[SourceManual] != "RS.dcm" {
			t.Fatalf("%s: QC %+v", oc.Dir, qc)
		}
		statuses := map[string]string{}
		for _, c := range qc.Composites {
			statuses[c.Name] = c.Status
			if c.Status != "skipped" && (c.VolumeCC <= 0 || c.Voxels <= 0 || len(c.SourcesUsed) == 0) {
				t.Errorf("%s: composite %s: %+v", oc.Dir, c.Name, c)
			}
		}
		if statuses["OARS"] != "partial" || statuses["HEART_AND_MISSING"] != "skipped" || statuses["PTV_ring"] != "built" {
			t.Errorf("%s: statuses %v", oc.Dir, statuses)
		}
		// Independent composites from RS.dcm.
		ref, err := LoadReferenceSeries(filepath.Join(dir, "DICOM", "CT"))
		if err != nil {
			t.Fatal(err)
		}
		manual, err := rt.ReadStructureSetFile(filepath.Join(dir, "RS.dcm"))
		if err != nil {
			t.Fatal(err)
		}
		var sources []SourceMask
		for _, r := range manual.ROIs {
			m, _, err := Rasterize(r, ref.Image)
			if err != nil {
				t.Fatal(err)
			}
			sources = append(sources, SourceMask{Name: r.Name, Source: SourceManual, Mask: m})
		}
		want, err := EvaluateComposites(context.Background(), defs, sources, 1)
		if err != nil {
			t.Fatal(err)
		}
		wantMask := map[string]CompositeResult{}
		for _, w := range want {
			wantMask[w.OutputName] = w
		}
		// RS_custom.dcm read back.
		custom, err := rt.ReadStructureSetFile(filepath.Join(dir, CustomFile))
		if err != nil {
			t.Fatal(err)
		}
		if custom.SOPInstanceUID == manual.SOPInstanceUID || custom.SOPInstanceUID != qc.OutputSOPInstanceUID || custom.FrameOfRef != ref.FrameOfReferenceUID {
			t.Errorf("%s: RS_custom UID %s (RS.dcm %s, QC %s), frame %s", oc.Dir, custom.SOPInstanceUID, manual.SOPInstanceUID, qc.OutputSOPInstanceUID, custom.FrameOfRef)
		}
		var names []string
		numbers := map[int]bool{}
		for _, r := range custom.ROIs {
			names = append(names, r.Name)
			if numbers[r.Number] {
				t.Errorf("%s: ROI number %d twice", oc.Dir, r.Number)
			}
			numbers[r.Number] = true
			w, ok := wantMask[r.Name]
			if !ok || w.Mask == nil {
				t.Errorf("%s: unexpected ROI %q", oc.Dir, r.Name)
				continue
			}
			got, _, err := Rasterize(r, ref.Image)
			if err != nil {
				t.Fatal(err)
			}
			d := Dice(got, w.Mask)
			t.Logf("%s: %s %.2f cc, read back with Dice %.4f", oc.Dir, r.Name, w.VolumeCC, d)
			if d < 0.98 || math.IsNaN(d) {
				t.Errorf("%s: %s read back with Dice %.4f", oc.Dir, r.Name, d)
			}
		}
		if !equalStrings(names, wantNames) {
			t.Errorf("%s: ROIs %v, want %v", oc.Dir, names, wantNames)
		}
		// The anterior margin, in patient coordinates, whatever the image orientation.
		var heart *SourceMask
		for i := range sources {
			if sources[i].Name == "HEART" {
				heart = &sources[i]
			}
		}
		hLo, hHi := bounds(heart.Mask)
		aLo, aHi := bounds(wantMask["HEART_ant"].Mask)
		if math.Abs((hLo[1]-aLo[1])-10) > ref.Image.Grid.Spacing[1] || aHi[1] != hHi[1] || aLo[0] != hLo[0] || aHi[2] != hHi[2] {
			t.Errorf("%s: HEART y %v..%v, HEART_ant y %v..%v: not grown 10 mm towards anterior only", oc.Dir, hLo[1], hHi[1], aLo[1], aHi[1])
		}
		positions[fmt.Sprint(ref.Image.Grid.Axes[0], ref.Image.Grid.Axes[1])] = true
		// Without definitions: skipped, and the earlier RS_custom.dcm is removed.
		res, err = RunCourse(context.Background(), dir, Options{Workers: 1})
		sentinel, _ = os.ReadFile(filepath.Join(dir, Sentinel))
		if err != nil || res.Status != StatusSkipped || strings.TrimSpace(string(sentinel)) != "skipped: "+ReasonNotConfigured {
			t.Errorf("%s: without definitions: %+v %v, sentinel %q", oc.Dir, res, err, sentinel)
		}
		if _, err := os.Stat(filepath.Join(dir, CustomFile)); !os.IsNotExist(err) {
			t.Errorf("%s: stale RS_custom.dcm kept", oc.Dir)
		}
	}
	if len(positions) != 4 {
		t.Errorf("%d image orientations, want the 4 of HFS, FFS, HFP, FFP", len(positions))
	}
}

// TestStageFailuresAndSkips: an invalid definitions file fails the course with the file's
// message; a course without CT is skipped; a run where nothing can be built is skipped.
func TestStageFailuresAndSkips(t *testing.T) {
	out, outcomes := organizedCourses(t)
	dir := filepath.Join(out, filepath.FromSlash(outcomes[0].Dir))
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("custom_structures:\n  - name: A\n    source_structures: [B]\n    margin: {front: 3}\n"), 0o644)
	res, err := RunCourse(context.Background(), dir, Options{DefinitionsFile: bad})
	sentinel, _ := os.ReadFile(filepath.Join(dir, Sentinel))
	if err == nil || res.Status != StatusFailed || !strings.HasPrefix(string(sentinel), "failed: ") || !strings.Contains(string(sentinel), "bad.yaml:4") {
		t.Errorf("invalid definitions: %+v %v, sentinel %q", res, err, sentinel)
	}
	defs := []CompositeDefinition{{Name: "X", Operation: OpIntersection, Sources: []string{"HEART", "NOPE"}}}
	res, err = RunCourse(context.Background(), dir, Options{Definitions: defs})
	if err != nil || res.Status != StatusSkipped || !strings.Contains(res.Reason, "none of the 1 custom structures") {
		t.Errorf("nothing built: %+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, CustomFile)); !os.IsNotExist(err) {
		t.Errorf("RS_custom.dcm written without composites")
	}
	os.RemoveAll(filepath.Join(dir, "DICOM", "CT"))
	res, err = RunCourse(context.Background(), dir, Options{Definitions: defs})
	if err != nil || res.Status != StatusSkipped || !strings.Contains(res.Reason, "no CT") {
		t.Errorf("no CT: %+v %v", res, err)
	}
}
