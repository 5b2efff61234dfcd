// Command fakeseg stands in for the external segmentation programs in the tests of
// internal/segmentation. It is one binary called through links named after the real programs
// (TotalSegmentator, nnUNetv2_predict, nnUNet_predict, nnUNetv2_ensemble, nnUNet_ensemble) and
// behaves like them where the pipeline depends on it: it accepts exactly the real command-line
// options (anything else is an argparse-style error, exit 2), checks what the real program would
// check (input files, weights folders, probabilities for ensembles), and writes NIfTI outputs the
// way the real program lays them out:
//
//   - TotalSegmentator: one uint8 mask per class, <out>/<roi>.nii.gz, on the input's grid;
//     --version prints the version;
//   - nnUNetv2_predict / nnUNet_predict: <out>/case.nii.gz (labels 1..3 in three slabs) for the
//     input <in>/case_0000.nii.gz, plus case.npz and case.pkl with --save_probabilities /
//     --save_npz;
//   - nnUNetv2_ensemble / nnUNet_ensemble: <out>/case.nii.gz from input folders that hold .npz
//     probabilities.
//
// Environment (set by the tests):
//
//	FAKESEG_RECORD  append one JSON line per call: program, arguments, working folder, environment
//	FAKESEG_MODE    ok (default), fail (exit 1 with a CUDA error on stderr), hang (start a child
//	                that ignores SIGTERM, ignore SIGTERM too, never end)
//	FAKESEG_ONLY    restrict FAKESEG_MODE to calls whose arguments contain this word
//	FAKESEG_PIDS    with hang: file receiving the pids of the program and its child
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

const version = "2.4.0"

func main() {
	prog := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if prog == "fakeseg" && len(args) > 0 && args[0] == "hang-child" {
		hangChild()
		return
	}
	record(prog, args)
	if mode := os.Getenv("FAKESEG_MODE"); mode != "" && mode != "ok" && selected(args) {
		switch mode {
		case "fail":
			fmt.Fprintln(os.Stdout, "Predicting case...")
			fmt.Fprintln(os.Stderr, "RuntimeError: CUDA error: out of memory")
			os.Exit(1)
		case "hang":
			hang()
		}
	}
	var err error
	switch prog {
	case "TotalSegmentator":
		err = totalSegmentator(args)
	case "nnUNetv2_predict":
		err = nnUNetPredict(args, true)
	case "nnUNet_predict":
		err = nnUNetPredict(args, false)
	case "nnUNetv2_ensemble":
		err = ensemble(args, true)
	case "nnUNet_ensemble":
		err = ensemble(args, false)
	default:
		err = fmt.Errorf("fakeseg called as unknown program %q", prog)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", prog, err)
		os.Exit(2)
	}
}

func selected(args []string) bool {
	only := os.Getenv("FAKESEG_ONLY")
	if only == "" {
		return true
	}
	for _, a := range args {
		if a == only || strings.Contains(a, only) {
			return true
		}
	}
	return false
}

// record appends the call to $FAKESEG_RECORD.
func record(prog string, args []string) {
	path := os.Getenv("FAKESEG_RECORD")
	if path == "" {
		return
	}
	wd, _ := os.Getwd()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	line, _ := json.Marshal(map[string]any{"program": prog, "args": args, "dir": wd, "env": env})
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeseg: record:", err)
		os.Exit(3)
	}
	f.Write(append(line, '\n'))
	f.Close()
}

// hang starts a child that ignores SIGTERM, records both pids and never ends (ignoring SIGTERM).
func hang() {
	signal.Ignore(syscall.SIGTERM)
	self, _ := os.Executable()
	child := exec.Command(self, "hang-child")
	child.Args[0] = "fakeseg"
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeseg: child:", err)
		os.Exit(3)
	}
	writePID(os.Getpid())
	fmt.Println("Predicting... (this takes a while)")
	for {
		time.Sleep(time.Hour)
	}
}

func hangChild() {
	signal.Ignore(syscall.SIGTERM)
	writePID(os.Getpid())
	for {
		time.Sleep(time.Hour)
	}
}

