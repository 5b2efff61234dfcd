package structures

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/synth"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// rsTestCreated fixes the creation time so that written files are reproducible.
var rsTestCreated = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// rsMaskFunc builds a mask on a grid from a predicate on (index, patient point).
func rsMaskFunc(g *grid.Grid, in func(i, j, k int, p grid.Vec) bool) *imageio.Image {
	m := &imageio.Image{Grid: cloneGrid(g), Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	n := 0
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				if in(i, j, k, g.Point(i, j, k)) {
					m.Data[n] = 1
				}
				n++
			}
		}
	}
	return m
}

// rsEllipsoid tells whether p lies inside the ellipsoid about c with semi-axes a (mm).
func rsEllipsoid(p, c grid.Vec, a [3]float64) bool {
	d := p.Sub(c)
	return rsSq(d[0]/a[0])+rsSq(d[1]/a[1])+rsSq(d[2]/a[2]) < 1
}

func rsSq(x float64) float64 { return x * x }

// rsPhantomMasks returns test ROIs on the reference image, defined in patient coordinates
// relative to the image centre (so every patient position gets the same anatomy): a sphere, an
// ellipsoidal shell with an island in its cavity, a one-voxel-thick slanted plate (staircases
// and saddles), a thin rod along the slices, a single voxel, a region cut by the image border,
// the phantom's lungs and heart when anat is given, a thresholded noisy CT region (speckle
// with holes, islands and saddles everywhere), and an empty mask.
func rsPhantomMasks(ct *imageio.Image, anat []synth.Shape) []NamedMask {
	g := ct.Grid
	lo, hi := g.Bounds()
	c := lo.Add(hi).Scale(0.5)
	sp := math.Min(g.Spacing[0], g.Spacing[1])
	nrm := grid.Vec{0.6, 0.48, 0.64}
	mid := [3]int{g.Size[0] / 2, g.Size[1] / 3, g.Size[2] / 2}
	rois := []NamedMask{
		{Name: "Sphere", Mask: rsMaskFunc(g, func(_, _, _ int, p grid.Vec) bool {
			return p.Sub(c.Add(grid.Vec{-40, 15, 0})).Norm() < 22
		})},
		{Name: "Shell_island", Color: [3]uint8{10, 20, 30}, Mask: rsMaskFunc(g, func(_, _, _ int, p grid.Vec) bool {
			q := c.Add(grid.Vec{45, -10, 2})
			return rsEllipsoid(p, q, [3]float64{48, 36, 20}) && !rsEllipsoid(p, q, [3]float64{32, 22, 14}) ||
				p.Sub(q).Norm() < 8
		})},
		{Name: "Plate", Algorithm: "MANUAL", Mask: rsMaskFunc(g, func(_, _, _ int, p grid.Vec) bool {
			d := p.Sub(c.Add(grid.Vec{0, 60, 0}))
			return math.Abs(d.Dot(nrm)) < 0.45*sp && d.Norm() < 60
		})},
		{Name: "Rod", Algorithm: "SEMIAUTOMATIC", Mask: rsMaskFunc(g, func(i, j, _ int, _ grid.Vec) bool {
			return i == g.Size[0]/3 && j == g.Size[1]/2
		})},
		{Name: "Single_voxel", Mask: rsMaskFunc(g, func(i, j, k int, _ grid.Vec) bool {
			return i == mid[0] && j == mid[1] && k == mid[2]
		})},
		{Name: "Border", Algorithm: "EXTERNAL", Mask: rsMaskFunc(g, func(i, j, k int, _ grid.Vec) bool {
			return (i < 4 || j >= g.Size[1]-3) && k%3 != 1
		})},
		{Name: "Speckle", Mask: rsMaskFunc(g, func(i, j, k int, p grid.Vec) bool {
			return ct.Data[ct.Index(i, j, k)] > 30 && p.Sub(c).Norm() < 90
		})},
		{Name: "Empty", Mask: rsMaskFunc(g, func(int, int, int, grid.Vec) bool { return false })},
	}
	for _, s := range anat {
		if s.ROI == "" || s.Kind != "ellipsoid" {
			continue
		}
		rois = append(rois, NamedMask{Name: s.ROI, Mask: rsMaskFunc(g, func(_, _, _ int, p grid.Vec) bool {
			return rsEllipsoid(p, grid.Vec(s.CenterMM), s.SemiAxeMM)
		})})
	}
	return rois
}

