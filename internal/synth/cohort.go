package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// plan decides everything about the cohort — patients, objects, paths and truth — without
// touching the disk.
func plan(o Options) (*generator, error) {
	scen, err := assignScenarios(o)
	if err != nil {
		return nil, err
	}
	g := &generator{opt: o, seed: strconv.FormatInt(o.Seed, 10), paths: map[string]bool{}, counters: map[string]int{}}
	for i := 0; i < len(scen); i++ {
		p := g.newPatient(i+1, scen[i])
		if scen[i] == ScenarioSharedStudy {
			q := g.newPatient(i+2, scen[i])
			g.sharedStudy(p, q)
			g.patients = append(g.patients, p, q)
			i++
			continue
		}
		if err := g.build(p); err != nil {
			return nil, err
		}
		g.patients = append(g.patients, p)
	}
	for _, p := range g.patients {
		if err := g.place(p); err != nil {
			return nil, err
		}
	}
	g.markDuplicates()
	return g, nil
}

// Awkward patient IDs, by cohort slot: a path separator and a space, non-ASCII letters, and two
// IDs that sanitise to the same folder name.
var awkwardIDs = map[int]string{7: "PAT/7 B", 9: "Ünï-09", 10: "A/B-10", 11: "A_B-10"}

var (
	surnames = []string{"NOWAK", "KOWALSKI", "SMITH", "GARCIA", "MARTIN", "ROSSI", "JANSEN", "DUBOIS", "SILVA", "NIELSEN", "FISCHER", "HORVATH"}
	givens   = []string{"ANNA", "PIOTR", "JOHN", "MARIA", "LUCAS", "GIULIA", "EMMA", "PAUL", "ANA", "SOFIE", "KARL", "ZSOFIA"}
	machines = []string{"TB1", "TB2", "VERSA_HD"}
)

// Layouts and naming styles, cycled over patient slots.
var (
	layouts = []string{"flat", "series", "nested"}
	namings = []string{"im", "uid", "im", "prefixed", "uid", "im", "noext", "uid"}
)

