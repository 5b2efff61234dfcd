package qc

import (
	"fmt"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
)

const dicomioSOPInstanceUID = dicomio.TagSOPInstanceUID

// checkFiles reports, per required object, whether it is present and readable and what its
// absence means for the downstream stages.
func checkFiles(c *course, rep *Report) {
	// CT
	ck := Check{ID: "files.ct", Details: map[string]any{"path": c.ctDir, "files": len(c.ct),
		"needed_by": []string{"segmentation", "radiomics", "qc geometry checks (ct.*, structures.image_edge, structures.image_references)"}}}
	var unreadable []string
	for _, s := range c.ct {
		if s != nil && s.err != nil {
			unreadable = append(unreadable, s.rel+": "+s.err.Error())
			ck.Objects = append(ck.Objects, s.rel)
		}
	}
	switch {
	case c.ctDirErr != nil:
		ck.Status, ck.Message = StatusFail, fmt.Sprintf("%s cannot be read: %v", c.ctDir, c.ctDirErr)
	case len(c.ct) == 0:
		ck.Status = StatusFail
		ck.Message = fmt.Sprintf("no CT: %s is absent or empty, so segmentation and radiomics cannot run and the CT geometry checks are skipped", c.ctDir)
	case len(unreadable) > 0:
		ck.Status = StatusFail
		ck.Message = fmt.Sprintf("%s of %d in %s cannot be read: %s", plural(len(unreadable), "file", "files"), len(c.ct), c.ctDir, listSome(unreadable, 5))
		ck.Details["unreadable"] = capped(unreadable, 50)
	default:
		ck.Status, ck.Message = StatusPass, fmt.Sprintf("%s holds %d readable files", c.ctDir, len(c.ct))
	}
	rep.add(ck)

	// RTSTRUCT
	ck = Check{ID: "files.rtstruct", Details: map[string]any{"needed_by": []string{"dvh", "radiomics (manual ROIs)", "qc structure checks"}}}
	others := []string{}
	for _, s := range c.structs {
		if s.source != sourceManual {
			others = append(others, s.rel)
		}
	}
	ck.Details["other_structure_sets"] = others
	switch {
	case c.rs == nil:
		ck.Status = StatusWarning
		ck.Message = "RS.dcm absent: the course has no manual structure set, so DVHs and radiomics of manual ROIs are skipped (automatic segmentation can still run)"
	case c.rs.err != nil:
		ck.Status, ck.Objects = StatusFail, []string{c.rs.rel}
		ck.Message = fmt.Sprintf("%s cannot be read: %v", c.rs.rel, c.rs.err)
	case c.rs.contourErr != nil:
		ck.Status, ck.Objects = StatusFail, []string{c.rs.rel}
		ck.Message = fmt.Sprintf("%s: %v", c.rs.rel, c.rs.contourErr)
	default:
		ck.Status, ck.Objects = StatusPass, []string{c.rs.rel}
		ck.Message = fmt.Sprintf("%s: RTSTRUCT with %d ROIs", c.rs.rel, len(c.rs.file.ROIs))
	}
	for _, s := range c.structs {
		if s.source == sourceManual {
			continue
		}
		if s.err != nil || s.contourErr != nil {
			ck.Status = StatusFail
			ck.Objects = append(ck.Objects, s.rel)
			err := s.err
			if err == nil {
				err = s.contourErr
			}
			ck.Message += fmt.Sprintf("; %s cannot be read: %v", s.rel, err)
		}
	}
	rep.add(ck)

	// RTPLAN
	ck = Check{ID: "files.rtplan", Details: map[string]any{"path": c.plan.rel, "needed_by": []string{"prescription (Rx-relative DVH metrics)", "qc plan checks"}}}
	switch {
	case !c.plan.exists:
		ck.Status = StatusWarning
		ck.Message = fmt.Sprintf("%s absent: the prescription is unknown, so Rx-relative DVH metrics are unavailable", c.plan.rel)
	case c.plan.err != nil:
		ck.Status, ck.Objects = StatusFail, []string{c.plan.rel}
		ck.Message = fmt.Sprintf("%s cannot be read: %v", c.plan.rel, c.plan.err)
	default:
		ck.Status, ck.Objects = StatusPass, []string{c.plan.rel}
		ck.Message = fmt.Sprintf("%s present", c.plan.rel)
	}
	rep.add(ck)

	// RTDOSE
	ck = Check{ID: "files.rtdose", Details: map[string]any{"path": c.dose.rel, "needed_by": []string{"dvh", "qc dose and coverage checks"}}}
	decision, reason := "", ""
	if c.meta != nil {
		decision, reason = c.meta.DoseSelection.Decision, c.meta.DoseSelection.Reason
		ck.Details["dose_selection_decision"], ck.Details["dose_selection_reason"] = decision, reason
	}
	switch {
	case !c.dose.exists:
		ck.Status = StatusWarning
		ck.Message = fmt.Sprintf("%s absent: the DVH stage skips this course", c.dose.rel)
		if decision != "" {
			ck.Message += fmt.Sprintf(" (dose selection %s: %s)", decision, reason)
		}
	case c.dose.err != nil:
		ck.Status, ck.Objects = StatusFail, []string{c.dose.rel}
		ck.Message = fmt.Sprintf("%s cannot be read: %v", c.dose.rel, c.dose.err)
	default:
		ck.Status, ck.Objects = StatusPass, []string{c.dose.rel}
		ck.Message = fmt.Sprintf("%s present", c.dose.rel)
	}
	rep.add(ck)

	// case metadata
	ck = Check{ID: "files.case_metadata", Details: map[string]any{"path": "metadata/case_metadata.json"}}
	switch {
	case !c.metaExist:
		ck.Status = StatusWarning
		ck.Message = "metadata/case_metadata.json absent (run organize): the dose selection and the CT slice count cannot be cross-checked"
	case c.metaErr != nil:
		ck.Status, ck.Objects = StatusFail, []string{"metadata/case_metadata.json"}
		ck.Message = fmt.Sprintf("metadata/case_metadata.json cannot be read: %v", c.metaErr)
	default:
		ck.Status, ck.Message = StatusPass, "metadata/case_metadata.json present"
	}
	rep.add(ck)
}
