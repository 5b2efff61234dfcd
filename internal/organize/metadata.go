package organize

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/results"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// CaseMetadata is metadata/case_metadata.json: everything known about one course. Field order is
// fixed so the file is byte-identical across runs.
type CaseMetadata struct {
	SchemaVersion int    `json:"schema_version"`
	PatientID     string `json:"patient_id"`
	PatientDir    string `json:"patient_dir"`
	CourseID      string `json:"course_id"`
	CourseKey     string `json:"course_key"`
	CourseKind    string `json:"course_kind"`
	StartDate     string `json:"course_start_date"`
	EndDate       string `json:"course_end_date"`

	Patient       PatientInfo         `json:"patient"`
	DoseSelection DoseSelectionInfo   `json:"dose_selection"`
	Prescription  Prescription        `json:"prescription"`
	Plan          *PlanInfo           `json:"plan"`
	Plans         []PlanListItem      `json:"plans"`
	Doses         []DoseListItem      `json:"doses"`
	DoseGrid      *doseSummary        `json:"dose_grid"`
	StructureSet  *StructureSetInfo   `json:"structure_set"`
	OtherStructs  []StructureSetInfo  `json:"other_structure_sets"`
	CT            CTInfo              `json:"ct"`
	Related       []RelatedSeriesInfo `json:"related_series"`
	Registrations []string            `json:"registrations"`
	OtherObjects  []string            `json:"other_objects"`
	Fractions     FractionSummary     `json:"fractions"`
	Files         CourseFiles         `json:"files"`
	Warnings      []string            `json:"warnings"`
}

// PatientInfo holds demographics, taken from the plan when there is one (the object a
// department curates), else from the CT or structure set. Age is at the course start.
type PatientInfo struct {
	Name      string  `json:"name"`
	Sex       string  `json:"sex"`
	BirthDate string  `json:"birth_date"`
	AgeYears  *int    `json:"age_years"`
	WeightKg  float64 `json:"weight_kg,omitempty"`
	HeightM   float64 `json:"height_m,omitempty"`
	BMI       float64 `json:"bmi,omitempty"`
}

// DoseSelectionInfo is the dose decision as written to disk.
type DoseSelectionInfo struct {
	Decision       string   `json:"decision"`
	Reason         string   `json:"reason"`
	Summed         bool     `json:"summed"`
	SyntheticPlan  bool     `json:"synthetic_plan"`
	SourceDoseUIDs []string `json:"source_dose_uids"`
	SourcePaths    []string `json:"source_dose_paths"`
	SourceTypes    []string `json:"source_dose_summation_types"`
	PlanUIDs       []string `json:"plan_uids"`
}

// PlanInfo describes the plan the course dose stands for (the first of them when summed).
type PlanInfo struct {
	SOPInstanceUID    string             `json:"sop_instance_uid"`
	Path              string             `json:"path"`
	Label             string             `json:"label"`
	Name              string             `json:"name"`
	Date              string             `json:"date"`
	Time              string             `json:"time"`
	Intent            string             `json:"intent"`
	ApprovalStatus    string             `json:"approval_status"`
	ReviewerName      string             `json:"reviewer_name"`
	Physician         string             `json:"referring_physician"`
	Operators         string             `json:"operators"`
	Technique         string             `json:"technique_inferred"`
	PatientPosition   string             `json:"patient_position"`
	PlannedFractions  int                `json:"planned_fractions"`
	BeamsCount        int                `json:"beams_count"`
	TreatmentBeams    int                `json:"treatment_beams_count"`
	Energies          []string           `json:"beam_energies"`
	RadiationTypes    []string           `json:"radiation_types"`
	Machines          []string           `json:"treatment_machines"`
	TotalMeterset     float64            `json:"total_meterset_per_fraction"`
	GantryAngles      []float64          `json:"gantry_start_angles"`
	CollimatorAngles  []float64          `json:"collimator_angles"`
	CouchAngles       []float64          `json:"couch_angles"`
	ArcBeams          int                `json:"arc_beams"`
	DoseReferences    []rt.DoseReference `json:"prescriptions"`
	Beams             []rt.Beam          `json:"beam_info"`
	ReferencedStructs []string           `json:"referenced_structure_sets"`
}

