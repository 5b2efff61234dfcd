package organize

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Plan relationships found when a course holds several plans with their own doses.
const (
	relBoost       = "boost"
	relReplan      = "replan"
	relAlternative = "alternative"
	relAmbiguous   = "ambiguous"
)

// isComponentDose tells whether a dose is only part of a plan's dose (one beam or one control
// point), so it must be summed with its siblings to mean anything.
func isComponentDose(d *rt.Dose) bool {
	return d.SummationType == "BEAM" || d.SummationType == "CONTROL_POINT"
}

func isMultiPlanDose(d *rt.Dose) bool {
	return d.SummationType == "PLAN_SUM" || d.SummationType == "MULTI_PLAN"
}

// selectDose decides which dose represents the course and the course prescription. Every
// decision carries a human-readable reason that ends up in case_metadata.json and the report.
func (b *patientBuilder) selectDose(c *Course) (DoseSelection, Prescription) {
	plans := c.Plans
	if len(c.Doses) == 0 {
		sel := DoseSelection{Decision: DoseNone, Reason: "course has no RTDOSE"}
		if len(plans) > 0 {
			sel.Plans = plans[:1]
			if len(plans) > 1 {
				sel.Reason += fmt.Sprintf("; %d plans, prescription of the earliest (%s) reported", len(plans), plans[0].Obj.Plan.Label)
			}
		}
		return sel, b.prescription(sel.Plans)
	}
	planSet := map[string]*Entry{}
	for _, p := range plans {
		planSet[p.Obj.SOPInstanceUID] = p
	}
	// 1. A dose that is already the sum of several plans wins: the planning system summed them.
	var sums []*Entry
	for _, d := range c.Doses {
		if isMultiPlanDose(d.Obj.Dose) {
			sums = append(sums, d)
		}
	}
	if len(sums) > 0 {
		refs := func(d *Entry) []*Entry {
			var out []*Entry
			for _, u := range d.Obj.Dose.ReferencedPlan {
				if p, ok := planSet[u]; ok && !containsEntry(out, p) {
					out = append(out, p)
				}
			}
			sortEntriesByDate(out)
			return out
		}
		sort.SliceStable(sums, func(i, j int) bool {
			ri, rj := len(refs(sums[i])), len(refs(sums[j]))
			if ri != rj {
				return ri > rj
			}
			return newerDose(sums[i], sums[j])
		})
		chosen := sums[0]
		sel := DoseSelection{Decision: DosePlanSumUsed, Sources: []*Entry{chosen}, Plans: refs(chosen),
			Reason: fmt.Sprintf("%s dose %s references %d plan(s)", chosen.Obj.Dose.SummationType, chosen.Path, len(refs(chosen)))}
		if len(sums) > 1 {
			sel.Reason += fmt.Sprintf("; %d summed doses in course, chose the one covering most plans", len(sums))
		}
		sel.SyntheticPlan = len(sel.Plans) > 1
		return sel, b.prescription(sel.Plans)
	}
	// 2. One effective dose per plan: its own plan-level dose, else the sum of its beam doses.
	type planDose struct {
		plan    *Entry
		sources []*Entry
		note    string
	}
	var effs []planDose
	for _, p := range plans {
		var whole, parts []*Entry
		for _, d := range c.Doses {
			if b.doseLink[d] != p {
				continue
			}
			if isComponentDose(d.Obj.Dose) {
				parts = append(parts, d)
			} else {
				whole = append(whole, d)
			}
		}
		switch {
		case len(whole) > 0:
			sort.SliceStable(whole, func(i, j int) bool { return newerDose(whole[i], whole[j]) })
			pd := planDose{plan: p, sources: whole[:1]}
			if len(whole) > 1 {
				pd.note = fmt.Sprintf("%d plan-level doses for plan %q; used the newest (%s)", len(whole), p.Obj.Plan.Label, whole[0].Path)
			}
			if len(parts) > 0 {
				pd.note = strings.TrimPrefix(pd.note+fmt.Sprintf("; %d BEAM doses covered by the plan dose were not used", len(parts)), "; ")
			}
			effs = append(effs, pd)
		case len(parts) > 0:
			pd := planDose{plan: p, sources: parts}
			pd.note = beamCoverage(p, parts)
			effs = append(effs, pd)
		}
	}
	if len(effs) == 0 {
		return DoseSelection{Decision: DoseNone, Reason: "no dose of the course references a course plan"}, b.prescription(plans[:1])
	}
	withNote := func(reason, note string) string {
		if note == "" {
			return reason
		}
		return reason + "; " + note
	}
	if len(effs) == 1 {
		e := effs[0]
		sel := DoseSelection{Decision: DoseSingle, Sources: e.sources, Plans: []*Entry{e.plan},
			Reason: withNote(fmt.Sprintf("one dose for plan %q", e.plan.Obj.Plan.Label), e.note)}
		if len(e.sources) > 1 || isComponentDose(e.sources[0].Obj.Dose) {
			// Component doses are always rewritten, so RD.dcm is a PLAN dose even for one beam.
			sel.Decision, sel.Summed = DoseBeamsSummed, true
			sel.Reason = withNote(fmt.Sprintf("%d BEAM doses of plan %q summed into the plan dose", len(e.sources), e.plan.Obj.Plan.Label), e.note)
		}
		if len(plans) > 1 {
			sel.Reason += fmt.Sprintf("; %d other plan(s) of the course have no dose", len(plans)-1)
		}
		return sel, b.prescription(sel.Plans)
	}
	// 3. Several plans with doses: how do the later ones relate to the first?
	firstEff := effs[0]
	firstGrid := doseGrid(firstEff.sources[0])
	for _, e := range effs[1:] {
		if fr := e.sources[0].Obj.FrameOfReference; fr != firstEff.sources[0].Obj.FrameOfReference {
			sel := DoseSelection{Decision: DoseSeparateFrames, Sources: firstEff.sources, Plans: []*Entry{firstEff.plan},
				Reason: fmt.Sprintf("doses of plans %q and %q are in different frames of reference; they cannot be summed, the first plan's dose is used", firstEff.plan.Obj.Plan.Label, e.plan.Obj.Plan.Label)}
			sel.Summed = len(firstEff.sources) > 1
			return sel, b.prescription(sel.Plans)
		}
		if g := doseGrid(e.sources[0]); firstGrid != nil && g != nil {
			alo, ahi := firstGrid.Bounds()
			blo, bhi := g.Bounds()
			if ov := grid.OverlapFraction(alo, ahi, blo, bhi); ov < b.opt.MinDoseOverlap {
				sel := DoseSelection{Decision: DoseSeparateRegions, Sources: firstEff.sources, Plans: []*Entry{firstEff.plan},
					Reason: fmt.Sprintf("dose grids of plans %q and %q overlap by %.0f%% of the smaller (< %.0f%%): separate treatment regions, the first plan's dose is used", firstEff.plan.Obj.Plan.Label, e.plan.Obj.Plan.Label, 100*ov, 100*b.opt.MinDoseOverlap)}
				sel.Summed = len(firstEff.sources) > 1
				return sel, b.prescription(sel.Plans)
			}
		}
	}
	itt := []planDose{firstEff}
	var replans, alternatives, ambiguous []planDose
	var why []string
	for _, e := range effs[1:] {
		rel, reason := b.relate(firstEff.plan, e.plan)
		why = append(why, reason)
		switch rel {
		case relBoost:
			itt = append(itt, e)
		case relReplan:
			replans = append(replans, e)
		case relAlternative:
			alternatives = append(alternatives, e)
		default:
			ambiguous = append(ambiguous, e)
		}
	}
	reason := strings.Join(why, "; ")
	switch {
	case len(itt) > 1:
		sel := DoseSelection{Decision: DosePrimaryBoostSum, Summed: true, SyntheticPlan: true, Reason: reason}
		for _, e := range itt {
			sel.Sources = append(sel.Sources, e.sources...)
			sel.Plans = append(sel.Plans, e.plan)
		}
		if len(replans)+len(alternatives)+len(ambiguous) > 0 {
			sel.Reason += "; replans, alternatives and unclassified plans are not added (intention to treat)"
		}
		rx := b.prescription(sel.Plans)
		if rx.TotalGy > 100 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("summed prescription %.2f Gy exceeds 100 Gy; check the primary/boost decision", rx.TotalGy))
		}
		return sel, rx
	case len(replans) > 0:
		sel := DoseSelection{Decision: DoseReplanITTFirst, Sources: firstEff.sources, Plans: []*Entry{firstEff.plan},
			Reason: reason + "; intention to treat: the original plan's dose is used"}
		sel.Summed = len(firstEff.sources) > 1
		return sel, b.prescription(sel.Plans)
	case len(alternatives) > 0 && len(ambiguous) == 0:
		cands := append([]planDose{firstEff}, alternatives...)
		best := 0
		for i := range cands {
			if b.preferPlan(cands[i].plan, cands[best].plan) {
				best = i
			}
		}
		chosen := cands[best]
		sel := DoseSelection{Decision: DoseAlternativesFirst, Sources: chosen.sources, Plans: []*Entry{chosen.plan},
			Reason: reason + fmt.Sprintf("; alternative plans on one structure set: kept %q (%s)", chosen.plan.Obj.Plan.Label, b.preferenceReason(chosen.plan))}
		sel.Summed = len(chosen.sources) > 1
		return sel, b.prescription(sel.Plans)
	}
	sel := DoseSelection{Decision: DoseAmbiguousFirst, Sources: firstEff.sources, Plans: []*Entry{firstEff.plan},
		Reason: reason + "; relationship unclear, the earliest plan's dose is used"}
	sel.Summed = len(firstEff.sources) > 1
	return sel, b.prescription(sel.Plans)
}

