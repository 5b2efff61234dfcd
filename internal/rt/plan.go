package rt

import (
	"math"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
)

// Plan summarises an RTPLAN (or RT Ion Plan): identity, prescription, fractionation and beams.
type Plan struct {
	Label          string `json:"label"`
	Name           string `json:"name"`
	Description    string `json:"description,omitempty"`
	Date           string `json:"date,omitempty"`
	Time           string `json:"time,omitempty"`
	Intent         string `json:"intent,omitempty"`
	Geometry       string `json:"geometry,omitempty"`
	ApprovalStatus string `json:"approval_status,omitempty"`
	ReviewDate     string `json:"review_date,omitempty"`
	ReviewerName   string `json:"reviewer_name,omitempty"`
	OperatorsName  string `json:"operators_name,omitempty"`
	Physician      string `json:"referring_physician,omitempty"`
	// ReferencedStructureSets are the RTSTRUCT SOP instance UIDs the plan was made on.
	ReferencedStructureSets []string `json:"referenced_structure_sets,omitempty"`
	// ReferencedPlans lists RTPlan relationships (e.g. a plan this one revises).
	ReferencedPlans []string         `json:"referenced_plans,omitempty"`
	DoseReferences  []DoseReference  `json:"dose_references,omitempty"`
	FractionGroups  []FractionGroup  `json:"fraction_groups,omitempty"`
	Beams           []Beam           `json:"beams,omitempty"`
	PatientSetups   []PatientSetup   `json:"patient_setups,omitempty"`
	Prescription    PrescriptionInfo `json:"prescription"`
}

// DoseReference is one item of the DoseReferenceSequence.
type DoseReference struct {
	Number                 int     `json:"number"`
	StructureType          string  `json:"structure_type,omitempty"`
	Type                   string  `json:"type,omitempty"`
	Description            string  `json:"description,omitempty"`
	ReferencedROINumber    int     `json:"referenced_roi_number,omitempty"`
	TargetPrescriptionGy   float64 `json:"target_prescription_dose_gy,omitempty"`
	DeliveryMaximumGy      float64 `json:"delivery_maximum_dose_gy,omitempty"`
	OrganAtRiskMaximumGy   float64 `json:"organ_at_risk_maximum_dose_gy,omitempty"`
	TargetMinimumGy        float64 `json:"target_minimum_dose_gy,omitempty"`
	TargetMaximumGy        float64 `json:"target_maximum_dose_gy,omitempty"`
	hasTargetPrescription  bool
	hasDeliveryMaximumDose bool
}

// FractionGroup is one item of the FractionGroupSequence.
type FractionGroup struct {
	Number           int             `json:"number"`
	FractionsPlanned int             `json:"fractions_planned"`
	NumberOfBeams    int             `json:"number_of_beams"`
	BeamDoses        map[int]float64 `json:"-"`
	// DosePoints counts distinct beam dose specification points; beam doses at different points
	// (one per target of a multi-target plan) do not add up to a prescription.
	DosePoints        int             `json:"beam_dose_points"`
	BeamMetersets     map[int]float64 `json:"-"`
	ReferencedBeams   []int           `json:"referenced_beams,omitempty"`
	BeamDoseSumGy     float64         `json:"beam_dose_sum_gy,omitempty"`
	BeamMetersetSum   float64         `json:"beam_meterset_sum,omitempty"`
	ReferencedDoseRef []int           `json:"referenced_dose_references,omitempty"`
}

// Beam summarises one item of the BeamSequence (or IonBeamSequence).
type Beam struct {
	Number            int       `json:"number"`
	Name              string    `json:"name,omitempty"`
	Description       string    `json:"description,omitempty"`
	Type              string    `json:"type,omitempty"`
	RadiationType     string    `json:"radiation_type,omitempty"`
	DeliveryType      string    `json:"delivery_type,omitempty"`
	Machine           string    `json:"treatment_machine,omitempty"`
	DosimeterUnit     string    `json:"dosimeter_unit,omitempty"`
	SAD               float64   `json:"source_axis_distance_mm,omitempty"`
	EnergiesMV        []float64 `json:"nominal_energies,omitempty"`
	ControlPoints     int       `json:"control_points"`
	GantryStart       float64   `json:"gantry_start_deg"`
	GantryEnd         float64   `json:"gantry_end_deg"`
	GantrySpan        float64   `json:"gantry_span_deg"`
	RotationDirection string    `json:"gantry_rotation_direction,omitempty"`
	Collimator        float64   `json:"collimator_angle_deg"`
	Couch             float64   `json:"couch_angle_deg"`
	Isocenter         []float64 `json:"isocenter_mm,omitempty"`
	IsArc             bool      `json:"is_arc"`
	Meterset          float64   `json:"meterset,omitempty"`
	DoseGy            float64   `json:"beam_dose_gy,omitempty"`
	Wedges            int       `json:"wedges,omitempty"`
	Boli              int       `json:"boli,omitempty"`
	Blocks            int       `json:"blocks,omitempty"`
	PatientSetup      int       `json:"referenced_patient_setup,omitempty"`
}

