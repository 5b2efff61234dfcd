package rt

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// Contour geometric types.
const (
	ContourClosedPlanar = "CLOSED_PLANAR"
	ContourOpenPlanar   = "OPEN_PLANAR"
	ContourOpenNonplan  = "OPEN_NONPLANAR"
	ContourPoint        = "POINT"
)

// Contour is one contour of an ROI: its geometric type and points in patient coordinates (mm).
type Contour struct {
	Type   string
	Points []grid.Vec
}

// ROIContours is an ROI of a structure set with its contours.
type ROIContours struct {
	ROI
	Contours []Contour
}

// StructureSetFile is a structure set read with its contours.
type StructureSetFile struct {
	SOPInstanceUID string
	FrameOfRef     string
	Header         *StructureSet
	ROIs           []*ROIContours
	// CommonPlaneSpacing is the median distance between consecutive contour planes over all
	// multi-plane ROIs (0 when there is none); it gives single-plane ROIs a thickness.
	CommonPlaneSpacing float64
}

// ReadStructureSetFile reads an RTSTRUCT with every contour.
func ReadStructureSetFile(path string) (*StructureSetFile, error) {
	f, err := dicomio.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading structure set %s: %w", path, err)
	}
	ds := &f.Dataset
	if k := Classify(ds.String(dicomio.TagSOPClassUID), ds.String(dicomio.TagModality)); k != KindRTStruct {
		return nil, fmt.Errorf("%s is %s, not an RTSTRUCT", path, k)
	}
	h := ParseStructureSet(ds)
	out := &StructureSetFile{SOPInstanceUID: ds.String(dicomio.TagSOPInstanceUID), Header: h}
	if len(h.FrameOfReferenceUIDs) > 0 {
		out.FrameOfRef = h.FrameOfReferenceUIDs[0]
	}
	byNumber := map[int]*ROIContours{}
	for _, r := range h.ROIs {
		rc := &ROIContours{ROI: r}
		byNumber[r.Number] = rc
		out.ROIs = append(out.ROIs, rc)
	}
	for _, it := range ds.Seq(dicomio.TagROIContourSequence) {
		n, _ := it.Int(dicomio.TagReferencedROINumber)
		rc := byNumber[n]
		if rc == nil {
			continue
		}
		for _, c := range it.Seq(dicomio.TagContourSequence) {
			pts, err := parsePoints(c)
			if err != nil {
				return nil, fmt.Errorf("%s: ROI %q: %w", path, rc.Name, err)
			}
			rc.Contours = append(rc.Contours, Contour{Type: strings.ToUpper(c.String(dicomio.TagContourGeometricType)), Points: pts})
		}
	}
	out.CommonPlaneSpacing = commonPlaneSpacing(out.ROIs)
	return out, nil
}

// parsePoints decodes ContourData (DS triplets) without allocating per value.
func parsePoints(c *dicomio.Dataset) ([]grid.Vec, error) {
	el := c.Find(dicomio.TagContourData)
	if el == nil || len(el.Value) == 0 {
		return nil, nil
	}
	s := string(el.Value)
	vals := make([]float64, 0, strings.Count(s, `\`)+1)
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '\\' {
			continue
		}
		tok := strings.Trim(s[start:i], " \x00")
		start = i + 1
		if tok == "" {
			continue
		}
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return nil, fmt.Errorf("bad ContourData value %q", tok)
		}
		vals = append(vals, v)
	}
	if len(vals)%3 != 0 {
		return nil, fmt.Errorf("ContourData holds %d values, not a multiple of 3", len(vals))
	}
	pts := make([]grid.Vec, len(vals)/3)
	for i := range pts {
		pts[i] = grid.Vec{vals[3*i], vals[3*i+1], vals[3*i+2]}
	}
	return pts, nil
}

// commonPlaneSpacing is the median gap between consecutive distinct contour planes (by the
// contours' mean z along their own normal, approximated here by the axial z) over all ROIs.
func commonPlaneSpacing(rois []*ROIContours) float64 {
	var gaps []float64
	for _, r := range rois {
		var zs []float64
		for _, c := range r.Contours {
			if c.Type != ContourClosedPlanar || len(c.Points) == 0 {
				continue
			}
			zs = append(zs, c.Points[0][2])
		}
		zs = uniqueSorted(zs, 1e-3)
		for i := 1; i < len(zs); i++ {
			gaps = append(gaps, zs[i]-zs[i-1])
		}
	}
	if len(gaps) == 0 {
		return 0
	}
	return median(gaps)
}

func uniqueSorted(v []float64, tol float64) []float64 {
	if len(v) == 0 {
		return nil
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	out := s[:1]
	for _, x := range s[1:] {
		if x-out[len(out)-1] > tol {
			out = append(out, x)
		}
	}
	return out
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
