package radiomics

// PyRadiomics 3.0.1 parameter files (RadiomicsFeatureExtractor.loadParams / _applyParams and its
// pykwalify schema radiomics/schemas/paramSchema.yaml), parsed strictly.
//
// Structure. A file is one YAML mapping with up to four sections: imageType, featureClass,
// setting and voxelSetting. Anything else is an error naming the key.
//
//   - imageType maps image type names (Original, LoG, Wavelet, Square, SquareRoot, Logarithm,
//     Exponential, Gradient) to their own settings, which override the global ones for that type
//     only; null and {} mean no overrides (PyRadiomics needs {}: a null crashes its execute). The
//     file order is kept. Missing or empty: Original only. PyRadiomics' LBP2D and LBP3D are
//     errors (not implemented). As in PyRadiomics, the preprocessing settings (resampling,
//     normalisation, mask checks, label) are taken from the global settings only; per image type
//     they are accepted but have no effect.
//   - featureClass maps class names (shape, shape2D, firstorder, glcm, glrlm, glszm, gldm, ngtdm)
//     to null or [] (all non-deprecated features) or a list of feature names, kept in file order
//     (duplicates are dropped, as PyRadiomics' dict does). Missing or empty: every class except
//     shape2D in PyRadiomics' order, firstorder, glcm, gldm, glrlm, glszm, ngtdm, shape (the
//     alphabetical module order of radiomics.getFeatureClasses). PyRadiomics' _applyParams also
//     lists shape2D there, but computes it only for 2-D input or force2D with a one-slice ROI;
//     rtpipeline enables shape2D only when asked for.
//   - Deprecated PyRadiomics features requested by name are errors: shape Compactness1,
//     Compactness2 and SphericalDisproportion, shape2D SphericalDisproportion and firstorder
//     StandardDeviation (PyRadiomics still computes these, rtpipeline does not implement them),
//     glcm Dissimilarity, Homogeneity1, Homogeneity2 and SumVariance and gldm DependencePercentage
//     and GrayLevelNonUniformityNormalized (PyRadiomics raises a DeprecationWarning and emits no
//     value). The message names the equivalent feature.
//   - setting holds the global settings: every Settings field under its PyRadiomics name, plus
//     rtpipeline's "ibsi" (bool, Settings.IBSI). Keys the schema allows that change no value
//     rtpipeline computes are validated and otherwise ignored: label_channel (vector masks) and
//     the LBP filter settings lbp2DRadius, lbp2DSamples, lbp2DMethod, lbp3DLevels,
//     lbp3DIcosphereRadius, lbp3DIcosphereSubdivision. enableCExtensions is not a setting.
//   - voxelSetting (kernelRadius, maskedKernel, initValue, voxelBatch) is validated and ignored:
//     rtpipeline does no voxel-based extraction.
//
// Values. Types follow the schema with these choices: a number may be given as a YAML string
// that parses as one (PyYAML, YAML 1.1, reads 1e-6 as a string); numbers given for integer
// settings must be integers; voxelArrayShift and gldm_a may be any number (the schema says int);
// booleans must be YAML booleans (true/false, not yes/no). binWidth and binCount may both be
// given: binCount then wins, as in PyRadiomics (both are kept in Settings). interpolator accepts
// sitkBSpline, sitkLinear and sitkNearestNeighbor or SimpleITK's codes 3, 2, 1; PyRadiomics' other
// interpolators (codes 4-10) are errors (not implemented); null switches resampling off as in
// PyRadiomics (Settings.Interpolator "" and ResampledPixelSpacing nil). A key given twice in one
// mapping is an error (PyYAML keeps the last silently). All problems are collected and reported
// together (errors.Join), sorted by line.

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/rtpipeline/rtpipeline/internal/radiomics/filter"
)

//go:embed params/ct.yaml
var paramsCTYAML []byte

//go:embed params/mr.yaml
var paramsMRYAML []byte

