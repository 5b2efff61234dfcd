// Command dvhbench compares `rtpipeline dvh-calc` with plastimatch (convert + dvh) side by side:
// on every structure × dose case of the Nelms analytical DVH phantom, and on a synthetic course
// with 30 ROIs on a 512×512×150 CT and a 2.5 mm dose grid. It reports wall times and both tools'
// errors against analytic values, as Markdown. Run it through bench/dvh.sh.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/dvh/analytic"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// metrics are the values compared.
type metrics struct {
	VolumeCC, Dmean, Dmin, Dmax, D95, D5 float64
}

func main() {
	rtp := flag.String("rtpipeline", "rtpipeline", "rtpipeline binary")
	nelms := flag.String("nelms", "../shared/testdata/dicom-rt/nelms-dvh-analytical", "Nelms phantom folder")
	work := flag.String("work", "/tmp/rtpipeline-dvhbench", "work folder")
	limit := flag.Int("limit", 0, "only the first N Nelms cases (0 = all)")
	flag.Parse()
	if err := os.MkdirAll(*work, 0o755); err != nil {
		log.Fatal(err)
	}
	fmt.Println("## Nelms analytical phantom (structure × dose files)")
	fmt.Println()
	nelmsBench(*rtp, *nelms, *work, *limit)
	fmt.Println()
	fmt.Println("## Synthetic course: 30 ROIs, 512×512×150 CT, 2.5 mm dose grid")
	fmt.Println()
	courseBench(*rtp, *work)
}

// ---- running the tools -------------------------------------------------------------------

func run(name string, args ...string) (time.Duration, []byte) {
	t0 := time.Now()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return time.Since(t0), out
}

// ours runs dvh-calc and returns metrics per ROI name.
func ours(rtp, rs, rd string) (time.Duration, map[string]metrics) {
	t0 := time.Now()
	out, err := exec.Command(rtp, "dvh-calc", "--rtstruct", rs, "--rtdose", rd, "--format", "json", "--max-workers", "2",
		"--metrics", "Dmean,Dmin,Dmax,D95%,D5%").Output()
	d := time.Since(t0)
	if err != nil {
		log.Fatalf("dvh-calc %s: %v", rs, err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		log.Fatal(err)
	}
	res := map[string]metrics{}
	for _, r := range rows {
		if _, skipped := r["skipped"]; skipped {
			continue
		}
		f := func(k string) float64 {
			v, _ := r[k].(float64)
			return v
		}
		res[r["roi_name"].(string)] = metrics{f("volume_cc"), f("Dmean"), f("Dmin"), f("Dmax"), f("D95%"), f("D5%")}
	}
	return d, res
}

// plastimatch converts the structure set (rasterised on the referenced CT) and the dose, runs
// plastimatch dvh with 0.01 Gy bins, and derives the metrics from its cumulative voxel counts.
func plastimatch(dir, rs, ctDir, rd string, maxGy float64) (time.Duration, map[string]metrics) {
	os.MkdirAll(dir, 0o755)
	ss, list, dose, csvOut := filepath.Join(dir, "ss.nrrd"), filepath.Join(dir, "ss.txt"), filepath.Join(dir, "dose.nrrd"), filepath.Join(dir, "dvh.csv")
	bins := int(math.Ceil(maxGy/0.01)) + 10
	t1, _ := run("plastimatch", "convert", "--input", rs, "--referenced-ct", ctDir, "--output-ss-img", ss, "--output-ss-list", list)
	t2, _ := run("plastimatch", "convert", "--input", rd, "--output-dose-img", dose)
	t3, _ := run("plastimatch", "dvh", "--input-ss-img", ss, "--input-ss-list", list, "--input-dose", dose, "--output-csv", csvOut,
		"--num-bins", strconv.Itoa(bins), "--bin-width", "0.01", "--normalization", "vox")
	voxel := nrrdVoxelVolume(ss)
	return t1 + t2 + t3, parsePlastimatchCSV(csvOut, voxel)
}

func nrrdVoxelVolume(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if strings.HasPrefix(line, "space directions:") {
			v := 1.0
			for _, tok := range strings.Fields(strings.TrimPrefix(line, "space directions:")) {
				tok = strings.Trim(tok, "()")
				var x, y, z float64
				if _, err := fmt.Sscanf(tok, "%g,%g,%g", &x, &y, &z); err == nil {
					v *= math.Sqrt(x*x + y*y + z*z)
				}
			}
			return v / 1000
		}
	}
	log.Fatalf("%s: no space directions", path)
	return 0
}