// rsCount returns the number of mask voxels and their centroid (mm).
func rsCount(m *imageio.Image) (int, grid.Vec) {
	n := 0
	var sum grid.Vec
	g := m.Grid
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				if inMask(m.Data[m.Index(i, j, k)]) {
					n++
					sum = sum.Add(g.Point(i, j, k))
				}
			}
		}
	}
	if n > 0 {
		sum = sum.Scale(1 / float64(n))
	}
	return n, sum
}

// rsRoundTrip reads a written structure set back, checks its ROIs against the masks (same
// names, numbers, contour well-formedness, Rasterize giving each mask back exactly) and
// returns the minimum Dice.
func rsRoundTrip(t *testing.T, path string, ref *ReferenceSeries, rois []NamedMask) float64 {
	t.Helper()
	ss, err := rt.ReadStructureSetFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss.ROIs) != len(rois) {
		t.Fatalf("%d ROIs read, %d written", len(ss.ROIs), len(rois))
	}
	if ss.FrameOfRef != ref.FrameOfReferenceUID {
		t.Errorf("frame of reference %q, want %q", ss.FrameOfRef, ref.FrameOfReferenceUID)
	}
	minDice := 1.0
	for i, r := range ss.ROIs {
		want := rois[i]
		if r.Name != want.Name || r.Number != i+1 {
			t.Errorf("ROI %d is %d %q, want %d %q", i, r.Number, r.Name, i+1, want.Name)
		}
		for ci, c := range r.Contours {
			if c.Type != rt.ContourClosedPlanar || len(c.Points) < 4 {
				t.Errorf("ROI %q contour %d: %s with %d points", r.Name, ci, c.Type, len(c.Points))
			}
		}
		back, warnings, err := Rasterize(r, ref.Image)
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) > 0 {
			t.Errorf("ROI %q: rasterisation warnings %q", r.Name, warnings)
		}
		nw, cw := rsCount(want.Mask)
		nb, cb := rsCount(back)
		if nw == 0 && len(r.Contours) != 0 {
			t.Errorf("empty ROI %q has %d contours", r.Name, len(r.Contours))
		}
		d := Dice(want.Mask, back)
		minDice = math.Min(minDice, d)
		if d != 1 || nw != nb || cw.Sub(cb).Norm() > 1e-9 {
			t.Errorf("ROI %q: Dice %v, %d voxels written and %d read back, centroid %v and %v", r.Name, d, nw, nb, cw, cb)
		}
		if vw, vb := MaskVolume(want.Mask), MaskVolume(back); math.Abs(vw-vb) > 1e-12*vw {
			t.Errorf("ROI %q: volume %v cm³ written, %v read back", r.Name, vw, vb)
		}
	}
	return minDice
}

