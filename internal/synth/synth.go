// Package synth writes synthetic DICOM-RT cohorts whose correct interpretation is known in
// advance, so that the organiser, DVH and segmentation stages can be tested against exact
// expectations instead of against another program's output.
//
// Every patient is the same analytic thorax phantom, defined once in DICOM patient coordinates
// (LPS, mm), imaged in one of the four patient positions HFS, FFS, HFP and FFP; only the image
// grid (ImageOrientationPatient and ImagePositionPatient) changes with the position, never the
// anatomy. The phantom is a soft-tissue elliptic cylinder with two lungs, a heart, a spine with
// the spinal cord inside, an oesophagus, a spherical tumour (GTV) in one lung and a couch slab
// below the body (posterior for supine and anterior for prone patients, as on a real couch).
// For CT segmenters it also has a trachea dividing into two main bronchi that enter the lungs,
// ribs and a sternum (not contoured); PhantomTruth rasterises their ground truth on any grid,
// PhantomCT renders the CT in memory, and truth.json lists the shapes and how the truth
// structures are made of them.
//
// CT pixels are stored as signed 16-bit integers (PixelRepresentation 1) with RescaleSlope 1
// and RescaleIntercept -1024, so the stored value is HU + 1024: air (-1000 HU) is stored as 24.
//
// Doses are analytic and radial about the PTV centre c (see DoseModel): the dose is Rx up to
// the plateau radius, falls linearly to zero over the fall-off distance and is zero beyond, so a
// DVH of any sphere centred at c has a closed form. Everything the stages must find — courses,
// the chosen CT and dose, the prescription, orphans, duplicates and unreadable files — is written
// to truth.json next to the DICOM tree.
//
// The output is a pure function of the Options except Workers: UIDs come from
// dicomio.DeriveUID over the seed and the object's identity, dates are derived from the seed,
// and files are written in parallel but never depend on each other.
package synth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// Options choose the size and content of a synthetic cohort. The zero value of every field but
// Patients means "use the default".
type Options struct {
	// Patients is the number of patients (>= 1). The shared_study_two_patients scenario takes
	// two of them.
	Patients int `json:"patients"`
	// Seed makes the cohort reproducible: the same Seed (and other options) gives the same bytes.
	Seed int64 `json:"seed"`
	// Matrix is the number of CT rows and columns; default 128.
	Matrix int `json:"matrix"`
	// MinSlices and MaxSlices bound the CT slice count per series (defaults 24 and 60); counts
	// vary between series so that courses differ in size. The larger second series of the
	// two_ct_series scenario may exceed MaxSlices when MinSlices == MaxSlices.
	MinSlices int `json:"min_slices"`
	MaxSlices int `json:"max_slices"`
	// Workers is the number of parallel file writers; default runtime.NumCPU(). It never changes
	// the output, so it is not recorded in the truth.
	Workers int `json:"-"`
	// Scenarios restricts the cohort to these scenarios, assigned to patients in turn. Empty
	// means the default mix: every scenario of AllScenarios once, in that order, then cycling
	// (all scenarios appear when Patients >= len(AllScenarios)+1, because one scenario takes two
	// patients).
	Scenarios []string `json:"scenarios"`
	// NoiseHU is the standard deviation of Gaussian CT noise in HU; 0 (the default) gives
	// noise-free images. The noise is seeded per slice, so it is reproducible too.
	NoiseHU float64 `json:"noise_hu"`
}