func writePID(pid int) {
	if p := os.Getenv("FAKESEG_PIDS"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintln(f, pid)
			f.Close()
		}
	}
}

// opts parses argparse-style options: spec maps each accepted option (every alias) to its kind:
// "flag", "one" (one value) or "many" (one or more values, up to the next option).
func opts(args []string, spec map[string]string) (map[string][]string, error) {
	out := map[string][]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		kind, ok := spec[a]
		if !ok {
			return nil, fmt.Errorf("unrecognized arguments: %s", a)
		}
		switch kind {
		case "flag":
			out[a] = []string{}
		case "one":
			if i+1 >= len(args) || isOption(args[i+1]) {
				return nil, fmt.Errorf("argument %s: expected one argument", a)
			}
			out[a] = []string{args[i+1]}
			i++
		case "many":
			var vals []string
			for i+1 < len(args) && !isOption(args[i+1]) {
				vals = append(vals, args[i+1])
				i++
			}
			if len(vals) == 0 {
				return nil, fmt.Errorf("argument %s: expected at least one argument", a)
			}
			out[a] = vals
		}
	}
	return out, nil
}

func isOption(s string) bool {
	if !strings.HasPrefix(s, "-") || len(s) < 2 {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err != nil
}

// first returns the value of the first of the aliases given.
func first(o map[string][]string, names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := o[n]; ok && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

func has(o map[string][]string, names ...string) bool {
	for _, n := range names {
		if _, ok := o[n]; ok {
			return true
		}
	}
	return false
}

// tsClasses are the classes the fake writes per task; the last class of total lies outside the
// image (an empty mask, as TotalSegmentator writes for organs out of the field of view).
var tsClasses = map[string][]string{
	"total":        {"heart", "lung_left", "lung_right", "spinal_cord", "brain"},
	"total_mr":     {"heart", "spinal_cord"},
	"lung_vessels": {"lung_vessels", "lung_trachea_bronchia"},
	"body":         {"body", "body_trunc"},
}

var deviceRE = regexp.MustCompile(`^(cpu|gpu|mps|gpu:\d+)$`)

func totalSegmentator(args []string) error {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println(version)
		return nil
	}
	o, err := opts(args, map[string]string{
		"-i": "one", "-o": "one", "-ot": "one", "--output_type": "one", "-ml": "flag", "--ml": "flag",
		"-nr": "one", "--nr_thr_resamp": "one", "-ns": "one", "--nr_thr_saving": "one",
		"-f": "flag", "--fast": "flag", "-ta": "one", "--task": "one", "-rs": "many", "--roi_subset": "many",
		"-bs": "flag", "--body_seg": "flag", "-fs": "flag", "--force_split": "flag", "-d": "one", "--device": "one",
		"-q": "flag", "--quiet": "flag", "-v": "flag", "--verbose": "flag", "-l": "one", "--license_number": "one",
	})
	if err != nil {
		return err
	}
	in, ok1 := first(o, "-i")
	out, ok2 := first(o, "-o")
	if !ok1 || !ok2 {
		return fmt.Errorf("the following arguments are required: -i, -o")
	}
	if ot, ok := first(o, "-ot", "--output_type"); ok && ot != "nifti" && ot != "dicom" && ot != "dicom_rtstruct" && ot != "dicom_seg" {
		return fmt.Errorf("argument -ot/--output_type: invalid choice: %q", ot)
	}
	if d, ok := first(o, "-d", "--device"); ok && !deviceRE.MatchString(d) {
		return fmt.Errorf("argument -d/--device: Invalid device type: %q", d)
	}
	for _, n := range []string{"-nr", "--nr_thr_resamp", "-ns", "--nr_thr_saving"} {
		if v, ok := first(o, n); ok {
			if _, err := strconv.Atoi(v); err != nil {
				return fmt.Errorf("argument %s: invalid int value: %q", n, v)
			}
		}
	}
	task, ok := first(o, "-ta", "--task")
	if !ok {
		task = "total"
	}
	classes, ok := tsClasses[task]
	if !ok {
		return fmt.Errorf("argument -ta/--task: invalid choice: %q", task)
	}
	if subset, ok := o["--roi_subset"]; ok {
		for _, r := range subset {
			found := false
			for _, c := range classes {
				found = found || c == r
			}
			if !found {
				return fmt.Errorf("roi_subset: %s is not a class of task %s", r, task)
			}
		}
		classes = subset
	}
	if st, err := os.Stat(in); err != nil || st.IsDir() || !strings.HasSuffix(in, ".nii.gz") {
		return fmt.Errorf("input %s: this fake reads a NIfTI file only", in)
	}
	img, err := imageio.ReadNIfTI(in)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	all := tsClasses[task]
	for _, c := range classes {
		idx := 0
		for i, x := range all {
			if x == c {
				idx = i
			}
		}
		m := blob(img, idx, len(all), c == "brain")
		if err := imageio.WriteNIfTI(filepath.Join(out, c+".nii.gz"), m); err != nil {
			return err
		}
	}
	fmt.Printf("Saved %d masks to %s\n", len(classes), out)
	return nil
}

// blob is a uint8 box mask: the middle half of the image in x and y, slab idx of n along z;
// empty when asked.
func blob(img *imageio.Image, idx, n int, empty bool) *imageio.Image {
	g := img.Grid
	m := &imageio.Image{Grid: g, Data: make([]float64, len(img.Data)), PixelType: "uint8"}
	if empty {
		return m
	}
	nz := g.Size[2]
	k0, k1 := idx*nz/n, (idx+1)*nz/n
	for k := k0; k < k1; k++ {
		for j := g.Size[1] / 4; j < 3*g.Size[1]/4; j++ {
			for i := g.Size[0] / 4; i < 3*g.Size[0]/4; i++ {
				m.Data[m.Index(i, j, k)] = 1
			}
		}
	}
	return m
}

// labelMap is the fake nnU-Net prediction: labels 1, 2, 3 in three slabs of the middle box.
func labelMap(img *imageio.Image) *imageio.Image {
	g := img.Grid
	m := &imageio.Image{Grid: g, Data: make([]float64, len(img.Data)), PixelType: "uint8"}
	for k := 0; k < g.Size[2]; k++ {
		label := float64(1 + k*3/g.Size[2])
		for j := g.Size[1] / 4; j < 3*g.Size[1]/4; j++ {
			for i := g.Size[0] / 4; i < 3*g.Size[0]/4; i++ {
				m.Data[m.Index(i, j, k)] = label
			}
		}
	}
	return m
}

var numRE = regexp.MustCompile(`^\d+$`)

func nnUNetPredict(args []string, v2 bool) error {
	var spec map[string]string
	if v2 {
		spec = map[string]string{"-i": "one", "-o": "one", "-d": "one", "-p": "one", "-tr": "one", "-c": "one", "-f": "many",
			"-step_size": "one", "--disable_tta": "flag", "--verbose": "flag", "--save_probabilities": "flag",
			"--continue_prediction": "flag", "-chk": "one", "-npp": "one", "-nps": "one", "-prev_stage_predictions": "one",
			"-num_parts": "one", "-part_id": "one", "-device": "one", "--disable_progress_bar": "flag"}
	} else {
		spec = map[string]string{"-i": "one", "-o": "one", "-t": "one", "-tr": "one", "-ctr": "one", "-p": "one", "-f": "many",
			"-z": "flag", "--save_npz": "flag", "-l": "one", "--part_id": "one", "--num_parts": "one",
			"--num_threads_preprocessing": "one", "--num_threads_nifti_save": "one", "--disable_tta": "flag",
			"--overwrite_existing": "flag", "--mode": "one", "--all_in_gpu": "one", "-m": "one", "--step_size": "one",
			"-chk": "one", "--disable_mixed_precision": "flag"}
	}
	o, err := opts(args, spec)
	if err != nil {
		return err
	}
	req := []string{"-i", "-o", "-d", "-c"}
	if !v2 {
		req = []string{"-i", "-o", "-t", "-m"}
	}
	for _, r := range req {
		if !has(o, r) {
			return fmt.Errorf("the following arguments are required: %s", r)
		}
	}
	if v2 {
		if d, ok := first(o, "-device"); ok && d != "cuda" && d != "cpu" && d != "mps" {
			return fmt.Errorf("-device must be either cpu, mps or cuda, got %q", d)
		}
	}
	// The weights: nnU-Net looks for the dataset folder under its results folder.
	var root, id string
	if v2 {
		root, id = os.Getenv("nnUNet_results"), o["-d"][0]
		if root == "" {
			return fmt.Errorf("nnUNet_results is not defined")
		}
	} else {
		rf := os.Getenv("RESULTS_FOLDER")
		if rf == "" {
			return fmt.Errorf("RESULTS_FOLDER is not defined")
		}
		root, id = filepath.Join(rf, "nnUNet", o["-m"][0]), o["-t"][0]
	}
	if err := findDataset(root, id, v2); err != nil {
		return err
	}
	in := filepath.Join(o["-i"][0], "case_0000.nii.gz")
	img, err := imageio.ReadNIfTI(in)
	if err != nil {
		return fmt.Errorf("no input case: %v", err)
	}
	out := o["-o"][0]
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := imageio.WriteNIfTI(filepath.Join(out, "case.nii.gz"), labelMap(img)); err != nil {
		return err
	}
	if has(o, "--save_probabilities", "--save_npz", "-z") {
		os.WriteFile(filepath.Join(out, "case.npz"), []byte("fake probabilities"), 0o644)
		os.WriteFile(filepath.Join(out, "case.pkl"), []byte("fake properties"), 0o644)
	}
	fmt.Println("Done with case")
	return nil
}

// findDataset checks that root holds Dataset<ID>_* (v2) or Task<ID>_* (v1), or the name itself.
func findDataset(root, id string, v2 bool) error {
	prefix := "Task"
	if v2 {
		prefix = "Dataset"
	}
	var pattern string
	if numRE.MatchString(id) {
		n, _ := strconv.Atoi(id)
		pattern = fmt.Sprintf("%s%03d_*", prefix, n)
	} else {
		pattern = id
	}
	m, _ := filepath.Glob(filepath.Join(root, pattern))
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return nil
		}
	}
	return fmt.Errorf("RuntimeError: Could not find a dataset with the ID %s under %s. Make sure the requested dataset ID exists and that nnU-Net knows where raw and preprocessed data are located", id, root)
}