func parsePlastimatchCSV(path string, voxelCC float64) map[string]metrics {
	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	header := strings.Split(lines[0], ",")
	cols := make([][]float64, len(header))
	for _, l := range lines[1:] {
		for i, f := range strings.Split(l, ",") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(f), 64)
			cols[i] = append(cols[i], v)
		}
	}
	dose := cols[0]
	out := map[string]metrics{}
	for c := 1; c < len(header); c++ {
		cum := cols[c] // voxels receiving at least dose[i]
		if len(cum) == 0 || cum[0] == 0 {
			continue
		}
		total := cum[0]
		m := metrics{VolumeCC: total * voxelCC}
		sum := 0.0
		m.Dmin = math.NaN()
		for i := 0; i+1 < len(cum); i++ {
			n := cum[i] - cum[i+1]
			sum += n * (dose[i] + dose[i+1]) / 2
			if n > 0 && math.IsNaN(m.Dmin) {
				m.Dmin = dose[i]
			}
			if cum[i+1] > 0 {
				m.Dmax = dose[i+1]
			}
		}
		m.Dmean = sum / total
		at := func(frac float64) float64 {
			target := frac * total
			for i := 0; i+1 < len(cum); i++ {
				if cum[i+1] < target {
					if cum[i] == cum[i+1] {
						return dose[i]
					}
					return dose[i] + (cum[i]-target)/(cum[i]-cum[i+1])*(dose[i+1]-dose[i])
				}
			}
			return dose[len(dose)-1]
		}
		m.D95, m.D5 = at(0.95), at(0.05)
		out[header[c]] = m
	}
	return out
}

// ---- Nelms -------------------------------------------------------------------------------

type errStats struct {
	n                              int
	vol, mean, d95, d5             []float64
	maxVol, maxMean, maxD95, maxD5 float64
	sumVol, sumMean, sumD95, sumD5 float64
	timeOurs, timeTheirs           time.Duration
	casesFaster, casesMoreAccurate int
	worstRatio                     float64
}

func (s *errStats) add(got, want metrics) (volE, meanE, d95E, d5E float64) {
	volE = math.Abs(got.VolumeCC-want.VolumeCC) / want.VolumeCC
	meanE = math.Abs(got.Dmean - want.Dmean)
	d95E = math.Abs(got.D95-want.D95) / want.D95
	d5E = math.Abs(got.D5-want.D5) / want.D5
	s.n++
	s.sumVol += volE
	s.sumMean += meanE
	s.sumD95 += d95E
	s.sumD5 += d5E
	s.maxVol = math.Max(s.maxVol, volE)
	s.maxMean = math.Max(s.maxMean, meanE)
	s.maxD95 = math.Max(s.maxD95, d95E)
	s.maxD5 = math.Max(s.maxD5, d5E)
	return
}

func nelmsShape(file string) (analytic.Shape, float64) {
	parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".dcm"), "_")
	spacing := map[string]float64{"02": 0.2, "10": 1, "20": 2, "30": 3}[parts[1]]
	switch parts[0] {
	case "Sphere":
		return analytic.Sphere(12), spacing
	case "Cylinder":
		return analytic.Cylinder(12, 24), spacing
	case "Cone":
		return analytic.Cone(12, 24, true), spacing
	case "RtCylinder":
		return analytic.RotatedCylinder(12, 24), spacing
	}
	return analytic.RotatedCone(12, 24), spacing
}