func (g *generator) newPatient(slot int, scenario string) *patient {
	p := &patient{slot: slot, key: fmt.Sprintf("p%04d", slot), scenario: scenario}
	p.rng = rand.New(rand.NewPCG(uint64(g.opt.Seed), uint64(slot)*0x9E3779B97F4A7C15))
	p.id = fmt.Sprintf("SYN%03d", slot)
	if id, ok := awkwardIDs[slot]; ok {
		p.id = id
	}
	p.name = surnames[p.rng.IntN(len(surnames))] + "^" + givens[p.rng.IntN(len(givens))]
	if slot == 9 {
		p.name = "MÜLLER^JÖRG"
	}
	p.sex = []string{"F", "M"}[slot%2]
	if slot%10 == 0 {
		p.sex = "O"
	}
	birth := time.Date(1938+p.rng.IntN(40), time.Month(1+p.rng.IntN(12)), 1+p.rng.IntN(28), 0, 0, 0, 0, time.UTC)
	p.birth = da(birth)
	p.folder = fsutil.SafeName(p.id, 64)
	switch {
	case slot%6 == 0:
		p.folder = "SITE2/" + p.folder
	case slot%13 == 5:
		p.folder = fmt.Sprintf("export_%03d", slot)
	}
	p.layout = layouts[(slot-1)%len(layouts)]
	p.naming = namings[(slot-1)%len(namings)]
	p.position = positions[(slot-1)%len(positions)]
	p.ts = dicomio.ExplicitVRLittleEndian
	if slot%5 == 3 {
		p.ts = dicomio.ImplicitVRLittleEndian
	}
	if !isASCII(p.id) || !isASCII(p.name) {
		p.charset = "ISO_IR 192"
	}
	p.structFOR = slot%2 == 0
	p.machine = machines[slot%len(machines)]
	base := time.Date(2019, 1, 7, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (slot-1)*19+p.rng.IntN(14))
	p.baseDate = weekday(base)
	return p
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// build plans one patient's scenario.
func (g *generator) build(p *patient) error {
	d := p.baseDate
	switch p.scenario {
	case ScenarioSingleCourse:
		g.standard(p, stdSpec{tag: "c1", ctDate: d})
	case ScenarioPrimaryBoost:
		g.primaryBoost(p, false)
	case ScenarioPlanSum:
		g.primaryBoost(p, true)
	case ScenarioTwoCourses:
		c1 := g.standard(p, stdSpec{tag: "c1", ctDate: d})
		g.standard(p, stdSpec{tag: "c2", ctDate: weekday(mustDate(c1.startDate).AddDate(0, 5, 3+p.rng.IntN(20)))})
	case ScenarioTwoCoursesSameMonth:
		first := time.Date(d.Year(), d.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		p1 := weekday(first.AddDate(0, 0, 1))
		p2 := weekday(first.AddDate(0, 0, 20))
		g.standard(p, stdSpec{tag: "c1", ctDate: weekday(p1.AddDate(0, 0, -4)), planDate: p1, rx: 20, fx: 5, label: "PALL 1"})
		g.standard(p, stdSpec{tag: "c2", ctDate: weekday(p2.AddDate(0, 0, -4)), planDate: p2, rx: 30, fx: 10, label: "PALL 2"})
	case ScenarioReplan:
		g.replan(p)
	case ScenarioBeamDosesOnly:
		g.standard(p, stdSpec{tag: "c1", ctDate: d, beamDoses: true, technique: []string{"3D", "IMRT"}[p.rng.IntN(2)], beams: 3 + p.rng.IntN(3)})
	case ScenarioMissingDose:
		g.standard(p, stdSpec{tag: "c1", ctDate: d, noDose: true, noRecords: true, approval: "UNAPPROVED"})
	case ScenarioOrphanDose:
		c := g.standard(p, stdSpec{tag: "c1", ctDate: d})
		g.orphanDose(p, c)
	case ScenarioDuplicateFile:
		c := g.standard(p, stdSpec{tag: "c1", ctDate: d})
		g.duplicates(p, c)
	case ScenarioTruncatedFile:
		c := g.standard(p, stdSpec{tag: "c1", ctDate: d})
		g.truncated(p, c)
	case ScenarioNonDICOM:
		g.standard(p, stdSpec{tag: "c1", ctDate: d})
		g.nonDICOM(p)
	case ScenarioRTStructOnly:
		g.standard(p, stdSpec{tag: "c1", ctDate: d, noPlan: true})
	case ScenarioCTOnly:
		g.standard(p, stdSpec{tag: "c1", ctDate: d, noStruct: true, noPlan: true})
	case ScenarioTwoCTSeries:
		g.standard(p, stdSpec{tag: "c1", ctDate: d, secondCT: true})
	case ScenarioUnresolvedReference:
		g.standard(p, stdSpec{tag: "c1", ctDate: d, ghostRefs: true})
	default:
		return fmt.Errorf("synth: scenario %q has no builder", p.scenario)
	}
	return nil
}

func mustDate(s string) time.Time {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		panic(fmt.Sprintf("synth: internal date %q: %v", s, err))
	}
	return t
}

// stdSpec describes a course built by standard: CT, RTSTRUCT, one plan, its dose and its
// records, each part optional.
type stdSpec struct {
	tag       string
	ctDate    time.Time
	planDate  time.Time // zero: a few days after the CT
	st        *study    // nil: a new study
	tum       *tumour   // nil: a new tumour
	rx        float64
	fx        int
	label     string
	technique string
	beams     int
	approval  string
	noStruct  bool
	noPlan    bool
	noDose    bool
	noRecords bool
	beamDoses bool
	secondCT  bool
	ghostRefs bool
}

// Standard fractionations for curative lung courses (total Gy, fractions).
var fractionations = [][2]float64{{60, 30}, {66, 33}, {54, 27}, {55, 20}, {45, 15}}

func (g *generator) standard(p *patient, s stdSpec) *course {
	st := s.st
	if st == nil {
		st = g.newStudy(p, s.tag, s.ctDate)
	}
	tum := newTumour(p.rng)
	if s.tum != nil {
		tum = *s.tum
	}
	c := &course{st: st, tum: tum, decision: DecisionNoDose, rxSource: "none", ctSelection: CTNone}
	p.courses = append(p.courses, c)
	n := g.sliceCount(p)
	if s.secondCT && g.opt.MaxSlices > g.opt.MinSlices {
		n = g.opt.MinSlices + p.rng.IntN(g.opt.MaxSlices-g.opt.MinSlices)
	}
	role := "planning"
	switch {
	case s.noStruct:
		role = "only"
	case s.ghostRefs:
		role = "unreferenced"
	}
	ct := g.addCT(p, c, s.tag+"/ct1", n, role)
	c.startDate = ct.date
	if s.noStruct {
		c.chosenCT, c.ctSelection = ct, CTFallbackLargest
		return c
	}
	rs := g.addStruct(p, c, s.tag, ct, s.ghostRefs)
	if s.ghostRefs {
		c.ctSelection = CTUnresolvedReference
	} else {
		c.chosenCT, c.ctSelection = ct, CTReferenced
	}
	if s.secondCT {
		n2 := n + 1 + p.rng.IntN(max(1, g.opt.MaxSlices-n))
		if g.opt.MaxSlices == g.opt.MinSlices {
			n2 = n + 4
		}
		g.addCT(p, c, s.tag+"/ct2", n2, "secondary")
	}
	if s.noPlan {
		c.startDate = rs.date
		return c
	}
	rx, fx := s.rx, s.fx
	if rx == 0 {
		f := fractionations[p.rng.IntN(len(fractionations))]
		rx, fx = f[0], int(f[1])
	}
	planDate := s.planDate
	if planDate.IsZero() {
		planDate = weekday(s.ctDate.AddDate(0, 0, 4+p.rng.IntN(5)))
	}
	label := s.label
	if label == "" {
		label = "LUNG " + sideOf(tum)
	}
	approval := s.approval
	if approval == "" {
		approval = "APPROVED"
	}
	pl := g.addPlan(p, c, planSpec{tag: s.tag + "/plan1", label: label, name: fmt.Sprintf("Lung %s %gGy", sideOf(tum), rx),
		rx: rx, fx: fx, date: planDate, technique: s.technique, beams: s.beams, approval: approval,
		plateau: tum.ptvR + plateauMarginMM})
	c.rxGy, c.rxSource, c.fxPlanned, c.startDate = rx, "target_prescription_dose", fx, pl.date
	switch {
	case s.noDose:
	case s.beamDoses:
		c.chosen = g.addBeamDoses(p, c, pl, []float64{2.5, 3, 4}[p.rng.IntN(3)])
		c.decision = DecisionBeamDosesSummed
	default:
		c.chosen = []*rtDose{g.addPlanDose(p, c, pl, []float64{2.5, 3, 4}[p.rng.IntN(3)])}
		c.decision = DecisionSingleDose
	}
	if !s.noRecords {
		g.deliver(p, c, pl, 1, fx, mustDate(pl.date).AddDate(0, 0, 7))
	}
	return c
}

func sideOf(t tumour) string {
	if t.lung.ROI == "LUNG_L" {
		return "L"
	}
	return "R"
}

// primaryBoost builds a primary plan and a later boost plan on one CT, with a PLAN dose each
// on different grids, and optionally a PLAN_SUM dose of both.
func (g *generator) primaryBoost(p *patient, withSum bool) {
	st := g.newStudy(p, "c1", p.baseDate)
	tum := newTumour(p.rng)
	c := &course{st: st, tum: tum, rxSource: "target_prescription_dose"}
	p.courses = append(p.courses, c)
	ct := g.addCT(p, c, "c1/ct1", g.sliceCount(p), "planning")
	c.chosenCT, c.ctSelection = ct, CTReferenced
	g.addStruct(p, c, "c1", ct, false)
	pd := weekday(p.baseDate.AddDate(0, 0, 5+p.rng.IntN(3)))
	primary := g.addPlan(p, c, planSpec{tag: "c1/primary", label: "PRIMARY", name: "Lung primary 50Gy", rx: 50, fx: 25,
		date: pd, approval: "APPROVED", plateau: tum.ptvR + plateauMarginMM})
	boost := g.addPlan(p, c, planSpec{tag: "c1/boost", label: "Boost", name: "Lung Boost 10Gy", rx: 10, fx: 5,
		date: weekday(pd.AddDate(0, 0, 35)), approval: "APPROVED", plateau: tum.gtvR + plateauMarginMM})
	dp := g.addPlanDose(p, c, primary, []float64{3, 4}[p.rng.IntN(2)])
	db := g.addPlanDose(p, c, boost, 2.5)
	primaryFx := g.deliver(p, c, primary, 1, 25, pd.AddDate(0, 0, 7))
	last := mustDate(primaryFx[len(primaryFx)-1].date)
	g.deliver(p, c, boost, 1, 5, last.AddDate(0, 0, 1))
	c.rxGy, c.fxPlanned, c.startDate = 60, 30, primary.date
	if withSum {
		sum := g.addDose(p, c, doseSpec{tag: "c1/plansum", summation: "PLAN_SUM", plans: []*rtPlan{primary, boost},
			grid: dp.grid, comps: append(append([]DoseComponent{}, dp.comps...), db.comps...), desc: "Plan sum PRIMARY+Boost"})
		c.decision, c.chosen = DecisionPlanSumUsed, []*rtDose{sum}
		return
	}
	c.decision, c.chosen = DecisionPrimaryBoostSummed, []*rtDose{dp, db}
}

// replan builds plan A, delivered for 10 fractions, and its revision B two weeks later with the
// same prescription, delivered for the remaining 20 (numbered on from 11).
func (g *generator) replan(p *patient) {
	st := g.newStudy(p, "c1", p.baseDate)
	tum := newTumour(p.rng)
	c := &course{st: st, tum: tum, rxSource: "target_prescription_dose", decision: DecisionReplanITTFirst}
	p.courses = append(p.courses, c)
	ct := g.addCT(p, c, "c1/ct1", g.sliceCount(p), "planning")
	c.chosenCT, c.ctSelection = ct, CTReferenced
	g.addStruct(p, c, "c1", ct, false)
	ad := weekday(p.baseDate.AddDate(0, 0, 4+p.rng.IntN(4)))
	a := g.addPlan(p, c, planSpec{tag: "c1/planA", label: "LUNG", name: "Lung 60Gy", rx: 60, fx: 30, date: ad,
		approval: "APPROVED", plateau: tum.ptvR + plateauMarginMM})
	bLabel := []string{"LUNG_replan", "LUNG v2"}[p.slot%2]
	b := g.addPlan(p, c, planSpec{tag: "c1/planB", label: bLabel, name: "Lung 60Gy " + bLabel, rx: 60, fx: 30,
		date: ad.AddDate(0, 0, 14), approval: "APPROVED", plateau: tum.ptvR + plateauMarginMM, predecessor: a})
	da := g.addPlanDose(p, c, a, 3)
	g.addPlanDose(p, c, b, 2.5)
	g.deliver(p, c, a, 1, 10, ad.AddDate(0, 0, 7))
	g.deliver(p, c, b, 11, 20, mustDate(b.date).AddDate(0, 0, 7))
	c.rxGy, c.fxPlanned, c.startDate, c.chosen = 60, 30, a.date, []*rtDose{da}
}

// sharedStudy builds two patients whose objects share one StudyInstanceUID and frame of
// reference, as when a patient is re-exported under a new ID; each is a complete course.
func (g *generator) sharedStudy(p, q *patient) {
	st := g.newStudy(p, "c1", p.baseDate)
	tum := newTumour(p.rng)
	q.baseDate = p.baseDate
	for _, x := range []*patient{p, q} {
		g.standard(x, stdSpec{tag: "c1", ctDate: p.baseDate, st: st, tum: &tum})
	}
	p.sharedWith, q.sharedWith = q.id, p.id
	msg := "StudyInstanceUID %s is shared with patient %s"
	p.warnings = append(p.warnings, fmt.Sprintf(msg, st.uid, q.id))
	q.warnings = append(q.warnings, fmt.Sprintf(msg, st.uid, p.id))
}

func (g *generator) newStudy(p *patient, tag string, date time.Time) *study {
	return &study{
		uid:       g.uid(p, tag, "study"),
		forUID:    g.uid(p, tag, "for"),
		id:        fmt.Sprintf("S%d", 1+p.rng.IntN(9000)),
		date:      da(date),
		time:      tm(8+p.rng.IntN(9), p.rng.IntN(60), p.rng.IntN(60)),
		desc:      "CT THORAX RT PLANNING",
		accession: fmt.Sprintf("ACC%07d", p.rng.IntN(10000000)),
	}
}

// sliceCount draws a CT slice count within the options' range.
func (g *generator) sliceCount(p *patient) int {
	return g.opt.MinSlices + p.rng.IntN(g.opt.MaxSlices-g.opt.MinSlices+1)
}

// addCT plans a CT series of n slices covering the course's tumour. The slice thickness is
// drawn from the clinical set, among the values whose coverage holds the PTV with 10 mm to
// spare on both sides.
func (g *generator) addCT(p *patient, c *course, tag string, n int, role string) *ctSeries {
	need := 2*c.tum.ptvR + 20
	var fit []float64
	for _, t := range []float64{2, 2.5, 3, 5} {
		if float64(n)*t >= need {
			fit = append(fit, t)
		}
	}
	if len(fit) == 0 {
		fit = []float64{5}
	}
	th := fit[p.rng.IntN(len(fit))]
	slack := math.Max(0, float64(n)*th-need) / 2
	zc := roundTo(c.tum.center[2]+(p.rng.Float64()*2-1)*slack, 0.5)
	fov := []float64{480, 500, 520}[p.rng.IntN(3)]
	// The field of view is off the body centre by up to 10 mm, as after a real setup.
	centre := vec3{roundTo(p.rng.Float64()*20-10, 0.5), roundTo(p.rng.Float64()*20-10, 0.5), zc}
	st := c.st
	number := 1 + len(c.cts)
	s := &ctSeries{
		uid:    g.uid(p, tag, "series"),
		number: number,
		desc:   fmt.Sprintf("CT Thorax %gmm", th),
		date:   st.date,
		time:   st.time,
		grid:   newCTGrid(p.position, g.opt.Matrix, n, th, fov, centre),
		kvp:    []float64{100, 120, 140}[p.rng.IntN(3)],
		kernel: []string{"B31f", "STANDARD", "FC13"}[p.rng.IntN(3)],
		role:   role,
		tum:    c.tum,
		st:     st,
	}
	if role == "secondary" {
		s.desc = fmt.Sprintf("CT Thorax diagnostic %gmm", th)
	}
	c.cts = append(c.cts, s)
	for k := range n {
		s.sops = append(s.sops, g.uid(p, tag, "slice", itoa(k)))
	}
	for k := range n {
		p.objects = append(p.objects, &object{modality: "CT", sop: s.sops[k], series: s.uid, seriesDesc: s.desc, studyDate: st.date,
			content: func() ([]byte, error) { return g.ctSlice(p, s, k) },
			reason:  fmt.Sprintf("CT slice %d/%d of %s series", k+1, n, role)})
	}
	return s
}

// roiTable is the structure set's content: name, RTROIInterpretedType, generation algorithm and
// display colour. ROI numbers start at 1 or, for odd slots, at 11, so readers must map numbers
// through the structure set instead of assuming them.
var roiTable = []struct {
	name, kind, algo string
	color            [3]int
}{
	{"BODY", "EXTERNAL", "AUTOMATIC", [3]int{0, 255, 0}},
	{"LUNG_L", "ORGAN", "SEMIAUTOMATIC", [3]int{0, 128, 255}},
	{"LUNG_R", "ORGAN", "SEMIAUTOMATIC", [3]int{0, 200, 255}},
	{"HEART", "ORGAN", "SEMIAUTOMATIC", [3]int{255, 0, 128}},
	{"SPINAL_CORD", "ORGAN", "SEMIAUTOMATIC", [3]int{255, 255, 0}},
	{"ESOPHAGUS", "ORGAN", "MANUAL", [3]int{160, 82, 45}},
	{"GTV", "GTV", "MANUAL", [3]int{255, 0, 0}},
	{"PTV", "PTV", "MANUAL", [3]int{255, 128, 0}},
}

func roiShape(name string, t tumour) Shape {
	switch name {
	case "BODY":
		return shapeBody
	case "LUNG_L":
		return shapeLungL
	case "LUNG_R":
		return shapeLungR
	case "HEART":
		return shapeHeart
	case "SPINAL_CORD":
		return shapeCord
	case "ESOPHAGUS":
		return shapeEsoph
	case "GTV":
		return t.gtvShape()
	}
	return t.ptvShape()
}

// addStruct plans the RTSTRUCT contoured on ct. With ghost set, its references name a series and
// images that are not in the export (the contours still lie on ct's planes).
func (g *generator) addStruct(p *patient, c *course, tag string, ct *ctSeries, ghost bool) *structSet {
	date := weekday(mustDate(ct.date).AddDate(0, 0, 1))
	rs := &structSet{
		uid:       g.uid(p, tag, "rtstruct"),
		seriesUID: g.uid(p, tag, "rtstruct-series"),
		number:    10,
		label:     "THORAX",
		date:      da(date),
		time:      tm(10+p.rng.IntN(6), p.rng.IntN(60), p.rng.IntN(60)),
		st:        c.st,
		geom:      ct.grid,
		refSeries: ct.uid,
		refSOPs:   ct.sops,
	}
	if ghost {
		rs.refSeries = g.uid(p, tag, "absent-series")
		rs.refSOPs = make([]string, len(ct.sops))
		for k := range rs.refSOPs {
			rs.refSOPs[k] = g.uid(p, tag, "absent-slice", itoa(k))
		}
	}
	base := 1
	if p.slot%2 == 1 {
		base = 11
	}
	for i, r := range roiTable {
		rs.rois = append(rs.rois, roi{number: base + i, name: r.name, kind: r.kind, algo: r.algo, color: r.color, shape: roiShape(r.name, c.tum)})
	}
	c.rs = rs
	o := &object{modality: "RTSTRUCT", sop: rs.uid, series: rs.seriesUID, seriesDesc: "RTSTRUCT " + rs.label, studyDate: c.st.date,
		content: func() ([]byte, error) { return g.structureSet(p, rs) }, reason: "structure set"}
	if ghost {
		o.reason = "structure set referencing a CT series absent from the export"
	}
	if !g.rsNamedAsRecord && p.slot > 1 {
		g.rsNamedAsRecord = true
		o.name = "RT_RECORD_0001.dcm"
		o.reason += "; named like a treatment record"
	}
	p.objects = append(p.objects, o)
	return rs
}

// planSpec describes one RTPLAN.
type planSpec struct {
	tag, label, name string
	rx               float64
	fx               int
	date             time.Time
	technique        string // "" draws one
	beams            int    // 0 draws a count
	approval         string
	plateau          float64
	predecessor      *rtPlan
}

func (g *generator) addPlan(p *patient, c *course, s planSpec) *rtPlan {
	tech := s.technique
	if tech == "" {
		tech = []string{"3D", "IMRT", "VMAT"}[p.rng.IntN(3)]
	}
	pl := &rtPlan{
		uid:         g.uid(p, s.tag, "rtplan"),
		seriesUID:   g.uid(p, s.tag, "rtplan-series"),
		number:      20 + len(c.plans),
		label:       s.label,
		name:        s.name,
		desc:        "Radical lung radiotherapy",
		date:        da(s.date),
		time:        tm(11+p.rng.IntN(6), p.rng.IntN(60), p.rng.IntN(60)),
		rx:          s.rx,
		fx:          s.fx,
		technique:   tech,
		energy:      []float64{6, 10, 15}[p.rng.IntN(3)],
		machine:     p.machine,
		approval:    s.approval,
		rs:          c.rs,
		predecessor: s.predecessor,
		plateau:     s.plateau,
		tum:         c.tum,
		st:          c.st,
		oarMax:      math.Min(45, 0.75*s.rx),
	}
	pl.beams = makeBeams(p.rng, tech, s.beams, s.rx/float64(s.fx))
	c.plans = append(c.plans, pl)
	p.objects = append(p.objects, &object{modality: "RTPLAN", sop: pl.uid, series: pl.seriesUID, seriesDesc: "RTPLAN " + pl.label, studyDate: c.st.date,
		content: func() ([]byte, error) { return g.rtPlanFile(p, pl) }, reason: "plan " + pl.label})
	return pl
}

// makeBeams draws the beams of a plan. 3D plans have 3-5 static beams, IMRT plans 5-7
// dynamic beams with two control points each (n forces the count), and VMAT plans two
// opposite arcs of one control point per 4 degrees over 200-358 degrees. Every beam delivers
// an equal share of the fraction dose.
func makeBeams(rng *rand.Rand, tech string, n int, fxDose float64) []beam {
	if tech == "VMAT" {
		span := []float64{200, 240, 358}[rng.IntN(3)]
		start := 181.0
		if span < 358 {
			start = []float64{290, 300, 310}[rng.IntN(3)]
		}
		cps := int(span/4) + 1
		arc := make([]float64, cps)
		for i := range arc {
			arc[i] = roundTo(math.Mod(start+span*float64(i)/float64(cps-1), 360), 0.1)
		}
		back := make([]float64, cps)
		for i := range back {
			back[i] = arc[cps-1-i]
		}
		per := fxDose / 2
		return []beam{
			{number: 1, name: "ARC1 CW", kind: "DYNAMIC", gantry: arc, rotation: "CW", coll: 30, doseGy: per, mu: mu(rng, per, 2.8)},
			{number: 2, name: "ARC2 CC", kind: "DYNAMIC", gantry: back, rotation: "CC", coll: 330, doseGy: per, mu: mu(rng, per, 2.8)},
		}
	}
	kind, factor, fewest := "STATIC", 1.15, 3
	if tech == "IMRT" {
		kind, factor, fewest = "DYNAMIC", 2.5, 5
	}
	if n == 0 {
		n = fewest + rng.IntN(3)
	}
	start := float64(5 * rng.IntN(72))
	per := fxDose / float64(n)
	out := make([]beam, n)
	for i := range out {
		a := roundTo(math.Mod(start+360*float64(i)/float64(n), 360), 1)
		out[i] = beam{number: i + 1, name: fmt.Sprintf("G%03.0f", a), kind: kind, gantry: []float64{a}, rotation: "NONE",
			coll: []float64{0, 10, 350}[rng.IntN(3)], doseGy: per, mu: mu(rng, per, factor)}
	}
	return out
}

// mu is a plausible meterset for a beam dose: cGy times a technique factor, +-10%.
func mu(rng *rand.Rand, doseGy, factor float64) float64 {
	return roundTo(doseGy*100*factor*(0.9+0.2*rng.Float64()), 0.1)
}

// doseSpec describes one RTDOSE.
type doseSpec struct {
	tag       string
	summation string
	plans     []*rtPlan
	planUIDs  []string // overrides the plans' UIDs (orphans)
	beams     []int
	grid      *doseGrid
	comps     []DoseComponent
	desc      string
	// orphan keeps the dose out of the course: it names a plan that is not in the export.
	orphan bool
}

func (g *generator) addDose(p *patient, c *course, s doseSpec) *rtDose {
	uids := s.planUIDs
	if uids == nil {
		for _, pl := range s.plans {
			uids = append(uids, pl.uid)
		}
	}
	date := mustDate(c.st.date)
	if len(s.plans) > 0 {
		date = mustDate(s.plans[len(s.plans)-1].date)
	}
	d := &rtDose{
		uid:       g.uid(p, s.tag, "rtdose"),
		seriesUID: g.uid(p, s.tag, "rtdose-series"),
		number:    40 + len(c.doses),
		desc:      s.desc,
		summation: s.summation,
		plans:     s.plans,
		planUIDs:  uids,
		beams:     s.beams,
		grid:      s.grid,
		comps:     s.comps,
		st:        c.st,
		date:      da(date),
		time:      tm(12+p.rng.IntN(6), p.rng.IntN(60), p.rng.IntN(60)),
	}
	o := &object{modality: "RTDOSE", sop: d.uid, series: d.seriesUID, seriesDesc: "RTDOSE " + s.desc, studyDate: c.st.date,
		content: func() ([]byte, error) { return g.rtDoseFile(p, d) }, reason: s.summation + " dose: " + s.desc}
	if s.orphan {
		o.category, o.reason = CategoryOrphan, "orphan: references RTPLAN "+uids[0]+", which is not in the export"
	} else {
		c.doses = append(c.doses, d)
	}
	p.objects = append(p.objects, o)
	return d
}

// planComponent is the analytic dose of a whole plan scaled by share.
func planComponent(pl *rtPlan, share float64) DoseComponent {
	return DoseComponent{CenterMM: pl.tum.center, PeakGy: pl.rx * share, PlateauRadiusMM: pl.plateau, ZeroRadiusMM: pl.plateau + falloffMM}
}

func (g *generator) planGrid(p *patient, pl *rtPlan, spacing float64) *doseGrid {
	return newDoseGrid(p.position, pl.tum.center, pl.plateau+falloffMM+doseGridMarginMM, spacing)
}

func (g *generator) addPlanDose(p *patient, c *course, pl *rtPlan, spacing float64) *rtDose {
	return g.addDose(p, c, doseSpec{tag: pl.uid + "/dose", summation: "PLAN", plans: []*rtPlan{pl},
		grid: g.planGrid(p, pl, spacing), comps: []DoseComponent{planComponent(pl, 1)}, desc: "Plan dose " + pl.label})
}

// addBeamDoses writes one BEAM dose per beam, each the plan dose divided equally among the
// beams, on one shared grid.
func (g *generator) addBeamDoses(p *patient, c *course, pl *rtPlan, spacing float64) []*rtDose {
	grid := g.planGrid(p, pl, spacing)
	out := make([]*rtDose, len(pl.beams))
	for i, bm := range pl.beams {
		out[i] = g.addDose(p, c, doseSpec{tag: fmt.Sprintf("%s/beam%d", pl.uid, bm.number), summation: "BEAM", plans: []*rtPlan{pl},
			beams: []int{bm.number}, grid: grid, comps: []DoseComponent{planComponent(pl, 1/float64(len(pl.beams)))},
			desc: fmt.Sprintf("Beam %d dose %s", bm.number, pl.label)})
	}
	return out
}

// deliver plans count treatment records of pl, on consecutive weekdays from start, numbered
// from first. One record in the cohort (and one in every seventh patient) lacks TreatmentDate
// and keeps only SeriesDate; it is never the last record of its plan.
func (g *generator) deliver(p *patient, c *course, pl *rtPlan, first, count int, start time.Time) []*rtRecord {
	series := g.uid(p, pl.uid, "records-series")
	number := 60 + slices.Index(c.plans, pl)
	days := weekdays(start, count)
	undated := -1
	switch {
	case !g.undatedRecord && count >= 2:
		g.undatedRecord, undated = true, 0
	case p.slot%7 == 0 && count >= 3 && len(c.records) == 0:
		undated = count / 2
	}
	var out []*rtRecord
	for i, day := range days {
		rec := &rtRecord{
			uid:             g.uid(p, pl.uid, "record", itoa(first+i)),
			seriesUID:       series,
			number:          number,
			plan:            pl,
			fraction:        first + i,
			instance:        first + i,
			date:            da(day),
			time:            tm(8+(p.slot%8), p.rng.IntN(60), p.rng.IntN(60)),
			noTreatmentDate: i == undated,
		}
		c.records = append(c.records, rec)
		out = append(out, rec)
		o := &object{modality: "RTRECORD", sop: rec.uid, series: series, seriesDesc: "Treatment records " + pl.label, studyDate: c.st.date,
			content: func() ([]byte, error) { return g.treatmentRecord(p, rec) },
			reason:  fmt.Sprintf("treatment record, fraction %d of plan %s", rec.fraction, pl.label)}
		if rec.noTreatmentDate {
			o.reason += "; no TreatmentDate (SeriesDate only)"
		}
		if !g.recordNamedAsImage && p.slot > 1 && i == 2 {
			g.recordNamedAsImage = true
			o.name = "IMG_0042.dcm"
			o.reason += "; named like an image"
		}
		p.objects = append(p.objects, o)
	}
	return out
}

// orphanDose adds an RTDOSE in the course's study whose referenced plan exists nowhere.
func (g *generator) orphanDose(p *patient, c *course) {
	ghost := g.uid(p, "orphan", "absent-plan")
	pl := c.plans[0]
	g.addDose(p, c, doseSpec{tag: "orphan", summation: "PLAN", planUIDs: []string{ghost}, orphan: true,
		grid: g.planGrid(p, pl, 3), comps: []DoseComponent{planComponent(pl, 1)}, desc: "Plan dose (orphan)"})
}

// duplicates adds a byte-identical copy of a CT slice in another folder and of the RTPLAN
// under another name; the copy whose path sorts first is the one a reader keeps.
func (g *generator) duplicates(p *patient, c *course) {
	var slice, plan *object
	for _, o := range p.objects {
		if o.modality == "CT" && slice == nil && o.sop == c.cts[0].sops[len(c.cts[0].sops)/2] {
			slice = o
		}
		if o.modality == "RTPLAN" && plan == nil {
			plan = o
		}
	}
	slice.same, plan.same = slice.sop, plan.sop
	p.extras = append(p.extras,
		&object{modality: "CT", sop: slice.sop, content: slice.content, dir: "backup", name: "IM_COPY_0001.dcm", same: slice.sop, reason: "byte-identical copy of a CT slice"},
		&object{modality: "RTPLAN", sop: plan.sop, content: plan.content, dir: ".", name: "00_RTPLAN_copy.dcm", same: plan.sop, reason: "byte-identical copy of the RTPLAN"})
}

// truncated adds a one-slice CT series cut in the middle of its pixel data and a copy of the
// RTPLAN cut in the middle of its data set; neither can be read.
func (g *generator) truncated(p *patient, c *course) {
	src := c.cts[0]
	s := *src
	s.uid = g.uid(p, "trunc", "series")
	s.number = 9
	s.desc = "CT Thorax scout"
	s.sops = []string{g.uid(p, "trunc", "slice")}
	s.grid = &ctGrid{size: src.grid.size, spacing: src.grid.spacing, row: src.grid.row, col: src.grid.col, corner: src.grid.corner,
		thickness: src.grid.thickness, z: src.grid.z[len(src.grid.z)/2 : len(src.grid.z)/2+1]}
	pixBytes := 2 * s.grid.size * s.grid.size
	p.extras = append(p.extras, &object{modality: "CT", sop: s.sops[0], series: s.uid, seriesDesc: s.desc, studyDate: c.st.date,
		category: CategoryUnreadable, reason: "truncated: CT slice cut in the middle of its pixel data",
		content: func() ([]byte, error) {
			data, err := g.ctSlice(p, &s, 0)
			if err != nil {
				return nil, err
			}
			return data[:len(data)-pixBytes/2], nil
		}})
	var plan *object
	for _, o := range p.objects {
		if o.modality == "RTPLAN" {
			plan = o
			break
		}
	}
	p.extras = append(p.extras, &object{modality: "RTPLAN", sop: plan.sop, dir: ".", name: "RP_partial.dcm",
		category: CategoryUnreadable, reason: "truncated: RTPLAN copy cut in the middle of its data set",
		content: func() ([]byte, error) {
			data, err := plan.content()
			if err != nil {
				return nil, err
			}
			return cutUnreadable(data)
		}})
}

// cutUnreadable cuts data near its middle at a point where the result no longer parses (a cut
// exactly between two top-level elements would leave a valid, shorter file).
func cutUnreadable(data []byte) ([]byte, error) {
	for cut := len(data) / 2; cut > 200; cut-- {
		if _, err := dicomio.Parse(data[:cut]); err != nil {
			return data[:cut], nil
		}
	}
	return nil, fmt.Errorf("no cut point makes the file unreadable")
}

// nonDICOM adds a text file and a file of JPEG-like random bytes to the patient folder.
func (g *generator) nonDICOM(p *patient) {
	junk := make([]byte, 64+p.rng.IntN(192))
	for i := range junk {
		junk[i] = byte(p.rng.IntN(256))
	}
	copy(junk, []byte{0xFF, 0xD8, 0xFF, 0xE0})
	text := []byte("Exported by the synthetic cohort generator.\nPatient " + p.id + ": see the treatment planning system for details.\n")
	p.extras = append(p.extras,
		&object{dir: ".", name: "notes.txt", category: CategoryUnreadable, reason: "not DICOM: text file",
			content: func() ([]byte, error) { return text, nil }},
		&object{dir: ".", name: "scan.jpg", category: CategoryUnreadable, reason: "not DICOM: JPEG-like bytes",
			content: func() ([]byte, error) { return junk, nil }})
}
