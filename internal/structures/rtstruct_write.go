package structures

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/version"
)

// NamedMask is one ROI as a 0/1 mask on the reference image grid (voxels that are non-zero and
// not NaN are inside). The mask's grid must sample the reference image's voxel centres: the same
// grid, or the same points in another index order (a NIfTI mask of the series read with flipped
// axes, for instance).
type NamedMask struct {
	// Name is the ROIName: at most 64 characters, no backslash, unique within the structure set.
	Name string
	// Mask is the ROI on the reference grid (or the same voxel centres in another index order).
	Mask *imageio.Image
	// Load, when Mask is nil, reads the mask when its turn to be traced comes and lets it go
	// afterwards, so a structure set of a hundred model outputs never holds them all in memory
	// (a 512×512×150 mask is 315 MB as an Image).
	Load func() (*imageio.Image, error)
	// Color is the ROIDisplayColor (RGB); {0, 0, 0} means "choose one" (a fixed palette by ROI
	// position).
	Color [3]uint8
	// Algorithm is the ROIGenerationAlgorithm: AUTOMATIC (the default when empty),
	// SEMIAUTOMATIC or MANUAL. A defined term of RTROIInterpretedType (ORGAN, PTV, EXTERNAL,
	// ...) given here instead is written as the ROI's interpreted type, with AUTOMATIC
	// generation.
	Algorithm string
	// InterpretedType is the RTROIInterpretedType; empty means the interpreted type given as
	// Algorithm, else ORGAN.
	InterpretedType string
}

// WriteOptions are the descriptive attributes of a written structure set. The zero value is
// usable.
type WriteOptions struct {
	// SeriesDescription defaults to "RTSTRUCT from masks"; StructureSetLabel (at most 16
	// characters) to "AUTO_CONTOURS"; Manufacturer to "rtpipeline".
	SeriesDescription, StructureSetLabel, Manufacturer string
	// UIDRoot is the root of the new SOP instance and series UIDs. Empty means the project's
	// convention: "2.25." followed by the decimal form of 128 bits of a SHA-256 (PS3.5 B.2, as
	// dicomio.DeriveUID). A given root (at most 40 characters of digits and dots) is followed by
	// as many hash digits as fit in 64 characters.
	UIDRoot string
	// Created is the structure set's creation date and time (StructureSetDate/Time,
	// InstanceCreationDate/Time, SeriesDate/Time). Zero means the referenced study's date and
	// time (2000-01-01 00:00 when the series has none): not the wall clock, so that the file —
	// and its UIDs, derived from Created and the content — is a pure function of its inputs,
	// byte-identical on reruns and between the embedded scheduler and Snakemake.
	Created time.Time
}

// Default descriptive values of WriteOptions.
const (
	defaultSeriesDescription = "RTSTRUCT from masks"
	defaultStructureSetLabel = "AUTO_CONTOURS"
	defaultManufacturer      = "rtpipeline"
	// studyComponentSOPClass is the conventional ReferencedSOPClassUID of the study in
	// RTReferencedStudySequence (Detached Study Management, retired but expected by readers).
	studyComponentSOPClass = "1.2.840.10008.3.1.2.3.1"
)

// rtstructPalette gives ROIs without a colour one, by position.
var rtstructPalette = [][3]uint8{
	{255, 0, 0}, {0, 170, 0}, {0, 0, 255}, {255, 200, 0}, {255, 0, 255}, {0, 200, 200},
	{255, 128, 0}, {128, 0, 255}, {128, 64, 0}, {0, 128, 128}, {255, 105, 180}, {128, 128, 0},
	{70, 130, 180}, {220, 20, 60}, {60, 179, 113}, {218, 165, 32}, {147, 112, 219}, {0, 191, 255},
	{205, 92, 92}, {154, 205, 50},
}

// Defined terms of ROIGenerationAlgorithm and RTROIInterpretedType (PS3.3 C.8.8.5, C.8.8.8).
var (
	generationAlgorithms = map[string]bool{"AUTOMATIC": true, "SEMIAUTOMATIC": true, "MANUAL": true}
	interpretedTypes     = map[string]bool{
		"EXTERNAL": true, "PTV": true, "CTV": true, "GTV": true, "TREATED_VOLUME": true, "IRRAD_VOLUME": true,
		"OAR": true, "BOLUS": true, "AVOIDANCE": true, "ORGAN": true, "MARKER": true, "REGISTRATION": true,
		"ISOCENTER": true, "CONTRAST_AGENT": true, "CAVITY": true, "BRACHY_CHANNEL": true,
		"BRACHY_ACCESSORY": true, "BRACHY_SRC_APP": true, "BRACHY_CHNL_SHLD": true, "SUPPORT": true,
		"FIXATION": true, "DOSE_REGION": true, "CONTROL": true, "DOSE_MEASUREMENT": true,
	}
)