func ensemble(args []string, v2 bool) error {
	spec := map[string]string{"-i": "many", "-o": "one", "-np": "one", "--save_npz": "flag"}
	inKey := "-i"
	if !v2 {
		spec = map[string]string{"-f": "many", "--folders": "many", "-o": "one", "--output_folder": "one", "-pp": "one", "--postprocessing_file": "one", "--npz": "flag"}
		inKey = "-f"
	}
	o, err := opts(args, spec)
	if err != nil {
		return err
	}
	ins, outs := o[inKey], o["-o"]
	if len(ins) < 2 || len(outs) == 0 {
		return fmt.Errorf("the following arguments are required: %s (two or more), -o", inKey)
	}
	if pp, ok := first(o, "-pp"); ok {
		if _, err := os.Stat(pp); err != nil {
			return fmt.Errorf("postprocessing file: %v", err)
		}
	}
	var sum *imageio.Image
	for _, d := range ins {
		if _, err := os.Stat(filepath.Join(d, "case.npz")); err != nil {
			return fmt.Errorf("%s holds no probabilities (case.npz): predict with --save_probabilities", d)
		}
		img, err := imageio.ReadNIfTI(filepath.Join(d, "case.nii.gz"))
		if err != nil {
			return err
		}
		if sum == nil {
			sum = img
		}
	}
	for i, v := range sum.Data {
		sum.Data[i] = math.Round(v)
	}
	sum.PixelType = "uint8"
	if err := os.MkdirAll(outs[0], 0o755); err != nil {
		return err
	}
	return imageio.WriteNIfTI(filepath.Join(outs[0], "case.nii.gz"), sum)
}