// rsCheckReferences checks the header and that each contour references the slice it lies on.
func rsCheckReferences(t *testing.T, path string, ref *ReferenceSeries) {
	t.Helper()
	f, err := dicomio.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[dicomio.Tag]string{
		dicomio.TagSOPClassUID:       rt.SOPClassRTStructureSet,
		dicomio.TagModality:          "RTSTRUCT",
		dicomio.TagPatientID:         ref.PatientID,
		dicomio.TagPatientName:       ref.PatientName,
		dicomio.TagPatientBirthDate:  ref.PatientBirthDate,
		dicomio.TagPatientSex:        ref.PatientSex,
		dicomio.TagStudyInstanceUID:  ref.StudyInstanceUID,
		dicomio.TagStudyDate:         ref.StudyDate,
		dicomio.TagStudyID:           ref.StudyID,
		dicomio.TagAccessionNumber:   ref.AccessionNumber,
		dicomio.TagStructureSetLabel: defaultStructureSetLabel,
		dicomio.TagStructureSetDate:  "20240506",
	} {
		if got := f.Text(tag); got != want {
			t.Errorf("%s is %q, want %q", tag, got, want)
		}
	}
	for _, tag := range []dicomio.Tag{dicomio.TagSOPInstanceUID, dicomio.TagSeriesInstanceUID} {
		u := f.String(tag)
		if u == "" || u == ref.SeriesInstanceUID || len(u) > 64 || !regexp.MustCompile(`^2\.25\.[1-9][0-9]*$`).MatchString(u) {
			t.Errorf("%s %q is not a new 2.25 UID", tag, u)
		}
	}
	h := rt.ParseStructureSet(&f.Dataset)
	if len(h.ReferencedSeries) != 1 || h.ReferencedSeries[0] != ref.SeriesInstanceUID ||
		len(h.ReferencedStudies) != 1 || h.ReferencedStudies[0] != ref.StudyInstanceUID {
		t.Errorf("references study %v series %v", h.ReferencedStudies, h.ReferencedSeries)
	}
	all := append([]string(nil), ref.SOPInstanceUIDs...)
	sort.Strings(all)
	if strings.Join(h.ReferencedImages, ",") != strings.Join(all, ",") {
		t.Errorf("referenced images %d, want the %d slices", len(h.ReferencedImages), len(all))
	}
	g := ref.Image.Grid
	rfor := f.Seq(dicomio.TagReferencedFrameOfReferenceSequence)
	if len(rfor) != 1 || len(rfor[0].Seq(dicomio.TagRTReferencedStudySequence)) != 1 {
		t.Fatalf("ReferencedFrameOfReferenceSequence %d items", len(rfor))
	}
	series := rfor[0].Seq(dicomio.TagRTReferencedStudySequence)[0].Seq(dicomio.TagRTReferencedSeriesSequence)
	if len(series) != 1 || len(series[0].Seq(dicomio.TagContourImageSequence)) != g.Size[2] {
		t.Fatalf("RTReferencedSeriesSequence does not list every slice")
	}
	numbers := map[int]bool{}
	for _, it := range f.Seq(dicomio.TagStructureSetROISequence) {
		n, _ := it.Int(dicomio.TagROINumber)
		if numbers[n] || it.String(dicomio.TagReferencedFrameOfReferenceUID) != ref.FrameOfReferenceUID {
			t.Errorf("ROI number %d repeated or without frame of reference", n)
		}
		numbers[n] = true
	}
	for _, it := range f.Seq(dicomio.TagRTROIObservationsSequence) {
		n, _ := it.Int(dicomio.TagReferencedROINumber)
		if !numbers[n] || it.String(dicomio.TagRTROIInterpretedType) == "" {
			t.Errorf("observation of ROI %d: type %q", n, it.String(dicomio.TagRTROIInterpretedType))
		}
	}
	contours := 0
	for _, it := range f.Seq(dicomio.TagROIContourSequence) {
		n, _ := it.Int(dicomio.TagReferencedROINumber)
		if !numbers[n] || len(it.Floats(dicomio.TagROIDisplayColor)) != 3 {
			t.Errorf("ROI contour of ROI %d: colour %v", n, it.Floats(dicomio.TagROIDisplayColor))
		}
		for _, c := range it.Seq(dicomio.TagContourSequence) {
			contours++
			pts := c.Floats(dicomio.TagContourData)
			np, _ := c.Int(dicomio.TagNumberOfContourPoints)
			if np*3 != len(pts) || np < 3 {
				t.Fatalf("NumberOfContourPoints %d for %d values", np, len(pts))
			}
			_, _, fk := g.ContinuousIndex(grid.Vec{pts[0], pts[1], pts[2]})
			k := int(math.Round(fk))
			imgs := c.Seq(dicomio.TagContourImageSequence)
			if len(imgs) != 1 || imgs[0].String(dicomio.TagReferencedSOPInstanceUID) != ref.SOPInstanceUIDs[k] ||
				imgs[0].String(dicomio.TagReferencedSOPClassUID) != ref.SOPClassUID {
				t.Fatalf("contour on slice %d does not reference that slice", k)
			}
		}
	}
	if contours == 0 {
		t.Error("no contours")
	}
}

// rsDcmdump runs dcmdump on the file and requires a clean parse.
func rsDcmdump(t *testing.T, path string) {
	t.Helper()
	tool := testutil.Tool(t, "dcmdump")
	out, err := exec.Command(tool, "-dc", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dcmdump failed: %v\n%s", err, rsLastLines(out, 20))
	}
	for _, line := range strings.Split(string(out), "\n") {
		l := strings.ToLower(line)
		if strings.HasPrefix(l, "e:") || strings.HasPrefix(l, "w:") || strings.Contains(l, "error") || strings.Contains(l, "warning") {
			t.Errorf("dcmdump: %s", line)
		}
	}
	if !bytes.Contains(out, []byte("(3006,0039)")) {
		t.Error("dcmdump shows no ROIContourSequence")
	}
}