// WriteRTSTRUCT writes an RT Structure Set (SOP class 1.2.840.10008.5.1.4.1.1.481.3) holding one
// ROI per mask, drawn on the reference series, atomically to path.
//
// Every mask is traced slice by slice with TraceMask's geometry: closed planar contours along
// pixel edges (vertices at pixel corners, collinear points dropped, holes and islands as
// separate contours, at least 4 points each), so Rasterize of the written file on the reference
// image gives each mask back voxel for voxel. Each contour's ContourImageSequence references
// its slice; ReferencedFrameOfReferenceSequence lists the study, the series and every slice.
// ROIs are numbered 1..n in the order given, with ROIDisplayColor, ROIGenerationAlgorithm and an
// RT ROI Observation (RTROIInterpretedType) each. A mask with no voxel inside still gets its
// Structure Set ROI and RT ROI Observations items but no ROI Contour item, so readers see it as
// an ROI without contours; callers that do not want empty ROIs leave them out.
//
// The patient and general study modules are copied from the reference series; the series is
// new (Modality RTSTRUCT, new SeriesInstanceUID and SOPInstanceUID, see WriteOptions), and the
// Specific Character Set is ISO_IR 192 (UTF-8) when any written text is not plain ASCII.
// Names must be unique; the masks must lie on the reference grid (see NamedMask).
func WriteRTSTRUCT(path string, ref *ReferenceSeries, rois []NamedMask, opt WriteOptions) error {
	b, sop, err := buildRTSTRUCT(ref, rois, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return b.WriteFile(path, rt.SOPClassRTStructureSet, sop, dicomio.WriteOptions{})
}

// tracedROI is the outcome of tracing one mask: its contours as encoded ContourData with the
// slice each lies on.
type tracedROI struct {
	slices []int
	data   []string // ContourData values, x\y\z\x\y\z...
	points []int
	err    error
}

// buildRTSTRUCT assembles the data set and returns it with its SOP instance UID.
func buildRTSTRUCT(ref *ReferenceSeries, rois []NamedMask, opt WriteOptions) (*dicomio.Builder, string, error) {
	if err := ref.check(); err != nil {
		return nil, "", err
	}
	if len(rois) == 0 {
		return nil, "", errors.New("no ROIs to write")
	}
	if opt.SeriesDescription == "" {
		opt.SeriesDescription = defaultSeriesDescription
	}
	if opt.StructureSetLabel == "" {
		opt.StructureSetLabel = defaultStructureSetLabel
	}
	if opt.Manufacturer == "" {
		opt.Manufacturer = defaultManufacturer
	}
	if opt.Created.IsZero() {
		opt.Created = referenceTime(ref)
	}
	for _, c := range []struct {
		what, value string
		max         int
	}{
		{"SeriesDescription", opt.SeriesDescription, 64},
		{"StructureSetLabel", opt.StructureSetLabel, 16},
		{"Manufacturer", opt.Manufacturer, 64},
	} {
		if err := rsCheckText(c.value, c.max); err != nil {
			return nil, "", fmt.Errorf("%s %q: %w", c.what, c.value, err)
		}
	}
	if err := rsCheckUIDRoot(opt.UIDRoot); err != nil {
		return nil, "", err
	}
	type roiMeta struct{ algo, kind string }
	metas := make([]roiMeta, len(rois))
	names := map[string]int{}
	for i, r := range rois {
		if err := rsCheckText(r.Name, 64); err != nil {
			return nil, "", fmt.Errorf("ROI %d name %q: %w", i+1, r.Name, err)
		}
		if strings.TrimSpace(r.Name) == "" {
			return nil, "", fmt.Errorf("ROI %d has no name", i+1)
		}
		if j, dup := names[r.Name]; dup {
			return nil, "", fmt.Errorf("ROIs %d and %d are both named %q", j+1, i+1, r.Name)
		}
		names[r.Name] = i
		algo := strings.ToUpper(strings.TrimSpace(r.Algorithm))
		kind := strings.ToUpper(strings.TrimSpace(r.InterpretedType))
		switch {
		case algo == "":
			algo = "AUTOMATIC"
		case generationAlgorithms[algo]:
		case interpretedTypes[algo]:
			if kind == "" {
				kind = algo
			}
			algo = "AUTOMATIC"
		default:
			return nil, "", fmt.Errorf("ROI %q: Algorithm %q is neither a ROIGenerationAlgorithm (AUTOMATIC, SEMIAUTOMATIC, MANUAL) nor an RTROIInterpretedType", r.Name, r.Algorithm)
		}
		if kind == "" {
			kind = "ORGAN"
		}
		if err := rsCheckCS(kind); err != nil {
			return nil, "", fmt.Errorf("ROI %q: InterpretedType %q: %w", r.Name, r.InterpretedType, err)
		}
		metas[i] = roiMeta{algo, kind}
		if (r.Mask == nil || r.Mask.Grid == nil) && r.Load == nil {
			return nil, "", fmt.Errorf("ROI %q has no mask", r.Name)
		}
	}

	traced := traceROIs(ref, rois)
	for i, tr := range traced {
		if tr.err != nil {
			return nil, "", fmt.Errorf("ROI %q: %w", rois[i].Name, tr.err)
		}
	}

	// UIDs from everything that makes the content.
	h := sha256.New()
	field := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	field("rtpipeline rtstruct v1")
	field(ref.SeriesInstanceUID)
	field(opt.Created.Format(time.RFC3339Nano))
	field(opt.SeriesDescription)
	field(opt.StructureSetLabel)
	field(opt.Manufacturer)
	for i, r := range rois {
		field(r.Name)
		field(fmt.Sprint(r.Color, metas[i]))
		for c, d := range traced[i].data {
			field(strconv.Itoa(traced[i].slices[c]))
			field(d)
		}
	}
	seed := hex.EncodeToString(h.Sum(nil))
	sopUID := rsNewUID(opt.UIDRoot, seed, "sop")
	seriesUID := rsNewUID(opt.UIDRoot, seed, "series")

	texts := []string{opt.SeriesDescription, opt.StructureSetLabel, opt.Manufacturer, ref.PatientID, ref.PatientName,
		ref.StudyID, ref.AccessionNumber, ref.ReferringPhysicianName}
	for _, r := range rois {
		texts = append(texts, r.Name)
	}
	date, tm := opt.Created.Format("20060102"), opt.Created.Format("150405")
	b := dicomio.NewBuilder()
	for _, s := range texts {
		if !rsIsASCII(s) {
			b.Str(dicomio.TagSpecificCharacterSet, "ISO_IR 192")
			break
		}
	}
	b.Str(dicomio.TagSOPClassUID, rt.SOPClassRTStructureSet).
		Str(dicomio.TagSOPInstanceUID, sopUID).
		Str(dicomio.TagInstanceCreationDate, date).
		Str(dicomio.TagInstanceCreationTime, tm).
		// Patient module.
		Str(dicomio.TagPatientName, ref.PatientName).
		Str(dicomio.TagPatientID, ref.PatientID).
		Str(dicomio.TagPatientBirthDate, ref.PatientBirthDate).
		Str(dicomio.TagPatientSex, ref.PatientSex).
		// General study module.
		Str(dicomio.TagStudyInstanceUID, ref.StudyInstanceUID).
		Str(dicomio.TagStudyDate, ref.StudyDate).
		Str(dicomio.TagStudyTime, ref.StudyTime).
		Str(dicomio.TagReferringPhysicianName, ref.ReferringPhysicianName).
		Str(dicomio.TagStudyID, ref.StudyID).
		Str(dicomio.TagAccessionNumber, ref.AccessionNumber).
		// RT series module.
		Str(dicomio.TagModality, "RTSTRUCT").
		Str(dicomio.TagSeriesInstanceUID, seriesUID).
		Str(dicomio.TagSeriesNumber).
		Str(dicomio.TagSeriesDate, date).
		Str(dicomio.TagSeriesTime, tm).
		Str(dicomio.TagSeriesDescription, opt.SeriesDescription).
		Str(dicomio.TagOperatorsName).
		// General equipment module.
		Str(dicomio.TagManufacturer, opt.Manufacturer).
		Str(dicomio.TagManufacturerModelName, "rtpipeline").
		Str(dicomio.TagSoftwareVersions, version.Version).
		// Structure set module.
		IS(dicomio.TagInstanceNumber, 1).
		Str(dicomio.TagStructureSetLabel, opt.StructureSetLabel).
		Str(dicomio.TagStructureSetDate, date).
		Str(dicomio.TagStructureSetTime, tm)

	imageRef := func(k int) *dicomio.Builder {
		return dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, ref.SOPClassUID).
			Str(dicomio.TagReferencedSOPInstanceUID, ref.SOPInstanceUIDs[k])
	}
	images := make([]*dicomio.Builder, len(ref.SOPInstanceUIDs))
	for k := range images {
		images[k] = imageRef(k)
	}
	b.Seq(dicomio.TagReferencedFrameOfReferenceSequence, dicomio.NewBuilder().
		Str(dicomio.TagFrameOfReferenceUID, ref.FrameOfReferenceUID).
		Seq(dicomio.TagRTReferencedStudySequence, dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, studyComponentSOPClass).
			Str(dicomio.TagReferencedSOPInstanceUID, ref.StudyInstanceUID).
			Seq(dicomio.TagRTReferencedSeriesSequence, dicomio.NewBuilder().
				Str(dicomio.TagSeriesInstanceUID, ref.SeriesInstanceUID).
				Seq(dicomio.TagContourImageSequence, images...))))

	setROIs := make([]*dicomio.Builder, len(rois))
	observations := make([]*dicomio.Builder, len(rois))
	var roiContours []*dicomio.Builder
	for i, r := range rois {
		number := i + 1
		setROIs[i] = dicomio.NewBuilder().
			IS(dicomio.TagROINumber, number).
			Str(dicomio.TagReferencedFrameOfReferenceUID, ref.FrameOfReferenceUID).
			Str(dicomio.TagROIName, r.Name).
			Str(dicomio.TagROIGenerationAlgorithm, metas[i].algo)
		observations[i] = dicomio.NewBuilder().
			IS(dicomio.TagObservationNumber, number).
			IS(dicomio.TagReferencedROINumber, number).
			Str(dicomio.TagRTROIInterpretedType, metas[i].kind).
			Str(dicomio.TagROIInterpreter)
		tr := traced[i]
		if len(tr.data) == 0 {
			continue // empty mask: an ROI without contours
		}
		color := r.Color
		if color == ([3]uint8{}) {
			color = rtstructPalette[i%len(rtstructPalette)]
		}
		contours := make([]*dicomio.Builder, len(tr.data))
		for c, d := range tr.data {
			contours[c] = dicomio.NewBuilder().
				Seq(dicomio.TagContourImageSequence, imageRef(tr.slices[c])).
				Str(dicomio.TagContourGeometricType, rt.ContourClosedPlanar).
				IS(dicomio.TagNumberOfContourPoints, tr.points[c]).
				IS(dicomio.TagContourNumber, c+1).
				Str(dicomio.TagContourData, d)
		}
		roiContours = append(roiContours, dicomio.NewBuilder().
			IS(dicomio.TagReferencedROINumber, number).
			IS(dicomio.TagROIDisplayColor, int(color[0]), int(color[1]), int(color[2])).
			Seq(dicomio.TagContourSequence, contours...))
	}
	b.Seq(dicomio.TagStructureSetROISequence, setROIs...).
		Seq(dicomio.TagROIContourSequence, roiContours...).
		Seq(dicomio.TagRTROIObservationsSequence, observations...)
	if err := b.Err(); err != nil {
		return nil, "", err
	}
	return b, sopUID, nil
}