// PatientSetup is one item of the PatientSetupSequence.
type PatientSetup struct {
	Number   int    `json:"number"`
	Position string `json:"patient_position"`
}

// Prescription sources, in the order they are tried (see PrescriptionInfo).
const (
	RxSourceTargetPrescription = "target_prescription_dose"
	RxSourceDeliveryMaximum    = "delivery_maximum_dose"
	RxSourceFractionsBeamDose  = "fractions_x_beam_dose"
	RxSourceNone               = "none"
)

// PrescriptionInfo is a plan's total prescribed dose and where it came from.
type PrescriptionInfo struct {
	TotalGy float64 `json:"total_gy"`
	// Source is one of the RxSource constants.
	Source string `json:"source"`
	// Fractions is the number of planned fractions (summed over fraction groups).
	Fractions int `json:"fractions"`
	// PerFractionGy is TotalGy / Fractions when both are known.
	PerFractionGy float64 `json:"per_fraction_gy,omitempty"`
	// Note explains a prescription that could not be determined.
	Note string `json:"note,omitempty"`
}

// Technique names inferred from the beams.
const (
	TechniqueVMAT   = "VMAT/ARC"
	TechniqueStatic = "STATIC/IMRT"
)

// Technique infers the delivery technique: any arc beam (≥ 30 control points over more than 80°
// of gantry travel) makes the plan VMAT/ARC.
func (p *Plan) Technique() string {
	if len(p.Beams) == 0 {
		return ""
	}
	for _, b := range p.Beams {
		if b.IsArc {
			return TechniqueVMAT
		}
	}
	return TechniqueStatic
}

// Text is the label, name and description joined, used for keyword rules.
func (p *Plan) Text() string {
	return strings.TrimSpace(p.Label + " " + p.Name + " " + p.Description)
}