func nelmsBench(rtp, root, work string, limit int) {
	structs, _ := filepath.Glob(filepath.Join(root, "structures", "*.dcm"))
	doses, _ := filepath.Glob(filepath.Join(root, "dose", "*.dcm"))
	sort.Strings(structs)
	sort.Strings(doses)
	var usOurs, usTheirs errStats
	n := 0
	for _, sf := range structs {
		ss, err := rt.ReadStructureSetFile(sf)
		if err != nil {
			log.Fatal(err)
		}
		var roi *rt.ROIContours
		for _, r := range ss.ROIs {
			if len(r.Contours) > 0 && r.Contours[0].Type == rt.ContourClosedPlanar {
				roi = r
			}
		}
		xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		zset := map[float64]bool{}
		for _, c := range roi.Contours {
			for _, p := range c.Points {
				xmin, xmax, ymin, ymax = math.Min(xmin, p[0]), math.Max(xmax, p[0]), math.Min(ymin, p[1]), math.Max(ymax, p[1])
			}
			zset[math.Round(c.Points[0][2]*1000)/1000] = true
		}
		var zs []float64
		for z := range zset {
			zs = append(zs, z)
		}
		sort.Float64s(zs)
		shape, spacing := nelmsShape(sf)
		for _, df := range doses {
			if limit > 0 && n >= limit {
				break
			}
			n++
			field := analytic.Field{AlongZ: false, D0: 16, Ref: -6, Slope: -1}
			if strings.Contains(df, "SupInf") {
				field = analytic.Field{AlongZ: true, D0: 16, Ref: 6, Slope: 1}
			}
			o := analytic.NewOracle(shape, (xmin+xmax)/2, (ymin+ymax)/2, (zs[0]+zs[len(zs)-1])/2, zs, spacing, field)
			want := metrics{VolumeCC: o.VolumeCC(), Dmean: o.Mean(), D95: o.DPercent(95), D5: o.DPercent(5)}
			tOurs, got := ours(rtp, sf, df)
			tTheirs, theirs := plastimatch(filepath.Join(work, "nelms"), sf, filepath.Join(root, "ct-3mm"), df, 40)
			g, ok1 := got[roi.Name]
			p, ok2 := theirs[roi.Name]
			if !ok1 || !ok2 {
				log.Fatalf("%s × %s: ROI %q missing (ours %v, plastimatch %v)", sf, df, roi.Name, ok1, ok2)
			}
			oe := [4]float64{}
			pe := [4]float64{}
			oe[0], oe[1], oe[2], oe[3] = usOurs.add(g, want)
			pe[0], pe[1], pe[2], pe[3] = usTheirs.add(p, want)
			usOurs.timeOurs += tOurs
			usTheirs.timeTheirs += tTheirs
			if tOurs < tTheirs {
				usOurs.casesFaster++
			}
			if oe[0] <= pe[0] && oe[1] <= pe[1] && oe[2] <= pe[2] && oe[3] <= pe[3] {
				usOurs.casesMoreAccurate++
			}
			usOurs.worstRatio = math.Max(usOurs.worstRatio, float64(tOurs)/float64(tTheirs))
		}
	}
	fmt.Printf("%d cases (50 structure sets × 6 dose grids). plastimatch rasterises the structures on the phantom's 3 mm CT (`plastimatch convert --referenced-ct`), as users run it; rtpipeline needs no CT.\n\n", n)
	fmt.Println("| tool | total wall time | mean volume error | max volume error | mean Dmean error (Gy) | max Dmean error (Gy) | mean D95 error | max D95 error | mean D5 error | max D5 error |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	row := func(name string, s errStats, t time.Duration) {
		k := float64(s.n)
		fmt.Printf("| %s | %.1f s | %.3f %% | %.3f %% | %.4f | %.4f | %.3f %% | %.3f %% | %.3f %% | %.3f %% |\n", name, t.Seconds(),
			100*s.sumVol/k, 100*s.maxVol, s.sumMean/k, s.maxMean, 100*s.sumD95/k, 100*s.maxD95, 100*s.sumD5/k, 100*s.maxD5)
	}
	row("rtpipeline dvh-calc", usOurs, usOurs.timeOurs)
	row("plastimatch convert + dvh", usTheirs, usTheirs.timeTheirs)
	fmt.Printf("\nrtpipeline was faster on %d of %d cases (slowest ratio rtpipeline/plastimatch: %.2f) and at least as accurate on all four metrics in %d of %d cases.\n",
		usOurs.casesFaster, n, usOurs.worstRatio, usOurs.casesMoreAccurate, n)
}

