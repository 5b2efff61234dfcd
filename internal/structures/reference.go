package structures

import (
	"errors"
	"fmt"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// ReferenceSeries is the CT (or MR) series an RTSTRUCT refers to: its volume, the SOP instance
// UID of each slice, and the identifiers and patient/study attributes a structure set copies.
type ReferenceSeries struct {
	// Image is the volume; masks written against the series are on its grid.
	Image *imageio.Image
	// SOPInstanceUIDs holds the SOP instance UID of slice k of Image at index k.
	SOPInstanceUIDs []string
	// SOPClassUID is the slices' SOP class (CT Image Storage, MR Image Storage, ...).
	SOPClassUID, StudyInstanceUID, SeriesInstanceUID, FrameOfReferenceUID string
	// Patient and general study attributes, as decoded text (UTF-8).
	PatientID, PatientName, PatientBirthDate, PatientSex, StudyDate, StudyTime, StudyID, AccessionNumber, ReferringPhysicianName string
}

// LoadReferenceSeries reads the DICOM image series in dir (one series, files directly in dir;
// other objects such as RTSTRUCT or RTDOSE files are ignored, as by
// imageio.ReadDICOMSeriesDir) and takes the UIDs and patient/study attributes from the header of
// its first slice.
func LoadReferenceSeries(dir string) (*ReferenceSeries, error) {
	im, uids, paths, err := imageio.ReadDICOMSeriesDirFiles(dir)
	if err != nil {
		return nil, err
	}
	p := paths[0]
	var hr dicomio.HeaderReader
	f, err := hr.Read(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	ref := &ReferenceSeries{
		Image:                  im,
		SOPInstanceUIDs:        uids,
		SOPClassUID:            f.String(dicomio.TagSOPClassUID),
		StudyInstanceUID:       f.String(dicomio.TagStudyInstanceUID),
		SeriesInstanceUID:      f.String(dicomio.TagSeriesInstanceUID),
		FrameOfReferenceUID:    f.String(dicomio.TagFrameOfReferenceUID),
		PatientID:              f.Text(dicomio.TagPatientID),
		PatientName:            f.Text(dicomio.TagPatientName),
		PatientBirthDate:       f.String(dicomio.TagPatientBirthDate),
		PatientSex:             f.String(dicomio.TagPatientSex),
		StudyDate:              f.String(dicomio.TagStudyDate),
		StudyTime:              f.String(dicomio.TagStudyTime),
		StudyID:                f.Text(dicomio.TagStudyID),
		AccessionNumber:        f.Text(dicomio.TagAccessionNumber),
		ReferringPhysicianName: f.Text(dicomio.TagReferringPhysicianName),
	}
	if err := ref.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return ref, nil
}

// check reports what a structure set referring to the series cannot do without.
func (r *ReferenceSeries) check() error {
	switch {
	case r == nil:
		return errors.New("no reference series")
	case r.Image == nil || r.Image.Grid == nil:
		return errors.New("reference series has no image")
	case len(r.SOPInstanceUIDs) != r.Image.Grid.Size[2]:
		return fmt.Errorf("reference series has %d SOP instance UIDs for %d slices", len(r.SOPInstanceUIDs), r.Image.Grid.Size[2])
	case r.SOPClassUID == "":
		return errors.New("reference series has no SOPClassUID")
	case r.StudyInstanceUID == "":
		return errors.New("reference series has no StudyInstanceUID")
	case r.SeriesInstanceUID == "":
		return errors.New("reference series has no SeriesInstanceUID")
	case r.FrameOfReferenceUID == "":
		return errors.New("reference series has no FrameOfReferenceUID, which a structure set's contours need")
	}
	for k, u := range r.SOPInstanceUIDs {
		if u == "" {
			return fmt.Errorf("reference slice %d has no SOP instance UID", k)
		}
	}
	return nil
}
