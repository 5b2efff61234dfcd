package organize

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// inv builds in-memory inventories: Build reads no file, so decisions can be tested on headers
// alone.
type inv struct {
	entries []*Entry
	n       int
}

func (v *inv) add(o *Object) *Entry {
	v.n++
	if o.PatientID == "" {
		o.PatientID = "P1"
	}
	if o.SOPInstanceUID == "" {
		o.SOPInstanceUID = fmt.Sprintf("1.2.3.%d", v.n)
	}
	e := &Entry{Path: fmt.Sprintf("f%04d.dcm", v.n), Obj: o}
	v.entries = append(v.entries, e)
	return e
}

func (v *inv) ct(series, study, frame string, slices int) []*Entry {
	var out []*Entry
	for i := 0; i < slices; i++ {
		out = append(out, v.add(&Object{Kind: rt.KindCT, Modality: "CT", StudyUID: study, SeriesUID: series, FrameOfReference: frame,
			ImagePosition: []float64{0, 0, float64(i) * 3}, ImageOrientation: []float64{1, 0, 0, 0, 1, 0}, InstanceNumber: i + 1, HasInstanceNumber: true,
			StudyDate: "20230101"}))
	}
	return out
}

func (v *inv) rs(uid, study, frame string, series ...string) *Entry {
	return v.add(&Object{Kind: rt.KindRTStruct, SOPInstanceUID: uid, StudyUID: study,
		Struct: &rt.StructureSet{Label: "RS", Date: "20230105", FrameOfReferenceUIDs: []string{frame}, ReferencedSeries: series}})
}

func (v *inv) plan(uid, study, frame, rs, label, date string, rx float64, fractions int) *Entry {
	p := &rt.Plan{Label: label, Date: date, Prescription: rt.PrescriptionInfo{TotalGy: rx, Fractions: fractions, Source: rt.RxSourceTargetPrescription}}
	if rs != "" {
		p.ReferencedStructureSets = []string{rs}
	}
	return v.add(&Object{Kind: rt.KindRTPlan, SOPInstanceUID: uid, StudyUID: study, FrameOfReference: frame, Plan: p})
}

func (v *inv) dose(plan, study, frame, summation string, origin []float64) *Entry {
	return v.add(&Object{Kind: rt.KindRTDose, StudyUID: study, FrameOfReference: frame, Dose: &rt.Dose{SummationType: summation, ReferencedPlan: []string{plan},
		Position: origin, Orientation: []float64{1, 0, 0, 0, 1, 0}, PixelSpacing: []float64{3, 3}, Rows: 20, Columns: 20, Frames: 10,
		FrameOffsets: []float64{0, 3, 6, 9, 12, 15, 18, 21, 24, 27}}})
}

func (v *inv) record(plan, date string) *Entry {
	return v.add(&Object{Kind: rt.KindRTRecord, Record: &rt.TreatmentRecord{Date: date, ReferencedPlan: []string{plan}, FractionNumbers: []int{1}}})
}

func build(v *inv, mutate func(*Options)) *Result {
	opt := DefaultOptions()
	if mutate != nil {
		mutate(&opt)
	}
	return Build(&Inventory{Entries: v.entries}, opt)
}

