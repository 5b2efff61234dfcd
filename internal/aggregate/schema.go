package aggregate

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind is how the text of a course table's cell becomes a typed cell of the cohort table.
type Kind int

// Column kinds. A cell whose text does not read back as the same text in its kind (for
// example "007" in an Int column) stays text, so no value ever changes.
const (
	// Text cells stay strings.
	Text Kind = iota
	// Int cells become int64.
	Int
	// Float cells become float64 (integers included).
	Float
	// Bool cells ("true", "false") become bool.
	Bool
	// Auto columns are typed from their cells over the whole cohort: Bool when every non-empty
	// cell is a bool, else Int, else Float, else Text.
	Auto
)

// String returns the kind's name as the README prints it.
func (k Kind) String() string {
	switch k {
	case Int:
		return "integer"
	case Float:
		return "number"
	case Bool:
		return "boolean"
	case Auto:
		return "inferred"
	}
	return "text"
}

// Column is one known column of an output table: its name, the kind its cells are read as and
// its description (the README row).
type Column struct {
	Name string
	Kind Kind
	Desc string
}

// TableDef defines one output table of _RESULTS: its known columns in their fixed order (the
// key columns patient_id and course_id first), where each course's rows come from, the stage
// whose sentinel must say "ok", and the rows that count as duplicates.
type TableDef struct {
	// Name is the output base name (<Name>.csv, .xlsx, .parquet).
	Name string
	// Desc says what one row is.
	Desc string
	// Source describes where a course's rows are read from (README text).
	Source string
	// Stage is the course stage whose sentinel gates the table (see Stages).
	Stage string
	// Columns are the known columns in output order.
	Columns []Column
	// RowKey are the columns that, with patient_id and course_id, identify a row; a later row
	// with the same key is dropped. Rows with an empty key cell are never dropped. No RowKey
	// means one row per course.
	RowKey []string
	// RowKeyFold lower-cases and trims the RowKey cells before comparing them.
	RowKeyFold bool
	// Priority ranks rows sharing a key, from a row's cell getter: the lowest wins, the first
	// row on a tie. Nil = the first row wins.
	Priority func(cell func(column string) string) int
	// Dedup describes the duplicate rule (README text).
	Dedup string
	// Extra describes (and types) a column that is not a known column; nil = generic.
	Extra func(name string) (Kind, string)
}

// keyColumns are the first two columns of every output table.
var keyColumns = []Column{
	{"patient_id", Text, "Patient ID (DICOM PatientID, exactly as organize read it; the patient folder may differ, see case_metadata.patient_dir). Key, with course_id."},
	{"course_id", Text, "Course folder name (YYYY-MM of the course start, with a suffix when a patient has two courses starting in one month). Key, with patient_id."},
}

func withKeys(cols ...Column) []Column { return append(append([]Column{}, keyColumns...), cols...) }

// Tables returns the definitions of the output tables, in the order they are written and
// documented.
func Tables() []*TableDef {
	return []*TableDef{dvhTable(), radiomicsCTTable(), radiomicsMRTable(), caseMetadataTable(), fractionsTable(), qcTable()}
}

