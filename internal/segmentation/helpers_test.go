package segmentation

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// Shared fixtures, built once by TestMain.
var (
	fakeBin   string // folder holding the fake programs under their real names
	courseSrc string // an organised synthetic course, copied by each test
)

// fakePrograms are the names the fake is linked as.
var fakePrograms = []string{"TotalSegmentator", "nnUNetv2_predict", "nnUNet_predict", "nnUNetv2_ensemble", "nnUNet_ensemble"}

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	root, err := os.MkdirTemp("", "segmentation-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(root)
	// The fake programs: one binary linked under every real name.
	fakeBin = filepath.Join(root, "bin")
	if err := os.MkdirAll(fakeBin, 0o755); err != nil {
		return 0, err
	}
	exe := filepath.Join(root, "fakeseg")
	build := exec.Command("go", "build", "-o", exe, "./testdata/fakes/fakeseg")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the fake programs: %v\n%s", err, out)
	}
	for _, p := range fakePrograms {
		if err := os.Symlink(exe, filepath.Join(fakeBin, p)); err != nil {
			return 0, err
		}
	}
	// One organised course with a CT, an RTSTRUCT, a plan and a dose.
	ctx := context.Background()
	if _, err := synth.Generate(ctx, filepath.Join(root, "in"), synth.Options{Patients: 1, Seed: 7, Matrix: 32, MinSlices: 12, MaxSlices: 14, Workers: 2,
		Scenarios: []string{synth.ScenarioSingleCourse}}); err != nil {
		return 0, err
	}
	opt := organize.DefaultOptions()
	opt.Workers = 2
	out := filepath.Join(root, "out")
	_, outcomes, err := organize.Run(ctx, filepath.Join(root, "in", "dicom"), out, organize.RunOptions{Options: opt})
	if err != nil {
		return 0, err
	}
	for _, o := range outcomes {
		if o.Status == "ok" && o.Written {
			courseSrc = filepath.Join(out, o.Dir)
			break
		}
	}
	if courseSrc == "" {
		return 0, fmt.Errorf("no organised course")
	}
	return m.Run(), nil
}

// newCourse copies the shared course into a fresh folder.
func newCourse(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "course")
	err := filepath.WalkDir(courseSrc, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(courseSrc, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// addMRSeries writes a copy of the course CT as an MR series under MR/<uid>/DICOM.
func addMRSeries(t *testing.T, dir, uid string) string {
	t.Helper()
	sdir := filepath.Join(dir, "MR", uid)
	files, _ := filepath.Glob(filepath.Join(dir, "DICOM", "CT", "*.dcm"))
	sort.Strings(files)
	for i, p := range files {
		f, err := dicomio.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sop := fmt.Sprintf("%s.%d", uid, i+1)
		b := dicomio.ToBuilder(&f.Dataset).Str(dicomio.TagModality, "MR").Str(dicomio.TagSeriesInstanceUID, uid).
			Str(dicomio.TagSOPInstanceUID, sop).Str(dicomio.TagSOPClassUID, rt.SOPClassMRImage).PixelData(f.PixelData)
		if err := b.WriteFile(filepath.Join(sdir, "DICOM", fmt.Sprintf("MR_%05d.dcm", i+1)), rt.SOPClassMRImage, sop, dicomio.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return sdir
}

// fakeEnv is a small, fixed environment: PATH with the fakes (or pathDir) first, HOME, the
// record file, and extra entries.
type fakeEnv struct {
	record string
	env    []string
}

func newFakeEnv(t *testing.T, withFakes bool, extra ...string) *fakeEnv {
	t.Helper()
	rec := filepath.Join(t.TempDir(), "record.jsonl")
	path := "/usr/bin:/bin"
	if withFakes {
		path = fakeBin + ":" + path
	}
	env := []string{"PATH=" + path, "HOME=" + t.TempDir(), "FAKESEG_RECORD=" + rec}
	return &fakeEnv{record: rec, env: append(env, extra...)}
}

// call is one recorded call of a fake program.
type call struct {
	Program string            `json:"program"`
	Args    []string          `json:"args"`
	Dir     string            `json:"dir"`
	Env     map[string]string `json:"env"`
}

// calls reads the recorded calls, leaving out `TotalSegmentator --version`.
func (f *fakeEnv) calls(t *testing.T) []call {
	t.Helper()
	fh, err := os.Open(f.record)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []call
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var c call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if len(c.Args) == 1 && c.Args[0] == "--version" {
			continue
		}
		out = append(out, c)
	}
	return out
}

func sentinel(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func eqArgs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// roiNames reads the ROI names of an RTSTRUCT.
func roiNames(t *testing.T, path string) []string {
	t.Helper()
	ss, err := rt.ReadStructureSetFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range ss.ROIs {
		names = append(names, r.Name)
	}
	return names
}

// pidsDead waits until every pid in the file is gone (or a zombie).
func pidsDead(t *testing.T, file string, want int) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pids := strings.Fields(string(data))
	if len(pids) < want {
		t.Fatalf("pid file holds %d pids, want %d", len(pids), want)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, s := range pids {
		pid, _ := strconv.Atoi(s)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d survived the timeout", pid)
		}
	}
}

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
