package organize

import (
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/rt"
)

func TestMatchKeyword(t *testing.T) {
	opt := DefaultOptions()
	cases := []struct {
		text     string
		keywords []string
		want     string
	}{
		{"LUNG replan", opt.ReplanKeywords, "replan"},
		{"Lung_v2", opt.ReplanKeywords, "v2"},
		{"Re-plan week 3", opt.ReplanKeywords, "re-plan"},
		{"prevent", opt.ReplanKeywords, ""}, // "rev" inside a word never matches
		{"PTV Boost2", opt.BoostKeywords, "boost"},
		{"Phase 2 lung", opt.BoostKeywords, "phase 2"},
		{"abcd", opt.BoostKeywords, ""}, // "cd" inside a word
		{"CD 10Gy", opt.BoostKeywords, "cd"},
		{"PRIMARY", opt.BoostKeywords, ""},
		{"Copy of Lung", opt.ReplanKeywords, "copy"},
	}
	for _, c := range cases {
		if got := matchKeyword(c.text, c.keywords); got != c.want {
			t.Errorf("matchKeyword(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestNormDate(t *testing.T) {
	cases := map[string]string{"20230314": "2023-03-14", "2023-03-14": "2023-03-14", "14-03-2023": "2023-03-14",
		"14.03.2023": "2023-03-14", "": "", "garbage": "", "20231399": "", "18000101": ""}
	for in, want := range cases {
		if got := normDate(in); got != want {
			t.Errorf("normDate(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitByDays(t *testing.T) {
	u := func(d string) *unit { return &unit{date: d} }
	units := []*unit{u("20230101"), u("20230110"), u("20230301"), u(""), u("20230305"), u("20231001")}
	cases := []struct {
		maxDays int
		sizes   []int
	}{
		{-1, []int{6}},
		{30, []int{3, 2, 1}},
		{1000, []int{6}},
	}
	for _, c := range cases {
		got := splitByDays(units, c.maxDays)
		if len(got) != len(c.sizes) {
			t.Fatalf("maxDays %d: %d clusters, want %d", c.maxDays, len(got), len(c.sizes))
		}
		for i, s := range c.sizes {
			if len(got[i]) != s {
				t.Errorf("maxDays %d cluster %d: %d units, want %d", c.maxDays, i, len(got[i]), s)
			}
		}
	}
}

func TestPatientDirs(t *testing.T) {
	got := patientDirs([]string{"A/B-10", "A_B-10", "PAT/7 B", "plain", "Plain", "..", "Ünï-09", "Data", "_COURSES"})
	want := map[string]string{"A_B-10": "A_B-10", "Plain": "Plain", "..": "patient__.", "PAT/7 B": "PAT_7_B", "Ünï-09": "Uni-09",
		"Data": "patient_Data", "_COURSES": "patient__COURSES"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("dir(%q) = %q, want %q", id, got[id], w)
		}
	}
	if d := got["A/B-10"]; d == "A_B-10" || len(d) != len("A_B-10_")+6 {
		t.Errorf("clashing ID got %q", d)
	}
	if d := got["plain"]; len(d) != len("plain_")+6 {
		t.Errorf("ID differing only in case got %q", d)
	}
	seen := map[string]string{}
	for id, d := range got {
		d = strings.ToLower(d)
		if other, ok := seen[d]; ok {
			t.Errorf("%q and %q share folder %q", id, other, d)
		}
		seen[d] = id
	}
}

func planEntry(uid, label, date string, rx float64, fractions int) *Entry {
	p := &rt.Plan{Label: label, Date: date, Prescription: rt.PrescriptionInfo{TotalGy: rx, Fractions: fractions, Source: rt.RxSourceTargetPrescription}}
	if rx == 0 {
		p.Prescription.Source = rt.RxSourceNone
	}
	return &Entry{Path: uid, Obj: &Object{Kind: rt.KindRTPlan, SOPInstanceUID: uid, Plan: p}}
}

func TestRelate(t *testing.T) {
	b := &patientBuilder{opt: DefaultOptions()}
	first := planEntry("1", "LUNG", "20230101", 60, 30)
	cases := []struct {
		name  string
		later *Entry
		want  string
	}{
		{"boost keyword", planEntry("2", "LUNG boost", "20230101", 60, 30), relBoost},
		{"replan keyword wins over Rx", planEntry("2", "LUNG replan", "20230201", 10, 5), relReplan},
		{"Rx ratio", planEntry("2", "PHASE B", "20230201", 10, 5), relBoost},
		{"same Rx later", planEntry("2", "LUNG B", "20230215", 60, 30), relReplan},
		{"same Rx same day", planEntry("2", "LUNG VMAT", "20230101", 60, 30), relAlternative},
		{"unknown Rx same fractions same day", planEntry("2", "VMAT", "20230101", 0, 30), relAlternative},
		{"unknown Rx other fractions", planEntry("2", "VMAT", "20230101", 0, 5), relBoost},
	}
	for _, c := range cases {
		if got, reason := b.relate(first, c.later); got != c.want {
			t.Errorf("%s: %s (%s), want %s", c.name, got, reason, c.want)
		}
	}
}
