package dvh

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/dvh/analytic"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// NelmsCase is one structure × dose combination of the Nelms 2015 analytical DVH phantom with the
// analytic expectation derived from the shape's geometry (see internal/dvh/analytic).
type nelmsCase struct {
	name      string
	structure string
	dose      string
	roi       *rt.ROIContours
	oracle    *analytic.Oracle
	// minGy and maxGy are the extremes of the slab model of the contours as drawn: the files close
	// spheres and cones with tiny polygons (0.05 mm² and less) at the poles, whose slabs reach half
	// a spacing beyond the analytic solid; they hold a negligible volume but set Dmin and Dmax.
	minGy, maxGy float64
}

// nelmsShape recognises the shape from the file name: all shapes are 24 mm across; cones have
// their base at +z (axial) or -y (rotated), as the contours show.
func nelmsShape(file string) (analytic.Shape, float64, bool) {
	base := strings.TrimSuffix(filepath.Base(file), ".dcm")
	parts := strings.Split(base, "_")
	if len(parts) < 3 {
		return analytic.Shape{}, 0, false
	}
	spacing := map[string]float64{"02": 0.2, "10": 1, "20": 2, "30": 3}[parts[1]]
	switch parts[0] {
	case "Sphere":
		return analytic.Sphere(12), spacing, true
	case "Cylinder":
		return analytic.Cylinder(12, 24), spacing, true
	case "Cone":
		return analytic.Cone(12, 24, true), spacing, true
	case "RtCylinder":
		return analytic.RotatedCylinder(12, 24), spacing, true
	case "RtCone":
		return analytic.RotatedCone(12, 24), spacing, true
	}
	return analytic.Shape{}, 0, false
}

// nelmsField is the dose of a Nelms dose file: 16 Gy at (0, -6, 6) mm, 1 Gy/mm, decreasing
// towards +y (AntPost) or increasing towards +z (SupInf).
func nelmsField(file string) analytic.Field {
	if strings.Contains(file, "SupInf") {
		return analytic.Field{AlongZ: true, D0: 16, Ref: 6, Slope: 1}
	}
	return analytic.Field{AlongZ: false, D0: 16, Ref: -6, Slope: -1}
}

func nelmsCases(t testing.TB) []nelmsCase {
	root := testutil.SharedTestdata(t, "dicom-rt/nelms-dvh-analytical")
	structs, _ := filepath.Glob(filepath.Join(root, "structures", "*.dcm"))
	doses, _ := filepath.Glob(filepath.Join(root, "dose", "*.dcm"))
	sort.Strings(structs)
	sort.Strings(doses)
	var out []nelmsCase
	for _, sf := range structs {
		shape, spacing, ok := nelmsShape(sf)
		if !ok {
			t.Fatalf("unknown shape %s", sf)
		}
		ss, err := rt.ReadStructureSetFile(sf)
		if err != nil {
			t.Fatal(err)
		}
		var roi *rt.ROIContours
		for _, r := range ss.ROIs {
			if len(r.Contours) > 0 && r.Contours[0].Type == rt.ContourClosedPlanar {
				roi = r
			}
		}
		if roi == nil {
			t.Fatalf("%s: no closed ROI", sf)
		}
		xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		zset := map[float64]bool{}
		for _, c := range roi.Contours {
			for _, p := range c.Points {
				xmin, xmax = math.Min(xmin, p[0]), math.Max(xmax, p[0])
				ymin, ymax = math.Min(ymin, p[1]), math.Max(ymax, p[1])
			}
			zset[math.Round(c.Points[0][2]*1000)/1000] = true
		}
		var zs []float64
		for z := range zset {
			zs = append(zs, z)
		}
		sort.Float64s(zs)
		cz := (zs[0] + zs[len(zs)-1]) / 2
		for _, df := range doses {
			f := nelmsField(df)
			c := nelmsCase{
				name:      filepath.Base(sf) + " × " + filepath.Base(df),
				structure: sf, dose: df, roi: roi,
				oracle: analytic.NewOracle(shape, (xmin+xmax)/2, (ymin+ymax)/2, cz, zs, spacing, f),
			}
			c.minGy, c.maxGy = c.oracle.Min(), c.oracle.Max()
			if f.AlongZ {
				c.minGy, c.maxGy = f.At(zs[0]-spacing/2), f.At(zs[len(zs)-1]+spacing/2)
			}
			out = append(out, c)
		}
	}
	return out
}

// TestNelmsPhantom runs every structure × dose file of the Nelms analytical phantom and compares
// with the analytic slab model: volume within 1 %, Dmean within 0.1 Gy, D95 and D5 within 2 %.
func TestNelmsPhantom(t *testing.T) {
	cases := nelmsCases(t)
	doses := map[string]*rt.DoseVolume{}
	worst := map[string]float64{}
	worstCase := map[string]string{}
	for _, c := range cases {
		dv := doses[c.dose]
		if dv == nil {
			var err error
			if dv, err = rt.LoadDoseVolume(c.dose); err != nil {
				t.Fatal(err)
			}
			doses[c.dose] = dv
		}
		r := Compute(c.roi, dv.Volume, Options{})
		if r.DVH == nil {
			t.Fatalf("%s: skipped: %s", c.name, r.Skipped)
		}
		d, o := r.DVH, c.oracle
		for _, m := range []struct {
			metric     string
			got, want  float64
			tol        float64
			isRelative bool
		}{
			{"volume", d.VolumeCC, o.VolumeCC(), 0.01, true},
			{"Dmean", d.MeanGy, o.Mean(), 0.1, false},
			{"D95", d.DPercent(95), o.DPercent(95), 0.02, true},
			{"D5", d.DPercent(5), o.DPercent(5), 0.02, true},
			{"Dmin", d.MinGy, c.minGy, 0.1, false},
			{"Dmax", d.MaxGy, c.maxGy, 0.1, false},
		} {
			e := math.Abs(m.got - m.want)
			if m.isRelative {
				e /= math.Abs(m.want)
			}
			if e > worst[m.metric] {
				worst[m.metric], worstCase[m.metric] = e, c.name
			}
			if e > m.tol {
				t.Errorf("%s: %s = %.5g, analytic %.5g", c.name, m.metric, m.got, m.want)
			}
		}
	}
	if len(cases) != 300 {
		t.Errorf("%d cases, want 50 structures × 6 doses", len(cases))
	}
	var lines []string
	for m, e := range worst {
		lines = append(lines, fmt.Sprintf("worst %s error %.3g (%s)", m, e, worstCase[m]))
	}
	sort.Strings(lines)
	for _, l := range lines {
		t.Log(l)
	}
	if os.Getenv("RTPIPELINE_PRINT_NELMS") != "" {
		fmt.Println(strings.Join(lines, "\n"))
	}
}
