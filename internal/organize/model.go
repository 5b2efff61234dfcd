package organize

import (
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Options control how courses are formed and written. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	// MergeCriteria groups plans into courses by the study of their CT ("same_ct_study") or by
	// frame of reference ("frame_of_reference").
	MergeCriteria string
	// MaxDays, when >= 0, splits a course whose plan dates span more than that many days.
	MaxDays int
	// Hardlink places files as hard links when possible; false always copies.
	Hardlink bool
	// ReplanKeywords and BoostKeywords are whole words (or word prefixes followed by digits)
	// looked for in plan label, name and description.
	ReplanKeywords []string
	BoostKeywords  []string
	// BoostRxRatio: a later plan whose prescription differs from the first by more than this
	// factor is a boost. ReplanRxSimilarity: prescriptions at least this similar (min/max) are
	// the same treatment.
	BoostRxRatio       float64
	ReplanRxSimilarity float64
	// MinDoseOverlap: dose grids whose boxes overlap less than this fraction of the smaller box
	// treat separate regions and are not summed.
	MinDoseOverlap float64
	// CourseFilter limits writing to "PATIENT" or "PATIENT/COURSE" (IDs or folder names).
	CourseFilter string
	// PrioritizeShortCourses orders the manifest by complexity (DICOM file count).
	PrioritizeShortCourses bool
	// Workers is the number of parallel workers for indexing and writing.
	Workers int
	// ForceRedo removes previously organised course folders before writing.
	ForceRedo bool
}

// DefaultOptions returns the documented defaults (they mirror config.yaml's organize section).
func DefaultOptions() Options {
	return Options{
		MergeCriteria:          MergeSameCTStudy,
		MaxDays:                -1,
		Hardlink:               true,
		ReplanKeywords:         []string{"replan", "re-plan", "adapt", "adaptive", "revision", "rev", "v2", "v3", "v4", "v5", "copy", "resim", "resimulation"},
		BoostKeywords:          []string{"boost", "cone", "cd", "phase2", "phase 2", "sib", "sequential", "sequential boost"},
		BoostRxRatio:           1.1,
		ReplanRxSimilarity:     0.9,
		MinDoseOverlap:         0.3,
		PrioritizeShortCourses: true,
		Workers:                1,
	}
}

// Merge criteria.
const (
	MergeSameCTStudy      = "same_ct_study"
	MergeFrameOfReference = "frame_of_reference"
)

// Course kinds.
const (
	CourseKindPlan         = "plan"
	CourseKindRTStructOnly = "rtstruct_only"
	CourseKindCTOnly       = "ct_only"
)

// Dose selection decisions.
const (
	DosePlanSumUsed       = "plan_sum_used"
	DoseSingle            = "single_dose"
	DoseBeamsSummed       = "beam_doses_summed"
	DosePrimaryBoostSum   = "primary_boost_summed"
	DoseReplanITTFirst    = "replan_itt_first"
	DoseAlternativesFirst = "alternative_plans_first_kept"
	DoseSeparateFrames    = "separate_frames_first_kept"
	DoseSeparateRegions   = "separate_regions_first_kept"
	DoseAmbiguousFirst    = "ambiguous_first_kept"
	DoseNone              = "no_dose"
)

// CT selection statuses.
const (
	CTReferenced          = "referenced"
	CTReferencedMulti     = "referenced_multi"
	CTUnresolvedReference = "unresolved_reference"
	CTFallbackLargest     = "fallback_largest"
	CTNone                = "none"
)

// File accounting categories.
const (
	CategoryPlaced     = "placed"
	CategoryOrphan     = "orphan"
	CategoryDuplicate  = "duplicate"
	CategoryUnreadable = "unreadable"
)

// Series is an image series of one patient, slices in geometric order.
type Series struct {
	UID         string
	Kind        rt.Kind
	Modality    string
	StudyUID    string
	FrameOfRef  string
	Description string
	Number      int
	Slices      []*Entry
}

// Patient is everything indexed for one PatientID.
type Patient struct {
	ID string
	// Dir is the folder name: the ID made safe, with a suffix when two IDs would share it.
	Dir     string
	Entries []*Entry
}

// DoseSelection records which dose a course uses and why.
type DoseSelection struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	// Sources are the dose objects that make up the chosen dose (one, or several when summed).
	Sources []*Entry `json:"-"`
	// Plans are the plans the chosen dose stands for.
	Plans []*Entry `json:"-"`
	// Summed is true when RD.dcm is synthesised from several doses.
	Summed bool `json:"summed"`
	// SyntheticPlan is true when RP.dcm is synthesised because the dose stands for several plans.
	SyntheticPlan bool `json:"synthetic_plan"`
}

// Prescription is the course's total prescribed dose and its provenance.
type Prescription struct {
	TotalGy   float64 `json:"total_prescription_gy"`
	Source    string  `json:"rx_source"`
	Fractions int     `json:"planned_fractions"`
	// PerPlan lists each contributing plan's prescription.
	PerPlan []PlanRx `json:"per_plan,omitempty"`
}

// PlanRx is one plan's contribution to a course prescription.
type PlanRx struct {
	PlanUID   string  `json:"plan_sop_instance_uid"`
	Label     string  `json:"plan_label"`
	TotalGy   float64 `json:"total_gy"`
	Source    string  `json:"rx_source"`
	Fractions int     `json:"fractions"`
}

// Course is one organised treatment course and every object that belongs to it.
type Course struct {
	Patient   *Patient
	Name      string
	Key       string
	Kind      string
	StartDate string
	EndDate   string

	Plans   []*Entry
	Doses   []*Entry
	Structs []*Entry
	Records []*Entry
	Regs    []*Entry
	Others  []*Entry

	PrimaryStruct    *Entry
	StructResolution string
	CT               *Series
	CTSelection      string
	CTReason         string
	Related          []*Series

	Dose     DoseSelection
	Rx       Prescription
	Warnings []string
}

// FileRecord is the accounting of one input file.
type FileRecord struct {
	Path           string   `json:"path"`
	Category       string   `json:"category"`
	Kind           string   `json:"kind,omitempty"`
	Modality       string   `json:"modality,omitempty"`
	SOPInstanceUID string   `json:"sop_instance_uid,omitempty"`
	PatientID      string   `json:"patient_id,omitempty"`
	Courses        []string `json:"courses,omitempty"`
	Destinations   []string `json:"destinations,omitempty"`
	DuplicateOf    string   `json:"duplicate_of,omitempty"`
	Identical      *bool    `json:"identical_to_kept_copy,omitempty"`
	Reason         string   `json:"reason,omitempty"`
}
