package synth

import (
	"bytes"
	"encoding/json"
)

// Truth is what a correct reading of the generated cohort must find. It is written to
// truth.json with its fields in this order, so the file is byte-stable.
type Truth struct {
	Seed      int64     `json:"seed"`
	Options   Options   `json:"options"`
	DoseModel DoseModel `json:"dose_model"`
	// Anatomy describes the phantom shared by every patient (the tumour is per course).
	Anatomy []Shape `json:"anatomy"`
	// Segmentation defines the ground truth of CT segmentation (body, lungs, airways, bones,
	// couch) from the Anatomy shapes.
	Segmentation []SegmentationStructure `json:"segmentation"`
	Patients     []PatientTruth          `json:"patients"`
}

// DoseModel names the analytic dose shape: about the centre c, D(r) = peak for
// r <= plateau radius, then linear to 0 at plateau radius + FalloffMM, and 0 beyond. The plateau
// radius of a plan's dose is its target radius (PTV, or GTV for a boost) plus PlateauMarginMM;
// each DoseTruth lists its components with their radii.
type DoseModel struct {
	Kind            string  `json:"kind"`
	PlateauMarginMM float64 `json:"plateau_margin_mm"`
	FalloffMM       float64 `json:"falloff_mm"`
}

// Shape is one analytic part of the phantom. Kind is "elliptic_cylinder" (axis along z, extends
// through the whole CT), "ellipsoid" or "slab" (an axis-aligned box; for the couch, whose side
// depends on the patient position, the listed box is for supine patients and prone patients get
// its mirror image in y). ROI is the RTSTRUCT ROI name, empty for shapes that are not contoured.
type Shape struct {
	Name      string     `json:"name"`
	ROI       string     `json:"roi"`
	Kind      string     `json:"kind"`
	CenterMM  [3]float64 `json:"center_mm"`
	SemiAxeMM [3]float64 `json:"semi_axes_mm"`
	HU        float64    `json:"hu"`
	// EndMM and RadiusMM describe a "capsule": every point closer than RadiusMM to the segment
	// from CenterMM to EndMM (airways, ribs, sternum).
	EndMM    *[3]float64 `json:"end_mm,omitempty"`
	RadiusMM float64     `json:"radius_mm,omitempty"`
	// Group gathers shapes of one truth structure: "airways" or "bones".
	Group string `json:"group,omitempty"`
}

// SegmentationStructure defines one ground-truth structure for CT segmenters: the voxels
// inside any of Shapes and inside none of Minus (shapes named as in Anatomy). Voxels are
// classified by their centres, with the material order of the CT (tumour, airways, lungs,
// heart, cord, spine, ribs and sternum, oesophagus, then soft tissue); PhantomTruth rasterises
// these structures on any grid.
type SegmentationStructure struct {
	Name   string   `json:"name"`
	Shapes []string `json:"shapes"`
	Minus  []string `json:"minus"`
}

// PatientTruth is one patient: identity, how its files are laid out, its courses and every
// file written for it.
type PatientTruth struct {
	PatientID       string `json:"patient_id"`
	Folder          string `json:"folder"`
	Scenario        string `json:"scenario"`
	PatientPosition string `json:"patient_position"`
	TransferSyntax  string `json:"transfer_syntax"`
	PatientName     string `json:"patient_name"`
	BirthDate       string `json:"birth_date"`
	Sex             string `json:"sex"`
	// Layout is flat, series (<folder>/<SeriesInstanceUID>/) or nested
	// (<folder>/<study date>/<series description>/); Naming is the file-name style.
	Layout string `json:"layout"`
	Naming string `json:"naming"`
	// SharedStudyWith names the other patient whose objects share this patient's
	// StudyInstanceUID and FrameOfReferenceUID; a reader should warn about it.
	SharedStudyWith string `json:"shared_study_with,omitempty"`
	// Warnings lists what a careful reader should report for this patient.
	Warnings []string      `json:"warnings"`
	Courses  []CourseTruth `json:"courses"`
	Files    []FileTruth   `json:"files"`
}

// CourseTruth is one treatment course as a correct organiser must build it.
type CourseTruth struct {
	Month               string `json:"month"`
	StartDate           string `json:"start_date"`
	StudyUID            string `json:"study_uid"`
	FrameOfReferenceUID string `json:"frame_of_reference_uid"`
	// CTSeriesUID is the CT the course must use ("" when none may be chosen), and CTSelection
	// how it is found: referenced, referenced_multi, unresolved_reference, fallback_largest or
	// none.
	CTSeriesUID        string       `json:"ct_series_uid"`
	CTSelection        string       `json:"ct_selection"`
	CTSlices           int          `json:"ct_slices"`
	RTStructUID        string       `json:"rtstruct_uid"`
	PlanUIDs           []string     `json:"plan_uids"`
	DoseUIDs           []string     `json:"dose_uids"`
	DoseSummationTypes []string     `json:"dose_summation_types"`
	ExpectedDose       ExpectedDose `json:"expected_dose"`
	RxGy               float64      `json:"rx_gy"`
	RxSource           string       `json:"rx_source"`
	FractionsPlanned   int          `json:"fractions_planned"`
	FractionsDelivered int          `json:"fractions_delivered"`
	PTVCenterMM        [3]float64   `json:"ptv_center_mm"`
	GTVRadiusMM        float64      `json:"gtv_radius_mm"`
	PTVRadiusMM        float64      `json:"ptv_radius_mm"`
	ROIs               []string     `json:"rois"`
	// CTSeries lists every CT series of the course's study, the chosen one included.
	CTSeries  []CTSeriesTruth `json:"ct_series"`
	Plans     []PlanTruth     `json:"plans"`
	Doses     []DoseTruth     `json:"doses"`
	Fractions []FractionTruth `json:"fractions"`
}

