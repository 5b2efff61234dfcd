package rt

import (
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
)

// Dose summarises an RTDOSE header: its grid and what it references. Pixel values are read
// separately, only when a dose is summed or analysed.
type Dose struct {
	Units          string    `json:"units"`
	Type           string    `json:"type"`
	SummationType  string    `json:"summation_type"`
	Comment        string    `json:"comment,omitempty"`
	Scaling        float64   `json:"dose_grid_scaling"`
	Rows           int       `json:"rows"`
	Columns        int       `json:"columns"`
	Frames         int       `json:"frames"`
	PixelSpacing   []float64 `json:"pixel_spacing_mm"`
	Position       []float64 `json:"image_position_patient"`
	Orientation    []float64 `json:"image_orientation_patient"`
	FrameOffsets   []float64 `json:"grid_frame_offset_vector_mm"`
	BitsAllocated  int       `json:"bits_allocated"`
	PixelSigned    bool      `json:"pixel_signed"`
	ReferencedPlan []string  `json:"referenced_plans,omitempty"`
	// ReferencedBeams lists the beam numbers a BEAM dose covers, per referenced plan.
	ReferencedBeams []int `json:"referenced_beams,omitempty"`
}

// ParseDose reads the dose summary from an RTDOSE data set.
func ParseDose(ds *dicomio.Dataset) *Dose {
	d := &Dose{
		Units:         strings.ToUpper(ds.String(dicomio.TagDoseUnits)),
		Type:          strings.ToUpper(ds.String(dicomio.TagDoseType)),
		SummationType: strings.ToUpper(ds.String(dicomio.TagDoseSummationType)),
		Comment:       ds.Text(dicomio.TagDoseComment),
		PixelSpacing:  ds.Floats(dicomio.TagPixelSpacing),
		Position:      ds.Floats(dicomio.TagImagePositionPatient),
		Orientation:   ds.Floats(dicomio.TagImageOrientationPatient),
		FrameOffsets:  ds.Floats(dicomio.TagGridFrameOffsetVector),
	}
	d.Scaling, _ = ds.Float(dicomio.TagDoseGridScaling)
	d.Rows, _ = ds.Int(dicomio.TagRows)
	d.Columns, _ = ds.Int(dicomio.TagColumns)
	if n, ok := ds.Int(dicomio.TagNumberOfFrames); ok {
		d.Frames = n // a nonsensical value (<= 0) is kept so Grid reports it
	} else {
		d.Frames = 1
	}
	d.BitsAllocated, _ = ds.Int(dicomio.TagBitsAllocated)
	rep, _ := ds.Int(dicomio.TagPixelRepresentation)
	d.PixelSigned = rep == 1
	beams := map[int]bool{}
	for _, it := range ds.Seq(dicomio.TagReferencedRTPlanSequence) {
		if u := it.String(dicomio.TagReferencedSOPInstanceUID); u != "" {
			d.ReferencedPlan = append(d.ReferencedPlan, u)
		}
		for _, fg := range it.Seq(dicomio.TagReferencedFractionGroupSequence) {
			for _, rb := range fg.Seq(dicomio.TagReferencedBeamSequence) {
				if n, ok := rb.Int(dicomio.TagReferencedBeamNumber); ok {
					beams[n] = true
				}
			}
		}
	}
	for n := range beams {
		d.ReferencedBeams = append(d.ReferencedBeams, n)
	}
	sort.Ints(d.ReferencedBeams)
	return d
}

// StructureSet summarises an RTSTRUCT: its ROIs and what images it was drawn on. Contour points are
// not kept; the stages that need them read the file themselves.
type StructureSet struct {
	Label string `json:"label"`
	Name  string `json:"name,omitempty"`
	Date  string `json:"date,omitempty"`
	Time  string `json:"time,omitempty"`
	// FrameOfReferenceUIDs come from ReferencedFrameOfReferenceSequence (the top-level
	// FrameOfReferenceUID is optional and often empty in RTSTRUCTs).
	FrameOfReferenceUIDs []string `json:"frame_of_reference_uids,omitempty"`
	// ReferencedStudies and ReferencedSeries come from RTReferencedStudySequence.
	ReferencedStudies []string `json:"referenced_studies,omitempty"`
	ReferencedSeries  []string `json:"referenced_series,omitempty"`
	// ReferencedImages are SOP instance UIDs named in any ContourImageSequence.
	ReferencedImages []string `json:"-"`
	ROIs             []ROI    `json:"rois"`
}