// ParsePlan reads the plan summary from an RTPLAN data set.
func ParsePlan(ds *dicomio.Dataset) *Plan {
	p := &Plan{
		Label:          ds.String(dicomio.TagRTPlanLabel),
		Name:           ds.String(dicomio.TagRTPlanName),
		Description:    ds.Text(dicomio.TagRTPlanDescription),
		Date:           ds.String(dicomio.TagRTPlanDate),
		Time:           ds.String(dicomio.TagRTPlanTime),
		Intent:         ds.String(dicomio.TagPlanIntent),
		Geometry:       ds.String(dicomio.TagRTPlanGeometry),
		ApprovalStatus: ds.String(dicomio.TagApprovalStatus),
		ReviewDate:     ds.String(dicomio.TagReviewDate),
		ReviewerName:   ds.String(dicomio.TagReviewerName),
		OperatorsName:  ds.Text(dicomio.TagOperatorsName),
		Physician:      ds.String(dicomio.TagReferringPhysicianName),
	}
	for _, it := range ds.Seq(dicomio.TagReferencedStructureSetSequence) {
		if u := it.String(dicomio.TagReferencedSOPInstanceUID); u != "" {
			p.ReferencedStructureSets = append(p.ReferencedStructureSets, u)
		}
	}
	for _, it := range ds.Seq(dicomio.TagReferencedRTPlanSequence) {
		if u := it.String(dicomio.TagReferencedSOPInstanceUID); u != "" {
			p.ReferencedPlans = append(p.ReferencedPlans, u)
		}
	}
	for _, it := range ds.Seq(dicomio.TagDoseReferenceSequence) {
		dr := DoseReference{
			StructureType: strings.ToUpper(it.String(dicomio.TagDoseReferenceStructureType)),
			Type:          strings.ToUpper(it.String(dicomio.TagDoseReferenceType)),
			Description:   it.String(dicomio.TagDoseReferenceDescription),
		}
		dr.Number, _ = it.Int(dicomio.TagDoseReferenceNumber)
		dr.ReferencedROINumber, _ = it.Int(dicomio.TagReferencedROINumber)
		dr.TargetPrescriptionGy, dr.hasTargetPrescription = it.Float(dicomio.TagTargetPrescriptionDose)
		dr.DeliveryMaximumGy, dr.hasDeliveryMaximumDose = it.Float(dicomio.TagDeliveryMaximumDose)
		dr.OrganAtRiskMaximumGy, _ = it.Float(dicomio.TagOrganAtRiskMaximumDose)
		dr.TargetMinimumGy, _ = it.Float(dicomio.TagTargetMinimumDose)
		dr.TargetMaximumGy, _ = it.Float(dicomio.TagTargetMaximumDose)
		p.DoseReferences = append(p.DoseReferences, dr)
	}
	for _, it := range ds.Seq(dicomio.TagFractionGroupSequence) {
		fg := FractionGroup{BeamDoses: map[int]float64{}, BeamMetersets: map[int]float64{}}
		fg.Number, _ = it.Int(dicomio.TagFractionGroupNumber)
		fg.FractionsPlanned, _ = it.Int(dicomio.TagNumberOfFractionsPlanned)
		fg.NumberOfBeams, _ = it.Int(dicomio.TagNumberOfBeams)
		var points [][]float64
		for _, rb := range it.Seq(dicomio.TagReferencedBeamSequence) {
			if pt := rb.Floats(dicomio.TagBeamDoseSpecificationPoint); len(pt) == 3 {
				known := false
				for _, q := range points {
					if math.Hypot(math.Hypot(pt[0]-q[0], pt[1]-q[1]), pt[2]-q[2]) < 1 {
						known = true
					}
				}
				if !known {
					points = append(points, pt)
				}
			}
			n, _ := rb.Int(dicomio.TagReferencedBeamNumber)
			fg.ReferencedBeams = append(fg.ReferencedBeams, n)
			if d, ok := rb.Float(dicomio.TagBeamDose); ok {
				fg.BeamDoses[n] = d
				fg.BeamDoseSumGy += d
			}
			if m, ok := rb.Float(dicomio.TagBeamMeterset); ok {
				fg.BeamMetersets[n] = m
				fg.BeamMetersetSum += m
			}
		}
		fg.DosePoints = len(points)
		for _, rd := range it.Seq(dicomio.TagReferencedDoseReferenceSequence) {
			if n, ok := rd.Int(dicomio.TagReferencedDoseReferenceNumber); ok {
				fg.ReferencedDoseRef = append(fg.ReferencedDoseRef, n)
			}
		}
		p.FractionGroups = append(p.FractionGroups, fg)
	}
	beams := ds.Seq(dicomio.TagBeamSequence)
	if len(beams) == 0 {
		beams = ds.Seq(dicomio.TagIonBeamSequence)
	}
	for _, it := range beams {
		p.Beams = append(p.Beams, parseBeam(it, p.FractionGroups))
	}
	for _, it := range ds.Seq(dicomio.TagPatientSetupSequence) {
		ps := PatientSetup{Position: it.String(dicomio.TagPatientPosition)}
		ps.Number, _ = it.Int(dicomio.TagPatientSetupNumber)
		p.PatientSetups = append(p.PatientSetups, ps)
	}
	p.Prescription = p.prescription()
	return p
}