// PlanListItem is one plan of the course.
type PlanListItem struct {
	SOPInstanceUID string  `json:"sop_instance_uid"`
	Path           string  `json:"path"`
	Label          string  `json:"label"`
	Date           string  `json:"date"`
	RxGy           float64 `json:"rx_gy"`
	RxSource       string  `json:"rx_source"`
	Fractions      int     `json:"fractions"`
	Technique      string  `json:"technique_inferred"`
	Selected       bool    `json:"selected"`
}

// DoseListItem is one dose object of the course.
type DoseListItem struct {
	SOPInstanceUID string   `json:"sop_instance_uid"`
	Path           string   `json:"path"`
	SummationType  string   `json:"summation_type"`
	Units          string   `json:"units"`
	Type           string   `json:"type"`
	ReferencedPlan []string `json:"referenced_plans"`
	Used           bool     `json:"used"`
}

// doseSummary describes the course dose grid (RD.dcm) with statistics over all voxels.
type doseSummary struct {
	SOPInstanceUID string     `json:"sop_instance_uid"`
	SummationType  string     `json:"summation_type"`
	Size           [3]int     `json:"size_cols_rows_frames"`
	SpacingMM      [3]float64 `json:"spacing_mm"`
	Position       [3]float64 `json:"image_position_patient"`
	Orientation    [6]float64 `json:"image_orientation_patient"`
	MinGy          float64    `json:"min_gy"`
	MaxGy          float64    `json:"max_gy"`
	MeanGy         float64    `json:"mean_gy"`
	Relative       bool       `json:"relative_units"`
}