// relate classifies a later plan against the course's first plan.
func (b *patientBuilder) relate(firstPlan, later *Entry) (string, string) {
	fp, lp := firstPlan.Obj.Plan, later.Obj.Plan
	label := fmt.Sprintf("plan %q vs %q: ", lp.Label, fp.Label)
	if kw := matchKeyword(lp.Text(), b.opt.ReplanKeywords); kw != "" && matchKeyword(fp.Text(), b.opt.ReplanKeywords) == "" {
		return relReplan, label + fmt.Sprintf("replan keyword %q", kw)
	}
	if kw := matchKeyword(lp.Text(), b.opt.BoostKeywords); kw != "" && matchKeyword(fp.Text(), b.opt.BoostKeywords) == "" {
		return relBoost, label + fmt.Sprintf("boost keyword %q", kw)
	}
	ra, rb := fp.Prescription.TotalGy, lp.Prescription.TotalGy
	if ra > 0 && rb > 0 {
		ratio := math.Max(ra, rb) / math.Min(ra, rb)
		switch {
		case ratio > b.opt.BoostRxRatio:
			return relBoost, label + fmt.Sprintf("prescriptions %.4g and %.4g Gy differ by more than a factor %.2f", ra, rb, b.opt.BoostRxRatio)
		case 1/ratio >= b.opt.ReplanRxSimilarity:
			if sameDay(fp.Date, lp.Date) {
				return relAlternative, label + fmt.Sprintf("same prescription (%.4g Gy) planned the same day", ra)
			}
			return relReplan, label + fmt.Sprintf("same prescription (%.4g Gy) planned later", ra)
		}
		return relAmbiguous, label + fmt.Sprintf("prescriptions %.4g and %.4g Gy are neither the same nor a boost under the configured ratios", ra, rb)
	}
	// Without both prescriptions, fractionation tells: the same number of fractions planned the
	// same day is an alternative plan (a plan comparison), later a replan; a different number of
	// fractions is a sequential phase.
	fa, fb := fp.Prescription.Fractions, lp.Prescription.Fractions
	if fa > 0 && fb > 0 {
		switch {
		case fa != fb:
			return relBoost, label + fmt.Sprintf("prescription unknown; different fractionation (%d vs %d fractions): sequential phase", fa, fb)
		case sameDay(fp.Date, lp.Date):
			return relAlternative, label + fmt.Sprintf("prescription unknown; same fractionation (%d fractions) planned the same day", fa)
		default:
			return relReplan, label + fmt.Sprintf("prescription unknown; same fractionation (%d fractions) planned later", fa)
		}
	}
	return relAmbiguous, label + "no keyword and prescriptions not comparable"
}