// ---- synthetic course --------------------------------------------------------------------

func courseBench(rtp, work string) {
	dir := filepath.Join(work, "course")
	rs, rd, ctDir, truth := buildCourse(dir)
	tOurs, got := ours(rtp, rs, rd)
	tTheirs, theirs := plastimatch(filepath.Join(work, "course-plastimatch"), rs, ctDir, rd, truth.rx*1.2)
	fmt.Printf("%d ROIs (the phantom's 8 plus 22 spheres), CT 512×512×%d, dose grid 2.5 mm. Expected values: every sphere's volume from its slab model; GTV dose = the prescription (%.0f Gy) everywhere.\n\n", len(got), truth.slices, truth.rx)
	fmt.Printf("| tool | wall time | ROIs | mean sphere volume error | max sphere volume error | GTV Dmean error (Gy) | GTV D95 error (Gy) |\n|---|---|---|---|---|---|---|\n")
	for _, t := range []struct {
		name string
		d    time.Duration
		m    map[string]metrics
	}{{"rtpipeline dvh-calc", tOurs, got}, {"plastimatch convert + dvh", tTheirs, theirs}} {
		sum, worst, n := 0.0, 0.0, 0
		for name, v := range truth.volumes {
			m, ok := t.m[name]
			if !ok {
				continue
			}
			e := math.Abs(m.VolumeCC-v) / v
			sum += e
			worst = math.Max(worst, e)
			n++
		}
		g := t.m["GTV"]
		fmt.Printf("| %s | %.2f s | %d | %.3f %% | %.3f %% | %.3f | %.3f |\n", t.name, t.d.Seconds(), len(t.m), 100*sum/float64(n), 100*worst,
			math.Abs(g.Dmean-truth.rx), math.Abs(g.D95-truth.rx))
	}
	fmt.Printf("\nWall-time ratio rtpipeline / plastimatch: %.2f.\n", tOurs.Seconds()/tTheirs.Seconds())
}

type courseTruth struct {
	rx      float64
	slices  int
	volumes map[string]float64 // sphere ROI → slab-model volume (cm³)
}

