package organize

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/results"
)

// fractionRow is one delivered fraction: every record of the same plan and fraction number is
// merged into it (a fraction is often recorded beam by beam).
type fractionRow struct {
	Date      string
	TimeStart string
	TimeEnd   string
	PlanKey   string
	PlanLabel string
	Fraction  int
	Machines  []string
	DoseGy    float64
	HasDose   bool
	Meterset  float64
	Beams     int
	Records   int
	Paths     []string
	SOPs      []string
	Statuses  []string
}

// recordDate returns a record's session date with a per-record fallback chain (TreatmentDate,
// first control point date, SeriesDate, ContentDate, InstanceCreationDate), so one undated record
// never affects the others.
func recordDate(e *Entry) (string, string) {
	r, o := e.Obj.Record, e.Obj
	if d := normDate(r.Date); d != "" {
		return d, r.Time
	}
	for _, d := range []string{o.SeriesDate, o.ContentDate, o.InstanceCreation} {
		if nd := normDate(d); nd != "" {
			return nd, o.SeriesTime
		}
	}
	return "", r.Time
}

// fractionRows turns a course's treatment records into fractions. The fraction number is the
// record's CurrentFractionNumber; a record without one is numbered by the dense rank of its date
// among that plan's dates.
func fractionRows(c *Course) []fractionRow {
	planLabel := map[string]string{}
	for _, p := range c.Plans {
		planLabel[p.Obj.SOPInstanceUID] = p.Obj.Plan.Label
	}
	type rec struct {
		e          *Entry
		date, time string
		planKey    string
		fraction   int
	}
	var recs []rec
	for _, e := range c.Records {
		r := e.Obj.Record
		if r.Summary {
			continue // a treatment summary is not a fraction
		}
		key := "NO_PLAN"
		if len(r.ReferencedPlan) > 0 {
			key = r.ReferencedPlan[0]
		} else if len(c.Plans) == 1 {
			key = c.Plans[0].Obj.SOPInstanceUID
		}
		d, t := recordDate(e)
		f := 0
		if len(r.FractionNumbers) > 0 {
			f = r.FractionNumbers[0]
		}
		recs = append(recs, rec{e: e, date: d, time: t, planKey: key, fraction: f})
	}
	// Dense date rank per plan for records without an explicit fraction number.
	datesByPlan := map[string][]string{}
	for _, r := range recs {
		if r.date != "" {
			datesByPlan[r.planKey] = append(datesByPlan[r.planKey], r.date)
		}
	}
	rank := map[string]map[string]int{}
	for k, ds := range datesByPlan {
		sort.Strings(ds)
		rank[k] = map[string]int{}
		n := 0
		for i, d := range ds {
			if i == 0 || d != ds[i-1] {
				n++
				rank[k][d] = n
			}
		}
	}
	rows := map[string]*fractionRow{}
	var keys []string
	for _, r := range recs {
		f := r.fraction
		if f <= 0 {
			f = rank[r.planKey][r.date]
		}
		k := fmt.Sprintf("%s\x00%d", r.planKey, f)
		row := rows[k]
		if row == nil {
			row = &fractionRow{PlanKey: r.planKey, PlanLabel: planLabel[r.planKey], Fraction: f, Date: r.date}
			rows[k] = row
			keys = append(keys, k)
		}
		rd := r.e.Obj.Record
		if row.Date == "" || (r.date != "" && r.date < row.Date) {
			row.Date = r.date
		}
		if r.time != "" && (row.TimeStart == "" || r.time < row.TimeStart) {
			row.TimeStart = r.time
		}
		if r.time > row.TimeEnd {
			row.TimeEnd = r.time
		}
		if rd.Machine != "" && !contains(row.Machines, rd.Machine) {
			row.Machines = append(row.Machines, rd.Machine)
		}
		row.DoseGy += rd.DeliveredDoseGy
		row.HasDose = row.HasDose || rd.HasDoseValues
		row.Meterset += rd.MetersetSum
		row.Beams += len(rd.Beams)
		row.Records++
		row.Paths = append(row.Paths, r.e.Path)
		row.SOPs = append(row.SOPs, r.e.Obj.SOPInstanceUID)
		for _, b := range rd.Beams {
			if b.TerminationStatus != "" && !contains(row.Statuses, b.TerminationStatus) {
				row.Statuses = append(row.Statuses, b.TerminationStatus)
			}
		}
	}
	out := make([]fractionRow, 0, len(keys))
	for _, k := range keys {
		out = append(out, *rows[k])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if dateKey(out[i].Date) != dateKey(out[j].Date) {
			return dateKey(out[i].Date) < dateKey(out[j].Date)
		}
		if out[i].TimeStart != out[j].TimeStart {
			return out[i].TimeStart < out[j].TimeStart
		}
		if out[i].PlanKey != out[j].PlanKey {
			return out[i].PlanKey < out[j].PlanKey
		}
		return out[i].Fraction < out[j].Fraction
	})
	return out
}

// FractionColumns are the columns of fractions.csv/xlsx, per course and in Data/.
var FractionColumns = []string{"patient_id", "course_id", "treatment_date", "treatment_time", "treatment_time_end",
	"plan_sop", "plan_label", "fraction_number", "treatment_machine", "delivered_dose_gy", "delivered_meterset",
	"beams_delivered", "termination_status", "records_merged", "source_paths", "sop_instance_uids"}

func fractionTable(rows []fractionRow, c *Course) *results.Table {
	t := results.NewTable("fractions", FractionColumns...)
	addFractionRows(t, rows, c)
	return t
}

func addFractionRows(t *results.Table, rows []fractionRow, c *Course) {
	for _, r := range rows {
		var dose any
		if r.HasDose {
			dose = round6(r.DoseGy)
		}
		t.Add(map[string]any{"patient_id": c.Patient.ID, "course_id": c.Name, "treatment_date": r.Date,
			"treatment_time": r.TimeStart, "treatment_time_end": r.TimeEnd, "plan_sop": r.PlanKey, "plan_label": r.PlanLabel,
			"fraction_number": r.Fraction, "treatment_machine": strings.Join(r.Machines, ";"), "delivered_dose_gy": dose,
			"delivered_meterset": round6(r.Meterset), "beams_delivered": r.Beams, "termination_status": strings.Join(r.Statuses, ";"),
			"records_merged": r.Records, "source_paths": strings.Join(r.Paths, ";"), "sop_instance_uids": strings.Join(r.SOPs, ";")})
	}
}