// ROI is one structure of a structure set.
type ROI struct {
	Number          int    `json:"number"`
	Name            string `json:"name"`
	FrameOfRef      string `json:"frame_of_reference_uid,omitempty"`
	GenerationAlgo  string `json:"generation_algorithm,omitempty"`
	InterpretedType string `json:"interpreted_type,omitempty"`
	Contours        int    `json:"contours"`
	// GeometricTypes counts contours per ContourGeometricType (CLOSED_PLANAR, POINT, ...).
	GeometricTypes map[string]int `json:"geometric_types,omitempty"`
	Points         int            `json:"points"`
}

// ParseStructureSet reads the structure set summary from an RTSTRUCT data set.
func ParseStructureSet(ds *dicomio.Dataset) *StructureSet {
	s := &StructureSet{
		Label: ds.String(dicomio.TagStructureSetLabel),
		Name:  ds.String(dicomio.TagStructureSetName),
		Date:  ds.String(dicomio.TagStructureSetDate),
		Time:  ds.String(dicomio.TagStructureSetTime),
	}
	images := map[string]bool{}
	addImages := func(items []*dicomio.Dataset) {
		for _, ci := range items {
			if u := ci.String(dicomio.TagReferencedSOPInstanceUID); u != "" {
				images[u] = true
			}
		}
	}
	for _, rf := range ds.Seq(dicomio.TagReferencedFrameOfReferenceSequence) {
		s.FrameOfReferenceUIDs = appendUnique(s.FrameOfReferenceUIDs, rf.String(dicomio.TagFrameOfReferenceUID))
		for _, st := range rf.Seq(dicomio.TagRTReferencedStudySequence) {
			s.ReferencedStudies = appendUnique(s.ReferencedStudies, st.String(dicomio.TagReferencedSOPInstanceUID))
			for _, se := range st.Seq(dicomio.TagRTReferencedSeriesSequence) {
				s.ReferencedSeries = appendUnique(s.ReferencedSeries, se.String(dicomio.TagSeriesInstanceUID))
				addImages(se.Seq(dicomio.TagContourImageSequence))
			}
		}
	}
	byNumber := map[int]int{}
	for _, it := range ds.Seq(dicomio.TagStructureSetROISequence) {
		r := ROI{
			Name:           it.String(dicomio.TagROIName),
			FrameOfRef:     it.String(dicomio.TagReferencedFrameOfReferenceUID),
			GenerationAlgo: it.String(dicomio.TagROIGenerationAlgorithm),
		}
		r.Number, _ = it.Int(dicomio.TagROINumber)
		s.FrameOfReferenceUIDs = appendUnique(s.FrameOfReferenceUIDs, r.FrameOfRef)
		byNumber[r.Number] = len(s.ROIs)
		s.ROIs = append(s.ROIs, r)
	}
	for _, it := range ds.Seq(dicomio.TagRTROIObservationsSequence) {
		n, _ := it.Int(dicomio.TagReferencedROINumber)
		if i, ok := byNumber[n]; ok {
			s.ROIs[i].InterpretedType = it.String(dicomio.TagRTROIInterpretedType)
		}
	}
	for _, it := range ds.Seq(dicomio.TagROIContourSequence) {
		n, _ := it.Int(dicomio.TagReferencedROINumber)
		i, ok := byNumber[n]
		if !ok {
			continue
		}
		r := &s.ROIs[i]
		for _, c := range it.Seq(dicomio.TagContourSequence) {
			r.Contours++
			if r.GeometricTypes == nil {
				r.GeometricTypes = map[string]int{}
			}
			r.GeometricTypes[c.String(dicomio.TagContourGeometricType)]++
			if np, ok := c.Int(dicomio.TagNumberOfContourPoints); ok {
				r.Points += np
			}
			addImages(c.Seq(dicomio.TagContourImageSequence))
		}
	}
	for u := range images {
		s.ReferencedImages = append(s.ReferencedImages, u)
	}
	sort.Strings(s.ReferencedImages)
	return s
}