// buildCourse synthesises one course (512×512×150 CT), rewrites its dose on a 2.5 mm grid from
// the analytic model, and adds 22 spheres to its structure set.
func buildCourse(dir string) (rsPath, rdPath, ctDir string, ct courseTruth) {
	if _, err := os.Stat(filepath.Join(dir, "truth.json")); err != nil {
		os.RemoveAll(dir)
		if _, err := synth.Generate(context.Background(), dir, synth.Options{Patients: 1, Seed: 5, Matrix: 512, MinSlices: 150, MaxSlices: 150,
			Scenarios: []string{synth.ScenarioSingleCourse}}); err != nil {
			log.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		log.Fatal(err)
	}
	var truth synth.Truth
	if err := json.Unmarshal(data, &truth); err != nil {
		log.Fatal(err)
	}
	pt := truth.Patients[0]
	c := pt.Courses[0]
	var origRS, origRD, anyCT string
	for _, f := range pt.Files {
		switch {
		case f.SOPInstanceUID == c.RTStructUID:
			origRS = filepath.Join(dir, "dicom", f.Path)
		case len(c.DoseUIDs) > 0 && f.SOPInstanceUID == c.DoseUIDs[0]:
			origRD = filepath.Join(dir, "dicom", f.Path)
		case f.Modality == "CT" && anyCT == "":
			anyCT = filepath.Join(dir, "dicom", f.Path)
		}
	}
	ctDir = filepath.Join(dir, "ct")
	if _, err := os.Stat(ctDir); err != nil {
		os.MkdirAll(ctDir, 0o755)
		for _, f := range pt.Files {
			if f.Modality == "CT" {
				src := filepath.Join(dir, "dicom", f.Path)
				os.Link(src, filepath.Join(ctDir, filepath.Base(src)))
			}
		}
	}
	var thickness float64
	for _, s := range c.CTSeries {
		if s.SeriesUID == c.CTSeriesUID {
			thickness = s.SliceThicknessMM
		}
	}
	var zs []float64
	files, _ := filepath.Glob(filepath.Join(ctDir, "*"))
	for _, f := range files {
		h, err := dicomio.ReadHeader(f)
		if err != nil {
			log.Fatal(err)
		}
		zs = append(zs, h.Floats(dicomio.TagImagePositionPatient)[2])
	}
	sort.Float64s(zs)
	ct = courseTruth{rx: c.RxGy, slices: len(zs), volumes: map[string]float64{}}
	rdPath = filepath.Join(dir, "RD_2.5mm.dcm")
	rsPath = filepath.Join(dir, "RS_30rois.dcm")
	writeDose(origRD, rdPath, truth, c, zs)
	ct.volumes = writeStructures(origRS, rsPath, c, zs, thickness)
	return rsPath, rdPath, ctDir, ct
}

// writeDose writes the course dose on a 2.5 mm grid covering the body, from the analytic model.
func writeDose(orig, path string, truth synth.Truth, c synth.CourseTruth, zs []float64) {
	f, err := dicomio.ReadHeader(orig)
	if err != nil {
		log.Fatal(err)
	}
	const sp = 2.5
	nx, ny := int(380/sp)+1, int(300/sp)+1
	nz := int((zs[len(zs)-1]-zs[0])/sp) + 1
	origin := [3]float64{-190, -150, zs[0]}
	comps := c.Doses[0].Components
	doseAt := func(x, y, z float64) float64 {
		d := 0.0
		for _, k := range comps {
			r := math.Sqrt((x-k.CenterMM[0])*(x-k.CenterMM[0]) + (y-k.CenterMM[1])*(y-k.CenterMM[1]) + (z-k.CenterMM[2])*(z-k.CenterMM[2]))
			switch {
			case r <= k.PlateauRadiusMM:
				d += k.PeakGy
			case r < k.ZeroRadiusMM:
				d += k.PeakGy * (k.ZeroRadiusMM - r) / (k.ZeroRadiusMM - k.PlateauRadiusMM)
			}
		}
		return d
	}
	scale := c.RxGy * 1.5 / 4e9
	pix := make([]byte, 0, 4*nx*ny*nz)
	offs := make([]float64, nz)
	for k := 0; k < nz; k++ {
		offs[k] = float64(k) * sp
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				q := uint32(math.Round(doseAt(origin[0]+float64(i)*sp, origin[1]+float64(j)*sp, origin[2]+float64(k)*sp) / scale))
				pix = append(pix, byte(q), byte(q>>8), byte(q>>16), byte(q>>24))
			}
		}
	}
	b := dicomio.ToBuilder(&f.Dataset).
		DS(dicomio.TagImagePositionPatient, origin[:]...).
		DS(dicomio.TagImageOrientationPatient, 1, 0, 0, 0, 1, 0).
		DS(dicomio.TagPixelSpacing, sp, sp).Ints(dicomio.TagRows, ny).Ints(dicomio.TagColumns, nx).
		IS(dicomio.TagNumberOfFrames, nz).DS(dicomio.TagGridFrameOffsetVector, offs...).
		Str(dicomio.TagDoseGridScaling, dicomio.FormatDS(scale)).PixelData(pix)
	if err := b.WriteFile(path, rt.SOPClassRTDose, f.String(dicomio.TagSOPInstanceUID), dicomio.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
}

