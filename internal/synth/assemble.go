package synth

import (
	"fmt"
	"math"
	"path"
	"sort"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// place gives every object of a patient its path below dicom/, following the patient's layout
// and naming style unless the object forces a folder or name.
func (g *generator) place(p *patient) error {
	for _, o := range append(append([]*object{}, p.objects...), p.extras...) {
		dir := p.folder
		switch {
		case o.dir == ".":
		case o.dir != "":
			dir = path.Join(p.folder, o.dir)
		case p.layout == "series":
			dir = path.Join(p.folder, o.series)
		case p.layout == "nested":
			dir = path.Join(p.folder, o.studyDate, fsutil.SafeName(o.seriesDesc, 64))
		}
		name := o.name
		if name == "" {
			name = g.fileName(dir, p.naming, o.modality, o.sop)
		}
		rel := path.Join(dir, name)
		if g.paths[rel] {
			return fmt.Errorf("synth: internal error: two files planned at %s", rel)
		}
		g.paths[rel] = true
		cat := o.category
		if cat == "" {
			cat = CategoryPlaced
		}
		g.files = append(g.files, &file{rel: rel, content: o.content, same: o.same, pat: p,
			truth: FileTruth{Path: rel, SOPInstanceUID: o.sop, Modality: o.modality, Category: cat, ReasonHint: o.reason}})
	}
	return nil
}

// modalityPrefix is the file-name prefix planning systems commonly export with.
var modalityPrefix = map[string]string{"CT": "CT", "RTSTRUCT": "RS", "RTPLAN": "RP", "RTDOSE": "RD", "RTRECORD": "RT"}

func (g *generator) fileName(dir, style, modality, sop string) string {
	switch style {
	case "uid":
		return sop + ".dcm"
	case "prefixed":
		return modalityPrefix[modality] + "." + sop + ".dcm"
	case "noext":
		g.counters[dir]++
		return fmt.Sprintf("%08d", g.counters[dir])
	}
	g.counters[dir]++
	return fmt.Sprintf("IM%06d.dcm", g.counters[dir])
}

// markDuplicates keeps, of every group of byte-identical files, the one whose path sorts first
// and marks the others as its duplicates.
func (g *generator) markDuplicates() {
	groups := map[string][]*file{}
	var keys []string
	for _, f := range g.files {
		if f.same == "" {
			continue
		}
		if _, ok := groups[f.same]; !ok {
			keys = append(keys, f.same)
		}
		groups[f.same] = append(groups[f.same], f)
	}
	for _, k := range keys {
		fs := groups[k]
		sort.Slice(fs, func(i, j int) bool { return fs[i].rel < fs[j].rel })
		for _, f := range fs[1:] {
			f.truth.Category = CategoryDuplicate
			f.truth.DuplicateOf = fs[0].rel
			f.truth.ReasonHint = "byte-identical to " + fs[0].rel
		}
		if fs[0].truth.ReasonHint == "byte-identical copy of a CT slice" || fs[0].truth.ReasonHint == "byte-identical copy of the RTPLAN" {
			fs[0].truth.ReasonHint += " (sorts first, so it is the copy kept)"
		}
	}
}

// truth assembles the truth of the planned cohort.
func (g *generator) truth() *Truth {
	t := &Truth{
		Seed:         g.opt.Seed,
		Options:      g.opt,
		DoseModel:    DoseModel{Kind: "radial_plateau_linear_falloff", PlateauMarginMM: plateauMarginMM, FalloffMM: falloffMM},
		Anatomy:      anatomyTruth(),
		Segmentation: segmentationTruth(),
		Patients:     []PatientTruth{},
	}
	files := map[*patient][]FileTruth{}
	for _, f := range g.files {
		files[f.pat] = append(files[f.pat], f.truth)
	}
	for _, p := range g.patients {
		pt := PatientTruth{
			PatientID: p.id, Folder: p.folder, Scenario: p.scenario, PatientPosition: p.position, TransferSyntax: p.ts,
			PatientName: p.name, BirthDate: p.birth, Sex: p.sex, Layout: p.layout, Naming: p.naming,
			SharedStudyWith: p.sharedWith, Warnings: append([]string{}, p.warnings...), Courses: []CourseTruth{},
			Files: files[p],
		}
		sort.Slice(pt.Files, func(i, j int) bool { return pt.Files[i].Path < pt.Files[j].Path })
		for _, c := range p.courses {
			pt.Courses = append(pt.Courses, c.truth())
		}
		t.Patients = append(t.Patients, pt)
	}
	return t
}

func (c *course) truth() CourseTruth {
	ct := CourseTruth{
		Month: c.startDate[:4] + "-" + c.startDate[4:6], StartDate: c.startDate,
		StudyUID: c.st.uid, FrameOfReferenceUID: c.st.forUID,
		CTSelection: c.ctSelection,
		PlanUIDs:    []string{}, DoseUIDs: []string{}, DoseSummationTypes: []string{},
		ExpectedDose: ExpectedDose{Decision: c.decision, DoseUIDs: []string{}},
		RxGy:         c.rxGy, RxSource: c.rxSource, FractionsPlanned: c.fxPlanned, FractionsDelivered: len(c.records),
		PTVCenterMM: c.tum.center, GTVRadiusMM: c.tum.gtvR, PTVRadiusMM: c.tum.ptvR,
		ROIs: []string{}, CTSeries: []CTSeriesTruth{}, Plans: []PlanTruth{}, Doses: []DoseTruth{}, Fractions: []FractionTruth{},
	}
	if c.chosenCT != nil {
		ct.CTSeriesUID, ct.CTSlices = c.chosenCT.uid, len(c.chosenCT.sops)
	}
	if c.rs != nil {
		ct.RTStructUID = c.rs.uid
		for _, r := range c.rs.rois {
			ct.ROIs = append(ct.ROIs, r.name)
		}
	}
	for _, s := range c.cts {
		ct.CTSeries = append(ct.CTSeries, CTSeriesTruth{SeriesUID: s.uid, Slices: len(s.sops), SliceThicknessMM: s.grid.thickness,
			PixelSpacingMM: s.grid.spacing, Role: s.role})
	}
	for _, pl := range c.plans {
		ct.PlanUIDs = append(ct.PlanUIDs, pl.uid)
		ct.Plans = append(ct.Plans, PlanTruth{SOPInstanceUID: pl.uid, Label: pl.label, Date: pl.date, RxGy: pl.rx,
			FractionsPlanned: pl.fx, Technique: pl.technique, Beams: len(pl.beams), EnergyMV: pl.energy, Machine: pl.machine,
			Approval: pl.approval})
	}
	for _, d := range c.doses {
		ct.DoseUIDs = append(ct.DoseUIDs, d.uid)
		ct.DoseSummationTypes = append(ct.DoseSummationTypes, d.summation)
		ct.Doses = append(ct.Doses, d.truth())
	}
	for _, d := range c.chosen {
		ct.ExpectedDose.DoseUIDs = append(ct.ExpectedDose.DoseUIDs, d.uid)
		ct.ExpectedDose.MaxGy += maxDose(d.comps)
	}
	ct.ExpectedDose.MaxGy = tidy(ct.ExpectedDose.MaxGy)
	for _, r := range c.records {
		ct.Fractions = append(ct.Fractions, FractionTruth{SOPInstanceUID: r.uid, PlanUID: r.plan.uid, Fraction: r.fraction,
			Date: r.date, TreatmentDateMissing: r.noTreatmentDate})
	}
	return ct
}

func (d *rtDose) truth() DoseTruth {
	return DoseTruth{
		SOPInstanceUID: d.uid, SummationType: d.summation,
		ReferencedPlanUIDs: append([]string{}, d.planUIDs...), ReferencedBeams: append([]int{}, d.beams...),
		SpacingMM: d.grid.spacing, Size: [3]int{d.grid.n, d.grid.n, d.grid.n},
		MaxGy: tidy(maxDose(d.comps)), Components: append([]DoseComponent{}, d.comps...),
	}
}

// tidy rounds a sum of equal beam shares (55/3*3 = 55.00000000000001) back to the value a
// reader should compare with, so the truth shows 55.
func tidy(v float64) float64 { return math.Round(v*1e9) / 1e9 }