// ParseParams parses a PyRadiomics 3.0.1 parameter file (YAML; JSON is YAML too) onto
// DefaultSettings. source names the file in error messages and becomes Params.Source. Every
// problem found is reported, joined, each as
// `radiomics params <source>: setting "binWidth" (line 12): must be > 0, got -1`.
func ParseParams(data []byte, source string) (*Params, error) {
	ps := &paramParser{source: source}
	p := ps.parse(data)
	if len(ps.problems) > 0 {
		sort.SliceStable(ps.problems, func(a, b int) bool { return ps.problems[a].line < ps.problems[b].line })
		errs := make([]error, len(ps.problems))
		for i, pr := range ps.problems {
			errs[i] = pr.err
		}
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// LoadParams reads and parses a parameter file; Source is the path.
func LoadParams(path string) (*Params, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("radiomics params: %w", err)
	}
	return ParseParams(data, path)
}

var (
	paramsCT = sync.OnceValue(func() *Params { return mustParseBuiltin(paramsCTYAML, "builtin:ct") })
	paramsMR = sync.OnceValue(func() *Params {
		p := mustParseBuiltin(paramsMRYAML, "builtin:mr")
		// rtpipeline's MR override, applied as PyRadiomics applies a keyword setting
		// (RadiomicsFeatureExtractor(params, binCount=64)): globally, after the file.
		p.Settings.BinCount = 64
		for i := range p.ImageTypes {
			p.ImageTypes[i].Settings.BinCount = 64
		}
		p.setGlobalLiteral("binCount", "64")
		return p
	})
)

func mustParseBuiltin(data []byte, source string) *Params {
	p, err := ParseParams(data, source)
	if err != nil {
		panic(err)
	}
	return p
}

// DefaultCTParams returns rtpipeline's CT recipe, the embedded params/ct.yaml (Source
// "builtin:ct"): Original, LoG (sigma 1, 2, 3, 5 mm) and coif1 wavelet images; shape,
// firstorder, glcm, glrlm, glszm, gldm, ngtdm; 1 mm B-spline resampling, bin width 25. It
// yields 1223 features. Every call returns a new copy.
func DefaultCTParams() *Params { return paramsCT().clone() }

// DefaultMRParams returns rtpipeline's MR recipe, the embedded params/mr.yaml (Original and LoG
// sigma 2, 3, 4 mm; same classes as CT) with rtpipeline's override binCount 64 applied, so
// binWidth is not used (Source "builtin:mr"). It yields 386 features. Every call returns a new
// copy.
func DefaultMRParams() *Params { return paramsMR().clone() }

// LargeROIParams returns the reduced extractor for very large ROIs derived from CT params (nil:
// DefaultCTParams): the Original image type only, the classes shape and firstorder only (with
// ct's feature lists where it restricts them), and resampledPixelSpacing [2, 2, 2]; every other
// setting is ct's. Source is ct.Source + "+largeROI". ct is not modified. With all features it
// yields 32 (14 shape + 18 firstorder).
func LargeROIParams(ct *Params) *Params {
	if ct == nil {
		ct = DefaultCTParams()
	}
	q := ct.clone()
	q.Source = ct.Source + "+largeROI"
	spacing := []float64{2, 2, 2}
	q.Settings.ResampledPixelSpacing = slices.Clone(spacing)

	orig := ImageType{Name: ImageOriginal, Settings: q.Settings.Clone()}
	var origLit []litEntry
	for _, it := range q.ImageTypes {
		if it.Name == ImageOriginal {
			orig = it
			orig.Settings.ResampledPixelSpacing = slices.Clone(spacing)
			if q.lit != nil {
				origLit = q.lit.imageTypes[ImageOriginal]
			}
		}
	}
	q.ImageTypes = []ImageType{orig}

	var classes []FeatureClass
	for _, c := range q.FeatureClasses {
		if c.Name == ClassShape || c.Name == ClassFirstOrder {
			classes = append(classes, c)
		}
	}
	for _, name := range []string{ClassFirstOrder, ClassShape} {
		if !slices.ContainsFunc(classes, func(c FeatureClass) bool { return c.Name == name }) {
			classes = append(classes, FeatureClass{Name: name})
		}
	}
	q.FeatureClasses = classes

	if q.lit != nil {
		q.lit.imageTypes = map[string][]litEntry{ImageOriginal: origLit}
	}
	q.setGlobalLiteral("resampledPixelSpacing", "[2, 2, 2]")
	return q
}

// FeatureCount returns the number of feature keys (diagnostics excluded) an extraction with p
// emits when every image of every image type is computed: shape and shape2D once, every other
// enabled class once per image (1 per image type, 1 per distinct LoG sigma, 7·level+1 for
// Wavelet).
func (p *Params) FeatureCount() int {
	n, perImage := 0, 0
	for _, c := range p.FeatureClasses {
		k := len(c.Features)
		if c.Features == nil {
			k = len(paramsClassFeatures(c.Name))
		}
		if c.Name == ClassShape || c.Name == ClassShape2D {
			n += k
		} else {
			perImage += k
		}
	}
	for _, it := range p.ImageTypes {
		n += paramsImageCount(it) * perImage
	}
	return n
}

// paramsImageCount is the number of images an image type yields.
func paramsImageCount(it ImageType) int {
	switch it.Name {
	case ImageLoG:
		names := map[string]bool{}
		for _, s := range it.Settings.Sigma {
			names[filter.LoGName(s)] = true
		}
		return len(names)
	case ImageWavelet:
		if it.Settings.Level < 1 {
			return 0
		}
		return 7*it.Settings.Level + 1
	}
	return 1
}

// SettingsLiteral renders the global settings as PyRadiomics 3.0.1 prints
// diagnostics_Configuration_Settings (str of its settings dict): first the defaults PyRadiomics'
// extractor always holds (minimumROIDimensions, minimumROISize, normalize, normalizeScale,
// removeOutliers, resampledPixelSpacing, interpolator, preCrop, padDistance, distances, force2D,
// force2Ddimension, resegmentRange, label, additionalInfo), then the other keys of the file's
// setting and voxelSetting sections in file order, with the file's spelling (25 stays 25, 25.0
// stays 25.0). Settings changed in code after parsing are printed with their current values,
// and fields that differ from DefaultSettings without being listed are appended in a fixed
// order, so the literal always describes p.Settings. The output is deterministic.
func (p *Params) SettingsLiteral() string {
	var entries []litEntry
	if p.lit != nil {
		entries = p.lit.global
	} else {
		entries = paramsDefaultEntries()
	}
	def := DefaultSettings()
	return "{" + strings.Join(renderEntries(entries, &p.Settings, &def), ", ") + "}"
}

// ImageTypesLiteral renders the enabled image types as PyRadiomics 3.0.1 prints
// diagnostics_Configuration_EnabledImageTypes: a dict from image type name to its own settings
// as the file gave them, in file order, e.g.
// "{'Original': {}, 'LoG': {'sigma': [1.0, 2.0]}}". Like SettingsLiteral it follows changes
// made in code (a per-type setting differing from the global one is listed).
func (p *Params) ImageTypesLiteral() string {
	parts := make([]string, 0, len(p.ImageTypes))
	for _, it := range p.ImageTypes {
		var entries []litEntry
		if p.lit != nil {
			entries = p.lit.imageTypes[it.Name]
		}
		s := it.Settings
		body := renderEntries(entries, &s, &p.Settings)
		parts = append(parts, paramsPyStr(it.Name)+": {"+strings.Join(body, ", ")+"}")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// ---------------------------------------------------------------------------------------------
// Literal bookkeeping.

// paramsLiteral remembers the settings a file gave, in PyRadiomics' dict order.
type paramsLiteral struct {
	global     []litEntry            // defaults, then setting and voxelSetting keys in file order
	imageTypes map[string][]litEntry // per image type, its own settings in file order
}

// litEntry is one dict item: raw is the Python literal of the file's value; for keys backed by a
// Settings field canon is that field's canonical rendering when raw was recorded, so a later
// change in code is noticed (field false: no field, raw is always used).
type litEntry struct {
	key, raw, canon string
	field           bool
}

func (l *paramsLiteral) clone() *paramsLiteral {
	if l == nil {
		return nil
	}
	c := &paramsLiteral{global: slices.Clone(l.global), imageTypes: make(map[string][]litEntry, len(l.imageTypes))}
	for k, v := range l.imageTypes {
		c.imageTypes[k] = slices.Clone(v)
	}
	return c
}

// paramsPyDefaults is PyRadiomics 3.0.1's RadiomicsFeatureExtractor._getDefaultSettings, in its
// order, as Python prints it.
var paramsPyDefaults = [][2]string{
	{"minimumROIDimensions", "2"}, {"minimumROISize", "None"}, {"normalize", "False"},
	{"normalizeScale", "1"}, {"removeOutliers", "None"}, {"resampledPixelSpacing", "None"},
	{"interpolator", "'sitkBSpline'"}, {"preCrop", "False"}, {"padDistance", "5"},
	{"distances", "[1]"}, {"force2D", "False"}, {"force2Ddimension", "0"},
	{"resegmentRange", "None"}, {"label", "1"}, {"additionalInfo", "True"},
}

func paramsDefaultEntries() []litEntry {
	def := DefaultSettings()
	out := make([]litEntry, len(paramsPyDefaults))
	for i, d := range paramsPyDefaults {
		c, ok := paramsCanon(d[0], &def)
		out[i] = litEntry{key: d[0], raw: d[1], canon: c, field: ok}
	}
	return out
}

// setEntry sets key's raw literal in entries (in place, or appended), with canon taken from s.
func setEntry(entries []litEntry, key, raw string, s *Settings) []litEntry {
	c, ok := paramsCanon(key, s)
	e := litEntry{key: key, raw: raw, canon: c, field: ok}
	for i := range entries {
		if entries[i].key == key {
			entries[i] = e
			return entries
		}
	}
	return append(entries, e)
}

// setGlobalLiteral records that a global setting was set to raw (after p.Settings was updated).
func (p *Params) setGlobalLiteral(key, raw string) {
	if p.lit == nil {
		p.lit = &paramsLiteral{global: paramsDefaultEntries(), imageTypes: map[string][]litEntry{}}
	}
	p.lit.global = setEntry(p.lit.global, key, raw, &p.Settings)
}

// renderEntries renders entries against s, then every Settings field that differs between s and
// ref and is not among the entries.
func renderEntries(entries []litEntry, s, ref *Settings) []string {
	out := make([]string, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		seen[e.key] = true
		v := e.raw
		if e.field {
			if cur, _ := paramsCanon(e.key, s); cur != e.canon {
				v = cur
			}
		}
		out = append(out, paramsPyStr(e.key)+": "+v)
	}
	for _, key := range paramsFieldKeys {
		if seen[key] {
			continue
		}
		cur, _ := paramsCanon(key, s)
		if was, _ := paramsCanon(key, ref); cur != was {
			out = append(out, paramsPyStr(key)+": "+cur)
		}
	}
	return out
}

// clone returns a deep copy.
func (p *Params) clone() *Params {
	q := &Params{Source: p.Source, Settings: p.Settings.Clone(), lit: p.lit.clone()}
	for _, it := range p.ImageTypes {
		q.ImageTypes = append(q.ImageTypes, ImageType{Name: it.Name, Settings: it.Settings.Clone()})
	}
	for _, c := range p.FeatureClasses {
		q.FeatureClasses = append(q.FeatureClasses, FeatureClass{Name: c.Name, Features: slices.Clone(c.Features)})
	}
	return q
}

// paramsFieldKeys are the setting keys backed by a Settings field, in a fixed order.
var paramsFieldKeys = []string{
	"minimumROIDimensions", "minimumROISize", "normalize", "normalizeScale", "removeOutliers",
	"resampledPixelSpacing", "interpolator", "preCrop", "padDistance", "distances", "force2D",
	"force2Ddimension", "resegmentRange", "label", "additionalInfo", "binWidth", "binCount",
	"voxelArrayShift", "resegmentMode", "resegmentShape", "geometryTolerance", "correctMask",
	"symmetricalGLCM", "weightingNorm", "gldm_a", "sigma", "wavelet", "start_level", "level",
	"gradientUseSpacing", "ibsi",
}

// paramsCanon renders the Settings field behind a setting key as Python would print the value
// PyRadiomics would hold (floats as floats; "none" sentinels as None); false for keys without a
// field.
func paramsCanon(key string, s *Settings) (string, bool) {
	switch key {
	case "binWidth":
		return filter.PyFloat(s.BinWidth), true
	case "binCount":
		return paramsIntOrNone(s.BinCount), true
	case "resampledPixelSpacing":
		return paramsFloatList(s.ResampledPixelSpacing), true
	case "interpolator":
		return paramsStrOrNone(s.Interpolator), true
	case "padDistance":
		return strconv.Itoa(s.PadDistance), true
	case "preCrop":
		return paramsPyBool(s.PreCrop), true
	case "normalize":
		return paramsPyBool(s.Normalize), true
	case "normalizeScale":
		return filter.PyFloat(s.NormalizeScale), true
	case "removeOutliers":
		if s.RemoveOutliers == nil {
			return "None", true
		}
		return filter.PyFloat(*s.RemoveOutliers), true
	case "voxelArrayShift":
		return filter.PyFloat(s.VoxelArrayShift), true
	case "resegmentRange":
		return paramsFloatList(s.ResegmentRange), true
	case "resegmentMode":
		return paramsStrOrNone(s.ResegmentMode), true
	case "resegmentShape":
		return paramsPyBool(s.ResegmentShape), true
	case "minimumROIDimensions":
		return strconv.Itoa(s.MinimumROIDimensions), true
	case "minimumROISize":
		return paramsIntOrNone(s.MinimumROISize), true
	case "geometryTolerance":
		if s.GeometryTolerance == 0 {
			return "None", true
		}
		return filter.PyFloat(s.GeometryTolerance), true
	case "correctMask":
		return paramsPyBool(s.CorrectMask), true
	case "label":
		return strconv.Itoa(s.Label), true
	case "force2D":
		return paramsPyBool(s.Force2D), true
	case "force2Ddimension":
		return strconv.Itoa(s.Force2DDimension), true
	case "distances":
		if s.Distances == nil {
			return "None", true
		}
		parts := make([]string, len(s.Distances))
		for i, d := range s.Distances {
			parts[i] = strconv.Itoa(d)
		}
		return "[" + strings.Join(parts, ", ") + "]", true
	case "symmetricalGLCM":
		return paramsPyBool(s.SymmetricalGLCM), true
	case "weightingNorm":
		return paramsStrOrNone(s.WeightingNorm), true
	case "gldm_a":
		return filter.PyFloat(s.GLDMAlpha), true
	case "sigma":
		return paramsFloatList(s.Sigma), true
	case "wavelet":
		return paramsStrOrNone(s.Wavelet), true
	case "start_level":
		return strconv.Itoa(s.StartLevel), true
	case "level":
		return strconv.Itoa(s.Level), true
	case "gradientUseSpacing":
		return paramsPyBool(s.GradientUseSpacing), true
	case "additionalInfo":
		return paramsPyBool(s.AdditionalInfo), true
	case "ibsi":
		return paramsPyBool(s.IBSI), true
	}
	return "", false
}

func paramsIntOrNone(v int) string {
	if v <= 0 {
		return "None"
	}
	return strconv.Itoa(v)
}

func paramsStrOrNone(v string) string {
	if v == "" {
		return "None"
	}
	return paramsPyStr(v)
}

func paramsFloatList(v []float64) string {
	if v == nil {
		return "None"
	}
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = filter.PyFloat(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func paramsPyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// paramsPyStr formats s as Python's repr(str) (single quotes unless s holds only single ones).
func paramsPyStr(s string) string {
	q := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteRune(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == q:
			b.WriteRune('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteRune(q)
	return b.String()
}

// paramsNodeLiteral renders a YAML value as Python prints what PyRadiomics' loader makes of it;
// strings that parse as numbers are printed as the floats they are used as.
func paramsNodeLiteral(n *yaml.Node) string {
	n = paramsDeref(n)
	switch n.Kind {
	case yaml.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, c := range n.Content {
			parts[i] = paramsNodeLiteral(c)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case yaml.MappingNode:
		var parts []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, paramsNodeLiteral(n.Content[i])+": "+paramsNodeLiteral(n.Content[i+1]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "None"
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return paramsPyBool(b)
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return strconv.FormatInt(i, 10)
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				return filter.PyFloat(f)
			}
		case "!!str":
			if f, ok := paramsParseFloat(n.Value); ok {
				return filter.PyFloat(f)
			}
		}
		return paramsPyStr(n.Value)
	}
	return "None"
}

// ---------------------------------------------------------------------------------------------
// Parsing.

// paramsClassOrder is every feature class; paramsDefaultClasses those enabled when a file names
// none, in PyRadiomics' order.
var (
	paramsClassOrder     = []string{ClassShape, ClassShape2D, ClassFirstOrder, ClassGLCM, ClassGLRLM, ClassGLSZM, ClassGLDM, ClassNGTDM}
	paramsDefaultClasses = []string{ClassFirstOrder, ClassGLCM, ClassGLDM, ClassGLRLM, ClassGLSZM, ClassNGTDM, ClassShape}
	paramsImageTypeNames = []string{ImageOriginal, ImageLoG, ImageWavelet, ImageSquare, ImageSquareRoot, ImageLogarithm, ImageExponential, ImageGradient}
)

// paramsDeprecated lists PyRadiomics 3.0.1's deprecated features per class, with what to use.
var paramsDeprecated = map[string]map[string]string{
	ClassShape: {
		"Compactness1":           "derivable from Sphericity",
		"Compactness2":           "derivable from Sphericity",
		"SphericalDisproportion": "the inverse of Sphericity",
	},
	ClassShape2D:    {"SphericalDisproportion": "the inverse of Sphericity"},
	ClassFirstOrder: {"StandardDeviation": "the square root of Variance"},
	ClassGLCM: {
		"Dissimilarity": "equal to DifferenceAverage",
		"Homogeneity1":  "equal to Id",
		"Homogeneity2":  "equal to Idm",
		"SumVariance":   "equal to ClusterTendency",
	},
	ClassGLDM: {
		"DependencePercentage":             "always 1",
		"GrayLevelNonUniformityNormalized": "equal to firstorder Uniformity",
	},
}

// paramsClassFeatures returns a class's default feature names (nil for an unknown class).
func paramsClassFeatures(class string) []string {
	switch class {
	case ClassShape:
		return ShapeFeatureNames()
	case ClassShape2D:
		return Shape2DFeatureNames()
	case ClassFirstOrder:
		return FirstOrderFeatureNames()
	}
	return TextureFeatureNames(class)
}

// Setting keys: those with a field are handled in applySetting; the others are accepted and
// ignored. voxelSetting has its own keys.
var (
	paramsIgnoredKeys = []string{"label_channel", "lbp2DRadius", "lbp2DSamples", "lbp2DMethod", "lbp3DLevels",
		"lbp3DIcosphereRadius", "lbp3DIcosphereSubdivision"}
	paramsVoxelKeys = []string{"kernelRadius", "maskedKernel", "initValue", "voxelBatch"}
)

// paramsWavelets is the set of wavelet names the filter package implements.
var paramsWavelets = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, n := range filter.WaveletNames() {
		m[n] = true
	}
	return m
})

type paramProblem struct {
	line int
	err  error
}

type paramParser struct {
	source   string
	problems []paramProblem
}

// problem records "radiomics params <source>: <what> (line N): <msg>".
func (ps *paramParser) problem(line int, what, msg string) {
	loc := ""
	if line > 0 {
		loc = fmt.Sprintf(" (line %d)", line)
	}
	ps.problems = append(ps.problems, paramProblem{line, fmt.Errorf("radiomics params %s: %s%s: %s", ps.source, what, loc, msg)})
}

// paramsDeref follows YAML aliases.
func paramsDeref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func paramsIsNull(n *yaml.Node) bool {
	n = paramsDeref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// paramKV is one mapping item.
type paramKV struct {
	key  string
	line int
	val  *yaml.Node
}

// pairs returns a mapping's items, reporting non-scalar and duplicate keys (dropped). A null
// value is an empty mapping; anything else is reported (what names it) and yields nothing.
func (ps *paramParser) pairs(what string, line int, n *yaml.Node, expect string) []paramKV {
	n = paramsDeref(n)
	if paramsIsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		ps.problem(line, what, fmt.Sprintf("must be a mapping of %s, got %s", expect, paramsGot(n)))
		return nil
	}
	var out []paramKV
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := paramsDeref(n.Content[i])
		v := paramsDeref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			ps.problem(k.Line, what, fmt.Sprintf("keys must be names, got %s", paramsGot(k)))
			continue
		}
		if l, dup := first[k.Value]; dup {
			ps.problem(k.Line, fmt.Sprintf("%s key %q", what, k.Value), fmt.Sprintf("duplicate key (first at line %d)", l))
			continue
		}
		first[k.Value] = k.Line
		out = append(out, paramKV{key: k.Value, line: k.Line, val: v})
	}
	return out
}

func (ps *paramParser) parse(data []byte) *Params {
	p := &Params{Source: ps.source, Settings: DefaultSettings()}
	lit := &paramsLiteral{global: paramsDefaultEntries(), imageTypes: map[string][]litEntry{}}
	p.lit = lit

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root *yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
	case err != nil:
		ps.problem(0, "invalid YAML", err.Error())
		return nil
	default:
		if len(doc.Content) > 0 {
			root = doc.Content[0]
		}
		var more yaml.Node
		if err := dec.Decode(&more); err == nil {
			ps.problem(more.Line, "invalid YAML", "more than one document (a parameter file holds one)")
		} else if !errors.Is(err, io.EOF) {
			ps.problem(0, "invalid YAML", err.Error())
		}
	}

	sections := map[string]paramKV{}
	for _, kv := range ps.pairs("top level", 1, root, "sections (imageType, featureClass, setting, voxelSetting)") {
		switch kv.key {
		case "imageType", "featureClass", "setting", "voxelSetting":
			sections[kv.key] = kv
		default:
			msg := "unknown section; expected imageType, featureClass, setting or voxelSetting"
			switch {
			case kv.key == "inputImage":
				msg += " (inputImage is PyRadiomics 1.x's name of imageType)"
			case slices.Contains(paramsFieldKeys, kv.key) || slices.Contains(paramsIgnoredKeys, kv.key):
				msg += fmt.Sprintf(" (%s belongs under setting)", kv.key)
			default:
				msg += paramsHint(kv.key, []string{"imageType", "featureClass", "setting", "voxelSetting"})
			}
			ps.problem(kv.line, fmt.Sprintf("top-level key %q", kv.key), msg)
		}
	}

	// Global settings first: image types start from them wherever the sections are.
	if sec, ok := sections["setting"]; ok {
		for _, kv := range ps.pairs("setting", sec.line, sec.val, "setting names to values") {
			what := fmt.Sprintf("setting %q", kv.key)
			if ps.applySetting(what, kv.key, kv.line, kv.val, &p.Settings, false) {
				lit.global = append(lit.global, litEntry{key: kv.key, raw: paramsNodeLiteral(kv.val)})
			}
		}
	}
	if sec, ok := sections["voxelSetting"]; ok {
		for _, kv := range ps.pairs("voxelSetting", sec.line, sec.val, "voxel setting names to values") {
			if ps.applyVoxelSetting(kv) {
				lit.global = append(lit.global, litEntry{key: kv.key, raw: paramsNodeLiteral(kv.val)})
			}
		}
	}
	// A key of the defaults given in the file keeps its position (Python dict update).
	lit.global = paramsMergeEntries(lit.global, len(paramsPyDefaults))
	paramsFinishSettings(&p.Settings)

	sec, ok := sections["imageType"]
	var items []paramKV
	if ok {
		items = ps.pairs("imageType", sec.line, sec.val, "image type names to settings")
	}
	for _, kv := range items {
		what := fmt.Sprintf("imageType %q", kv.key)
		switch {
		case kv.key == "LBP2D" || kv.key == "LBP3D":
			ps.problem(kv.line, what, "PyRadiomics image type not implemented by rtpipeline")
			continue
		case !slices.Contains(paramsImageTypeNames, kv.key):
			ps.problem(kv.line, what, "unknown image type; expected one of "+strings.Join(paramsImageTypeNames, ", ")+paramsHint(kv.key, paramsImageTypeNames))
			continue
		}
		s := p.Settings.Clone()
		var entries []litEntry
		for _, o := range ps.pairs(what, kv.line, kv.val, "setting names to values (or {})") {
			if ps.applySetting(fmt.Sprintf("imageType %q setting %q", kv.key, o.key), o.key, o.line, o.val, &s, true) {
				entries = append(entries, litEntry{key: o.key, raw: paramsNodeLiteral(o.val)})
			}
		}
		paramsFinishSettings(&s)
		p.ImageTypes = append(p.ImageTypes, ImageType{Name: kv.key, Settings: s})
		lit.imageTypes[kv.key] = entries
	}
	if len(items) == 0 {
		p.ImageTypes = []ImageType{{Name: ImageOriginal, Settings: p.Settings.Clone()}}
		lit.imageTypes[ImageOriginal] = nil
	}

	sec, ok = sections["featureClass"]
	items = nil
	if ok {
		items = ps.pairs("featureClass", sec.line, sec.val, "feature class names to null or feature lists")
	}
	for _, kv := range items {
		if fc, ok := ps.featureClass(kv); ok {
			p.FeatureClasses = append(p.FeatureClasses, fc)
		}
	}
	if len(items) == 0 {
		for _, c := range paramsDefaultClasses {
			p.FeatureClasses = append(p.FeatureClasses, FeatureClass{Name: c})
		}
	}

	if len(ps.problems) > 0 {
		return nil
	}
	// Canonical renderings of the final values, to notice later changes made in code.
	for i := range lit.global {
		lit.global[i].canon, lit.global[i].field = paramsCanon(lit.global[i].key, &p.Settings)
	}
	for _, it := range p.ImageTypes {
		entries := lit.imageTypes[it.Name]
		for i := range entries {
			entries[i].canon, entries[i].field = paramsCanon(entries[i].key, &it.Settings)
		}
	}
	return p
}

// paramsMergeEntries moves file entries for keys among the first nDefaults entries onto them.
func paramsMergeEntries(entries []litEntry, nDefaults int) []litEntry {
	out := slices.Clone(entries[:nDefaults])
	for _, e := range entries[nDefaults:] {
		if i := slices.IndexFunc(out, func(o litEntry) bool { return o.key == e.key }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// paramsFinishSettings applies cross-key rules after a settings mapping: interpolator null
// switches resampling off.
func paramsFinishSettings(s *Settings) {
	if s.Interpolator == "" {
		s.ResampledPixelSpacing = nil
	}
}

// featureClass parses one featureClass item.
func (ps *paramParser) featureClass(kv paramKV) (FeatureClass, bool) {
	what := fmt.Sprintf("featureClass %q", kv.key)
	if !slices.Contains(paramsClassOrder, kv.key) {
		ps.problem(kv.line, what, "unknown feature class; expected one of "+strings.Join(paramsClassOrder, ", ")+paramsHint(kv.key, paramsClassOrder))
		return FeatureClass{}, false
	}
	fc := FeatureClass{Name: kv.key}
	if paramsIsNull(kv.val) {
		return fc, true
	}
	if kv.val.Kind != yaml.SequenceNode {
		ps.problem(kv.line, what, fmt.Sprintf("must be null (all features) or a list of feature names, got %s", paramsGot(kv.val)))
		return FeatureClass{}, false
	}
	known := paramsClassFeatures(kv.key)
	ok := true
	for _, item := range kv.val.Content {
		item = paramsDeref(item)
		if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
			ps.problem(item.Line, what, fmt.Sprintf("feature names must be strings, got %s", paramsGot(item)))
			ok = false
			continue
		}
		name := item.Value
		fwhat := fmt.Sprintf("featureClass %q feature %q", kv.key, name)
		switch {
		case paramsDeprecated[kv.key][name] != "":
			ps.problem(item.Line, fwhat, fmt.Sprintf("deprecated in PyRadiomics 3.0.1 and not computed by rtpipeline (%s)", paramsDeprecated[kv.key][name]))
			ok = false
		case !slices.Contains(known, name):
			ps.problem(item.Line, fwhat, fmt.Sprintf("unknown feature%s; %s features are %s", paramsHint(name, known), kv.key, strings.Join(known, ", ")))
			ok = false
		case !slices.Contains(fc.Features, name):
			fc.Features = append(fc.Features, name)
		}
	}
	return fc, ok
}

// paramsHint suggests a known name differing only in case.
func paramsHint(name string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

// paramsGot renders a value for an error message.
func paramsGot(n *yaml.Node) string {
	n = paramsDeref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	case yaml.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, c := range n.Content {
			parts[i] = paramsGot(c)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "?"
}

// paramsParseFloat parses a string as a finite decimal number.
func paramsParseFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "xXpP_") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// pfield validates one setting value; failures are recorded against what and line.
type pfield struct {
	ps   *paramParser
	what string
	line int
	n    *yaml.Node
}

func (f *pfield) fail(format string, a ...any) {
	f.ps.problem(f.line, f.what, fmt.Sprintf(format, a...))
}

func (f *pfield) null() bool { return paramsIsNull(f.n) }

func (f *pfield) got() string { return paramsGot(f.n) }

func (f *pfield) boolean() (bool, bool) {
	if f.n.Kind == yaml.ScalarNode && f.n.ShortTag() == "!!bool" {
		var b bool
		if f.n.Decode(&b) == nil {
			return b, true
		}
	}
	f.fail("must be a boolean (true or false), got %s", f.got())
	return false, false
}

func paramsScalarInt(n *yaml.Node) (int, bool) {
	n = paramsDeref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, false
	}
	var v int64
	if n.Decode(&v) != nil || v > math.MaxInt32 || v < math.MinInt32 {
		return 0, false
	}
	return int(v), true
}

func paramsScalarNum(n *yaml.Node) (float64, bool) {
	n = paramsDeref(n)
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		var v int64
		if n.Decode(&v) == nil {
			return float64(v), true
		}
	case "!!float":
		var v float64
		if n.Decode(&v) == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
	case "!!str":
		return paramsParseFloat(n.Value)
	}
	return 0, false
}

// integer returns an integer in [lo, hi].
func (f *pfield) integer(lo, hi int) (int, bool) {
	v, ok := paramsScalarInt(f.n)
	switch {
	case !ok:
		f.fail("must be an integer, got %s", f.got())
	case v < lo && hi == math.MaxInt32:
		f.fail("must be an integer >= %d, got %d", lo, v)
	case v < lo || v > hi:
		f.fail("must be an integer between %d and %d, got %d", lo, hi, v)
	default:
		return v, true
	}
	return 0, false
}

// number returns a number; lo is its lower bound (exclusive unless incl), NaN for none.
func (f *pfield) number(lo float64, incl bool) (float64, bool) {
	v, ok := paramsScalarNum(f.n)
	switch {
	case !ok:
		f.fail("must be a number, got %s", f.got())
	case !math.IsNaN(lo) && incl && v < lo:
		f.fail("must be >= %s, got %s", paramsNum(lo), f.got())
	case !math.IsNaN(lo) && !incl && v <= lo:
		f.fail("must be > %s, got %s", paramsNum(lo), f.got())
	default:
		return v, true
	}
	return 0, false
}

func paramsNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// choice returns a string among choices.
func (f *pfield) choice(choices ...string) (string, bool) {
	if f.n.Kind == yaml.ScalarNode && f.n.ShortTag() == "!!str" && slices.Contains(choices, f.n.Value) {
		return f.n.Value, true
	}
	f.fail("must be one of %s, got %s%s", strings.Join(choices, ", "), f.got(), paramsHint(f.n.Value, choices))
	return "", false
}

// list returns the items of a sequence, each accepted by conv, with desc describing the
// expected list for the error message.
func paramsList[T any](f *pfield, desc string, conv func(*yaml.Node) (T, bool)) ([]T, bool) {
	if f.n.Kind != yaml.SequenceNode {
		f.fail("must be %s, got %s", desc, f.got())
		return nil, false
	}
	out := make([]T, 0, len(f.n.Content))
	for _, c := range f.n.Content {
		v, ok := conv(c)
		if !ok {
			f.fail("must be %s, got %s", desc, f.got())
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// paramsInterpolators maps the interpolators rtpipeline implements (names and SimpleITK codes).
var (
	paramsInterpNames = []string{"sitkNearestNeighbor", "sitkLinear", "sitkBSpline"}
	paramsInterpOther = []string{"sitkGaussian", "sitkLabelGaussian", "sitkHammingWindowedSinc",
		"sitkCosineWindowedSinc", "sitkWelchWindowedSinc", "sitkLanczosWindowedSinc", "sitkBlackmanWindowedSinc"}
)

// applySetting validates one setting and applies it to s; it reports whether key is a setting
// (problems are recorded either way). perType marks an imageType override.
func (ps *paramParser) applySetting(what, key string, line int, v *yaml.Node, s *Settings, perType bool) bool {
	f := &pfield{ps: ps, what: what, line: line, n: paramsDeref(v)}
	none := math.NaN()
	switch key {
	case "binWidth":
		if x, ok := f.number(0, false); ok {
			s.BinWidth = x
		}
	case "binCount":
		if f.null() {
			s.BinCount = 0
		} else if x, ok := f.integer(1, math.MaxInt32); ok {
			s.BinCount = x
		}
	case "resampledPixelSpacing":
		if f.null() {
			s.ResampledPixelSpacing = nil
			break
		}
		const desc = "a list of 3 numbers >= 0 (x, y, z spacing in mm; 0 keeps an axis' spacing) or null"
		if xs, ok := paramsList(f, desc, paramsScalarNum); ok {
			if len(xs) != 3 || slices.ContainsFunc(xs, func(x float64) bool { return x < 0 }) {
				f.fail("must be %s, got %s", desc, f.got())
			} else {
				s.ResampledPixelSpacing = xs
			}
		}
	case "interpolator":
		ps.interpolator(f, s)
	case "padDistance":
		if x, ok := f.integer(0, math.MaxInt32); ok {
			s.PadDistance = x
		}
	case "preCrop":
		if b, ok := f.boolean(); ok {
			s.PreCrop = b
		}
	case "normalize":
		if b, ok := f.boolean(); ok {
			s.Normalize = b
		}
	case "normalizeScale":
		if x, ok := f.number(0, false); ok {
			s.NormalizeScale = x
		}
	case "removeOutliers":
		if f.null() {
			s.RemoveOutliers = nil
		} else if x, ok := f.number(0, false); ok {
			s.RemoveOutliers = &x
		}
	case "voxelArrayShift":
		if x, ok := f.number(none, false); ok {
			s.VoxelArrayShift = x
		}
	case "resegmentRange":
		if f.null() {
			s.ResegmentRange = nil
			break
		}
		const desc = "a list of 1 number (lower bound) or 2 numbers (lower, upper), or null"
		if xs, ok := paramsList(f, desc, paramsScalarNum); ok {
			switch {
			case len(xs) < 1 || len(xs) > 2:
				f.fail("must be %s, got %s", desc, f.got())
			case len(xs) == 2 && xs[0] > xs[1]:
				f.fail("lower bound must be <= upper bound, got %s", f.got())
			default:
				s.ResegmentRange = xs
			}
		}
	case "resegmentMode":
		if m, ok := f.choice("absolute", "relative", "sigma"); ok {
			s.ResegmentMode = m
		}
	case "resegmentShape":
		if b, ok := f.boolean(); ok {
			s.ResegmentShape = b
		}
	case "minimumROIDimensions":
		if x, ok := f.integer(1, 3); ok {
			s.MinimumROIDimensions = x
		}
	case "minimumROISize":
		if f.null() {
			s.MinimumROISize = 0
		} else if x, ok := f.integer(1, math.MaxInt32); ok {
			s.MinimumROISize = x
		}
	case "geometryTolerance":
		if f.null() {
			s.GeometryTolerance = 0
		} else if x, ok := f.number(0, false); ok {
			s.GeometryTolerance = x
		}
	case "correctMask":
		if b, ok := f.boolean(); ok {
			s.CorrectMask = b
		}
	case "label":
		if x, ok := f.integer(1, math.MaxInt32); ok {
			s.Label = x
		}
	case "force2D":
		if b, ok := f.boolean(); ok {
			s.Force2D = b
		}
	case "force2Ddimension":
		if x, ok := f.integer(0, 2); ok {
			s.Force2DDimension = x
		}
	case "distances":
		const desc = "a non-empty list of integers >= 1"
		if xs, ok := paramsList(f, desc, paramsScalarInt); ok {
			if len(xs) == 0 || slices.ContainsFunc(xs, func(x int) bool { return x < 1 }) {
				f.fail("must be %s, got %s", desc, f.got())
			} else {
				s.Distances = xs
			}
		}
	case "symmetricalGLCM":
		if b, ok := f.boolean(); ok {
			s.SymmetricalGLCM = b
		}
	case "weightingNorm":
		if f.null() {
			s.WeightingNorm = ""
		} else if w, ok := f.choice("manhattan", "euclidean", "infinity", "no_weighting"); ok {
			s.WeightingNorm = w
		}
	case "gldm_a":
		if x, ok := f.number(0, true); ok {
			s.GLDMAlpha = x
		}
	case "sigma":
		const desc = "a list of numbers > 0 (LoG sigmas in mm)"
		if xs, ok := paramsList(f, desc, paramsScalarNum); ok {
			if slices.ContainsFunc(xs, func(x float64) bool { return x <= 0 }) {
				f.fail("must be %s, got %s", desc, f.got())
			} else {
				s.Sigma = xs
			}
		}
	case "wavelet":
		if f.n.Kind == yaml.ScalarNode && f.n.ShortTag() == "!!str" && paramsWavelets()[f.n.Value] {
			s.Wavelet = f.n.Value
		} else {
			f.fail("must be a wavelet name (haar, dbN, symN, coifN, biorN.M, rbioN.M, dmey), got %s", f.got())
		}
	case "level":
		if x, ok := f.integer(1, math.MaxInt32); ok {
			s.Level = x
		}
	case "start_level":
		if x, ok := f.integer(0, math.MaxInt32); ok {
			s.StartLevel = x
		}
	case "gradientUseSpacing":
		if b, ok := f.boolean(); ok {
			s.GradientUseSpacing = b
		}
	case "additionalInfo":
		if b, ok := f.boolean(); ok {
			s.AdditionalInfo = b
		}
	case "ibsi":
		if b, ok := f.boolean(); ok {
			s.IBSI = b
		}
	// Accepted, validated, ignored.
	case "label_channel":
		f.integer(0, math.MaxInt32)
	case "lbp2DRadius", "lbp3DIcosphereRadius":
		f.number(0, false)
	case "lbp2DSamples", "lbp3DLevels":
		f.integer(1, math.MaxInt32)
	case "lbp3DIcosphereSubdivision":
		f.integer(0, math.MaxInt32)
	case "lbp2DMethod":
		f.choice("default", "ror", "uniform", "var")
	default:
		msg := "unknown setting"
		if slices.Contains(paramsVoxelKeys, key) {
			if perType {
				msg += fmt.Sprintf(" (%s is a voxelSetting)", key)
			} else {
				msg += fmt.Sprintf(" (%s belongs under voxelSetting)", key)
			}
		} else {
			msg += paramsHint(key, slices.Concat(paramsFieldKeys, paramsIgnoredKeys))
		}
		ps.problem(line, what, msg)
		return false
	}
	return true
}

// interpolator parses the interpolator setting.
func (ps *paramParser) interpolator(f *pfield, s *Settings) {
	if f.null() {
		s.Interpolator = ""
		return
	}
	const supported = "sitkBSpline, sitkLinear or sitkNearestNeighbor (or SimpleITK's codes 3, 2, 1), or null"
	if code, ok := paramsScalarInt(f.n); ok {
		switch {
		case code >= 1 && code <= 3:
			s.Interpolator = paramsInterpNames[code-1]
		case code >= 4 && code <= 10:
			f.fail("PyRadiomics interpolator %s (%d) is not implemented by rtpipeline; use %s", paramsInterpOther[code-4], code, supported)
		default:
			f.fail("must be %s, got %d", supported, code)
		}
		return
	}
	if f.n.Kind == yaml.ScalarNode && f.n.ShortTag() == "!!str" {
		name := f.n.Value
		switch {
		case slices.Contains(paramsInterpNames, name):
			s.Interpolator = name
			return
		case slices.Contains(paramsInterpOther, name):
			f.fail("PyRadiomics interpolator %s is not implemented by rtpipeline; use %s", name, supported)
			return
		}
		f.fail("must be %s, got %s%s", supported, f.got(), paramsHint(name, paramsInterpNames))
		return
	}
	f.fail("must be %s, got %s", supported, f.got())
}

// applyVoxelSetting validates one voxelSetting item (ignored otherwise).
func (ps *paramParser) applyVoxelSetting(kv paramKV) bool {
	what := fmt.Sprintf("voxelSetting %q", kv.key)
	f := &pfield{ps: ps, what: what, line: kv.line, n: kv.val}
	switch kv.key {
	case "kernelRadius":
		f.integer(1, math.MaxInt32)
	case "maskedKernel":
		f.boolean()
	case "initValue":
		f.number(math.NaN(), false)
	case "voxelBatch":
		if x, ok := f.integer(math.MinInt32, math.MaxInt32); ok && x == 0 {
			f.fail("must be an integer >= 1 (or negative: all voxels at once), got 0")
		}
	default:
		msg := "unknown voxel setting; expected " + strings.Join(paramsVoxelKeys, ", ")
		if _, isField := paramsCanon(kv.key, &Settings{}); isField || slices.Contains(paramsIgnoredKeys, kv.key) {
			msg += fmt.Sprintf(" (%s belongs under setting)", kv.key)
		} else {
			msg += paramsHint(kv.key, paramsVoxelKeys)
		}
		ps.problem(kv.line, what, msg)
		return false
	}
	return true
}