func TestCTSelectionRules(t *testing.T) {
	t.Run("referenced_multi picks most slices then lowest UID", func(t *testing.T) {
		v := &inv{}
		v.ct("1.9.1", "S", "F", 3)
		v.ct("1.9.2", "S", "F", 5)
		v.ct("1.9.3", "S", "F", 5)
		v.rs("RS1", "S", "F", "1.9.1", "1.9.3", "1.9.2")
		res := build(v, nil)
		c := res.Courses[0]
		if c.CTSelection != CTReferencedMulti || c.CT.UID != "1.9.2" {
			t.Fatalf("%s %v", c.CTSelection, c.CT)
		}
	})
	t.Run("fallback_largest without references", func(t *testing.T) {
		v := &inv{}
		v.ct("1.9.1", "S", "F", 3)
		v.ct("1.9.2", "S", "F", 7)
		v.ct("1.9.9", "OTHER", "G", 9) // another study is never a fallback
		v.rs("RS1", "S", "F")
		res := build(v, nil)
		var c *Course
		for _, x := range res.Courses {
			if x.Kind == CourseKindRTStructOnly {
				c = x
			}
		}
		if c == nil || c.CTSelection != CTFallbackLargest || c.CT.UID != "1.9.2" {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("unresolved reference fails closed", func(t *testing.T) {
		v := &inv{}
		v.ct("1.9.1", "S", "F", 9)
		v.rs("RS1", "S", "F", "1.9.404")
		res := build(v, nil)
		c := res.Courses[0]
		if c.CTSelection != CTUnresolvedReference || c.CT != nil || len(c.Warnings) == 0 {
			t.Fatalf("%s %v %q", c.CTSelection, c.CT, c.Warnings)
		}
		// The CT still has a home: it is a related series of the course.
		if len(c.Related) != 1 {
			t.Fatalf("related %d", len(c.Related))
		}
	})
}

func TestDoseSelectionRules(t *testing.T) {
	near, far := []float64{-30, -30, -10}, []float64{500, 500, 500}
	cases := []struct {
		name     string
		setup    func(v *inv)
		decision string
		sources  int
		rx       float64
	}{
		{"separate regions", func(v *inv) {
			v.plan("PA", "S", "F", "RS1", "A", "20230110", 30, 10)
			v.plan("PB", "S", "F", "RS1", "B", "20230110", 20, 10)
			v.dose("PA", "S", "F", "PLAN", near)
			v.dose("PB", "S", "F", "PLAN", far)
		}, DoseSeparateRegions, 1, 30},
		{"separate frames", func(v *inv) {
			v.plan("PA", "S", "F", "RS1", "A", "20230110", 30, 10)
			v.plan("PB", "S", "F", "RS1", "B", "20230110", 20, 10)
			v.dose("PA", "S", "F", "PLAN", near)
			v.dose("PB", "S", "G", "PLAN", near)
		}, DoseSeparateFrames, 1, 30},
		{"boost by Rx ratio", func(v *inv) {
			v.plan("PA", "S", "F", "RS1", "Phase A", "20230110", 50, 25)
			v.plan("PB", "S", "F", "RS1", "Phase B", "20230201", 10, 5)
			v.dose("PA", "S", "F", "PLAN", near)
			v.dose("PB", "S", "F", "PLAN", near)
		}, DosePrimaryBoostSum, 2, 60},
		{"boost plus replan: ITT sums primary and boost only", func(v *inv) {
			v.plan("PA", "S", "F", "RS1", "Lung", "20230110", 50, 25)
			v.plan("PB", "S", "F", "RS1", "Lung replan", "20230120", 50, 25)
			v.plan("PC", "S", "F", "RS1", "Lung boost", "20230201", 10, 5)
			v.dose("PA", "S", "F", "PLAN", near)
			v.dose("PB", "S", "F", "PLAN", near)
			v.dose("PC", "S", "F", "PLAN", near)
		}, DosePrimaryBoostSum, 2, 60},
		{"alternatives: the delivered plan wins", func(v *inv) {
			v.plan("PA", "S", "F", "RS1", "IMRT", "20230110", 60, 30)
			v.plan("PB", "S", "F", "RS1", "VMAT", "20230110", 60, 30)
			v.dose("PA", "S", "F", "PLAN", near)
			v.dose("PB", "S", "F", "PLAN", near)
			v.record("PB", "20230115")
		}, DoseAlternativesFirst, 1, 60},
		{"beam doses and a plan dose: the plan dose", func(v *inv) {
			v.plan("PA", "S", "F", "RS1", "A", "20230110", 60, 30)
			v.dose("PA", "S", "F", "BEAM", near)
			v.dose("PA", "S", "F", "PLAN", near)
			v.dose("PA", "S", "F", "BEAM", near)
		}, DoseSingle, 1, 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &inv{}
			v.ct("1.9.1", "S", "F", 4)
			v.rs("RS1", "S", "F", "1.9.1")
			c.setup(v)
			res := build(v, nil)
			if len(res.Courses) != 1 {
				t.Fatalf("%d courses", len(res.Courses))
			}
			co := res.Courses[0]
			if co.Dose.Decision != c.decision || len(co.Dose.Sources) != c.sources || co.Rx.TotalGy != c.rx {
				t.Fatalf("decision %s (%s), %d sources, Rx %v; want %s, %d, %v", co.Dose.Decision, co.Dose.Reason, len(co.Dose.Sources), co.Rx.TotalGy, c.decision, c.sources, c.rx)
			}
			if c.name == "alternatives: the delivered plan wins" && co.Dose.Plans[0].Obj.Plan.Label != "VMAT" {
				t.Fatalf("kept %s", co.Dose.Plans[0].Obj.Plan.Label)
			}
		})
	}
}

func TestGroupingOptions(t *testing.T) {
	// Two CT studies sharing one frame of reference (a re-scan registered to the same frame).
	setup := func() *inv {
		v := &inv{}
		v.ct("1.9.1", "S1", "F", 4)
		v.ct("1.9.2", "S2", "F", 4)
		v.rs("RS1", "S1", "F", "1.9.1")
		v.rs("RS2", "S2", "F", "1.9.2")
		v.plan("PA", "S1", "F", "RS1", "A", "20230110", 60, 30)
		v.plan("PB", "S2", "F", "RS2", "B", "20230901", 60, 30)
		v.dose("PA", "S1", "F", "PLAN", []float64{0, 0, 0})
		v.dose("PB", "S2", "F", "PLAN", []float64{0, 0, 0})
		return v
	}
	cases := []struct {
		name    string
		mutate  func(*Options)
		courses []string
	}{
		{"same_ct_study", nil, []string{"2023-01", "2023-09"}},
		{"frame_of_reference", func(o *Options) { o.MergeCriteria = MergeFrameOfReference }, []string{"2023-01"}},
		{"frame_of_reference with max-days", func(o *Options) { o.MergeCriteria = MergeFrameOfReference; o.MaxDays = 90 }, []string{"2023-01", "2023-09"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := build(setup(), c.mutate)
			var names []string
			for _, co := range res.Courses {
				names = append(names, co.Name)
			}
			if strings.Join(names, ",") != strings.Join(c.courses, ",") {
				t.Fatalf("courses %v, want %v", names, c.courses)
			}
		})
	}
}

func TestUnlinkedObjects(t *testing.T) {
	v := &inv{}
	v.ct("1.9.1", "S", "F", 4)
	v.rs("RS1", "S", "F", "1.9.1")
	v.plan("PA", "S", "F", "RS1", "A", "20230110", 60, 30)
	noRef := v.dose("", "S", "F", "PLAN", []float64{0, 0, 0})
	noRef.Obj.Dose.ReferencedPlan = nil
	noRef.Obj.FrameOfReference = "F"
	v.entries[len(v.entries)-3].Obj.FrameOfReference = "F" // the plan
	rec := v.add(&Object{Kind: rt.KindRTRecord, Record: &rt.TreatmentRecord{Date: "20230115"}})
	mr := v.add(&Object{Kind: rt.KindMR, Modality: "MR", StudyUID: "OTHER", SeriesUID: "1.9.7", FrameOfReference: "M"})
	noID := v.add(&Object{Kind: rt.KindCT, PatientID: " ", SeriesUID: "x"})
	res := build(v, nil)
	c := res.Courses[0]
	if c.Dose.Decision != DoseSingle || c.Dose.Sources[0] != noRef {
		t.Errorf("dose without plan reference not linked: %s", c.Dose.Reason)
	}
	if len(c.Records) != 1 || c.Records[0] != rec {
		t.Errorf("record without plan reference not attached to the only course")
	}
	if fr := res.record[mr]; fr.Category != CategoryOrphan || !strings.Contains(fr.Reason, "not referenced") {
		t.Errorf("unrelated MR: %+v", fr)
	}
	if fr := res.record[noID]; fr.Category != CategoryOrphan || !strings.Contains(fr.Reason, "PatientID") {
		t.Errorf("no PatientID: %+v", fr)
	}
	if len(res.Warnings) == 0 {
		t.Error("linking a dose by frame of reference gives no warning")
	}
}
