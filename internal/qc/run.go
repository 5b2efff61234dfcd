package qc

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
)

// run loads the course and runs every check into rep.
func run(ctx context.Context, dir string, opts Options, rep *Report) error {
	c, err := load(ctx, dir, opts.Workers)
	if err != nil {
		return err
	}
	rep.PatientID, rep.CourseID = c.patientCourse()
	if c.organized != "" && c.organized != "ok" {
		rep.StageStatus, rep.Reason = "skipped", "upstream organize failed ("+c.organized+")"
		return nil
	}
	c.fillInputs(&rep.Inputs)
	th := rep.Thresholds
	checkFiles(c, rep)
	ctg := checkCT(c, rep, th)
	checkPlan(c, rep)
	doseGrid := checkDose(c, rep)
	checkFrameOfReference(c, rep)
	checkIdentity(c, rep)
	return checkStructures(ctx, c, rep, th, ctg, doseGrid, opts.Workers)
}

func (c *course) fillInputs(in *Inputs) {
	in.CTDir = c.ctDir
	in.CTFiles = len(c.ct)
	series := map[string]int{}
	for _, s := range c.readableCT() {
		series[s.seriesUID]++
	}
	in.CTSeriesUID = majorityKey(series)
	for _, s := range c.structs {
		in.RTStruct[s.rel] = s.str(dicomioSOPInstanceUID)
	}
	if c.plan.exists {
		in.RTPlan, in.RTPlanUID = c.plan.rel, c.plan.str(dicomioSOPInstanceUID)
	}
	if c.dose.exists {
		in.RTDose, in.RTDoseUID = c.dose.rel, c.dose.str(dicomioSOPInstanceUID)
	}
	if c.meta != nil {
		in.DoseDecision = c.meta.DoseSelection.Decision
	}
	if c.metaExist {
		in.CaseMetadata = "metadata/case_metadata.json"
	}
	for _, o := range c.others {
		if strings.HasPrefix(o.rel, "DICOM/RTDOSE/") {
			in.OtherDoseFiles = append(in.OtherDoseFiles, o.rel)
		}
	}
}

// majorityKey returns the key with the highest count (ties: the smallest key).
func majorityKey(m map[string]int) string {
	best, bestN := "", -1
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if m[k] > bestN {
			best, bestN = k, m[k]
		}
	}
	return best
}

// skipped is an INFO check for a check that does not apply.
func skipped(id, why string) Check {
	return Check{ID: id, Status: StatusInfo, Message: "not checked: " + why, Details: map[string]any{"skipped": true}}
}

// listSome joins at most n items and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// capped returns at most n items (for objects and details lists).
func capped(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return items[:n]
}

// r4 rounds to 4 decimals so the report does not carry floating-point noise.
func r4(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1e4) / 1e4
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
