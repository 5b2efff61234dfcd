// Package rt holds the radiotherapy domain model: what kind of object a DICOM file is, and typed
// summaries of plans, doses, structure sets, treatment records and registrations, read from a
// parsed data set. It knows DICOM-RT semantics but nothing about files or folders.
package rt

import "strings"

// SOP class UIDs the pipeline distinguishes.
const (
	SOPClassCTImage                 = "1.2.840.10008.5.1.4.1.1.2"
	SOPClassEnhancedCTImage         = "1.2.840.10008.5.1.4.1.1.2.1"
	SOPClassMRImage                 = "1.2.840.10008.5.1.4.1.1.4"
	SOPClassEnhancedMRImage         = "1.2.840.10008.5.1.4.1.1.4.1"
	SOPClassPETImage                = "1.2.840.10008.5.1.4.1.1.128"
	SOPClassEnhancedPETImage        = "1.2.840.10008.5.1.4.1.1.130"
	SOPClassRTImage                 = "1.2.840.10008.5.1.4.1.1.481.1"
	SOPClassRTDose                  = "1.2.840.10008.5.1.4.1.1.481.2"
	SOPClassRTStructureSet          = "1.2.840.10008.5.1.4.1.1.481.3"
	SOPClassRTBeamsTreatmentRecord  = "1.2.840.10008.5.1.4.1.1.481.4"
	SOPClassRTPlan                  = "1.2.840.10008.5.1.4.1.1.481.5"
	SOPClassRTBrachyTreatmentRecord = "1.2.840.10008.5.1.4.1.1.481.6"
	SOPClassRTTreatmentSummary      = "1.2.840.10008.5.1.4.1.1.481.7"
	SOPClassRTIonPlan               = "1.2.840.10008.5.1.4.1.1.481.8"
	SOPClassRTIonBeamsRecord        = "1.2.840.10008.5.1.4.1.1.481.9"
	SOPClassSpatialRegistration     = "1.2.840.10008.5.1.4.1.1.66.1"
	SOPClassDeformableRegistration  = "1.2.840.10008.5.1.4.1.1.66.3"
	SOPClassSegmentation            = "1.2.840.10008.5.1.4.1.1.66.4"
	SOPClassMediaStorageDirectory   = "1.2.840.10008.1.3.10"
)

// Kind is what a DICOM object is, as far as course organisation cares.
type Kind string

// The kinds of object. Image kinds are series-forming; the RT kinds are single objects.
const (
	KindCT           Kind = "CT"
	KindMR           Kind = "MR"
	KindPT           Kind = "PT"
	KindOtherImage   Kind = "IMAGE"
	KindRTStruct     Kind = "RTSTRUCT"
	KindRTPlan       Kind = "RTPLAN"
	KindRTDose       Kind = "RTDOSE"
	KindRTRecord     Kind = "RTRECORD"
	KindRegistration Kind = "REG"
	KindSegmentation Kind = "SEG"
	KindRTImage      Kind = "RTIMAGE"
	KindDirectory    Kind = "DICOMDIR"
	KindOther        Kind = "OTHER"
)

// IsImage tells whether objects of this kind form image series.
func (k Kind) IsImage() bool {
	return k == KindCT || k == KindMR || k == KindPT || k == KindOtherImage
}

// Classify decides the kind from the SOP class first, because it is mandatory and unambiguous,
// and falls back to the Modality for SOP classes it does not know (private or new ones). File
// names never play a part.
func Classify(sopClassUID, modality string) Kind {
	switch sopClassUID {
	case SOPClassCTImage, SOPClassEnhancedCTImage:
		return KindCT
	case SOPClassMRImage, SOPClassEnhancedMRImage:
		return KindMR
	case SOPClassPETImage, SOPClassEnhancedPETImage:
		return KindPT
	case SOPClassRTDose:
		return KindRTDose
	case SOPClassRTStructureSet:
		return KindRTStruct
	case SOPClassRTPlan, SOPClassRTIonPlan:
		return KindRTPlan
	case SOPClassRTBeamsTreatmentRecord, SOPClassRTBrachyTreatmentRecord, SOPClassRTTreatmentSummary,
		SOPClassRTIonBeamsRecord:
		return KindRTRecord
	case SOPClassSpatialRegistration, SOPClassDeformableRegistration:
		return KindRegistration
	case SOPClassSegmentation:
		return KindSegmentation
	case SOPClassRTImage:
		return KindRTImage
	case SOPClassMediaStorageDirectory:
		return KindDirectory
	}
	switch strings.ToUpper(strings.TrimSpace(modality)) {
	case "CT":
		return KindCT
	case "MR":
		return KindMR
	case "PT":
		return KindPT
	case "RTDOSE":
		return KindRTDose
	case "RTSTRUCT":
		return KindRTStruct
	case "RTPLAN":
		return KindRTPlan
	case "RTRECORD":
		return KindRTRecord
	case "REG":
		return KindRegistration
	case "SEG":
		return KindSegmentation
	case "RTIMAGE":
		return KindRTImage
	case "":
		return KindOther
	}
	if strings.HasPrefix(sopClassUID, "1.2.840.10008.5.1.4.1.1.") {
		return KindOtherImage
	}
	return KindOther
}