// TreatmentRecord summarises one RT treatment record (beams, brachy, ion or summary).
type TreatmentRecord struct {
	Date           string   `json:"treatment_date,omitempty"`
	Time           string   `json:"treatment_time,omitempty"`
	ReferencedPlan []string `json:"referenced_plans,omitempty"`
	Machine        string   `json:"treatment_machine,omitempty"`
	// FractionNumbers are the CurrentFractionNumber values of the session's beams.
	FractionNumbers []int        `json:"fraction_numbers,omitempty"`
	Beams           []RecordBeam `json:"beams,omitempty"`
	DeliveredDoseGy float64      `json:"delivered_dose_gy"`
	// Summary is true for an RT Treatment Summary Record, which sums a course and is not a fraction.
	Summary       bool    `json:"summary"`
	HasDoseValues bool    `json:"has_dose_values"`
	MetersetSum   float64 `json:"delivered_meterset"`
}

// RecordBeam is one delivered beam of a treatment session.
type RecordBeam struct {
	Number             int     `json:"beam_number"`
	Fraction           int     `json:"fraction_number"`
	TerminationStatus  string  `json:"termination_status,omitempty"`
	VerificationStatus string  `json:"verification_status,omitempty"`
	DeliveredMeterset  float64 `json:"delivered_meterset"`
	DoseGy             float64 `json:"dose_gy"`
	Machine            string  `json:"treatment_machine,omitempty"`
	ControlPointDate   string  `json:"control_point_date,omitempty"`
	ControlPointTime   string  `json:"control_point_time,omitempty"`
}

// ParseTreatmentRecord reads a treatment record. The session date falls back to the first
// control point's date, then the series date (the caller may apply further fallbacks).
func ParseTreatmentRecord(ds *dicomio.Dataset) *TreatmentRecord {
	r := &TreatmentRecord{
		Date: ds.String(dicomio.TagTreatmentDate),
		Time: ds.String(dicomio.TagTreatmentTime),
	}
	for _, it := range ds.Seq(dicomio.TagReferencedRTPlanSequence) {
		if u := it.String(dicomio.TagReferencedSOPInstanceUID); u != "" {
			r.ReferencedPlan = append(r.ReferencedPlan, u)
		}
	}
	if m := ds.First(dicomio.TagTreatmentMachineSequence); m != nil {
		r.Machine = m.String(dicomio.TagTreatmentMachineName)
	}
	beams := ds.Seq(dicomio.TagTreatmentSessionBeamSequence)
	if len(beams) == 0 {
		beams = ds.Seq(dicomio.TagTreatmentSessionIonBeamSequence)
	}
	fractions := map[int]bool{}
	for _, b := range beams {
		rb := RecordBeam{
			TerminationStatus:  b.String(dicomio.TagTreatmentTerminationStatus),
			VerificationStatus: b.String(dicomio.TagTreatmentVerificationStatus),
		}
		rb.Number, _ = b.Int(dicomio.TagReferencedBeamNumber)
		rb.Fraction, _ = b.Int(dicomio.TagCurrentFractionNumber)
		rb.DeliveredMeterset, _ = b.Float(dicomio.TagDeliveredPrimaryMeterset)
		if m := b.First(dicomio.TagTreatmentMachineSequence); m != nil {
			rb.Machine = m.String(dicomio.TagTreatmentMachineName)
		}
		// The standard puts the beam's dose under ReferencedCalculatedDoseReferenceSequence;
		// some systems use CalculatedDoseReferenceSequence inside the beam item instead.
		for _, seq := range []dicomio.Tag{dicomio.TagReferencedCalculatedDoseReferenceSequence, dicomio.TagCalculatedDoseReferenceSequence} {
			for _, cd := range b.Seq(seq) {
				if v, ok := cd.Float(dicomio.TagCalculatedDoseReferenceDoseValue); ok {
					rb.DoseGy += v
					r.HasDoseValues = true
				}
			}
		}
		if cps := b.Seq(dicomio.TagControlPointDeliverySequence); len(cps) > 0 {
			rb.ControlPointDate = cps[0].String(dicomio.TagTreatmentControlPointDate)
			rb.ControlPointTime = cps[0].String(dicomio.TagTreatmentControlPointTime)
		}
		if rb.Fraction > 0 {
			fractions[rb.Fraction] = true
		}
		r.DeliveredDoseGy += rb.DoseGy
		r.MetersetSum += rb.DeliveredMeterset
		if r.Machine == "" {
			r.Machine = rb.Machine
		}
		r.Beams = append(r.Beams, rb)
	}
	if !r.HasDoseValues {
		// Session-level dose references, used only when the beams carry none (never both, which
		// would count the same dose twice).
		for _, cd := range ds.Seq(dicomio.TagCalculatedDoseReferenceSequence) {
			if v, ok := cd.Float(dicomio.TagCalculatedDoseReferenceDoseValue); ok {
				r.DeliveredDoseGy += v
				r.HasDoseValues = true
			}
		}
	}
	for f := range fractions {
		r.FractionNumbers = append(r.FractionNumbers, f)
	}
	sort.Ints(r.FractionNumbers)
	if r.Date == "" {
		for _, b := range r.Beams {
			if b.ControlPointDate != "" {
				r.Date, r.Time = b.ControlPointDate, b.ControlPointTime
				break
			}
		}
	}
	return r
}