// ExpectedDose is the dose-selection decision and the source doses that make up the chosen
// dose (one PLAN or PLAN_SUM dose, or several doses to be summed).
type ExpectedDose struct {
	Decision string   `json:"decision"`
	DoseUIDs []string `json:"dose_uids"`
	// MaxGy is the maximum of the chosen dose (at the PTV centre), 0 without dose.
	MaxGy float64 `json:"max_gy"`
}

// CTSeriesTruth describes one CT series.
type CTSeriesTruth struct {
	SeriesUID        string  `json:"series_uid"`
	Slices           int     `json:"slices"`
	SliceThicknessMM float64 `json:"slice_thickness_mm"`
	PixelSpacingMM   float64 `json:"pixel_spacing_mm"`
	// Role is planning (referenced by the RTSTRUCT), secondary, unreferenced or only.
	Role string `json:"role"`
}

// PlanTruth describes one RTPLAN.
type PlanTruth struct {
	SOPInstanceUID   string  `json:"sop_instance_uid"`
	Label            string  `json:"label"`
	Date             string  `json:"date"`
	RxGy             float64 `json:"rx_gy"`
	FractionsPlanned int     `json:"fractions_planned"`
	Technique        string  `json:"technique"`
	Beams            int     `json:"beams"`
	EnergyMV         float64 `json:"energy_mv"`
	Machine          string  `json:"machine"`
	Approval         string  `json:"approval"`
}

// DoseTruth describes one RTDOSE and the analytic components whose sum it stores.
type DoseTruth struct {
	SOPInstanceUID     string          `json:"sop_instance_uid"`
	SummationType      string          `json:"summation_type"`
	ReferencedPlanUIDs []string        `json:"referenced_plan_uids"`
	ReferencedBeams    []int           `json:"referenced_beams"`
	SpacingMM          float64         `json:"spacing_mm"`
	Size               [3]int          `json:"size"`
	MaxGy              float64         `json:"max_gy"`
	Components         []DoseComponent `json:"components"`
}

// DoseComponent is one radial term of a dose: PeakGy inside PlateauRadiusMM, linear to 0 at
// ZeroRadiusMM, about CenterMM.
type DoseComponent struct {
	CenterMM        [3]float64 `json:"center_mm"`
	PeakGy          float64    `json:"peak_gy"`
	PlateauRadiusMM float64    `json:"plateau_radius_mm"`
	ZeroRadiusMM    float64    `json:"zero_radius_mm"`
}

// FractionTruth is one delivered fraction (one treatment record).
type FractionTruth struct {
	SOPInstanceUID string `json:"sop_instance_uid"`
	PlanUID        string `json:"plan_uid"`
	Fraction       int    `json:"fraction"`
	Date           string `json:"date"`
	// TreatmentDateMissing marks the record that only has SeriesDate.
	TreatmentDateMissing bool `json:"treatment_date_missing,omitempty"`
}

// FileTruth is one file under dicom/ and where a correct organiser puts it: placed (in a
// course), orphan, duplicate (of DuplicateOf, the byte-identical copy whose path sorts first) or
// unreadable.
type FileTruth struct {
	Path           string `json:"path"`
	SOPInstanceUID string `json:"sop_instance_uid"`
	Modality       string `json:"modality"`
	Category       string `json:"category"`
	DuplicateOf    string `json:"duplicate_of,omitempty"`
	ReasonHint     string `json:"reason_hint"`
}

// File categories.
const (
	CategoryPlaced     = "placed"
	CategoryOrphan     = "orphan"
	CategoryDuplicate  = "duplicate"
	CategoryUnreadable = "unreadable"
)

// Dose-selection decisions.
const (
	DecisionSingleDose         = "single_dose"
	DecisionPlanSumUsed        = "plan_sum_used"
	DecisionBeamDosesSummed    = "beam_doses_summed"
	DecisionPrimaryBoostSummed = "primary_boost_summed"
	DecisionReplanITTFirst     = "replan_itt_first"
	DecisionNoDose             = "no_dose"
)

// CT selection outcomes.
const (
	CTReferenced          = "referenced"
	CTReferencedMulti     = "referenced_multi"
	CTUnresolvedReference = "unresolved_reference"
	CTFallbackLargest     = "fallback_largest"
	CTNone                = "none"
)

// marshal encodes the truth indented, without HTML escaping (IDs hold '<'-free but non-ASCII
// text that should stay readable), ending in a newline.
func (t *Truth) marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Patient returns the truth of the patient with the given ID, or nil.
func (t *Truth) Patient(id string) *PatientTruth {
	for i := range t.Patients {
		if t.Patients[i].PatientID == id {
			return &t.Patients[i]
		}
	}
	return nil
}