// Scenario names, one per patient (shared_study_two_patients generates two patients). Each
// comment says what the truth expects a correct reader to find.
const (
	// ScenarioSingleCourse is CT, RTSTRUCT, RTPLAN, PLAN dose and every fraction's record; one
	// course, decision single_dose.
	ScenarioSingleCourse = "single_course"
	// ScenarioPrimaryBoost is one CT and RTSTRUCT, a PRIMARY plan (50 Gy/25) and a later Boost
	// plan (10 Gy/5) with PLAN doses on different grids (the boost's finer and smaller);
	// decision primary_boost_summed, Rx 60 Gy.
	ScenarioPrimaryBoost = "primary_boost"
	// ScenarioPlanSum is primary_boost plus a PLAN_SUM dose referencing both plans; decision
	// plan_sum_used with that dose only.
	ScenarioPlanSum = "plan_sum"
	// ScenarioTwoCourses is two CT studies about five months apart, each a single course.
	ScenarioTwoCourses = "two_courses"
	// ScenarioTwoCoursesSameMonth is two studies and courses whose plan dates fall in one
	// calendar month, so the organiser's YYYY-MM course names clash.
	ScenarioTwoCoursesSameMonth = "two_courses_same_month"
	// ScenarioReplan is one CT; plan A (60 Gy/30) delivered for fractions 1-10 and its revision B
	// (label with "replan" or "v2", same Rx) two weeks later for fractions 11-30; decision
	// replan_itt_first (plan A's dose).
	ScenarioReplan = "replan"
	// ScenarioBeamDosesOnly is one plan of 3-5 static beams with one BEAM dose per beam and no
	// PLAN dose; decision beam_doses_summed.
	ScenarioBeamDosesOnly = "beam_doses_only"
	// ScenarioMissingDose is CT, RTSTRUCT and an UNAPPROVED, never delivered RTPLAN without dose;
	// decision no_dose, Rx still read from the plan.
	ScenarioMissingDose = "missing_dose"
	// ScenarioOrphanDose is single_course plus an RTDOSE whose referenced plan is not in the
	// export; that file's category is orphan.
	ScenarioOrphanDose = "orphan_dose"
	// ScenarioDuplicateFile is single_course plus byte-identical copies of a CT slice (in another
	// folder) and of the RTPLAN (under another name); the copy whose path sorts first is kept.
	ScenarioDuplicateFile = "duplicate_file"
	// ScenarioTruncatedFile is single_course plus a one-slice CT series cut in its pixel data and
	// an RTPLAN copy cut in its data set; both unreadable, the course CT stays complete.
	ScenarioTruncatedFile = "truncated_file"
	// ScenarioNonDICOM is single_course plus notes.txt and scan.jpg; both unreadable.
	ScenarioNonDICOM = "non_dicom"
	// ScenarioRTStructOnly is CT and RTSTRUCT only; decision no_dose, Rx 0 from "none".
	ScenarioRTStructOnly = "rtstruct_only"
	// ScenarioCTOnly is one CT series only; ct_selection fallback_largest, no RTSTRUCT.
	ScenarioCTOnly = "ct_only"
	// ScenarioTwoCTSeries is a planning CT referenced by the RTSTRUCT and a larger second CT
	// series in the same study and frame of reference; the referenced, smaller one is the
	// course CT.
	ScenarioTwoCTSeries = "two_ct_series"
	// ScenarioUnresolvedReference is an RTSTRUCT referencing a series and images absent from
	// the export (the CT present has another series UID), plus plan and dose; no CT may be
	// chosen (unresolved_reference).
	ScenarioUnresolvedReference = "unresolved_reference"
	// ScenarioSharedStudy is two patients with different IDs whose complete courses share one
	// StudyInstanceUID and frame of reference; two patients of one course each, and a warning.
	ScenarioSharedStudy = "shared_study_two_patients"
)

// AllScenarios lists every scenario in the order the default mix assigns them to patients.
var AllScenarios = []string{
	ScenarioSingleCourse, ScenarioPrimaryBoost, ScenarioPlanSum, ScenarioTwoCourses,
	ScenarioTwoCoursesSameMonth, ScenarioReplan, ScenarioBeamDosesOnly, ScenarioMissingDose,
	ScenarioOrphanDose, ScenarioDuplicateFile, ScenarioTruncatedFile, ScenarioNonDICOM,
	ScenarioRTStructOnly, ScenarioCTOnly, ScenarioTwoCTSeries, ScenarioUnresolvedReference,
	ScenarioSharedStudy,
}

