package dvh

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// MetricVersion identifies the metric definitions written to dvh_qc.json; it changes whenever a
// definition changes.
const MetricVersion = "2026-11-27-rtpipeline-exact-v1"

// VxGyMax is the highest dose of the V<x>Gy columns (1..60 Gy).
const VxGyMax = 60

// MetricColumns lists the metric columns of dvh_metrics in order; the names are the original
// system's, so existing analysis scripts keep working.
func MetricColumns() []string {
	cols := []string{"DmeanGy", "DmaxGy", "DminGy", "D95Gy", "D98Gy", "D2Gy", "D50Gy", "HI", "SpreadGy",
		"D1ccGy", "D0.1ccGy", "D0.03ccGy",
		"Dmean%", "Dmax%", "Dmin%", "D95%", "D98%", "D2%", "D50%", "HI%", "Spread%",
		"Volume (cm³)", "IntegralDose_Gycm3", "V95%Rx (cm³)", "V95%Rx (%)", "V100%Rx (cm³)", "V100%Rx (%)"}
	for x := 1; x <= VxGyMax; x++ {
		cols = append(cols, fmt.Sprintf("V%dGy (cm³)", x))
	}
	for x := 1; x <= VxGyMax; x++ {
		cols = append(cols, fmt.Sprintf("V%dGy (%%)", x))
	}
	return cols
}

// MetricRow computes every metric column for a DVH. rxGy <= 0 (no prescription) leaves the
// Rx-relative columns empty. Values that do not exist are NaN (written as empty cells): D1cc of a
// structure smaller than 1 cm³, HI when D50 is 0.
func MetricRow(d *DVH, rxGy float64) map[string]any {
	row := map[string]any{}
	vol := d.VolumeCC
	dmean, dmax, dmin := d.MeanGy, d.MaxGy, d.MinGy
	d95, d98, d2, d50 := d.DPercent(95), d.DPercent(98), d.DPercent(2), d.DPercent(50)
	hi := math.NaN()
	if d50 > 0 {
		hi = (d2 - d98) / d50
	}
	spread := dmax - dmin
	atLeast := func(cc float64) float64 {
		if vol >= cc {
			return d.DVolume(cc)
		}
		return math.NaN()
	}
	for k, v := range map[string]float64{"DmeanGy": dmean, "DmaxGy": dmax, "DminGy": dmin, "D95Gy": d95, "D98Gy": d98,
		"D2Gy": d2, "D50Gy": d50, "HI": hi, "SpreadGy": spread, "D1ccGy": atLeast(1), "D0.1ccGy": atLeast(0.1),
		"D0.03ccGy": atLeast(0.03), "Volume (cm³)": vol, "IntegralDose_Gycm3": dmean * vol} {
		row[k] = v
	}
	nan := math.NaN()
	rel := func(g float64) float64 {
		if rxGy <= 0 {
			return nan
		}
		return 100 * g / rxGy
	}
	row["Dmean%"], row["Dmax%"], row["Dmin%"] = rel(dmean), rel(dmax), rel(dmin)
	row["D95%"], row["D98%"], row["D2%"], row["D50%"] = rel(d95), rel(d98), rel(d2), rel(d50)
	row["Spread%"] = rel(spread)
	row["HI%"] = nan
	if rxGy > 0 {
		row["HI%"] = 100 * hi
	}
	for _, f := range []struct {
		name string
		frac float64
	}{{"V95%Rx", 0.95}, {"V100%Rx", 1}} {
		cc, pct := nan, nan
		if rxGy > 0 {
			cc, pct = d.V(f.frac*rxGy), d.VPercent(f.frac*rxGy)
		}
		row[f.name+" (cm³)"], row[f.name+" (%)"] = cc, pct
	}
	for x := 1; x <= VxGyMax; x++ {
		row[fmt.Sprintf("V%dGy (cm³)", x)] = d.V(float64(x))
		row[fmt.Sprintf("V%dGy (%%)", x)] = d.VPercent(float64(x))
	}
	return row
}

// Metric is one requested metric of the dvh-calc language.
type Metric struct {
	// Name is the metric as written (e.g. "D95%", "V20Gy"), used as its output key.
	Name string
	kind string
	x    float64
}

var metricRE = regexp.MustCompile(`^(?:(Dmean|Dmin|Dmax)|D(\d+(?:\.\d+)?)(%|cc)|V(\d+(?:\.\d+)?)Gy(%?))$`)

// ParseMetrics parses a comma-separated metric list: Dmean, Dmin, Dmax, D<x>% (minimum dose to
// the hottest x % of the volume, Gy), D<x>cc (the same for x cm³), V<x>Gy (cm³ receiving at
// least x Gy) and V<x>Gy% (the same as a percentage of the volume).
func ParseMetrics(list string) ([]Metric, error) {
	var out []Metric
	for _, raw := range strings.Split(list, ",") {
		name := strings.TrimSpace(raw)
		if name == "" {
			continue
		}
		m := metricRE.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("unknown metric %q (use Dmean, Dmin, Dmax, D<x>%%, D<x>cc, V<x>Gy or V<x>Gy%%)", name)
		}
		mt := Metric{Name: name}
		switch {
		case m[1] != "":
			mt.kind = m[1]
		case m[2] != "":
			mt.x, _ = strconv.ParseFloat(m[2], 64)
			mt.kind = "D" + m[3]
			if m[3] == "%" && mt.x > 100 {
				return nil, fmt.Errorf("metric %q: a percentage above 100", name)
			}
		default:
			mt.x, _ = strconv.ParseFloat(m[4], 64)
			mt.kind = "VGy" + m[5]
		}
		out = append(out, mt)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no metric given")
	}
	return out, nil
}

// Eval computes the metric on a DVH (NaN when it does not exist, e.g. D2cc of a 1 cm³ ROI).
func (m Metric) Eval(d *DVH) float64 {
	switch m.kind {
	case "Dmean":
		return d.MeanGy
	case "Dmin":
		return d.MinGy
	case "Dmax":
		return d.MaxGy
	case "D%":
		return d.DPercent(m.x)
	case "Dcc":
		if m.x > d.VolumeCC {
			return math.NaN()
		}
		return d.DVolume(m.x)
	case "VGy":
		return d.V(m.x)
	case "VGy%":
		return d.VPercent(m.x)
	}
	return math.NaN()
}