// writeStructures copies the structure set and adds 22 spheres (radius 8-30 mm) placed around
// the body, contoured on every CT plane they cut; it returns each sphere's slab-model volume.
func writeStructures(orig, path string, c synth.CourseTruth, zs []float64, thickness float64) map[string]float64 {
	f, err := dicomio.ReadFile(orig)
	if err != nil {
		log.Fatal(err)
	}
	ds := &f.Dataset
	b := dicomio.ToBuilder(ds)
	frame := c.FrameOfReferenceUID
	var roiItems, contourItems, obsItems []*dicomio.Builder
	for _, it := range ds.Seq(dicomio.TagStructureSetROISequence) {
		roiItems = append(roiItems, dicomio.ToBuilder(it))
	}
	for _, it := range ds.Seq(dicomio.TagROIContourSequence) {
		contourItems = append(contourItems, dicomio.ToBuilder(it))
	}
	for _, it := range ds.Seq(dicomio.TagRTROIObservationsSequence) {
		obsItems = append(obsItems, dicomio.ToBuilder(it))
	}
	volumes := map[string]float64{"GTV": 0, "PTV": 0}
	zmid := (zs[0] + zs[len(zs)-1]) / 2
	for i := 0; i < 22; i++ {
		num := 100 + i
		name := fmt.Sprintf("SPHERE_%02d", i+1)
		r := 8 + float64(i%12)*2
		ang := 2 * math.Pi * float64(i) / 22
		cx, cy := 90*math.Cos(ang), 60*math.Sin(ang)
		cz := zmid + float64(i%5-2)*40
		var contours []*dicomio.Builder
		var planes []float64
		for _, z := range zs {
			dz := z - cz
			if math.Abs(dz) >= r {
				continue
			}
			rr := math.Sqrt(r*r - dz*dz)
			const n = 128
			vals := make([]float64, 0, 3*n)
			for k := 0; k < n; k++ {
				a := 2 * math.Pi * float64(k) / n
				vals = append(vals, cx+rr*math.Cos(a), cy+rr*math.Sin(a), z)
			}
			contours = append(contours, dicomio.NewBuilder().Str(dicomio.TagContourGeometricType, "CLOSED_PLANAR").
				IS(dicomio.TagNumberOfContourPoints, n).DS(dicomio.TagContourData, vals...))
			planes = append(planes, z)
		}
		volumes[name] = analytic.NewOracle(analytic.Sphere(r), cx, cy, cz, planes, thickness, analytic.Field{AlongZ: true}).VolumeCC()
		roiItems = append(roiItems, dicomio.NewBuilder().IS(dicomio.TagROINumber, num).Str(dicomio.TagReferencedFrameOfReferenceUID, frame).
			Str(dicomio.TagROIName, name).Str(dicomio.TagROIGenerationAlgorithm, "MANUAL"))
		contourItems = append(contourItems, dicomio.NewBuilder().IS(dicomio.TagReferencedROINumber, num).
			IS(dicomio.TagROIDisplayColor, 255, 0, 0).Seq(dicomio.TagContourSequence, contours...))
		obsItems = append(obsItems, dicomio.NewBuilder().IS(dicomio.TagObservationNumber, num).IS(dicomio.TagReferencedROINumber, num).
			Str(dicomio.TagRTROIInterpretedType, "ORGAN").Str(dicomio.TagROIInterpreter, ""))
	}
	for _, roi := range []struct {
		name string
		r    float64
	}{{"GTV", c.GTVRadiusMM}, {"PTV", c.PTVRadiusMM}} {
		var planes []float64
		for _, z := range zs {
			if math.Abs(z-c.PTVCenterMM[2]) < roi.r {
				planes = append(planes, z)
			}
		}
		volumes[roi.name] = analytic.NewOracle(analytic.Sphere(roi.r), c.PTVCenterMM[0], c.PTVCenterMM[1], c.PTVCenterMM[2], planes, thickness, analytic.Field{AlongZ: true}).VolumeCC()
	}
	b.Seq(dicomio.TagStructureSetROISequence, roiItems...).Seq(dicomio.TagROIContourSequence, contourItems...).
		Seq(dicomio.TagRTROIObservationsSequence, obsItems...)
	if err := b.WriteFile(path, rt.SOPClassRTStructureSet, ds.String(dicomio.TagSOPInstanceUID), dicomio.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
	return volumes
}
