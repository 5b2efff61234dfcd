package synth

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
)

// SOP classes written by the generator.
const (
	sopCT       = "1.2.840.10008.5.1.4.1.1.2"
	sopRTDose   = "1.2.840.10008.5.1.4.1.1.481.2"
	sopRTStruct = "1.2.840.10008.5.1.4.1.1.481.3"
	sopRTRecord = "1.2.840.10008.5.1.4.1.1.481.4"
	sopRTPlan   = "1.2.840.10008.5.1.4.1.1.481.5"
	// sopStudyComponent is the class RTReferencedStudySequence conventionally names (Detached
	// Study Management, retired but what every planning system writes).
	sopStudyComponent = "1.2.840.10008.3.1.2.3.1"
)

// Dose-model constants, also written to the truth.
const (
	plateauMarginMM = 2
	falloffMM       = 40
	// doseGridMarginMM is how far beyond the zero radius a dose grid reaches, so every grid
	// holds the whole non-zero region and sums on different grids stay exact.
	doseGridMarginMM = 6
)

// generator holds the whole planned cohort. Planning is serial and draws every random choice
// in a fixed order; only the encoding and writing of files, which depend on nothing but their
// own object, run in parallel.
type generator struct {
	opt      Options
	seed     string
	patients []*patient
	files    []*file
	paths    map[string]bool
	counters map[string]int
	// Tricks applied once per cohort, to the first patient that can carry them.
	rsNamedAsRecord    bool
	recordNamedAsImage bool
	undatedRecord      bool
}

// patient is one generated patient and everything planned for it.
type patient struct {
	slot     int // 1-based position in the cohort
	key      string
	scenario string
	id       string
	name     string
	birth    string
	sex      string
	folder   string
	layout   string
	naming   string
	position string
	ts       string
	charset  string
	// structFOR tells whether RTSTRUCTs carry a top-level FrameOfReferenceUID.
	structFOR  bool
	machine    string
	rng        *rand.Rand
	courses    []*course
	objects    []*object
	extras     []*object
	sharedWith string
	warnings   []string
	baseDate   time.Time
}

// study is one DICOM study (and its frame of reference).
type study struct {
	uid, forUID string
	id          string
	date, time  string
	desc        string
	accession   string
}

// course is one expected treatment course and the objects that make it up.
type course struct {
	st          *study
	tum         tumour
	cts         []*ctSeries
	chosenCT    *ctSeries
	ctSelection string
	rs          *structSet
	plans       []*rtPlan
	doses       []*rtDose
	records     []*rtRecord
	decision    string
	chosen      []*rtDose
	rxGy        float64
	rxSource    string
	fxPlanned   int
	startDate   string
}

type ctSeries struct {
	uid        string
	number     int
	desc       string
	date, time string
	grid       *ctGrid
	sops       []string
	kvp        float64
	kernel     string
	role       string
	tum        tumour
	st         *study
}

type roi struct {
	number int
	name   string
	kind   string // RTROIInterpretedType
	algo   string
	color  [3]int
	shape  Shape
}

type structSet struct {
	uid, seriesUID string
	number         int
	label          string
	date, time     string
	st             *study
	// geom is the CT geometry the contours lie on; refSeries and refSOPs are what the
	// references name (the CT's own UIDs, or absent ones for an unresolved reference).
	geom      *ctGrid
	refSeries string
	refSOPs   []string
	rois      []roi
}

type beam struct {
	number   int
	name     string
	kind     string // STATIC or DYNAMIC
	gantry   []float64
	rotation string // NONE, CW or CC
	coll     float64
	mu       float64 // per fraction
	doseGy   float64 // per fraction
}

type rtPlan struct {
	uid, seriesUID string
	number         int
	label, name    string
	desc           string
	date, time     string
	rx             float64
	fx             int
	technique      string
	energy         float64
	machine        string
	approval       string
	beams          []beam
	rs             *structSet
	predecessor    *rtPlan
	plateau        float64 // dose plateau radius
	tum            tumour
	st             *study
	oarMax         float64
}

type rtDose struct {
	uid, seriesUID string
	number         int
	desc           string
	summation      string
	plans          []*rtPlan
	planUIDs       []string // referenced plan UIDs (differs from plans for orphans)
	beams          []int
	grid           *doseGrid
	comps          []DoseComponent
	st             *study
	date, time     string
}

type rtRecord struct {
	uid, seriesUID  string
	number          int
	plan            *rtPlan
	fraction        int
	instance        int
	date, time      string
	noTreatmentDate bool
}

// object is one DICOM file to write (or, for extras, any file), before it has a path.
type object struct {
	modality   string
	sop        string
	series     string
	seriesDesc string
	studyDate  string
	content    func() ([]byte, error)
	name       string // forced file name, "" for the patient's naming style
	dir        string // forced folder below the patient folder, "" for the layout's
	category   string
	reason     string
	// same groups objects with byte-identical content; the first path in sort order is kept.
	same string
}

// file is an object with its path relative to dicom/.
type file struct {
	rel     string
	content func() ([]byte, error)
	truth   FileTruth
	same    string
	pat     *patient
}

// uid derives a UID unique to this cohort, patient and object.
func (g *generator) uid(p *patient, parts ...string) string {
	return dicomio.DeriveUID(append([]string{"rtpipeline-synth", g.seed, p.key}, parts...)...)
}

// encode turns a builder into the bytes of a Part 10 file in the patient's transfer syntax.
func (p *patient) encode(b *dicomio.Builder, sopClass, sop string) ([]byte, error) {
	data, err := b.Encode(sopClass, sop, dicomio.WriteOptions{TransferSyntax: p.ts})
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", sop, err)
	}
	return data, nil
}

const dateLayout = "20060102"

func da(t time.Time) string { return t.Format(dateLayout) }

// weekday moves t forward to the next Monday..Friday.
func weekday(t time.Time) time.Time {
	for t.Weekday() == time.Saturday || t.Weekday() == time.Sunday {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

// weekdays returns n consecutive weekdays starting at (or after) t.
func weekdays(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for t = weekday(t); len(out) < n; t = weekday(t.AddDate(0, 0, 1)) {
		out = append(out, t)
	}
	return out
}

func tm(h, m, s int) string { return fmt.Sprintf("%02d%02d%02d", h, m, s) }

func itoa(i int) string { return strconv.Itoa(i) }