func summarizeVolume(v *grid.Volume, summation, uid string) *doseSummary {
	g := v.Grid
	s := &doseSummary{SOPInstanceUID: uid, SummationType: summation, Size: g.Size, SpacingMM: g.Spacing,
		Position:    g.Origin,
		Orientation: [6]float64{g.Axes[0][0], g.Axes[0][1], g.Axes[0][2], g.Axes[1][0], g.Axes[1][1], g.Axes[1][2]}}
	if g.SliceOffsets != nil && len(g.SliceOffsets) > 1 {
		s.SpacingMM[2] = (g.SliceOffsets[len(g.SliceOffsets)-1] - g.SliceOffsets[0]) / float64(len(g.SliceOffsets)-1)
	}
	if len(v.Data) == 0 {
		return s
	}
	s.MinGy = math.Inf(1)
	sum := 0.0
	for _, x := range v.Data {
		f := float64(x)
		s.MinGy = math.Min(s.MinGy, f)
		s.MaxGy = math.Max(s.MaxGy, f)
		sum += f
	}
	s.MeanGy = round6(sum / float64(len(v.Data)))
	s.MinGy, s.MaxGy = round6(s.MinGy), round6(s.MaxGy)
	return s
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// StructureSetInfo describes a structure set of the course.
type StructureSetInfo struct {
	SOPInstanceUID string   `json:"sop_instance_uid"`
	Path           string   `json:"path"`
	Label          string   `json:"label"`
	Date           string   `json:"date"`
	Resolution     string   `json:"resolution,omitempty"`
	FrameOfRefs    []string `json:"frame_of_reference_uids"`
	ROICount       int      `json:"roi_count"`
	PTVCount       int      `json:"ptv_count"`
	CTVCount       int      `json:"ctv_count"`
	GTVCount       int      `json:"gtv_count"`
	OARCount       int      `json:"oar_count"`
	ROIs           []rt.ROI `json:"rois"`
}

// CTInfo describes the course CT and how it was chosen.
type CTInfo struct {
	Selection       string    `json:"selection"`
	Reason          string    `json:"reason"`
	SeriesUID       string    `json:"series_instance_uid"`
	StudyUID        string    `json:"study_instance_uid"`
	FrameOfRef      string    `json:"frame_of_reference_uid"`
	Slices          int       `json:"slices"`
	SliceThickness  float64   `json:"slice_thickness_mm"`
	SliceSpacing    float64   `json:"slice_spacing_mm"`
	UniformSpacing  bool      `json:"uniform_spacing"`
	Rows            int       `json:"rows"`
	Columns         int       `json:"columns"`
	PixelSpacing    []float64 `json:"pixel_spacing_mm"`
	Orientation     []float64 `json:"image_orientation_patient"`
	PatientPosition string    `json:"patient_position"`
	KVP             float64   `json:"kvp"`
	Manufacturer    string    `json:"manufacturer"`
	Model           string    `json:"model"`
	Kernel          string    `json:"convolution_kernel"`
	StudyDate       string    `json:"study_date"`
	Description     string    `json:"series_description"`
}

// RelatedSeriesInfo is an image series placed next to the course CT.
type RelatedSeriesInfo struct {
	Modality  string `json:"modality"`
	SeriesUID string `json:"series_instance_uid"`
	Slices    int    `json:"slices"`
	Folder    string `json:"folder"`
}

// FractionSummary counts fractions planned and delivered.
type FractionSummary struct {
	Planned   int    `json:"planned"`
	Delivered int    `json:"delivered"`
	Records   int    `json:"records"`
	FirstDate string `json:"first_date"`
	LastDate  string `json:"last_date"`
}

// CourseFiles gives paths (relative to the course folder) of the files downstream stages read.
type CourseFiles struct {
	CTDir    string `json:"ct_dir"`
	RP       string `json:"rp"`
	RD       string `json:"rd"`
	RS       string `json:"rs"`
	Fraction string `json:"fractions"`
}

func buildCaseMetadata(oc *CourseOutcome, fr []fractionRow) *CaseMetadata {
	c := oc.Course
	m := &CaseMetadata{SchemaVersion: 1, PatientID: c.Patient.ID, PatientDir: c.Patient.Dir, CourseID: c.Name,
		CourseKey: c.Key, CourseKind: c.Kind, StartDate: c.StartDate, EndDate: c.EndDate,
		Prescription: c.Rx, DoseGrid: oc.DoseGrid, Warnings: append([]string{}, c.Warnings...),
		Plans: []PlanListItem{}, Doses: []DoseListItem{}, OtherStructs: []StructureSetInfo{},
		Related: []RelatedSeriesInfo{}, Registrations: []string{}, OtherObjects: []string{}}
	if m.Prescription.PerPlan == nil {
		m.Prescription.PerPlan = []PlanRx{}
	}
	m.Patient = patientInfo(c)
	ds := c.Dose
	m.DoseSelection = DoseSelectionInfo{Decision: ds.Decision, Reason: ds.Reason, Summed: ds.Summed, SyntheticPlan: ds.SyntheticPlan,
		SourceDoseUIDs: []string{}, SourcePaths: []string{}, SourceTypes: []string{}, PlanUIDs: []string{}}
	for _, s := range ds.Sources {
		m.DoseSelection.SourceDoseUIDs = append(m.DoseSelection.SourceDoseUIDs, s.Obj.SOPInstanceUID)
		m.DoseSelection.SourcePaths = append(m.DoseSelection.SourcePaths, s.Path)
		m.DoseSelection.SourceTypes = append(m.DoseSelection.SourceTypes, s.Obj.Dose.SummationType)
	}
	for _, p := range ds.Plans {
		m.DoseSelection.PlanUIDs = append(m.DoseSelection.PlanUIDs, p.Obj.SOPInstanceUID)
	}
	mainPlan := (*Entry)(nil)
	if len(ds.Plans) > 0 {
		mainPlan = ds.Plans[0]
	} else if len(c.Plans) > 0 {
		mainPlan = c.Plans[0]
	}
	if mainPlan != nil {
		m.Plan = planInfo(mainPlan)
	}
	for _, p := range c.Plans {
		pl := p.Obj.Plan
		m.Plans = append(m.Plans, PlanListItem{SOPInstanceUID: p.Obj.SOPInstanceUID, Path: p.Path, Label: pl.Label, Date: pl.Date,
			RxGy: pl.Prescription.TotalGy, RxSource: pl.Prescription.Source, Fractions: pl.Prescription.Fractions,
			Technique: pl.Technique(), Selected: containsEntry(ds.Plans, p)})
	}
	for _, d := range c.Doses {
		dh := d.Obj.Dose
		refs := append([]string{}, dh.ReferencedPlan...)
		m.Doses = append(m.Doses, DoseListItem{SOPInstanceUID: d.Obj.SOPInstanceUID, Path: d.Path, SummationType: dh.SummationType,
			Units: dh.Units, Type: dh.Type, ReferencedPlan: refs, Used: containsEntry(ds.Sources, d)})
	}
	for _, s := range c.Structs {
		info := structInfo(s)
		if s == c.PrimaryStruct {
			info.Resolution = c.StructResolution
			m.StructureSet = &info
		} else {
			m.OtherStructs = append(m.OtherStructs, info)
		}
	}
	m.CT = ctInfo(c)
	for _, s := range c.Related {
		folder := "DICOM_related/" + fsutil.SafeName(s.Modality, 16) + "_" + fsutil.SafeName(s.UID, 80)
		if s.Kind == rt.KindMR {
			folder = "MR/" + fsutil.SafeName(s.UID, 80) + "/DICOM"
		}
		m.Related = append(m.Related, RelatedSeriesInfo{Modality: s.Modality, SeriesUID: s.UID, Slices: len(s.Slices), Folder: folder})
	}
	for _, r := range c.Regs {
		m.Registrations = append(m.Registrations, r.Path)
	}
	for _, o := range c.Others {
		m.OtherObjects = append(m.OtherObjects, string(o.Obj.Kind)+" "+o.Path)
	}
	m.Fractions = FractionSummary{Planned: c.Rx.Fractions, Records: len(c.Records)}
	seen := map[string]bool{}
	for _, r := range fr {
		seen[fmt.Sprintf("%s#%d", r.PlanKey, r.Fraction)] = true
		if m.Fractions.FirstDate == "" || (r.Date != "" && r.Date < m.Fractions.FirstDate) {
			m.Fractions.FirstDate = r.Date
		}
		if r.Date > m.Fractions.LastDate {
			m.Fractions.LastDate = r.Date
		}
	}
	m.Fractions.Delivered = len(seen)
	if c.CT != nil {
		m.Files.CTDir = "DICOM/CT"
	}
	if c.PrimaryStruct != nil {
		m.Files.RS = RootStruct
	}
	if ds.SyntheticPlan || len(ds.Plans) > 0 || len(c.Plans) > 0 {
		m.Files.RP = RootPlan
	}
	if ds.Summed || len(ds.Sources) == 1 {
		m.Files.RD = RootDose
	}
	if len(c.Records) > 0 {
		m.Files.Fraction = "fractions.csv"
	}
	return m
}

func patientInfo(c *Course) PatientInfo {
	var src *Object
	for _, list := range [][]*Entry{c.Plans, c.Structs, c.Doses} {
		if len(list) > 0 {
			src = list[0].Obj
			break
		}
	}
	if src == nil && c.CT != nil {
		src = c.CT.Slices[0].Obj
	}
	if src == nil {
		return PatientInfo{}
	}
	p := PatientInfo{Name: src.PatientName, Sex: src.Sex, BirthDate: normDate(src.BirthDate), WeightKg: src.Weight, HeightM: src.Height}
	if p.HeightM > 3 { // some systems store centimetres in PatientSize (metres by definition)
		p.HeightM /= 100
	}
	if p.WeightKg > 0 && p.HeightM > 0 {
		p.BMI = math.Round(p.WeightKg/(p.HeightM*p.HeightM)*10) / 10
	}
	if b, ok := dayNumber(src.BirthDate); ok {
		if s, ok := dayNumber(c.StartDate); ok && s >= b {
			age := int(math.Floor(float64(s-b) / 365.25))
			p.AgeYears = &age
		}
	}
	return p
}

func planInfo(e *Entry) *PlanInfo {
	p := e.Obj.Plan
	info := &PlanInfo{SOPInstanceUID: e.Obj.SOPInstanceUID, Path: e.Path, Label: p.Label, Name: p.Name, Date: p.Date, Time: p.Time,
		Intent: p.Intent, ApprovalStatus: p.ApprovalStatus, ReviewerName: p.ReviewerName, Physician: p.Physician,
		Operators: p.OperatorsName, Technique: p.Technique(), PlannedFractions: p.Prescription.Fractions, BeamsCount: len(p.Beams),
		DoseReferences: append([]rt.DoseReference{}, p.DoseReferences...), Beams: append([]rt.Beam{}, p.Beams...),
		ReferencedStructs: append([]string{}, p.ReferencedStructureSets...),
		Energies:          []string{}, RadiationTypes: []string{}, Machines: []string{}, GantryAngles: []float64{},
		CollimatorAngles: []float64{}, CouchAngles: []float64{}}
	if len(p.PatientSetups) > 0 {
		info.PatientPosition = p.PatientSetups[0].Position
	}
	energies, radTypes, machines := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, b := range p.Beams {
		if b.DeliveryType != "" && b.DeliveryType != "TREATMENT" {
			continue
		}
		info.TreatmentBeams++
		for _, e := range b.EnergiesMV {
			energies[fmt.Sprintf("%g", e)] = true
		}
		if b.RadiationType != "" {
			radTypes[b.RadiationType] = true
		}
		if b.Machine != "" {
			machines[b.Machine] = true
		}
		info.TotalMeterset += b.Meterset
		info.GantryAngles = append(info.GantryAngles, b.GantryStart)
		info.CollimatorAngles = append(info.CollimatorAngles, b.Collimator)
		info.CouchAngles = append(info.CouchAngles, b.Couch)
		if b.IsArc {
			info.ArcBeams++
		}
	}
	info.Energies, info.RadiationTypes, info.Machines = sortedKeys(energies), sortedKeys(radTypes), sortedKeys(machines)
	info.TotalMeterset = round6(info.TotalMeterset)
	return info
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func structInfo(e *Entry) StructureSetInfo {
	s := e.Obj.Struct
	info := StructureSetInfo{SOPInstanceUID: e.Obj.SOPInstanceUID, Path: e.Path, Label: s.Label, Date: s.Date,
		FrameOfRefs: append([]string{}, s.FrameOfReferenceUIDs...), ROICount: len(s.ROIs), ROIs: append([]rt.ROI{}, s.ROIs...)}
	for _, r := range s.ROIs {
		switch roiClass(r) {
		case "PTV":
			info.PTVCount++
		case "CTV":
			info.CTVCount++
		case "GTV":
			info.GTVCount++
		case "OAR":
			info.OARCount++
		}
	}
	return info
}

// roiClass sorts an ROI into PTV/CTV/GTV/OAR from its interpreted type, then its name.
func roiClass(r rt.ROI) string {
	t := strings.ToUpper(r.InterpretedType)
	switch t {
	case "PTV", "CTV", "GTV":
		return t
	case "ORGAN", "AVOIDANCE":
		return "OAR"
	case "EXTERNAL", "MARKER", "ISOCENTER", "REGISTRATION", "SUPPORT", "FIXATION", "BOLUS", "CONTROL", "DOSE_REGION", "CAVITY", "CONTRAST_AGENT":
		return ""
	}
	name := strings.ToUpper(r.Name)
	for _, p := range []string{"PTV", "CTV", "GTV"} {
		if strings.HasPrefix(name, p) {
			return p
		}
	}
	if t == "" && name != "" && !strings.Contains(name, "BODY") && !strings.Contains(name, "EXTERNAL") {
		return "OAR"
	}
	return ""
}

func ctInfo(c *Course) CTInfo {
	info := CTInfo{Selection: c.CTSelection, Reason: c.CTReason}
	if info.Selection == "" {
		info.Selection = CTNone
	}
	s := c.CT
	if s == nil {
		return info
	}
	o := s.Slices[0].Obj
	info.SeriesUID, info.StudyUID, info.FrameOfRef, info.Slices = s.UID, s.StudyUID, s.FrameOfRef, len(s.Slices)
	info.SliceThickness, info.Rows, info.Columns = o.SliceThickness, o.Rows, o.Columns
	info.PixelSpacing, info.Orientation = o.PixelSpacing, o.ImageOrientation
	info.PatientPosition, info.KVP, info.Manufacturer, info.Model, info.Kernel = o.PatientPosition, o.KVP, o.Manufacturer, o.Model, o.Kernel
	info.StudyDate, info.Description = o.StudyDate, s.Description
	info.SliceSpacing, info.UniformSpacing = sliceSpacing(s)
	return info
}

// sliceSpacing returns the median distance between consecutive slices along the normal and
// whether every gap is within 1 % (or 0.01 mm) of it.
func sliceSpacing(s *Series) (float64, bool) {
	var pos []float64
	for _, e := range s.Slices {
		o := e.Obj
		if len(o.ImagePosition) != 3 || len(o.ImageOrientation) != 6 {
			return 0, false
		}
		n := normal(o.ImageOrientation)
		pos = append(pos, n[0]*o.ImagePosition[0]+n[1]*o.ImagePosition[1]+n[2]*o.ImagePosition[2])
	}
	if len(pos) < 2 {
		return 0, len(pos) == 1
	}
	gaps := make([]float64, 0, len(pos)-1)
	for i := 1; i < len(pos); i++ {
		gaps = append(gaps, pos[i]-pos[i-1])
	}
	sorted := append([]float64(nil), gaps...)
	sort.Float64s(sorted)
	med := sorted[len(sorted)/2]
	uniform := true
	for _, g := range gaps {
		if math.Abs(g-med) > math.Max(0.01, 0.01*math.Abs(med)) {
			uniform = false
		}
	}
	return round6(med), uniform
}

// writeCourseMetadata writes metadata/case_metadata.json and the course fractions table.
func writeCourseMetadata(res *Result, oc *CourseOutcome, dir string) error {
	rows := fractionRows(oc.Course)
	m := buildCaseMetadata(oc, rows)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, "metadata", "case_metadata.json"), append(data, '\n')); err != nil {
		return err
	}
	if len(rows) > 0 {
		t := fractionTable(rows, oc.Course)
		if err := writeTableIfChanged(t, filepath.Join(dir, "fractions")); err != nil {
			return err
		}
	}
	return nil
}

// writeTableIfChanged writes <base>.csv and <base>.xlsx, leaving files that already hold the same
// bytes untouched.
func writeTableIfChanged(t *results.Table, base string) error {
	var csvBuf, xlsxBuf strings.Builder
	if err := t.EncodeCSV(&csvBuf); err != nil {
		return err
	}
	if err := writeIfChanged(base+".csv", []byte(csvBuf.String())); err != nil {
		return err
	}
	if err := t.EncodeXLSX(&xlsxBuf); err != nil {
		return err
	}
	return writeIfChanged(base+".xlsx", []byte(xlsxBuf.String()))
}
