package synth

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// TestDcmdumpReadsEverySOPClass runs DCMTK's dcmdump on one file of each modality in each
// transfer syntax and requires a clean parse.
func TestDcmdumpReadsEverySOPClass(t *testing.T) {
	dcmdump := testutil.Tool(t, "dcmdump")
	dir, truth := cohort(t)
	picked := map[string]string{}
	for _, p := range truth.Patients {
		for _, f := range p.Files {
			key := f.Modality + " " + p.TransferSyntax
			if f.Category == CategoryPlaced && picked[key] == "" {
				picked[key] = dicomPath(dir, f)
			}
		}
	}
	if len(picked) != 10 {
		t.Errorf("%d modality/transfer-syntax pairs, want 10: %v", len(picked), picked)
	}
	for key, path := range picked {
		t.Run(key, func(t *testing.T) {
			out, err := exec.Command(dcmdump, "-q", path).CombinedOutput()
			if err != nil {
				t.Fatalf("dcmdump %s: %v\n%s", path, err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "E:") {
					t.Errorf("dcmdump %s: %s", path, line)
				}
			}
		})
	}
}

// TestPlastimatchConvertsCTAndStructures converts, for one patient of each position, the course
// CT to NRRD and the RTSTRUCT to masks on that CT, and requires non-empty masks (the GTV and
// BODY masks must hold set voxels).
func TestPlastimatchConvertsCTAndStructures(t *testing.T) {
	plastimatch := testutil.Tool(t, "plastimatch")
	dir, truth := cohort(t)
	for _, pos := range positions {
		t.Run(pos, func(t *testing.T) {
			var p PatientTruth
			for _, q := range truth.Patients {
				if q.PatientPosition == pos && len(q.Courses) > 0 && q.Courses[0].CTSeriesUID != "" && q.Courses[0].RTStructUID != "" {
					p = q
					break
				}
			}
			if p.PatientID == "" {
				t.Fatal("no patient with a CT and an RTSTRUCT in this position")
			}
			c := p.Courses[0]
			work := t.TempDir()
			ctDir := filepath.Join(work, "ct")
			var rsPath string
			for _, f := range p.Files {
				if f.Category != CategoryPlaced {
					continue
				}
				switch {
				case f.SOPInstanceUID == c.RTStructUID:
					rsPath = dicomPath(dir, f)
				case f.Modality == "CT":
					hdr, err := dicomio.ReadHeader(dicomPath(dir, f))
					if err != nil {
						t.Fatal(err)
					}
					if hdr.String(dicomio.TagSeriesInstanceUID) == c.CTSeriesUID {
						if _, err := fsutil.LinkOrCopy(dicomPath(dir, f), filepath.Join(ctDir, f.SOPInstanceUID+".dcm")); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			run := func(args ...string) {
				t.Helper()
				cmd := exec.Command(plastimatch, args...)
				cmd.Dir = work
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("plastimatch %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			run("convert", "--input", ctDir, "--output-img", "ct.nrrd")
			if st, err := os.Stat(filepath.Join(work, "ct.nrrd")); err != nil || st.Size() == 0 {
				t.Fatalf("ct.nrrd: %v", err)
			}
			run("convert", "--input", rsPath, "--referenced-ct", ctDir, "--output-prefix", "masks")
			masks, err := filepath.Glob(filepath.Join(work, "masks", "*"))
			if err != nil || len(masks) != len(c.ROIs) {
				t.Fatalf("masks %v (%v), want one per ROI of %v", masks, err, c.ROIs)
			}
			for _, m := range masks {
				data, err := os.ReadFile(m)
				if err != nil || len(data) == 0 {
					t.Fatalf("%s: empty (%v)", m, err)
				}
				roi := strings.TrimSuffix(filepath.Base(m), filepath.Ext(m))
				if roi != "GTV" && roi != "BODY" {
					continue
				}
				i := bytes.Index(data, []byte("ElementDataFile = LOCAL\n"))
				if i < 0 || bytes.Count(data[i:], []byte{0}) == len(data[i:])-len("ElementDataFile = LOCAL\n") {
					t.Errorf("%s holds no set voxel", m)
				}
			}
		})
	}
}