func sameDay(a, b string) bool {
	da, db := normDate(a), normDate(b)
	return da != "" && da == db
}

// preferPlan orders alternative plans: a plan with treatment records (it was delivered) first,
// then an approved one, then the earliest.
func (b *patientBuilder) preferPlan(x, y *Entry) bool {
	dx, dy := b.delivered(x), b.delivered(y)
	if dx != dy {
		return dx
	}
	ax, ay := x.Obj.Plan.ApprovalStatus == "APPROVED", y.Obj.Plan.ApprovalStatus == "APPROVED"
	if ax != ay {
		return ax
	}
	return false
}

func (b *patientBuilder) preferenceReason(p *Entry) string {
	switch {
	case b.delivered(p):
		return "it has treatment records"
	case p.Obj.Plan.ApprovalStatus == "APPROVED":
		return "approved"
	}
	return "earliest; none has treatment records or approval"
}

func (b *patientBuilder) delivered(p *Entry) bool {
	for _, r := range b.records {
		if contains(r.Obj.Record.ReferencedPlan, p.Obj.SOPInstanceUID) {
			return true
		}
	}
	return false
}

// beamCoverage reports beams of the plan that no BEAM dose covers.
func beamCoverage(p *Entry, parts []*Entry) string {
	covered := map[int]bool{}
	for _, d := range parts {
		for _, n := range d.Obj.Dose.ReferencedBeams {
			covered[n] = true
		}
	}
	if len(covered) == 0 {
		return ""
	}
	var missing []string
	for _, bm := range p.Obj.Plan.Beams {
		if bm.DeliveryType != "" && bm.DeliveryType != "TREATMENT" {
			continue
		}
		if !covered[bm.Number] {
			missing = append(missing, fmt.Sprint(bm.Number))
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("beams %s of plan %q have no BEAM dose: the sum is incomplete", strings.Join(missing, ","), p.Obj.Plan.Label)
}

// newerDose orders plan-level doses of one plan: newest instance creation first, then path.
func newerDose(a, b *Entry) bool {
	ka := a.Obj.InstanceCreation + a.Obj.InstanceCreationTime + "|" + a.Obj.ContentDate + a.Obj.ContentTime
	kb := b.Obj.InstanceCreation + b.Obj.InstanceCreationTime + "|" + b.Obj.ContentDate + b.Obj.ContentTime
	if ka != kb {
		return ka > kb
	}
	return a.Path < b.Path
}

// doseGrid returns the geometry of a dose object, or nil when its header does not define one.
func doseGrid(e *Entry) *grid.Grid {
	g, err := e.Obj.Dose.Grid()
	if err != nil {
		return nil
	}
	return g
}

// prescription sums the plans' prescriptions. The source is the plans' common source, or
// "mixed" when they differ.
func (b *patientBuilder) prescription(plans []*Entry) Prescription {
	rx := Prescription{Source: rt.RxSourceNone}
	sources := map[string]bool{}
	for _, p := range plans {
		pr := p.Obj.Plan.Prescription
		rx.PerPlan = append(rx.PerPlan, PlanRx{PlanUID: p.Obj.SOPInstanceUID, Label: p.Obj.Plan.Label, TotalGy: pr.TotalGy, Source: pr.Source, Fractions: pr.Fractions})
		rx.TotalGy += pr.TotalGy
		rx.Fractions += pr.Fractions
		sources[pr.Source] = true
	}
	switch len(sources) {
	case 0:
	case 1:
		for s := range sources {
			rx.Source = s
		}
	default:
		rx.Source = "mixed"
	}
	rx.TotalGy = math.Round(rx.TotalGy*1e6) / 1e6
	return rx
}

// matchKeyword returns the first keyword found as a whole word in text (case-insensitive). A
// keyword also matches a word that continues with digits only ("boost2"), and multi-word keywords
// match consecutive words. Substrings inside other words never match ("rev" is not in "prevent").
func matchKeyword(text string, keywords []string) string {
	words := tokenize(text)
	for _, kw := range keywords {
		kwWords := tokenize(kw)
		if len(kwWords) == 0 {
			continue
		}
		for i := 0; i+len(kwWords) <= len(words); i++ {
			ok := true
			for j, w := range kwWords {
				if !wordMatches(words[i+j], w) {
					ok = false
					break
				}
			}
			if ok {
				return kw
			}
		}
	}
	return ""
}

func wordMatches(word, kw string) bool {
	if word == kw {
		return true
	}
	if !strings.HasPrefix(word, kw) {
		return false
	}
	for _, r := range word[len(kw):] {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

func tokenize(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}