// Registration summarises a spatial or deformable registration: the frames of reference it
// relates and the image series it references.
type Registration struct {
	FrameOfReferenceUIDs []string `json:"frame_of_reference_uids"`
	ReferencedSeries     []string `json:"referenced_series,omitempty"`
	ReferencedImages     []string `json:"-"`
}

// ParseRegistration reads frames of reference and referenced series of a REG object.
func ParseRegistration(ds *dicomio.Dataset) *Registration {
	r := &Registration{}
	r.FrameOfReferenceUIDs = appendUnique(r.FrameOfReferenceUIDs, ds.String(dicomio.TagFrameOfReferenceUID))
	for _, seqTag := range []dicomio.Tag{dicomio.TagRegistrationSequence, dicomio.TagDeformableRegistrationSequence} {
		for _, it := range ds.Seq(seqTag) {
			r.FrameOfReferenceUIDs = appendUnique(r.FrameOfReferenceUIDs, it.String(dicomio.TagFrameOfReferenceUID))
			r.FrameOfReferenceUIDs = appendUnique(r.FrameOfReferenceUIDs, it.String(dicomio.TagSourceFrameOfReferenceUID))
			for _, img := range it.Seq(dicomio.TagReferencedImageSequence) {
				r.ReferencedImages = appendUnique(r.ReferencedImages, img.String(dicomio.TagReferencedSOPInstanceUID))
			}
		}
	}
	for _, seqTag := range []dicomio.Tag{dicomio.TagReferencedSeriesSequence, dicomio.TagStudiesContainingOtherReferencedInstancesSequence} {
		for _, it := range ds.Seq(seqTag) {
			r.ReferencedSeries = appendUnique(r.ReferencedSeries, it.String(dicomio.TagSeriesInstanceUID))
			for _, inner := range it.Seq(dicomio.TagReferencedSeriesSequence) {
				r.ReferencedSeries = appendUnique(r.ReferencedSeries, inner.String(dicomio.TagSeriesInstanceUID))
			}
			for _, img := range it.Seq(dicomio.TagReferencedInstanceSequence) {
				r.ReferencedImages = appendUnique(r.ReferencedImages, img.String(dicomio.TagReferencedSOPInstanceUID))
			}
		}
	}
	return r
}

func appendUnique(list []string, v string) []string {
	if v == "" {
		return list
	}
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
