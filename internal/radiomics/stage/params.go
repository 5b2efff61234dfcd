package stage

import (
	"fmt"

	"github.com/rtpipeline/rtpipeline/internal/radiomics"
)

// Names of the parameter sets, as they appear in the params column and radiomics_qc.json.
const (
	ParamsCT       = "ct"
	ParamsCTLarge  = "ct_large_roi"
	ParamsMR       = "mr"
	ParamsMRT1Norm = "mr_t1_normalized"
)

// MRBinCount is the fixed bin count the original forces on every MR extraction (its binWidth
// is dropped); OptionsFromConfig applies it to an MR parameter file without binCount.
const MRBinCount = 64

// paramSets are the parameter sets of one run.
type paramSets struct {
	ct, large, mr, mrT1 *radiomics.Params
}

func (ps *paramSets) byName(name string) *radiomics.Params {
	switch name {
	case ParamsCT:
		return ps.ct
	case ParamsCTLarge:
		return ps.large
	case ParamsMR:
		return ps.mr
	case ParamsMRT1Norm:
		return ps.mrT1
	}
	return nil
}

// resolveParams fills the defaults of Options and derives the MR pair (normalisation off / on).
func resolveParams(opts Options) (*paramSets, error) {
	ps := &paramSets{ct: opts.CTParams, large: opts.LargeParams, mr: opts.MRParams}
	if ps.ct == nil {
		ps.ct = radiomics.DefaultCTParams()
	}
	if ps.large == nil {
		ps.large = radiomics.LargeROIParams(ps.ct)
	}
	if ps.mr == nil {
		ps.mr = radiomics.DefaultMRParams()
	}
	if ps.ct == nil || ps.large == nil || ps.mr == nil {
		return nil, fmt.Errorf("radiomics parameters missing")
	}
	ps.mr = withNormalize(ps.mr, false)
	ps.mrT1 = withNormalize(ps.mr, true)
	return ps, nil
}

// cloneParams returns a copy of p whose settings can be changed without touching p.
func cloneParams(p *radiomics.Params) *radiomics.Params {
	c := *p
	c.Settings = p.Settings.Clone()
	c.ImageTypes = make([]radiomics.ImageType, len(p.ImageTypes))
	for i, it := range p.ImageTypes {
		c.ImageTypes[i] = radiomics.ImageType{Name: it.Name, Settings: it.Settings.Clone()}
	}
	c.FeatureClasses = append([]radiomics.FeatureClass(nil), p.FeatureClasses...)
	return &c
}

// withNormalize returns a copy of p with normalize set globally and for every image type.
func withNormalize(p *radiomics.Params, on bool) *radiomics.Params {
	c := cloneParams(p)
	c.Settings.Normalize = on
	for i := range c.ImageTypes {
		c.ImageTypes[i].Settings.Normalize = on
	}
	return c
}

// withLabel returns a copy of p that extracts label (globally and for every image type).
func withLabel(p *radiomics.Params, label int) *radiomics.Params {
	c := cloneParams(p)
	c.Settings.Label = label
	for i := range c.ImageTypes {
		c.ImageTypes[i].Settings.Label = label
	}
	return c
}

// withMRBinCount returns a copy of p with binCount MRBinCount wherever no bin count is set, as
// the original does for every MR extraction.
func withMRBinCount(p *radiomics.Params) *radiomics.Params {
	c := cloneParams(p)
	if c.Settings.BinCount == 0 {
		c.Settings.BinCount = MRBinCount
	}
	for i := range c.ImageTypes {
		if c.ImageTypes[i].Settings.BinCount == 0 {
			c.ImageTypes[i].Settings.BinCount = MRBinCount
		}
	}
	return c
}

// extractorSpacing returns the voxel size the extractor resamples to for an image of native
// spacing sp (an axis with 0 or no resampling keeps its spacing).
func extractorSpacing(p *radiomics.Params, sp [3]float64) [3]float64 {
	out := sp
	for a, v := range p.Settings.ResampledPixelSpacing {
		if a < 3 && v > 0 {
			out[a] = v
		}
	}
	return out
}

// featureCount is the number of feature keys a parameter set yields (without diagnostics).
func featureCount(p *radiomics.Params) int { return p.FeatureCount() }