func parseBeam(it *dicomio.Dataset, groups []FractionGroup) Beam {
	b := Beam{
		Name:              it.String(dicomio.TagBeamName),
		Description:       it.String(dicomio.TagBeamDescription),
		Type:              it.String(dicomio.TagBeamType),
		RadiationType:     it.String(dicomio.TagRadiationType),
		DeliveryType:      it.String(dicomio.TagTreatmentDeliveryType),
		Machine:           it.String(dicomio.TagTreatmentMachineName),
		DosimeterUnit:     it.String(dicomio.TagPrimaryDosimeterUnit),
		RotationDirection: "",
	}
	b.Number, _ = it.Int(dicomio.TagBeamNumber)
	b.SAD, _ = it.Float(dicomio.TagSourceAxisDistance)
	b.Wedges, _ = it.Int(dicomio.TagNumberOfWedges)
	b.Boli, _ = it.Int(dicomio.TagNumberOfBoli)
	b.Blocks, _ = it.Int(dicomio.TagNumberOfBlocks)
	b.PatientSetup, _ = it.Int(dicomio.TagReferencedPatientSetupNumber)
	cps := it.Seq(dicomio.TagControlPointSequence)
	if len(cps) == 0 {
		cps = it.Seq(dicomio.TagIonControlPointSequence)
	}
	b.ControlPoints = len(cps)
	var gantry []float64
	energies := map[float64]bool{}
	for i, cp := range cps {
		if e, ok := cp.Float(dicomio.TagNominalBeamEnergy); ok {
			energies[e] = true
		}
		if g, ok := cp.Float(dicomio.TagGantryAngle); ok {
			gantry = append(gantry, g)
		}
		if i == 0 {
			b.Collimator, _ = cp.Float(dicomio.TagBeamLimitingDeviceAngle)
			b.Couch, _ = cp.Float(dicomio.TagPatientSupportAngle)
			b.Isocenter = cp.Floats(dicomio.TagIsocenterPosition)
			b.RotationDirection = cp.String(dicomio.TagGantryRotationDirection)
		}
	}
	for e := range energies {
		b.EnergiesMV = append(b.EnergiesMV, e)
	}
	sort.Float64s(b.EnergiesMV)
	if len(gantry) > 0 {
		b.GantryStart, b.GantryEnd = gantry[0], gantry[len(gantry)-1]
		b.GantrySpan = gantryTravel(gantry)
	}
	b.IsArc = b.ControlPoints >= 30 && b.GantrySpan > 80
	for _, fg := range groups {
		if d, ok := fg.BeamDoses[b.Number]; ok {
			b.DoseGy += d
		}
		if m, ok := fg.BeamMetersets[b.Number]; ok {
			b.Meterset += m
		}
	}
	return b
}

// gantryTravel sums the angular steps between consecutive control points, each taken the short
// way round, so an arc through 0° is measured correctly.
func gantryTravel(angles []float64) float64 {
	total := 0.0
	for i := 1; i < len(angles); i++ {
		d := math.Mod(math.Abs(angles[i]-angles[i-1]), 360)
		if d > 180 {
			d = 360 - d
		}
		total += d
	}
	return total
}

// prescription applies the prescription chain: the highest TargetPrescriptionDose of the target
// dose references (organ-at-risk entries are limits, not prescriptions); else the highest
// DeliveryMaximumDose of those references; else planned fractions × the summed beam doses of each
// fraction group.
func (p *Plan) prescription() PrescriptionInfo {
	out := PrescriptionInfo{Source: RxSourceNone}
	for _, fg := range p.FractionGroups {
		out.Fractions += fg.FractionsPlanned
	}
	isTarget := func(dr DoseReference) bool {
		return dr.Type != "ORGAN_AT_RISK"
	}
	for _, dr := range p.DoseReferences {
		if isTarget(dr) && dr.hasTargetPrescription && dr.TargetPrescriptionGy > out.TotalGy {
			out.TotalGy, out.Source = dr.TargetPrescriptionGy, RxSourceTargetPrescription
		}
	}
	if out.Source == RxSourceNone {
		for _, dr := range p.DoseReferences {
			if isTarget(dr) && dr.hasDeliveryMaximumDose && dr.DeliveryMaximumGy > out.TotalGy {
				out.TotalGy, out.Source = dr.DeliveryMaximumGy, RxSourceDeliveryMaximum
			}
		}
	}
	if out.Source == RxSourceNone {
		total := 0.0
		multi := false
		for _, fg := range p.FractionGroups {
			total += float64(fg.FractionsPlanned) * fg.BeamDoseSumGy
			multi = multi || fg.DosePoints > 1
		}
		switch {
		case multi:
			out.Note = "no target prescription; beam doses are specified at several points (one per target), so their sum is not a prescription"
		case total > 0:
			out.TotalGy, out.Source = total, RxSourceFractionsBeamDose
		default:
			out.Note = "no target prescription, delivery maximum or beam doses in the plan"
		}
	}
	if out.Fractions > 0 && out.TotalGy > 0 {
		out.PerFractionGy = out.TotalGy / float64(out.Fractions)
	}
	return out
}