// tableDef returns the definition of the named table, or nil.
func tableDef(name string) *TableDef {
	for _, t := range Tables() {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// vxGyMax is the highest x of the V{x}Gy columns (dvh.VxGyMax).
const vxGyMax = 60

func dvhTable() *TableDef {
	cols := withKeys(
		Column{"ROI_Number", Int, "ROI number in its structure set."},
		Column{"ROI_Name", Text, "ROI name, verbatim from the structure set (one row per name per course, case-insensitive)."},
		Column{"ROI_OriginalName", Text, "ROI name as the structure set holds it."},
		Column{"Segmentation_Source", Text, "Structure source: PlanRTSTRUCT (the structure set RP.dcm references), Manual (RS.dcm), Custom (RS_custom.dcm), AutoRTS (RS_auto.dcm) or CustomModel:<name>."},
		Column{"structure_cropped", Bool, "Whether the structure was cropped (systematic CT cropping)."},
		Column{"rtstruct_sop_instance_uid", Text, "SOP instance UID of the structure set the ROI comes from."},
		Column{"rtstruct_path", Text, "Path of that structure set, relative to the course folder."},
		Column{"DmeanGy", Float, "Mean dose (Gy)."},
		Column{"DmaxGy", Float, "Maximum dose (Gy)."},
		Column{"DminGy", Float, "Minimum dose (Gy)."},
		Column{"D95Gy", Float, "D(95 %): the minimum dose of the hottest 95 % of the volume (Gy)."},
		Column{"D98Gy", Float, "D(98 %) (Gy)."},
		Column{"D2Gy", Float, "D(2 %) (Gy)."},
		Column{"D50Gy", Float, "D(50 %) (Gy)."},
		Column{"HI", Float, "Homogeneity index (D2 − D98) / D50; empty when D50 = 0."},
		Column{"SpreadGy", Float, "DmaxGy − DminGy (Gy)."},
		Column{"D1ccGy", Float, "D(1 cm³): the minimum dose of the hottest 1 cm³ (Gy); empty for ROIs smaller than 1 cm³."},
		Column{"D0.1ccGy", Float, "D(0.1 cm³) (Gy); empty for ROIs smaller than 0.1 cm³."},
		Column{"D0.03ccGy", Float, "D(0.03 cm³) (Gy); empty for ROIs smaller than 0.03 cm³."},
		Column{"Dmean%", Float, "DmeanGy as % of the prescription; empty without prescription."},
		Column{"Dmax%", Float, "DmaxGy as % of the prescription."},
		Column{"Dmin%", Float, "DminGy as % of the prescription."},
		Column{"D95%", Float, "D95Gy as % of the prescription."},
		Column{"D98%", Float, "D98Gy as % of the prescription."},
		Column{"D2%", Float, "D2Gy as % of the prescription."},
		Column{"D50%", Float, "D50Gy as % of the prescription."},
		Column{"HI%", Float, "100 × HI."},
		Column{"Spread%", Float, "SpreadGy as % of the prescription."},
		Column{"Volume (cm³)", Float, "ROI volume from its contours (slab model, docs/dvh.md)."},
		Column{"IntegralDose_Gycm3", Float, "DmeanGy × Volume (Gy·cm³)."},
		Column{"V95%Rx (cm³)", Float, "Volume receiving at least 95 % of the prescription (cm³)."},
		Column{"V95%Rx (%)", Float, "The same as % of the ROI volume."},
		Column{"V100%Rx (cm³)", Float, "Volume receiving at least 100 % of the prescription (cm³)."},
		Column{"V100%Rx (%)", Float, "The same as % of the ROI volume."},
	)
	for x := 1; x <= vxGyMax; x++ {
		cols = append(cols, Column{fmt.Sprintf("V%dGy (cm³)", x), Float, fmt.Sprintf("Volume receiving at least %d Gy (cm³).", x)})
	}
	for x := 1; x <= vxGyMax; x++ {
		cols = append(cols, Column{fmt.Sprintf("V%dGy (%%)", x), Float, fmt.Sprintf("Volume receiving at least %d Gy, as %% of the ROI volume.", x)})
	}
	cols = append(cols,
		Column{"dvh_method", Text, "DVH method: exact (default) or dicompyler."},
		Column{"dose_grid_coverage_pct", Float, "Share of the ROI volume inside the dose grid (%)."},
		Column{"dose_coverage_flag", Text, "Set when part of the ROI lies outside the dose grid (dose taken as 0 Gy there)."},
		Column{"contour_planes", Int, "Number of distinct contour planes of the ROI."},
		Column{"plane_spacing_mm", Float, "Median spacing of the ROI's contour planes (mm)."},
		Column{"thickness_note", Text, "Where the slab thickness of a single-plane ROI came from."},
		Column{"roi_warnings", Text, "Warnings of the ROI's DVH computation (; separated)."},
		Column{"rx_gy", Float, "Course prescription (Gy); empty without prescription."},
		Column{"rx_source", Text, "Where the prescription came from (docs/organize.md, prescription chain)."},
		Column{"dose_resolution", Text, "How the dose was chosen (course_rd: the course's RD.dcm)."},
		Column{"dose_resolution_reason", Text, "organize's dose decision and reason."},
		Column{"dose_sop_instance_uid", Text, "SOP instance UID of RD.dcm."},
		Column{"dose_summation_type", Text, "DoseSummationType of RD.dcm."},
		Column{"source_dose_sop_uids", Text, "SOP instance UIDs of the doses RD.dcm stands for (; separated)."},
		Column{"source_dose_types", Text, "Their DoseSummationTypes (; separated)."},
		Column{"source_plan_sop_uids", Text, "SOP instance UIDs of the plans RD.dcm stands for (; separated)."},
		Column{"rtstruct_resolution", Text, "Structure source of the row (as Segmentation_Source)."},
		Column{"rtstruct_resolution_reason", Text, "Why that structure set was used."},
		Column{"plan_referenced_rtstruct_sop_instance_uids", Text, "Structure sets RP.dcm references (; separated)."},
		Column{"metric_version", Text, "Version of the metric definitions."},
	)
	return &TableDef{
		Name:    "dvh_metrics",
		Desc:    "One row per ROI of a course: DVH metrics (docs/dvh.md §4) and provenance.",
		Source:  "`<course>/dvh_metrics.csv` (else `dvh_metrics.parquet`) of courses whose `.dvh_done` is `ok`.",
		Stage:   "dvh",
		Columns: cols, RowKey: []string{"ROI_Name"}, RowKeyFold: true, Priority: dvhSourcePriority,
		Dedup: "One row per ROI name per course (case-insensitive, trimmed): of rows sharing a name, the one of the highest-priority " +
			"Segmentation_Source is kept (PlanRTSTRUCT, Manual, Custom, AutoRTS, CustomModel:*, anything else), the first on a tie. " +
			"Only rows of the same course are compared.",
	}
}

// dvhSources are the DVH structure sources from the highest priority down (dvh.Source*).
var dvhSources = []string{"PlanRTSTRUCT", "Manual", "Custom", "AutoRTS"}

// dvhSourcePriority ranks a dvh_metrics row by its Segmentation_Source: PlanRTSTRUCT, Manual,
// Custom, AutoRTS, CustomModel:*, anything else.
func dvhSourcePriority(cell func(string) string) int {
	src := cell("Segmentation_Source")
	for i, s := range dvhSources {
		if src == s {
			return i
		}
	}
	if strings.HasPrefix(src, "CustomModel:") {
		return len(dvhSources)
	}
	return len(dvhSources) + 1
}

// radiomicsFeature matches a PyRadiomics feature key <image type>_<class>_<feature>.
var radiomicsFeature = regexp.MustCompile(`^([A-Za-z0-9.-]+)_(shape|shape2D|firstorder|glcm|glrlm|glszm|gldm|ngtdm)_([A-Za-z0-9]+)$`)

var radiomicsClass = map[string]string{
	"shape": "3-D shape", "shape2D": "2-D shape", "firstorder": "first-order statistics", "glcm": "gray level co-occurrence matrix",
	"glrlm": "gray level run length matrix", "glszm": "gray level size zone matrix", "gldm": "gray level dependence matrix",
	"ngtdm": "neighbouring gray tone difference matrix",
}

// radiomicsExtra describes a feature column of the radiomics tables.
func radiomicsExtra(name string) (Kind, string) {
	if rest, ok := strings.CutPrefix(name, "diagnostics_"); ok {
		return Text, "PyRadiomics diagnostic " + rest + " (text as Python prints it)."
	}
	if m := radiomicsFeature.FindStringSubmatch(name); m != nil {
		return Float, fmt.Sprintf("Radiomics feature %s (%s) of the %s image (docs/radiomics.md).", m[3], radiomicsClass[m[2]], m[1])
	}
	return Auto, genericExtra
}

// genericExtra describes a column found in course tables that this version does not know.
const genericExtra = "Column of the course tables not known to this version of aggregate; copied as found."

func radiomicsIdentity(mr bool) []Column {
	cols := withKeys(
		Column{"roi_name", Text, "Normalised ROI name (lower case, letters, digits, _ and - only), + __partial when cut by the field of view."},
		Column{"roi_original_name", Text, "ROI name as the structure set (or mask file) holds it."},
		Column{"roi_number", Int, "ROI number in its structure set (empty for NIfTI masks)."},
		Column{"segmentation_source", Text, "Structure source: Manual, AutoRTS_total, Custom, CustomModel:<name> (CT); AutoTS_total_mr (MR)."},
		Column{"modality", Text, "Image modality (CT or MR)."},
		Column{"structure_cropped", Bool, "Whether the mask touches a face of the image volume."},
		Column{"status", Text, "ok, skipped: <reason> or failed: <error>."},
		Column{"mask_voxels", Int, "Mask voxels on the image grid."},
		Column{"params", Text, "Parameter set used (ct, ct_large_roi, mr, mr_t1_normalized)."},
	)
	if !mr {
		return append(cols,
			Column{"rtstruct_path", Text, "Structure set or mask path, relative to the course folder."},
			Column{"course_dir", Text, "<patient folder>/<course folder>."},
			Column{"roi_warnings", Text, "Warnings of the ROI (; separated)."})
	}
	return append(cols,
		Column{"series_dir", Text, "MR series folder (MR/<uid>)."},
		Column{"series_uid", Text, "MR SeriesInstanceUID."},
		Column{"nifti_path", Text, "The series' NIfTI image, when present."},
		Column{"mask_path", Text, "The RTSTRUCT or NIfTI mask."},
		Column{"mr_normalize", Bool, "Whether the series was z-score normalised (T1-weighted)."},
		Column{"course_dir", Text, "<patient folder>/<course folder>."},
		Column{"roi_warnings", Text, "Warnings of the ROI (; separated)."})
}

func radiomicsCTTable() *TableDef {
	return &TableDef{
		Name:    "radiomics_ct",
		Desc:    "One row per ROI of every structure source of a course CT: radiomics features (docs/radiomics.md). The feature columns follow the identity columns.",
		Source:  "`<course>/radiomics_ct.csv` (else `radiomics_ct.parquet`) of courses whose `.radiomics_done` is `ok`.",
		Stage:   "radiomics",
		Columns: radiomicsIdentity(false), RowKey: []string{"segmentation_source", "roi_name", "roi_number"},
		Dedup: "A row repeating the segmentation_source, roi_name and roi_number of an earlier row of the same course is dropped.",
		Extra: radiomicsExtra,
	}
}

func radiomicsMRTable() *TableDef {
	return &TableDef{
		Name:    "radiomics_mr",
		Desc:    "One row per ROI of every MR series with total_mr masks: radiomics features.",
		Source:  "`<course>/MR/radiomics_mr.csv` (else `.parquet`) of courses whose `.radiomics_done` is `ok`; a course without MR series has none.",
		Stage:   "radiomics",
		Columns: radiomicsIdentity(true), RowKey: []string{"series_uid", "segmentation_source", "roi_name", "roi_number"},
		Dedup: "A row repeating the series_uid, segmentation_source, roi_name and roi_number of an earlier row of the same course is dropped.",
		Extra: radiomicsExtra,
	}
}

func caseMetadataTable() *TableDef {
	return &TableDef{
		Name:   "case_metadata",
		Desc:   "One row per course: organize's decisions and the course's plan, CT, structure set and dose (docs/organize.md §8).",
		Source: "The course's row of `Data/case_metadata.csv` (matched by patient_dir and course_id) for courses whose `.organized` is `ok`.",
		Stage:  "organize",
		Columns: withKeys(
			Column{"patient_dir", Text, "Patient folder name (PatientID made safe for file systems)."},
			Column{"course_kind", Text, "plan, rtstruct_only or ct_only (what the course was built from)."},
			Column{"course_start_date", Text, "Course start (YYYY-MM-DD)."},
			Column{"course_end_date", Text, "Course end (YYYY-MM-DD)."},
			Column{"status", Text, "organize's course status (ok or failed: <reason>)."},
			Column{"dose_decision", Text, "Dose selection decision (docs/organize.md §5)."},
			Column{"dose_reason", Text, "Why."},
			Column{"total_prescription_gy", Float, "Course prescription (Gy)."},
			Column{"rx_source", Text, "Where the prescription came from."},
			Column{"planned_fractions", Int, "Planned fractions."},
			Column{"delivered_fractions", Int, "Delivered fractions (treatment records)."},
			Column{"plan_label", Text, "RTPlanLabel of the selected plan."},
			Column{"plan_sop_instance_uid", Text, "SOP instance UID of the selected plan."},
			Column{"technique_inferred", Text, "VMAT/ARC or STATIC/IMRT."},
			Column{"beams_count", Int, "Beams of the selected plan."},
			Column{"beam_energies", Text, "Nominal beam energies (; separated)."},
			Column{"treatment_machines", Text, "Treatment machines (; separated)."},
			Column{"plan_intent", Text, "PlanIntent."},
			Column{"ct_selection", Text, "How the course CT was chosen (docs/organize.md §6)."},
			Column{"ct_series_uid", Text, "SeriesInstanceUID of the course CT."},
			Column{"ct_slices", Int, "CT slices."},
			Column{"ct_slice_thickness_mm", Float, "CT SliceThickness (mm)."},
			Column{"patient_position", Text, "PatientPosition."},
			Column{"rtstruct_sop_instance_uid", Text, "SOP instance UID of the course structure set."},
			Column{"roi_count", Int, "ROIs of the structure set."},
			Column{"ptv_count", Int, "PTVs."},
			Column{"ctv_count", Int, "CTVs."},
			Column{"gtv_count", Int, "GTVs."},
			Column{"oar_count", Int, "Organs at risk."},
			Column{"dose_max_gy", Float, "Maximum of RD.dcm (Gy)."},
			Column{"dose_mean_gy", Float, "Mean of RD.dcm (Gy)."},
			Column{"patient_sex", Text, "PatientSex."},
			Column{"patient_age_years", Int, "Age at the course start (years)."},
			Column{"warnings", Text, "organize's warnings for the course ( | separated)."},
		),
		Dedup: "One row per course: only the first row of Data/case_metadata.csv matching the course is used.",
	}
}

func fractionsTable() *TableDef {
	return &TableDef{
		Name: "fractions",
		Desc: "One row per delivered fraction (plan, fraction number) of a course, from its treatment records (docs/organize.md §8).",
		Source: "`<course>/fractions.csv` (else `fractions.parquet`; else the course's rows of `Data/fractions.csv`) of courses whose `.organized` is `ok`. " +
			"Exactly one source per course; Data/fractions.csv never replaces the per-course tables.",
		Stage: "organize",
		Columns: withKeys(
			Column{"treatment_date", Text, "Treatment date (YYYY-MM-DD)."},
			Column{"treatment_time", Text, "Start time (HHMMSS, as in the record)."},
			Column{"treatment_time_end", Text, "End time of the fraction's last record."},
			Column{"plan_sop", Text, "SOP instance UID of the plan the records reference (NO_PLAN when none)."},
			Column{"plan_label", Text, "Label of that plan."},
			Column{"fraction_number", Int, "Fraction number (CurrentFractionNumber, else the date rank)."},
			Column{"treatment_machine", Text, "Treatment machines (; separated)."},
			Column{"delivered_dose_gy", Float, "Delivered dose (Gy), when the records carry it."},
			Column{"delivered_meterset", Float, "Delivered meterset (MU)."},
			Column{"beams_delivered", Int, "Beams delivered."},
			Column{"termination_status", Text, "Treatment termination statuses (; separated)."},
			Column{"records_merged", Int, "Treatment records merged into the fraction."},
			Column{"source_paths", Text, "Input paths of those records (; separated)."},
			Column{"sop_instance_uids", Text, "Their SOP instance UIDs (; separated)."},
		),
		RowKey: []string{"plan_sop", "fraction_number"},
		Dedup:  "A row repeating the plan_sop and fraction_number of an earlier row of the same course is dropped.",
	}
}

func qcTable() *TableDef {
	return &TableDef{
		Name: "qc_reports",
		Desc: "One row per QC check of a course (long form); a report without checks gives one row with empty check columns.",
		Source: "`<course>/qc_reports/qc_report.json` (else the first `qc_reports/qc_report*.json` by name) of courses whose `.qc_done` is `ok`. " +
			"Checks are a list of objects (id, status, message, …) or an object of check name → object.",
		Stage: "qc",
		Columns: withKeys(
			Column{"report_file", Text, "The report, relative to the course folder."},
			Column{"overall_status", Text, "The report's roll-up (overall_status, else status; else computed: any FAIL or ERROR → FAIL, any WARNING → WARNING, else PASS)."},
			Column{"check_id", Text, "Check identifier (<category>.<name>, docs/qc.md)."},
			Column{"check_category", Text, "Check category (files, ct, plan, dose, frame_of_reference, patient, coverage, structures)."},
			Column{"check_status", Text, "PASS, INFO, WARNING or FAIL (upper case; SKIP and ERROR of older reports kept)."},
			Column{"check_message", Text, "What the check found."},
			Column{"check_objects", Text, "Files (relative to the course) or ROIs the status is about (; separated)."},
			Column{"check_details", Text, "The check's details (measured values, per-item findings) as JSON with sorted keys; other fields of the check are included."},
		),
		RowKey: []string{"check_id"},
		Dedup:  "A row repeating the check_id of an earlier check of the same course is dropped.",
	}
}