// rsPlastimatch converts the structure set with plastimatch on the reference CT and compares
// plastimatch's per-ROI voxel counts with the masks'. It returns the largest relative count
// difference over ROIs of at least 100 voxels. plastimatch combines the contours of a slice by
// union unless told --xor-contours, which would fill every hole.
func rsPlastimatch(t *testing.T, rsPath, ctDir string, rois []NamedMask) float64 {
	t.Helper()
	tool := testutil.Tool(t, "plastimatch")
	outDir := filepath.Join(t.TempDir(), "plm")
	cmd := exec.Command(tool, "convert", "--input", rsPath, "--referenced-ct", ctDir, "--output-prefix", outDir,
		"--prefix-format", "nrrd", "--xor-contours")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("plastimatch convert failed: %v\n%s", err, rsLastLines(out, 30))
	}
	worst := 0.0
	for _, r := range rois {
		want, _ := rsCount(r.Mask)
		path := filepath.Join(outDir, r.Name+".nrrd")
		if _, err := os.Stat(path); err != nil {
			if want == 0 {
				continue // plastimatch writes no image for an ROI without contours
			}
			entries, _ := os.ReadDir(outDir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("plastimatch wrote no %s (files %v)\n%s", path, names, rsLastLines(out, 30))
		}
		im, err := imageio.ReadNRRD(path)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := rsCount(im)
		rel := math.Abs(float64(got-want)) / math.Max(1, float64(want))
		t.Logf("plastimatch %-14s %6d voxels, ours %6d (%+.2f%%), Dice %.4f", r.Name, got, want, 100*float64(got-want)/math.Max(1, float64(want)), Dice(im, r.Mask))
		if want >= 100 {
			worst = math.Max(worst, rel)
		}
	}
	return worst
}

func rsLastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestWriteRTSTRUCTSynthPositions writes masks on synthetic CT series in the four patient
// positions (HFS, FFS, HFP, FFP, written by internal/synth) and reads them back: exact round
// trips, references, dcmdump and plastimatch.
func TestWriteRTSTRUCTSynthPositions(t *testing.T) {
	dir := t.TempDir()
	truth, err := synth.Generate(context.Background(), dir, synth.Options{Patients: 4, Seed: 11, Matrix: 96,
		MinSlices: 20, MaxSlices: 24, Scenarios: []string{synth.ScenarioCTOnly}, NoiseHU: 40})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range truth.Patients {
		var ctDir string
		for _, f := range p.Files {
			if f.Modality == "CT" {
				ctDir = filepath.Join(dir, "dicom", filepath.Dir(filepath.FromSlash(f.Path)))
			}
		}
		seen[p.PatientPosition] = true
		t.Run(p.PatientPosition, func(t *testing.T) {
			ref, err := LoadReferenceSeries(ctDir)
			if err != nil {
				t.Fatal(err)
			}
			if ref.PatientID != p.PatientID || ref.PatientName != p.PatientName || ref.SOPClassUID != rt.SOPClassCTImage {
				t.Errorf("reference patient %q %q class %s", ref.PatientID, ref.PatientName, ref.SOPClassUID)
			}
			rois := rsPhantomMasks(ref.Image, truth.Anatomy)
			rsPath := filepath.Join(t.TempDir(), "RS_auto.dcm")
			if err := WriteRTSTRUCT(rsPath, ref, rois, WriteOptions{Created: rsTestCreated}); err != nil {
				t.Fatal(err)
			}
			d := rsRoundTrip(t, rsPath, ref, rois)
			rsCheckReferences(t, rsPath, ref)
			rsDcmdump(t, rsPath)
			worst := rsPlastimatch(t, rsPath, ctDir, rois)
			t.Logf("%s: %d ROIs, %v grid, min Dice %.6f, plastimatch worst count difference %.2f%%",
				p.PatientPosition, len(rois), ref.Image.Grid.Size, d, 100*worst)
			if worst > 0.03 {
				t.Errorf("plastimatch voxel counts differ by up to %.2f%%", 100*worst)
			}
		})
	}
	for _, pos := range []string{"HFS", "FFS", "HFP", "FFP"} {
		if !seen[pos] {
			t.Errorf("no %s patient in the synthetic cohort", pos)
		}
	}
}