// traceROIs traces the masks in parallel, one ROI per worker at a time.
func traceROIs(ref *ReferenceSeries, rois []NamedMask) []tracedROI {
	out := make([]tracedROI, len(rois))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(rois)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tr maskTracer
			for i := range next {
				m := rois[i].Mask
				if m == nil {
					var err error
					if m, err = rois[i].Load(); err != nil {
						out[i] = tracedROI{err: fmt.Errorf("loading the mask: %w", err)}
						continue
					}
					if m == nil || m.Grid == nil {
						out[i] = tracedROI{err: errors.New("the mask loader returned no mask")}
						continue
					}
				}
				out[i] = traceROI(&tr, ref, m)
			}
		}()
	}
	for i := range rois {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// traceROI traces one mask on the reference grid and encodes its contours.
func traceROI(tr *maskTracer, ref *ReferenceSeries, mask *imageio.Image) tracedROI {
	g := ref.Image.Grid
	if len(mask.Data) != mask.Grid.Voxels() {
		return tracedROI{err: fmt.Errorf("mask holds %d values for a %v grid", len(mask.Data), mask.Grid.Size)}
	}
	pair, ok := correspondence(g, mask.Grid)
	if !ok {
		return tracedROI{err: fmt.Errorf("mask grid (size %v, origin %v, spacing %v) does not sample the reference image's voxel centres (size %v, origin %v, spacing %v)",
			mask.Grid.Size, mask.Grid.Origin, mask.Grid.Spacing, g.Size, g.Origin, g.Spacing)}
	}
	var res tracedROI
	var buf []byte
	for k := 0; k < g.Size[2]; k++ {
		for _, xy := range tr.traceSlice(mask.Data, pair, k, g.Size[0], g.Size[1]) {
			pts := slicePoints(g, k, xy)
			buf = buf[:0]
			for p, pt := range pts {
				for a, v := range pt {
					if p > 0 || a > 0 {
						buf = append(buf, '\\')
					}
					buf = rsAppendDS(buf, v)
				}
			}
			res.slices = append(res.slices, k)
			res.data = append(res.data, string(buf))
			res.points = append(res.points, len(pts))
		}
	}
	return res
}

// rsAppendDS appends a coordinate in mm as a decimal string rounded to 1e-6 mm (a millionth of
// any pixel spacing in use, far below the quarter voxel that separates contours from pixel
// centres), without trailing zeros; values too large for that in 16 characters use
// dicomio.FormatDS.
func rsAppendDS(buf []byte, v float64) []byte {
	start := len(buf)
	buf = strconv.AppendFloat(buf, v, 'f', 6, 64)
	s := buf[start:]
	if len(s) > 16 {
		return append(buf[:start], dicomio.FormatDS(v)...)
	}
	n := len(s)
	for n > 0 && s[n-1] == '0' {
		n--
	}
	if n > 0 && s[n-1] == '.' {
		n--
	}
	if string(s[:n]) == "-0" {
		buf[start] = '0'
		return buf[:start+1]
	}
	return buf[:start+n]
}

// rsNewUID derives a UID from the seed and a purpose under root (empty: the 2.25 root).
func rsNewUID(root, seed, purpose string) string {
	if root == "" {
		return dicomio.DeriveUID("rtpipeline rtstruct", seed, purpose)
	}
	sum := sha256.Sum256([]byte(seed + "\x00" + purpose))
	digits := new(big.Int).SetBytes(sum[:]).String()
	if room := 64 - len(root) - 1; len(digits) > room {
		digits = digits[:room]
	}
	return root + "." + digits
}

// rsCheckUIDRoot accepts an empty root or one of digits and dots, without leading zeros in its
// components, of at most 40 characters (leaving room for at least 23 hash digits).
func rsCheckUIDRoot(root string) error {
	if root == "" {
		return nil
	}
	if len(root) > 40 {
		return fmt.Errorf("UID root %q is longer than 40 characters", root)
	}
	for _, comp := range strings.Split(root, ".") {
		if comp == "" || (len(comp) > 1 && comp[0] == '0') || strings.Trim(comp, "0123456789") != "" {
			return fmt.Errorf("UID root %q is not a dotted sequence of numbers without leading zeros", root)
		}
	}
	return nil
}

// rsCheckText accepts valid UTF-8 of at most max characters without backslashes or control
// characters (the rules of the LO and SH value representations).
func rsCheckText(s string, max int) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%d characters, more than %d", n, max)
	}
	for _, r := range s {
		if r == '\\' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("holds the character %q, not allowed in DICOM text", r)
		}
	}
	return nil
}

// rsCheckCS accepts a code string: at most 16 upper-case letters, digits, spaces and underscores.
func rsCheckCS(s string) error {
	if len(s) > 16 {
		return fmt.Errorf("%d characters, more than 16", len(s))
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ' || r == '_') {
			return fmt.Errorf("holds %q, not allowed in a code string", r)
		}
	}
	return nil
}

func rsIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// referenceTime is the referenced study's date and time, or 2000-01-01 00:00 UTC.
func referenceTime(ref *ReferenceSeries) time.Time {
	if t, err := time.Parse("20060102", ref.StudyDate); err == nil {
		tm := ref.StudyTime
		if i := strings.IndexByte(tm, '.'); i >= 0 {
			tm = tm[:i]
		}
		if len(tm) >= 6 {
			if c, err := time.Parse("150405", tm[:6]); err == nil {
				return t.Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute())*time.Minute + time.Duration(c.Second())*time.Second)
			}
		}
		return t
	}
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
}
