package organize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Sentinel is the file that marks a course as organised; it holds "ok" or "failed: <reason>".
const Sentinel = ".organized"

// Root file names of the selected (or synthesised) plan, dose and structure set.
const (
	RootPlan   = "RP.dcm"
	RootDose   = "RD.dcm"
	RootStruct = "RS.dcm"
)

// CourseOutcome is what writing one course produced.
type CourseOutcome struct {
	Course     *Course
	Dir        string // relative to the output root
	Status     string // "ok" or "failed: <reason>"
	Complexity int
	Written    bool // false when the course filter excluded it
	DoseGrid   *doseSummary
}

// WriteOptions control writing.
type WriteOptions struct {
	// Progress, when set, is called after each course.
	Progress func(done, total int)
	// Logger receives per-course messages; nil uses slog.Default().
	Logger *slog.Logger
}

// ErrNothingOrganized reports a run in which no course could be written.
var ErrNothingOrganized = errors.New("no course could be organised")

// Write lays out every course under outDir, writes per-course metadata, the cohort tables in
// Data/, and _COURSES/manifest.json and organize_report.json. A course that fails is marked
// failed in its sentinel and the others go on; Write returns an error only when the output is not
// writable or nothing could be organised.
func Write(ctx context.Context, res *Result, outDir string, wo WriteOptions) ([]*CourseOutcome, error) {
	log := wo.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(outDir, "_COURSES"), 0o755); err != nil {
		return nil, fmt.Errorf("output folder %s is not writable: %w", outDir, err)
	}
	if res.Options.ForceRedo {
		if err := removePreviousCourses(outDir, res.Options.CourseFilter, log); err != nil {
			return nil, err
		}
	}
	outcomes := make([]*CourseOutcome, len(res.Courses))
	var todo []int
	for i, c := range res.Courses {
		outcomes[i] = &CourseOutcome{Course: c, Dir: c.Patient.Dir + "/" + c.Name}
		if matchesFilter(c, res.Options.CourseFilter) {
			todo = append(todo, i)
		}
	}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	dest := map[*Entry][]string{}
	for w := 0; w < max(res.Options.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(next.Add(1) - 1)
				if n >= len(todo) {
					return
				}
				oc := outcomes[todo[n]]
				placed, err := safeWriteCourse(ctx, res, outDir, oc)
				oc.Written = true
				if err != nil {
					oc.Status = "failed: " + oneLine(err.Error())
					log.Error("course failed", "course", oc.Dir, "err", err)
				} else {
					oc.Status = "ok"
				}
				if serr := fsutil.WriteFileAtomic(filepath.Join(outDir, filepath.FromSlash(oc.Dir), Sentinel), []byte(oc.Status+"\n"), 0o644); serr != nil && err == nil {
					oc.Status = "failed: " + oneLine(serr.Error())
				}
				mu.Lock()
				for e, ds := range placed {
					dest[e] = append(dest[e], ds...)
				}
				mu.Unlock()
				if wo.Progress != nil {
					wo.Progress(int(done.Add(1)), len(todo))
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return outcomes, err
	}
	for e, ds := range dest {
		sort.Strings(ds)
		res.record[e].Destinations = ds
	}
	// A file placed only in courses that were not written (course filter) or failed says so.
	status := map[string]string{}
	for _, oc := range outcomes {
		switch {
		case !oc.Written:
			status[oc.Dir] = "not written in this run (course filter)"
		case oc.Status != "ok":
			status[oc.Dir] = "course " + oc.Status
		}
	}
	for _, fr := range res.Files {
		if fr.Category == CategoryPlaced && len(fr.Destinations) == 0 && len(fr.Courses) > 0 {
			fr.Reason = fmt.Sprintf("course %s: %s", fr.Courses[0], status[fr.Courses[0]])
		}
	}
	ok := 0
	for _, oc := range outcomes {
		if oc.Written && oc.Status == "ok" {
			ok++
		}
	}
	if err := writeCohortTables(res, outcomes, outDir); err != nil {
		return outcomes, fmt.Errorf("writing cohort tables: %w", err)
	}
	if err := writeManifest(res, outcomes, outDir); err != nil {
		return outcomes, fmt.Errorf("writing manifest: %w", err)
	}
	if err := writeReport(res, outcomes, outDir); err != nil {
		return outcomes, fmt.Errorf("writing report: %w", err)
	}
	switch {
	case len(todo) == 0 && res.Options.CourseFilter != "" && len(res.Courses) > 0:
		return outcomes, fmt.Errorf("course filter %q matches none of the %d courses", res.Options.CourseFilter, len(res.Courses))
	case ok == 0:
		return outcomes, ErrNothingOrganized
	}
	return outcomes, nil
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ") }

// matchesFilter accepts "P" or "P/C", where P is a patient ID or folder name.
func matchesFilter(c *Course, filter string) bool {
	if filter == "" {
		return true
	}
	p, course, _ := strings.Cut(filter, "/")
	if p != c.Patient.ID && p != c.Patient.Dir {
		// A patient ID may itself contain '/': try the whole filter as an ID.
		return filter == c.Patient.ID
	}
	return course == "" || course == c.Name
}

// manifestMatchesFilter is matchesFilter for a manifest entry: the filter "P[/C]" names the
// patient by ID or folder, and optionally the course folder.
func manifestMatchesFilter(c ManifestCourse, filter string) bool {
	if filter == "" {
		return true
	}
	p, course, _ := strings.Cut(filter, "/")
	patientDir, courseDir, _ := strings.Cut(c.Path, "/")
	if p != c.PatientID && p != patientDir {
		return filter == c.PatientID
	}
	return course == "" || course == courseDir || course == c.Course
}

// removePreviousCourses deletes course folders recorded in an earlier manifest that match the
// course filter (all when it is empty), so --force-redo with a filter rebuilds only those courses
// and leaves the others alone. Only folders that hold an organize sentinel are removed, so a
// mistyped output path never loses user data.
func removePreviousCourses(outDir, filter string, log *slog.Logger) error {
	data, err := os.ReadFile(filepath.Join(outDir, "_COURSES", "manifest.json"))
	if err != nil {
		return nil
	}
	var m manifest
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	for _, c := range m.Courses {
		dir := filepath.Join(outDir, filepath.FromSlash(c.Path))
		if !fsutil.Within(outDir, dir) || !manifestMatchesFilter(c, filter) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, Sentinel)); err != nil {
			continue
		}
		log.Info("force-redo: removing course", "course", c.Path)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("force-redo: removing %s: %w", dir, err)
		}
		os.Remove(filepath.Dir(dir)) // the patient folder, when now empty
	}
	return nil
}