// rsSeriesSpec describes a hand-made image series.
type rsSeriesSpec struct {
	iop          []float64
	origin       grid.Vec
	ps           [2]float64 // row spacing, column spacing
	rows, cols   int
	slices       int
	step         float64
	patientName  string
	frameOfRef   string
	shuffleNames bool
}

// rsWriteSeries writes a CT series with the given geometry into dir (with patient, study and
// frame of reference attributes) and returns its series UID.
func rsWriteSeries(t *testing.T, dir string, s rsSeriesSpec) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	series := dicomio.DeriveUID("rs-test-series", dir)
	row := grid.Vec{s.iop[0], s.iop[1], s.iop[2]}
	col := grid.Vec{s.iop[3], s.iop[4], s.iop[5]}
	n := row.Cross(col)
	for k := 0; k < s.slices; k++ {
		ipp := s.origin.Add(n.Scale(float64(k) * s.step))
		pix := make([]byte, 2*s.rows*s.cols)
		for j := 0; j < s.rows; j++ {
			for i := 0; i < s.cols; i++ {
				binary.LittleEndian.PutUint16(pix[2*(j*s.cols+i):], uint16(1024+(i*7+j*3+k)%50))
			}
		}
		uid := dicomio.DeriveUID("rs-test-slice", series, fmt.Sprint(k))
		b := dicomio.NewBuilder().Str(dicomio.TagSOPClassUID, rt.SOPClassCTImage).Str(dicomio.TagSOPInstanceUID, uid).
			Str(dicomio.TagModality, "CT").Str(dicomio.TagSeriesInstanceUID, series).
			Str(dicomio.TagStudyInstanceUID, "1.2.826.0.1.3680043.10.543.1").Str(dicomio.TagFrameOfReferenceUID, s.frameOfRef).
			Str(dicomio.TagPatientID, "RS-TEST").Str(dicomio.TagPatientName, s.patientName).Str(dicomio.TagPatientSex, "F").
			Str(dicomio.TagPatientBirthDate, "19600101").Str(dicomio.TagStudyDate, "20240102").Str(dicomio.TagStudyTime, "101010").
			Str(dicomio.TagStudyID, "S1").Str(dicomio.TagAccessionNumber, "A1").Str(dicomio.TagReferringPhysicianName, "DOC^TOR").
			DS(dicomio.TagImagePositionPatient, ipp[:]...).DS(dicomio.TagImageOrientationPatient, s.iop...).
			DS(dicomio.TagPixelSpacing, s.ps[0], s.ps[1]).DS(dicomio.TagSliceThickness, s.step).
			IS(dicomio.TagInstanceNumber, k+1).
			Ints(dicomio.TagRows, s.rows).Ints(dicomio.TagColumns, s.cols).
			Ints(dicomio.TagSamplesPerPixel, 1).Str(dicomio.TagPhotometricInterpretation, "MONOCHROME2").
			Ints(dicomio.TagBitsAllocated, 16).Ints(dicomio.TagBitsStored, 16).
			Ints(dicomio.TagHighBit, 15).Ints(dicomio.TagPixelRepresentation, 1).
			DS(dicomio.TagRescaleSlope, 1).DS(dicomio.TagRescaleIntercept, -1024)
		if !rsIsASCII(s.patientName) {
			b.Str(dicomio.TagSpecificCharacterSet, "ISO_IR 192")
		}
		b.PixelData(pix)
		name := fmt.Sprintf("CT%03d.dcm", k)
		if s.shuffleNames {
			name = fmt.Sprintf("CT%03d.dcm", (k*7)%s.slices)
		}
		if err := b.WriteFile(filepath.Join(dir, name), rt.SOPClassCTImage, uid, dicomio.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return series
}

// TestWriteRTSTRUCTOblique round-trips masks on an oblique series with non-square pixels whose
// files are stored out of order, with a non-ASCII patient name and ROI name (ISO_IR 192), and
// masks given on a flipped copy of the grid (same voxel centres, other index order).
func TestWriteRTSTRUCTOblique(t *testing.T) {
	dir := t.TempDir()
	ctDir := filepath.Join(dir, "ct")
	c, s := math.Cos(0.5), math.Sin(0.5)
	ct, ta := math.Cos(0.25), math.Sin(0.25)
	rsWriteSeries(t, ctDir, rsSeriesSpec{
		iop:    []float64{c, s, 0, -s * ct, c * ct, ta},
		origin: grid.Vec{-60.25, -40.5, -30}, ps: [2]float64{1.5, 1.1}, rows: 56, cols: 64, slices: 12, step: 3,
		patientName: "MÜLLER^JÖRG", frameOfRef: "1.2.826.0.1.3680043.10.543.2", shuffleNames: true,
	})
	ref, err := LoadReferenceSeries(ctDir)
	if err != nil {
		t.Fatal(err)
	}
	if ref.PatientName != "MÜLLER^JÖRG" || ref.FrameOfReferenceUID != "1.2.826.0.1.3680043.10.543.2" || ref.ReferringPhysicianName != "DOC^TOR" {
		t.Fatalf("reference %+v", ref)
	}
	rois := rsPhantomMasks(ref.Image, nil)
	rois[0].Name = "Lunge_Läsion"
	// A mask on the same points with flipped i and k axes.
	g := ref.Image.Grid
	fg := cloneGrid(g)
	fg.Origin = g.Point(g.Size[0]-1, 0, g.Size[2]-1)
	fg.Axes[0], fg.Axes[2] = g.Axes[0].Scale(-1), g.Axes[2].Scale(-1)
	flipped := &imageio.Image{Grid: fg, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	for k := 0; k < g.Size[2]; k++ {
		for j := 0; j < g.Size[1]; j++ {
			for i := 0; i < g.Size[0]; i++ {
				flipped.Data[flipped.Index(g.Size[0]-1-i, j, g.Size[2]-1-k)] = rois[1].Mask.Data[rois[1].Mask.Index(i, j, k)]
			}
		}
	}
	rois = append(rois, NamedMask{Name: "Shell_flipped", Mask: flipped})
	rsPath := filepath.Join(dir, "RS.dcm")
	if err := WriteRTSTRUCT(rsPath, ref, rois, WriteOptions{Created: rsTestCreated}); err != nil {
		t.Fatal(err)
	}
	rsRoundTrip(t, rsPath, ref, rois)
	rsCheckReferences(t, rsPath, ref)
	f, err := dicomio.ReadFile(rsPath)
	if err != nil {
		t.Fatal(err)
	}
	if cs := f.String(dicomio.TagSpecificCharacterSet); cs != "ISO_IR 192" {
		t.Errorf("SpecificCharacterSet %q", cs)
	}
	rsDcmdump(t, rsPath)
	rsPlastimatch(t, rsPath, ctDir, rois[:len(rois)-1])
}

// TestWriteRTSTRUCTOptionsAndErrors covers defaults, generation algorithm and interpreted type
// mapping, empty structure sets, reproducibility, the UID root and refused inputs.
func TestWriteRTSTRUCTOptionsAndErrors(t *testing.T) {
	dir := t.TempDir()
	ctDir := filepath.Join(dir, "ct")
	rsWriteSeries(t, ctDir, rsSeriesSpec{iop: []float64{-1, 0, 0, 0, -1, 0}, origin: grid.Vec{20, 10, 5},
		ps: [2]float64{2, 2}, rows: 16, cols: 20, slices: 5, step: 2.5, patientName: "DOE^JANE", frameOfRef: "1.2.3.4"})
	ref, err := LoadReferenceSeries(ctDir)
	if err != nil {
		t.Fatal(err)
	}
	box := rsMaskFunc(ref.Image.Grid, func(i, j, k int, _ grid.Vec) bool { return i > 3 && i < 9 && j > 2 && j < 6 && k > 0 })
	empty := rsMaskFunc(ref.Image.Grid, func(int, int, int, grid.Vec) bool { return false })

	// Interpreted types and generation algorithms.
	p := filepath.Join(dir, "a.dcm")
	rois := []NamedMask{{Name: "A", Mask: box}, {Name: "B", Mask: box, Algorithm: "manual"}, {Name: "C", Mask: box, Algorithm: "PTV"},
		{Name: "D", Mask: box, Algorithm: "SEMIAUTOMATIC", InterpretedType: "AVOIDANCE"}, {Name: "E", Mask: empty}}
	if err := WriteRTSTRUCT(p, ref, rois, WriteOptions{Created: rsTestCreated}); err != nil {
		t.Fatal(err)
	}
	ss, err := rt.ReadStructureSetFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range ss.ROIs {
		got = append(got, fmt.Sprintf("%s:%s:%s:%d", r.Name, r.GenerationAlgo, r.InterpretedType, len(r.Contours)))
	}
	if want := "A:AUTOMATIC:ORGAN:4 B:MANUAL:ORGAN:4 C:AUTOMATIC:PTV:4 D:SEMIAUTOMATIC:AVOIDANCE:4 E:AUTOMATIC:ORGAN:0"; strings.Join(got, " ") != want {
		t.Errorf("ROIs %q, want %q", strings.Join(got, " "), want)
	}
	f, _ := dicomio.ReadFile(p)
	if n := len(f.Seq(dicomio.TagROIContourSequence)); n != 4 {
		t.Errorf("%d ROI contour items, want 4 (none for the empty ROI)", n)
	}
	if f.Has(dicomio.TagSpecificCharacterSet) {
		t.Error("SpecificCharacterSet written for ASCII text")
	}
	if f.String(dicomio.TagSeriesDescription) != defaultSeriesDescription || f.String(dicomio.TagManufacturer) != defaultManufacturer {
		t.Errorf("defaults %q %q", f.String(dicomio.TagSeriesDescription), f.String(dicomio.TagManufacturer))
	}

	// Reproducible with a fixed creation time; another time gives other UIDs.
	p2 := filepath.Join(dir, "b.dcm")
	if err := WriteRTSTRUCT(p2, ref, rois, WriteOptions{Created: rsTestCreated}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(p2)
	if !bytes.Equal(a, b) {
		t.Error("two writes with the same inputs differ")
	}
	if err := WriteRTSTRUCT(p2, ref, rois, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	f2, _ := dicomio.ReadFile(p2)
	if f2.String(dicomio.TagSOPInstanceUID) == f.String(dicomio.TagSOPInstanceUID) {
		t.Error("a write at another time kept the SOP instance UID")
	}

	// All ROIs empty: still a readable structure set, every ROI without contours.
	p3 := filepath.Join(dir, "c.dcm")
	if err := WriteRTSTRUCT(p3, ref, []NamedMask{{Name: "E", Mask: empty}}, WriteOptions{Created: rsTestCreated,
		UIDRoot: "1.2.826.0.1.3680043.10.543", StructureSetLabel: "TEST", SeriesDescription: "Test set"}); err != nil {
		t.Fatal(err)
	}
	ss, err = rt.ReadStructureSetFile(p3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss.ROIs) != 1 || len(ss.ROIs[0].Contours) != 0 || ss.Header.Label != "TEST" {
		t.Errorf("empty structure set read as %+v", ss.Header)
	}
	if u := ss.SOPInstanceUID; !strings.HasPrefix(u, "1.2.826.0.1.3680043.10.543.") || len(u) > 64 {
		t.Errorf("SOP instance UID %q under the given root", u)
	}
	rsDcmdump(t, p3)

	// Refused inputs.
	other := rsMaskFunc(&grid.Grid{Origin: grid.Vec{0, 0, 0}, Axes: ref.Image.Grid.Axes, Spacing: [3]float64{1, 1, 1}, Size: [3]int{4, 4, 4}},
		func(int, int, int, grid.Vec) bool { return true })
	bad := *ref
	bad.FrameOfReferenceUID = ""
	for _, tc := range []struct {
		name string
		ref  *ReferenceSeries
		rois []NamedMask
		opt  WriteOptions
		want string
	}{
		{"no ROIs", ref, nil, WriteOptions{}, "no ROIs"},
		{"duplicate", ref, []NamedMask{{Name: "A", Mask: box}, {Name: "A", Mask: box}}, WriteOptions{}, "both named"},
		{"backslash", ref, []NamedMask{{Name: `A\B`, Mask: box}}, WriteOptions{}, "not allowed"},
		{"no name", ref, []NamedMask{{Name: " ", Mask: box}}, WriteOptions{}, "no name"},
		{"long name", ref, []NamedMask{{Name: strings.Repeat("x", 65), Mask: box}}, WriteOptions{}, "more than 64"},
		{"algorithm", ref, []NamedMask{{Name: "A", Mask: box, Algorithm: "GUESSED"}}, WriteOptions{}, "Algorithm"},
		{"no mask", ref, []NamedMask{{Name: "A"}}, WriteOptions{}, "no mask"},
		{"other grid", ref, []NamedMask{{Name: "A", Mask: other}}, WriteOptions{}, "does not sample"},
		{"label", ref, []NamedMask{{Name: "A", Mask: box}}, WriteOptions{StructureSetLabel: strings.Repeat("L", 17)}, "StructureSetLabel"},
		{"root", ref, []NamedMask{{Name: "A", Mask: box}}, WriteOptions{UIDRoot: "1.02.3"}, "UID root"},
		{"frame of reference", &bad, []NamedMask{{Name: "A", Mask: box}}, WriteOptions{}, "FrameOfReferenceUID"},
	} {
		err := WriteRTSTRUCT(filepath.Join(dir, "x.dcm"), tc.ref, tc.rois, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.dcm")); err == nil {
		t.Error("a refused write left a file")
	}
}

// TestLoadReferenceSeriesErrors checks that folders without a usable series are refused.
func TestLoadReferenceSeriesErrors(t *testing.T) {
	if _, err := LoadReferenceSeries(t.TempDir()); err == nil {
		t.Error("empty folder accepted")
	}
	dir := t.TempDir()
	rsWriteSeries(t, dir, rsSeriesSpec{iop: []float64{1, 0, 0, 0, 1, 0}, ps: [2]float64{1, 1}, rows: 4, cols: 4, slices: 2, step: 1,
		patientName: "X"})
	if _, err := LoadReferenceSeries(dir); err == nil || !strings.Contains(err.Error(), "FrameOfReferenceUID") {
		t.Errorf("series without frame of reference: %v", err)
	}
}

// BenchmarkWriteRTSTRUCT writes 20 organ-like masks (ellipsoids with semi-axes of 15 to 115 mm,
// half with a cavity) on a 512×512×150 CT grid. To keep memory moderate (a float64 mask of that
// grid is 315 MB) the 20 ROIs share four mask images; every ROI is still traced and encoded on
// its own.
func BenchmarkWriteRTSTRUCT(b *testing.B) {
	g := &grid.Grid{Origin: grid.Vec{-249.5, -249.5, -300}, Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
		Spacing: [3]float64{0.977, 0.977, 2}, Size: [3]int{512, 512, 150}}
	ref := &ReferenceSeries{Image: &imageio.Image{Grid: g}, SOPClassUID: rt.SOPClassCTImage, StudyInstanceUID: "1.2.3",
		SeriesInstanceUID: "1.2.3.4", FrameOfReferenceUID: "1.2.3.5", PatientID: "BENCH"}
	for k := 0; k < g.Size[2]; k++ {
		ref.SOPInstanceUIDs = append(ref.SOPInstanceUIDs, fmt.Sprintf("1.2.3.4.%d", k+1))
	}
	var masks []*imageio.Image
	for m := 0; m < 4; m++ {
		c := grid.Vec{float64(m*60 - 90), float64(m%2*40 - 20), -150}
		a := [3]float64{20 + float64(m)*20, 15 + float64(m)*15, 40 + float64(m)*25}
		half := [3]float64{a[0] / 2, a[1] / 2, a[2] / 2}
		mask := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
		// The grid is axis-aligned: visit only the ellipsoid's bounding box.
		lo, hi := [3]int{}, [3]int{}
		for d := 0; d < 3; d++ {
			lo[d] = max(0, int((c[d]-a[d]-g.Origin[d])/g.Spacing[d]))
			hi[d] = min(g.Size[d]-1, int((c[d]+a[d]-g.Origin[d])/g.Spacing[d])+1)
		}
		for k := lo[2]; k <= hi[2]; k++ {
			for j := lo[1]; j <= hi[1]; j++ {
				for i := lo[0]; i <= hi[0]; i++ {
					p := g.Point(i, j, k)
					if rsEllipsoid(p, c, a) && (m%2 == 0 || !rsEllipsoid(p, c, half)) {
						mask.Data[mask.Index(i, j, k)] = 1
					}
				}
			}
		}
		masks = append(masks, mask)
	}
	var rois []NamedMask
	for r := 0; r < 20; r++ {
		rois = append(rois, NamedMask{Name: fmt.Sprintf("Organ_%02d", r+1), Mask: masks[r%len(masks)]})
	}
	path := filepath.Join(b.TempDir(), "RS.dcm")
	b.ResetTimer()
	for b.Loop() {
		if err := WriteRTSTRUCT(path, ref, rois, WriteOptions{Created: rsTestCreated}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/1e6, "MB/file")
	}
}