// withDefaults fills the unset options and rejects impossible ones.
func (o Options) withDefaults() (Options, error) {
	if o.Patients < 1 {
		return o, fmt.Errorf("synth: Patients must be at least 1, got %d", o.Patients)
	}
	if o.Matrix == 0 {
		o.Matrix = 128
	}
	if o.Matrix < 16 || o.Matrix > 1024 {
		return o, fmt.Errorf("synth: Matrix must be within 16..1024, got %d", o.Matrix)
	}
	if o.MinSlices == 0 {
		o.MinSlices = 24
	}
	if o.MaxSlices == 0 {
		o.MaxSlices = max(60, o.MinSlices)
	}
	if o.MinSlices < 4 || o.MaxSlices < o.MinSlices || o.MaxSlices > 2000 {
		return o, fmt.Errorf("synth: slice range %d..%d is invalid (need 4 <= min <= max <= 2000)", o.MinSlices, o.MaxSlices)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.NoiseHU < 0 {
		return o, fmt.Errorf("synth: NoiseHU must not be negative, got %v", o.NoiseHU)
	}
	o.Scenarios = slices.Clone(o.Scenarios)
	if o.Scenarios == nil {
		o.Scenarios = []string{}
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return o, fmt.Errorf("synth: unknown scenario %q (known: %s)", s, strings.Join(AllScenarios, ", "))
		}
	}
	return o, nil
}

// assignScenarios gives each patient slot a scenario. The two-patient scenario is skipped when
// only one slot is left, so the cohort always has exactly Patients patients.
func assignScenarios(o Options) ([]string, error) {
	list := o.Scenarios
	if len(list) == 0 {
		list = AllScenarios
	}
	out := make([]string, 0, o.Patients)
	for i := 0; len(out) < o.Patients; i++ {
		s := list[i%len(list)]
		if s == ScenarioSharedStudy {
			if o.Patients-len(out) < 2 {
				if !slices.ContainsFunc(list, func(x string) bool { return x != ScenarioSharedStudy }) {
					return nil, fmt.Errorf("synth: scenario %s needs two patients but only one is left of %d", s, o.Patients)
				}
				continue
			}
			out = append(out, s, s)
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// Generate writes a synthetic cohort to outDir/dicom and its truth to outDir/truth.json, and
// returns the truth. outDir/dicom must not exist or be empty, because stale files from an
// earlier cohort would contradict the truth. truth.json is written last and atomically, so its
// presence marks a complete cohort.
func Generate(ctx context.Context, outDir string, opt Options) (*Truth, error) {
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(outDir, "dicom")
	if entries, err := os.ReadDir(root); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("synth: %s is not empty; remove it or choose another output folder", root)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("synth: checking %s: %w", root, err)
	}
	g, err := plan(o)
	if err != nil {
		return nil, err
	}
	if err := g.write(ctx, root); err != nil {
		return nil, err
	}
	truth := g.truth()
	data, err := truth.marshal()
	if err != nil {
		return nil, fmt.Errorf("synth: encoding truth: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(outDir, "truth.json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("synth: writing truth: %w", err)
	}
	return truth, nil
}

// write creates every directory first (serially, so workers never race on MkdirAll) and then
// encodes and writes the files with o.Workers goroutines. Files are written directly rather than
// through a temporary file and a sync: the tree is new, and truth.json, written after it,
// is what marks it complete; an fsync per file would triple the run time.
func (g *generator) write(ctx context.Context, root string) error {
	dirs := map[string]bool{}
	for _, f := range g.files {
		dirs[filepath.Dir(filepath.Join(root, filepath.FromSlash(f.rel)))] = true
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	sort.Strings(sorted)
	for _, d := range sorted {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("synth: creating %s: %w", d, err)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan *file)
	var wg sync.WaitGroup
	for range g.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				data, err := f.content()
				if err == nil {
					err = os.WriteFile(filepath.Join(root, filepath.FromSlash(f.rel)), data, 0o644)
				}
				if err != nil {
					cancel(fmt.Errorf("synth: %s: %w", f.rel, err))
					return
				}
			}
		}()
	}
	for _, f := range g.files {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- f:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}