// managedDirs are the course sub-folders organize owns; files in them that the current run does
// not place are stale and removed.
var managedDirs = []string{"DICOM", "DICOM_related", "MR"}

// safeWriteCourse turns a panic while writing a course into that course's failure.
func safeWriteCourse(ctx context.Context, res *Result, outDir string, oc *CourseOutcome) (placed map[*Entry][]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			placed, err = nil, fmt.Errorf("internal error: %v", r)
		}
	}()
	return writeCourse(ctx, res, outDir, oc)
}

// writeCourse places every file of a course and writes its metadata. It returns, per input
// entry, the paths (relative to outDir) it was placed at.
func writeCourse(ctx context.Context, res *Result, outDir string, oc *CourseOutcome) (map[*Entry][]string, error) {
	c := oc.Course
	dir := filepath.Join(outDir, filepath.FromSlash(oc.Dir))
	// Until this run's sentinel is written, the course must not look organised.
	if err := os.Remove(filepath.Join(dir, Sentinel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	want := map[string]*Entry{}      // relative path → source entry
	generated := map[string][]byte{} // relative path → bytes written by us
	names := map[string]map[string]bool{}
	uniqueName := func(folder, base string) string {
		if names[folder] == nil {
			names[folder] = map[string]bool{}
		}
		ext := path.Ext(base)
		if strings.ToLower(ext) != ".dcm" && strings.ToLower(ext) != ".ima" {
			base += ".dcm"
			ext = ".dcm"
		}
		stem := strings.TrimSuffix(base, ext)
		name := base
		for n := 1; names[folder][strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s_%d%s", stem, n, ext)
		}
		names[folder][strings.ToLower(name)] = true
		return folder + "/" + name
	}
	addAll := func(folder string, list []*Entry) {
		for _, e := range list {
			want[uniqueName(folder, fsutil.SafeName(path.Base(e.Path), 200))] = e
		}
	}
	if c.CT != nil {
		numbers := ctNumbers(c.CT)
		for i, e := range c.CT.Slices {
			want[fmt.Sprintf("DICOM/CT/CT_%05d.dcm", numbers[i])] = e
		}
	}
	addAll("DICOM/RTPLAN", c.Plans)
	addAll("DICOM/RTDOSE", c.Doses)
	addAll("DICOM/RTSTRUCT", c.Structs)
	addAll("DICOM/RTRECORD", c.Records)
	addAll("DICOM_related/REG", c.Regs)
	for _, o := range c.Others {
		addAll("DICOM_related/"+string(o.Obj.Kind), []*Entry{o})
	}
	for _, s := range c.Related {
		uid := fsutil.SafeName(s.UID, 80)
		folder := "DICOM_related/" + fsutil.SafeName(s.Modality, 16) + "_" + uid
		if s.Kind == rt.KindMR {
			folder = "MR/" + uid + "/DICOM"
		}
		addAll(folder, s.Slices)
	}
	// Root files: the selected plan, dose and structure set, or the ones we synthesise.
	var summary *doseSummary
	if c.PrimaryStruct != nil {
		want[RootStruct] = c.PrimaryStruct
	}
	planUID := ""
	switch {
	case c.Dose.SyntheticPlan:
		b, uid, err := syntheticPlan(c.Dose.Plans, c.Rx.TotalGy)
		if err != nil {
			return nil, fmt.Errorf("synthesising summed plan: %w", err)
		}
		data, err := b.Encode(rt.SOPClassRTPlan, uid, dicomio.WriteOptions{})
		if err != nil {
			return nil, fmt.Errorf("encoding summed plan: %w", err)
		}
		generated[RootPlan], planUID = data, uid
	case len(c.Dose.Plans) > 0:
		want[RootPlan], planUID = c.Dose.Plans[0], c.Dose.Plans[0].Obj.SOPInstanceUID
	case len(c.Plans) > 0:
		want[RootPlan], planUID = c.Plans[0], c.Plans[0].Obj.SOPInstanceUID
	}
	switch {
	case c.Dose.Summed:
		vol, err := sumDoses(c.Dose.Sources)
		if err != nil {
			return nil, fmt.Errorf("summing doses: %w", err)
		}
		summation := "PLAN_SUM"
		if len(c.Dose.Plans) == 1 {
			summation = "PLAN" // the beams of one plan add up to that plan's dose
		}
		comment := fmt.Sprintf("rtpipeline %s: sum of %d doses", c.Dose.Decision, len(c.Dose.Sources))
		b, uid, err := doseDataset(vol, c.Dose.Sources[0], planUID, summation, comment, c.Dose.Sources)
		if err != nil {
			return nil, fmt.Errorf("building summed dose: %w", err)
		}
		data, err := b.Encode(rt.SOPClassRTDose, uid, dicomio.WriteOptions{})
		if err != nil {
			return nil, fmt.Errorf("encoding summed dose: %w", err)
		}
		generated[RootDose] = data
		summary = summarizeVolume(vol, summation, uid)
	case len(c.Dose.Sources) == 1:
		want[RootDose] = c.Dose.Sources[0]
		if v, err := rt.LoadDoseVolume(c.Dose.Sources[0].Abs); err == nil {
			summary = summarizeVolume(v.Volume, v.Header.SummationType, c.Dose.Sources[0].Obj.SOPInstanceUID)
			summary.Relative = v.Relative
		} else {
			c.Warnings = append(c.Warnings, "dose grid statistics unavailable: "+err.Error())
		}
	}
	oc.DoseGrid = summary
	placed := map[*Entry][]string{}
	rels := make([]string, 0, len(want))
	for rel := range want {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e := want[rel]
		if err := placeFile(e.Abs, filepath.Join(dir, filepath.FromSlash(rel)), res.Options.Hardlink); err != nil {
			return nil, fmt.Errorf("placing %s as %s: %w", e.Path, rel, err)
		}
		placed[e] = append(placed[e], oc.Dir+"/"+rel)
	}
	for rel, data := range generated {
		if err := writeIfChanged(filepath.Join(dir, filepath.FromSlash(rel)), data); err != nil {
			return nil, err
		}
	}
	if err := purgeStale(dir, want, generated, c.CT != nil); err != nil {
		return nil, err
	}
	for rel := range want {
		if strings.HasPrefix(rel, "DICOM/") {
			oc.Complexity++
		}
	}
	oc.Complexity = max(oc.Complexity, 1)
	if err := writeCourseMetadata(res, oc, dir); err != nil {
		return nil, fmt.Errorf("writing metadata: %w", err)
	}
	return placed, nil
}

// ctNumbers gives the number in CT_<n>.dcm for each slice: the InstanceNumber when every slice
// has a distinct one, else the 1-based position along the slice normal.
func ctNumbers(s *Series) []int {
	out := make([]int, len(s.Slices))
	seen := map[int]bool{}
	useInstance := true
	for i, e := range s.Slices {
		n := e.Obj.InstanceNumber
		if !e.Obj.HasInstanceNumber || n < 0 || seen[n] {
			useInstance = false
		}
		seen[n] = true
		out[i] = n
	}
	if !useInstance {
		for i := range out {
			out[i] = i + 1
		}
	}
	return out
}

// placeFile puts src at dst as a hard link (when allowed and possible) or a copy, leaving an
// identical existing file alone.
func placeFile(src, dst string, hardlink bool) error {
	if hardlink {
		_, err := fsutil.LinkOrCopy(src, dst)
		return err
	}
	if same, _ := fsutil.SameContent(src, dst); same {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return fsutil.WriteAtomic(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// writeIfChanged writes data atomically unless the file already holds exactly these bytes, so a
// rerun leaves unchanged outputs untouched.
func writeIfChanged(p string, data []byte) error {
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return fsutil.WriteFileAtomic(p, data, 0o644)
}

// purgeStale removes files in the managed folders (and root RP/RD/RS) that this run did not
// place. The CT folder is never emptied when no CT was chosen this time: losing a CT because a
// reference could not be resolved on a rerun would be worse than keeping a stale one.
func purgeStale(dir string, want map[string]*Entry, generated map[string][]byte, haveCT bool) error {
	keep := func(rel string) bool {
		_, a := want[rel]
		_, b := generated[rel]
		return a || b
	}
	for _, root := range []string{RootPlan, RootDose, RootStruct} {
		if !keep(root) {
			if err := os.Remove(filepath.Join(dir, root)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	for _, m := range managedDirs {
		base := filepath.Join(dir, m)
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if keep(rel) || (!haveCT && strings.HasPrefix(rel, "DICOM/CT/")) {
				return nil
			}
			return os.Remove(p)
		})
		if err != nil {
			return fmt.Errorf("removing stale files: %w", err)
		}
		removeEmptyDirs(base)
	}
	return nil
}

func removeEmptyDirs(root string) {
	var dirs []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // fails, harmlessly, when not empty
	}
}
