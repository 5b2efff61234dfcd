package radiomics

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/radiomics/filter"
)

func mustParams(t *testing.T, yml string) *Params {
	t.Helper()
	p, err := ParseParams([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatalf("ParseParams:\n%s\nerror: %v", yml, err)
	}
	return p
}

func imageTypeNames(p *Params) []string {
	var out []string
	for _, it := range p.ImageTypes {
		out = append(out, it.Name)
	}
	return out
}

func classNames(p *Params) []string {
	var out []string
	for _, c := range p.FeatureClasses {
		out = append(out, c.Name)
	}
	return out
}

func TestParamsEmbedded(t *testing.T) {
	allClasses := []string{ClassShape, ClassFirstOrder, ClassGLCM, ClassGLRLM, ClassGLSZM, ClassGLDM, ClassNGTDM}
	tests := []struct {
		name    string
		p       *Params
		source  string
		count   int
		types   []string
		classes []string
		check   func(t *testing.T, p *Params)
	}{
		{"ct", DefaultCTParams(), "builtin:ct", 1223, []string{ImageOriginal, ImageLoG, ImageWavelet}, allClasses, func(t *testing.T, p *Params) {
			s := p.Settings
			if s.BinWidth != 25 || s.BinCount != 0 || !slices.Equal(s.ResampledPixelSpacing, []float64{1, 1, 1}) ||
				s.Interpolator != "sitkBSpline" || s.Normalize || s.VoxelArrayShift != 0 || s.MinimumROIDimensions != 2 ||
				s.MinimumROISize != 64 || !slices.Equal(s.Distances, []int{1, 2}) || s.Force2D || s.Force2DDimension != 0 ||
				s.PadDistance != 5 || s.GeometryTolerance != 1e-6 || !s.CorrectMask || s.WeightingNorm != "" ||
				!s.AdditionalInfo || s.Label != 1 || s.PreCrop {
				t.Errorf("CT settings %+v", s)
			}
			if got := p.ImageTypes[1].Settings.Sigma; !slices.Equal(got, []float64{1, 2, 3, 5}) {
				t.Errorf("LoG sigma %v", got)
			}
			if w := p.ImageTypes[2].Settings; w.Wavelet != "coif1" || w.StartLevel != 0 || w.Level != 1 {
				t.Errorf("wavelet settings %q %d %d", w.Wavelet, w.StartLevel, w.Level)
			}
			if p.Settings.Sigma != nil || p.ImageTypes[0].Settings.Sigma != nil {
				t.Error("LoG sigma leaked into global or Original settings")
			}
		}},
		{"mr", DefaultMRParams(), "builtin:mr", 386, []string{ImageOriginal, ImageLoG}, allClasses, func(t *testing.T, p *Params) {
			s := p.Settings
			if s.BinCount != 64 || s.BinWidth != 0.5 || s.CorrectMask || !slices.Equal(s.Distances, []int{1}) ||
				s.MinimumROISize != 64 || s.GeometryTolerance != 1e-6 || !slices.Equal(s.ResampledPixelSpacing, []float64{1, 1, 1}) {
				t.Errorf("MR settings %+v", s)
			}
			for _, it := range p.ImageTypes {
				if it.Settings.BinCount != 64 {
					t.Errorf("%s binCount %d, want the override 64", it.Name, it.Settings.BinCount)
				}
			}
			if got := p.ImageTypes[1].Settings.Sigma; !slices.Equal(got, []float64{2, 3, 4}) {
				t.Errorf("LoG sigma %v", got)
			}
		}},
		{"largeROI", LargeROIParams(DefaultCTParams()), "builtin:ct+largeROI", 32, []string{ImageOriginal}, []string{ClassShape, ClassFirstOrder}, func(t *testing.T, p *Params) {
			if !slices.Equal(p.Settings.ResampledPixelSpacing, []float64{2, 2, 2}) ||
				!slices.Equal(p.ImageTypes[0].Settings.ResampledPixelSpacing, []float64{2, 2, 2}) {
				t.Errorf("spacing %v / %v", p.Settings.ResampledPixelSpacing, p.ImageTypes[0].Settings.ResampledPixelSpacing)
			}
			if p.Settings.BinWidth != 25 || !slices.Equal(p.Settings.Distances, []int{1, 2}) || p.Settings.MinimumROISize != 64 {
				t.Errorf("other settings not CT's: %+v", p.Settings)
			}
		}},
		{"largeROI nil", LargeROIParams(nil), "builtin:ct+largeROI", 32, []string{ImageOriginal}, []string{ClassShape, ClassFirstOrder}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if p.Source != tc.source {
				t.Errorf("Source %q, want %q", p.Source, tc.source)
			}
			if got := p.FeatureCount(); got != tc.count {
				t.Errorf("FeatureCount %d, want %d", got, tc.count)
			}
			if got := imageTypeNames(p); !slices.Equal(got, tc.types) {
				t.Errorf("image types %v, want %v", got, tc.types)
			}
			if got := classNames(p); !slices.Equal(got, tc.classes) {
				t.Errorf("classes %v, want %v", got, tc.classes)
			}
			for _, c := range p.FeatureClasses {
				if c.Features != nil {
					t.Errorf("class %s has a feature list %v, want all", c.Name, c.Features)
				}
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestParamsBuiltinsAreCopies(t *testing.T) {
	a := DefaultCTParams()
	a.Settings.BinWidth = 1
	a.ImageTypes[1].Settings.Sigma[0] = 99
	a.FeatureClasses = a.FeatureClasses[:1]
	b := DefaultCTParams()
	if b.Settings.BinWidth != 25 || b.ImageTypes[1].Settings.Sigma[0] != 1 || len(b.FeatureClasses) != 7 {
		t.Error("DefaultCTParams returned shared state")
	}
	ct := DefaultCTParams()
	before := ct.SettingsLiteral() + ct.ImageTypesLiteral()
	_ = LargeROIParams(ct)
	if ct.FeatureCount() != 1223 || !slices.Equal(ct.Settings.ResampledPixelSpacing, []float64{1, 1, 1}) ||
		ct.SettingsLiteral()+ct.ImageTypesLiteral() != before {
		t.Error("LargeROIParams modified its argument")
	}
}

func TestParamsEmbeddedFilesParseStandalone(t *testing.T) {
	// The files users copy must parse as they are (MR without the built-in override).
	for _, name := range []string{"ct.yaml", "mr.yaml"} {
		p, err := LoadParams(filepath.Join("params", name))
		if err != nil {
			t.Fatal(err)
		}
		if p.Settings.BinCount != 0 {
			t.Errorf("%s: binCount %d straight from the file", name, p.Settings.BinCount)
		}
	}
}

func TestParamsValidationErrors(t *testing.T) {
	tests := []struct {
		name, yml string
		want      []string // substrings of the error, besides the file name
	}{
		{"binWidth negative", "setting:\n  binWidth: -1\n", []string{`setting "binWidth" (line 2): must be > 0, got -1`}},
		{"binWidth zero", "setting:\n  binWidth: 0\n", []string{`setting "binWidth"`, "must be > 0, got 0"}},
		{"binWidth text", "setting:\n  binWidth: abc\n", []string{`setting "binWidth"`, `must be a number, got "abc"`}},
		{"binWidth null", "setting:\n  binWidth:\n", []string{`setting "binWidth"`, "must be a number, got null"}},
		{"binCount zero", "setting:\n  binCount: 0\n", []string{`setting "binCount"`, "must be an integer >= 1, got 0"}},
		{"binCount float", "setting:\n  binCount: 2.5\n", []string{`setting "binCount"`, "must be an integer, got 2.5"}},
		{"spacing short", "setting:\n  resampledPixelSpacing: [1, 1]\n", []string{`setting "resampledPixelSpacing"`, "list of 3 numbers", "got [1, 1]"}},
		{"spacing negative", "setting:\n  resampledPixelSpacing: [1, -1, 1]\n", []string{`setting "resampledPixelSpacing"`, "got [1, -1, 1]"}},
		{"spacing scalar", "setting:\n  resampledPixelSpacing: 1\n", []string{`setting "resampledPixelSpacing"`, "got 1"}},
		{"interpolator unknown", "setting:\n  interpolator: sitkCubic\n", []string{`setting "interpolator"`, `got "sitkCubic"`}},
		{"interpolator case", "setting:\n  interpolator: sitkbspline\n", []string{`setting "interpolator"`, `did you mean "sitkBSpline"`}},
		{"interpolator unsupported", "setting:\n  interpolator: sitkLanczosWindowedSinc\n", []string{`setting "interpolator"`, "not implemented by rtpipeline"}},
		{"interpolator unsupported code", "setting:\n  interpolator: 9\n", []string{`setting "interpolator"`, "sitkLanczosWindowedSinc (9) is not implemented"}},
		{"interpolator bad code", "setting:\n  interpolator: 11\n", []string{`setting "interpolator"`, "got 11"}},
		{"padDistance negative", "setting:\n  padDistance: -1\n", []string{`setting "padDistance"`, "must be an integer >= 0, got -1"}},
		{"padDistance float", "setting:\n  padDistance: 1.5\n", []string{`setting "padDistance"`, "must be an integer, got 1.5"}},
		{"normalizeScale", "setting:\n  normalizeScale: 0\n", []string{`setting "normalizeScale"`, "must be > 0"}},
		{"removeOutliers", "setting:\n  removeOutliers: -3\n", []string{`setting "removeOutliers"`, "must be > 0, got -3"}},
		{"resegmentRange empty", "setting:\n  resegmentRange: []\n", []string{`setting "resegmentRange"`, "list of 1 number"}},
		{"resegmentRange three", "setting:\n  resegmentRange: [1, 2, 3]\n", []string{`setting "resegmentRange"`, "got [1, 2, 3]"}},
		{"resegmentRange order", "setting:\n  resegmentRange: [100, -100]\n", []string{`setting "resegmentRange"`, "lower bound must be <= upper bound, got [100, -100]"}},
		{"resegmentMode", "setting:\n  resegmentMode: percent\n", []string{`setting "resegmentMode"`, "must be one of absolute, relative, sigma", `got "percent"`}},
		{"minimumROIDimensions low", "setting:\n  minimumROIDimensions: 0\n", []string{`setting "minimumROIDimensions"`, "between 1 and 3, got 0"}},
		{"minimumROIDimensions high", "setting:\n  minimumROIDimensions: 4\n", []string{`setting "minimumROIDimensions"`, "between 1 and 3, got 4"}},
		{"minimumROISize", "setting:\n  minimumROISize: 0\n", []string{`setting "minimumROISize"`, ">= 1, got 0"}},
		{"geometryTolerance text", "setting:\n  geometryTolerance: tiny\n", []string{`setting "geometryTolerance"`, `must be a number, got "tiny"`}},
		{"geometryTolerance zero", "setting:\n  geometryTolerance: 0\n", []string{`setting "geometryTolerance"`, "must be > 0"}},
		{"force2Ddimension", "setting:\n  force2Ddimension: 3\n", []string{`setting "force2Ddimension"`, "between 0 and 2, got 3"}},
		{"distances empty", "setting:\n  distances: []\n", []string{`setting "distances"`, "non-empty list of integers >= 1"}},
		{"distances zero", "setting:\n  distances: [1, 0]\n", []string{`setting "distances"`, "got [1, 0]"}},
		{"distances float", "setting:\n  distances: [1.5]\n", []string{`setting "distances"`, "got [1.5]"}},
		{"distances scalar", "setting:\n  distances: 1\n", []string{`setting "distances"`, "got 1"}},
		{"weightingNorm", "setting:\n  weightingNorm: l2\n", []string{`setting "weightingNorm"`, "manhattan, euclidean, infinity, no_weighting", `got "l2"`}},
		{"gldm_a", "setting:\n  gldm_a: -1\n", []string{`setting "gldm_a"`, "must be >= 0, got -1"}},
		{"label", "setting:\n  label: 0\n", []string{`setting "label"`, ">= 1, got 0"}},
		{"label null", "setting:\n  label: null\n", []string{`setting "label"`, "must be an integer, got null"}},
		{"sigma zero", "setting:\n  sigma: [1, 0]\n", []string{`setting "sigma"`, "numbers > 0", "got [1, 0]"}},
		{"sigma negative", "setting:\n  sigma: [-1]\n", []string{`setting "sigma"`, "got [-1]"}},
		{"sigma text", "setting:\n  sigma: [one]\n", []string{`setting "sigma"`, `got ["one"]`}},
		{"wavelet", "setting:\n  wavelet: coif99\n", []string{`setting "wavelet"`, "wavelet name", `got "coif99"`}},
		{"level", "setting:\n  level: 0\n", []string{`setting "level"`, ">= 1, got 0"}},
		{"start_level", "setting:\n  start_level: -1\n", []string{`setting "start_level"`, ">= 0, got -1"}},
		{"voxelArrayShift", "setting:\n  voxelArrayShift: lots\n", []string{`setting "voxelArrayShift"`, "must be a number"}},
		{"normalize yes", "setting:\n  normalize: yes\n", []string{`setting "normalize"`, `must be a boolean (true or false), got "yes"`}},
		{"force2D int", "setting:\n  force2D: 1\n", []string{`setting "force2D"`, "must be a boolean", "got 1"}},
		{"correctMask", "setting:\n  correctMask: 'true'\n", []string{`setting "correctMask"`, "must be a boolean"}},
		{"ibsi", "setting:\n  ibsi: on\n", []string{`setting "ibsi"`, "must be a boolean"}},
		{"symmetricalGLCM", "setting:\n  symmetricalGLCM: 0\n", []string{`setting "symmetricalGLCM"`, "must be a boolean"}},
		{"label_channel", "setting:\n  label_channel: -1\n", []string{`setting "label_channel"`, ">= 0"}},
		{"lbp2DMethod", "setting:\n  lbp2DMethod: fancy\n", []string{`setting "lbp2DMethod"`, "default, ror, uniform, var"}},
		{"setting not a mapping", "setting: [binWidth, 25]\n", []string{"setting (line 1): must be a mapping"}},
		{"voxel kernelRadius", "voxelSetting:\n  kernelRadius: 0\n", []string{`voxelSetting "kernelRadius"`, ">= 1, got 0"}},
		{"voxel maskedKernel", "voxelSetting:\n  maskedKernel: 1\n", []string{`voxelSetting "maskedKernel"`, "must be a boolean"}},
		{"voxel initValue", "voxelSetting:\n  initValue: x\n", []string{`voxelSetting "initValue"`, "must be a number"}},
		{"voxel voxelBatch", "voxelSetting:\n  voxelBatch: 0\n", []string{`voxelSetting "voxelBatch"`, "got 0"}},
		{"per image type", "imageType:\n  Original: {}\n  LoG:\n    sigma: [-1]\n", []string{`imageType "LoG" setting "sigma" (line 4)`, "got [-1]"}},
		{"per image type binWidth", "imageType:\n  Square: {binWidth: 0}\n", []string{`imageType "Square" setting "binWidth" (line 2)`, "must be > 0"}},
		{"image type not a mapping", "imageType:\n  LoG: [1, 2]\n", []string{`imageType "LoG" (line 2): must be a mapping`}},
		{"duplicate setting", "setting:\n  binWidth: 25\n  binWidth: 10\n", []string{`setting key "binWidth" (line 3): duplicate key (first at line 2)`}},
		{"feature list not a list", "featureClass:\n  glcm: Contrast\n", []string{`featureClass "glcm" (line 2)`, "must be null (all features) or a list"}},
		{"feature not a string", "featureClass:\n  glcm: [1]\n", []string{`featureClass "glcm"`, "feature names must be strings, got 1"}},
		{"top level not a mapping", "- setting\n", []string{"top level (line 1): must be a mapping"}},
		{"two documents", "setting: {}\n---\nsetting: {}\n", []string{"invalid YAML", "more than one document"}},
		{"syntax", "setting:\n  binWidth: [1\n", []string{"invalid YAML", "yaml:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseParams([]byte(tc.yml), "test.yaml")
			if err == nil {
				t.Fatalf("no error; params %+v", p)
			}
			if p != nil {
				t.Error("params returned with an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "radiomics params test.yaml: ") {
				t.Errorf("error %q lacks the source prefix", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestParamsUnknownKeys(t *testing.T) {
	tests := []struct {
		name, yml string
		want      []string
	}{
		{"top level", "settings:\n  binWidth: 25\n", []string{`top-level key "settings" (line 1): unknown section; expected imageType, featureClass, setting or voxelSetting`}},
		{"top level case", "Setting:\n  binWidth: 25\n", []string{`top-level key "Setting"`, `did you mean "setting"`}},
		{"top level inputImage", "inputImage:\n  Original: {}\n", []string{`top-level key "inputImage"`, "imageType"}},
		{"top level setting key", "binWidth: 25\n", []string{`top-level key "binWidth"`, "belongs under setting"}},
		{"setting", "setting:\n  binwidth: 25\n", []string{`setting "binwidth" (line 2): unknown setting (did you mean "binWidth"?)`}},
		{"setting enableCExtensions", "setting:\n  enableCExtensions: true\n", []string{`setting "enableCExtensions"`, "unknown setting"}},
		{"setting voxel key", "setting:\n  kernelRadius: 1\n", []string{`setting "kernelRadius"`, "belongs under voxelSetting"}},
		{"voxelSetting", "voxelSetting:\n  binWidth: 25\n", []string{`voxelSetting "binWidth"`, "unknown voxel setting", "belongs under setting"}},
		{"image type setting", "imageType:\n  LoG:\n    sigmas: [1]\n", []string{`imageType "LoG" setting "sigmas" (line 3): unknown setting`}},
		{"class", "featureClass:\n  glcmx:\n", []string{`featureClass "glcmx" (line 2): unknown feature class; expected one of shape, shape2D, firstorder`}},
		{"class case", "featureClass:\n  GLCM:\n", []string{`featureClass "GLCM"`, `did you mean "glcm"`}},
		{"feature", "featureClass:\n  glcm:\n    - Contrast\n    - Contrasts\n", []string{`featureClass "glcm" feature "Contrasts" (line 4): unknown feature; glcm features are Autocorrelation`}},
		{"feature case", "featureClass:\n  firstorder: [mean]\n", []string{`featureClass "firstorder" feature "mean"`, `did you mean "Mean"`}},
		{"feature of another class", "featureClass:\n  shape: [Mean]\n", []string{`featureClass "shape" feature "Mean"`, "unknown feature"}},
		{"image type", "imageType:\n  Wavelets: {}\n", []string{`imageType "Wavelets" (line 2): unknown image type; expected one of Original, LoG, Wavelet`}},
		{"image type case", "imageType:\n  log: {}\n", []string{`imageType "log"`, `did you mean "LoG"`}},
		{"LBP2D", "imageType:\n  LBP2D: {}\n", []string{`imageType "LBP2D" (line 2): PyRadiomics image type not implemented by rtpipeline`}},
		{"LBP3D", "imageType:\n  LBP3D: {}\n", []string{`imageType "LBP3D"`, "not implemented by rtpipeline"}},
		{"deprecated firstorder", "featureClass:\n  firstorder: [Mean, StandardDeviation]\n", []string{`featureClass "firstorder" feature "StandardDeviation" (line 2): deprecated in PyRadiomics 3.0.1 and not computed by rtpipeline (the square root of Variance)`}},
		{"deprecated glcm", "featureClass:\n  glcm: [SumVariance]\n", []string{`feature "SumVariance"`, "deprecated", "ClusterTendency"}},
		{"deprecated shape", "featureClass:\n  shape: [Compactness1]\n", []string{`feature "Compactness1"`, "deprecated"}},
		{"deprecated shape2D", "featureClass:\n  shape2D: [SphericalDisproportion]\n", []string{`featureClass "shape2D" feature "SphericalDisproportion"`, "deprecated"}},
		{"deprecated gldm", "featureClass:\n  gldm: [DependencePercentage]\n", []string{`feature "DependencePercentage"`, "deprecated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseParams([]byte(tc.yml), "test.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParamsAllProblemsReported(t *testing.T) {
	yml := `featureClass:
  glcm: [Nope]
  nope:
imageType:
  Nope: {}
  LoG: {sigma: [0]}
setting:
  binWidth: -1
  distances: []
  nope: 1
voxelSetting:
  nope: 1
bogus: 1
`
	_, err := ParseParams([]byte(yml), "many.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	var joined interface{ Unwrap() []error }
	if !asJoined(err, &joined) {
		t.Fatalf("error %T is not joined", err)
	}
	errs := joined.Unwrap()
	wantLines := []string{"(line 2)", "(line 3)", "(line 5)", "(line 6)", "(line 8)", "(line 9)", "(line 10)", "(line 12)", "(line 13)"}
	if len(errs) != len(wantLines) {
		t.Fatalf("%d problems, want %d:\n%v", len(errs), len(wantLines), err)
	}
	for i, e := range errs {
		if !strings.Contains(e.Error(), wantLines[i]) || !strings.HasPrefix(e.Error(), "radiomics params many.yaml: ") {
			t.Errorf("problem %d = %q, want %s (problems sorted by line)", i, e, wantLines[i])
		}
	}
}

func asJoined(err error, target *interface{ Unwrap() []error }) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if ok {
		*target = j
	}
	return ok
}

func TestParamsDefaults(t *testing.T) {
	wantClasses := []string{ClassFirstOrder, ClassGLCM, ClassGLDM, ClassGLRLM, ClassGLSZM, ClassNGTDM, ClassShape}
	for _, yml := range []string{"", "# only a comment\n", "{}\n", "imageType: {}\nfeatureClass: {}\nsetting: {}\n", "imageType:\nfeatureClass:\nsetting:\nvoxelSetting:\n"} {
		p := mustParams(t, yml)
		if got := imageTypeNames(p); !slices.Equal(got, []string{ImageOriginal}) {
			t.Errorf("%q: image types %v", yml, got)
		}
		if got := classNames(p); !slices.Equal(got, wantClasses) {
			t.Errorf("%q: classes %v, want %v", yml, got, wantClasses)
		}
		if !reflect.DeepEqual(p.Settings, DefaultSettings()) || !reflect.DeepEqual(p.ImageTypes[0].Settings, DefaultSettings()) {
			t.Errorf("%q: settings %+v differ from DefaultSettings", yml, p.Settings)
		}
		if got := p.FeatureCount(); got != 14+93 {
			t.Errorf("%q: FeatureCount %d, want 107", yml, got)
		}
		if p.Source != "test.yaml" {
			t.Errorf("Source %q", p.Source)
		}
	}
}

func TestParamsOrderPreserved(t *testing.T) {
	p := mustParams(t, `
featureClass:
  ngtdm:
  shape: [VoxelVolume, MeshVolume, VoxelVolume]
  glcm: []
  firstorder: [Variance, 10Percentile, Mean]
imageType:
  Wavelet: {}
  Square: {}
  Original: {}
  LoG: {sigma: [3, 1]}
`)
	if got, want := imageTypeNames(p), []string{ImageWavelet, ImageSquare, ImageOriginal, ImageLoG}; !slices.Equal(got, want) {
		t.Errorf("image types %v, want %v", got, want)
	}
	if got, want := classNames(p), []string{ClassNGTDM, ClassShape, ClassGLCM, ClassFirstOrder}; !slices.Equal(got, want) {
		t.Errorf("classes %v, want %v", got, want)
	}
	feats := map[string][]string{}
	for _, c := range p.FeatureClasses {
		feats[c.Name] = c.Features
	}
	if feats[ClassNGTDM] != nil || feats[ClassGLCM] != nil {
		t.Errorf("null and [] must mean all features: ngtdm %v glcm %v", feats[ClassNGTDM], feats[ClassGLCM])
	}
	if got := feats[ClassShape]; !slices.Equal(got, []string{"VoxelVolume", "MeshVolume"}) {
		t.Errorf("shape features %v (file order, duplicates dropped)", got)
	}
	if got := feats[ClassFirstOrder]; !slices.Equal(got, []string{"Variance", "10Percentile", "Mean"}) {
		t.Errorf("firstorder features %v", got)
	}
	if got := p.ImageTypes[3].Settings.Sigma; !slices.Equal(got, []float64{3, 1}) {
		t.Errorf("sigma %v", got)
	}
	want := "{'Wavelet': {}, 'Square': {}, 'Original': {}, 'LoG': {'sigma': [3, 1]}}"
	if got := p.ImageTypesLiteral(); got != want {
		t.Errorf("ImageTypesLiteral\n got %s\nwant %s", got, want)
	}
	// 2 shape + (5 + 24 + 3) per image × (8 wavelet + 1 + 1 + 2 LoG).
	if got := p.FeatureCount(); got != 2+32*12 {
		t.Errorf("FeatureCount %d, want %d", got, 2+32*12)
	}
}

func TestParamsImageTypeOverrides(t *testing.T) {
	p := mustParams(t, `
setting:
  binWidth: 25
  sigma: [5]
imageType:
  Original:
  LoG:
    sigma: [1, 2]
    binWidth: 10
  Wavelet:
    wavelet: haar
    start_level: 1
    level: 2
  Square: {binCount: 16}
`)
	byName := map[string]Settings{}
	for _, it := range p.ImageTypes {
		byName[it.Name] = it.Settings
	}
	if p.Settings.BinWidth != 25 || !slices.Equal(p.Settings.Sigma, []float64{5}) || p.Settings.Wavelet != "coif1" {
		t.Errorf("global settings changed by overrides: %+v", p.Settings)
	}
	if s := byName[ImageOriginal]; s.BinWidth != 25 || !slices.Equal(s.Sigma, []float64{5}) {
		t.Errorf("Original (null options) %+v", s)
	}
	if s := byName[ImageLoG]; s.BinWidth != 10 || !slices.Equal(s.Sigma, []float64{1, 2}) {
		t.Errorf("LoG %+v", s)
	}
	if s := byName[ImageWavelet]; s.Wavelet != "haar" || s.StartLevel != 1 || s.Level != 2 || s.BinWidth != 25 {
		t.Errorf("Wavelet %+v", s)
	}
	if s := byName[ImageSquare]; s.BinCount != 16 || s.BinWidth != 25 {
		t.Errorf("Square %+v", s)
	}
	// 14 shape + 93 × (1 Original + 2 LoG + 15 wavelet (7·2+1) + 1 Square).
	if got, want := p.FeatureCount(), 14+93*19; got != want {
		t.Errorf("FeatureCount %d, want %d", got, want)
	}
	want := "{'Original': {}, 'LoG': {'sigma': [1, 2], 'binWidth': 10}, 'Wavelet': {'wavelet': 'haar', 'start_level': 1, 'level': 2}, 'Square': {'binCount': 16}}"
	if got := p.ImageTypesLiteral(); got != want {
		t.Errorf("ImageTypesLiteral\n got %s\nwant %s", got, want)
	}
	// Inherited slices are copies, not shared with the global settings.
	byName[ImageOriginal].Sigma[0] = 42
	if p.Settings.Sigma[0] != 5 {
		t.Error("Original's sigma aliases the global one")
	}
}

func TestParamsNumbersAsStrings(t *testing.T) {
	for _, tc := range []struct{ yml, lit string }{
		{"geometryTolerance: 1e-6", "1e-06"},
		{"geometryTolerance: '1e-6'", "1e-06"},
		{`geometryTolerance: "1.0e-6"`, "1e-06"},
		{"geometryTolerance: 0.000001", "1e-06"},
		{"geometryTolerance: 1.0E-06", "1e-06"},
	} {
		p := mustParams(t, "setting:\n  "+tc.yml+"\n")
		if p.Settings.GeometryTolerance != 1e-6 {
			t.Errorf("%s: GeometryTolerance %g", tc.yml, p.Settings.GeometryTolerance)
		}
		if lit := p.SettingsLiteral(); !strings.HasSuffix(lit, "'geometryTolerance': "+tc.lit+"}") {
			t.Errorf("%s: literal %s", tc.yml, lit)
		}
	}
	p := mustParams(t, "setting:\n  binWidth: '2.5'\n  sigma: ['1', 2]\n")
	if p.Settings.BinWidth != 2.5 || !slices.Equal(p.Settings.Sigma, []float64{1, 2}) {
		t.Errorf("string numbers: %v %v", p.Settings.BinWidth, p.Settings.Sigma)
	}
	// Integer settings take no strings.
	if _, err := ParseParams([]byte("setting:\n  label: '2'\n"), "s"); err == nil || !strings.Contains(err.Error(), `must be an integer, got "2"`) {
		t.Errorf("label '2': %v", err)
	}
}

func TestParamsBinCountAndBinWidth(t *testing.T) {
	p := mustParams(t, "setting:\n  binWidth: 10\n  binCount: 32\n")
	if p.Settings.BinCount != 32 || p.Settings.BinWidth != 10 {
		t.Errorf("binCount %d binWidth %v: both kept, binCount selects the bins", p.Settings.BinCount, p.Settings.BinWidth)
	}
	if lit := p.SettingsLiteral(); !strings.HasSuffix(lit, "'binWidth': 10, 'binCount': 32}") {
		t.Errorf("literal %s", lit)
	}
	p = mustParams(t, "setting:\n  binCount: null\n")
	if p.Settings.BinCount != 0 || p.Settings.BinWidth != 25 {
		t.Errorf("binCount null: %d %v", p.Settings.BinCount, p.Settings.BinWidth)
	}
}

func TestParamsNullableSettings(t *testing.T) {
	p := mustParams(t, `setting:
  resampledPixelSpacing: [2, 2, 0]
  interpolator: null
  removeOutliers: 3
  resegmentRange: [-100]
  minimumROISize: null
  weightingNorm: euclidean
  ibsi: true
  label_channel: 0
  lbp2DRadius: 1.5
voxelSetting:
  kernelRadius: 2
`)
	s := p.Settings
	if s.ResampledPixelSpacing != nil || s.Interpolator != "" {
		t.Errorf("interpolator null must switch resampling off: %v %q", s.ResampledPixelSpacing, s.Interpolator)
	}
	if s.RemoveOutliers == nil || *s.RemoveOutliers != 3 || !slices.Equal(s.ResegmentRange, []float64{-100}) ||
		s.MinimumROISize != 0 || s.WeightingNorm != "euclidean" || !s.IBSI {
		t.Errorf("settings %+v", s)
	}
	want := "{'minimumROIDimensions': 2, 'minimumROISize': None, 'normalize': False, 'normalizeScale': 1, " +
		"'removeOutliers': 3, 'resampledPixelSpacing': [2, 2, 0], 'interpolator': None, 'preCrop': False, " +
		"'padDistance': 5, 'distances': [1], 'force2D': False, 'force2Ddimension': 0, 'resegmentRange': [-100], " +
		"'label': 1, 'additionalInfo': True, 'weightingNorm': 'euclidean', 'ibsi': True, 'label_channel': 0, " +
		"'lbp2DRadius': 1.5, 'kernelRadius': 2}"
	if got := p.SettingsLiteral(); got != want {
		t.Errorf("SettingsLiteral\n got %s\nwant %s", got, want)
	}

	for code, name := range map[string]string{"1": "sitkNearestNeighbor", "2": "sitkLinear", "3": "sitkBSpline", "sitkLinear": "sitkLinear"} {
		p := mustParams(t, "setting:\n  interpolator: "+code+"\n  resampledPixelSpacing: [1, 1, 1]\n")
		if p.Settings.Interpolator != name || p.Settings.ResampledPixelSpacing == nil {
			t.Errorf("interpolator %s: %q %v", code, p.Settings.Interpolator, p.Settings.ResampledPixelSpacing)
		}
	}
}

func TestParamsLiterals(t *testing.T) {
	ct := DefaultCTParams()
	wantCT := "{'minimumROIDimensions': 2, 'minimumROISize': 64, 'normalize': False, 'normalizeScale': 1, " +
		"'removeOutliers': None, 'resampledPixelSpacing': [1, 1, 1], 'interpolator': 'sitkBSpline', " +
		"'preCrop': False, 'padDistance': 5, 'distances': [1, 2], 'force2D': False, 'force2Ddimension': 0, " +
		"'resegmentRange': None, 'label': 1, 'additionalInfo': True, 'voxelArrayShift': 0, 'binWidth': 25, " +
		"'geometryTolerance': 1e-06, 'correctMask': True, 'weightingNorm': None}"
	wantCTTypes := "{'Original': {}, 'LoG': {'sigma': [1.0, 2.0, 3.0, 5.0]}, 'Wavelet': {'wavelet': 'coif1', 'start_level': 0, 'level': 1}}"
	mr := DefaultMRParams()
	wantMR := "{'minimumROIDimensions': 2, 'minimumROISize': 64, 'normalize': False, 'normalizeScale': 1, " +
		"'removeOutliers': None, 'resampledPixelSpacing': [1, 1, 1], 'interpolator': 'sitkBSpline', " +
		"'preCrop': False, 'padDistance': 5, 'distances': [1], 'force2D': False, 'force2Ddimension': 0, " +
		"'resegmentRange': None, 'label': 1, 'additionalInfo': True, 'binWidth': 0.5, " +
		"'geometryTolerance': 1e-06, 'correctMask': False, 'weightingNorm': None, 'voxelArrayShift': 0, 'binCount': 64}"
	wantMRTypes := "{'Original': {}, 'LoG': {'sigma': [2.0, 3.0, 4.0]}}"
	large := LargeROIParams(ct)
	wantLarge := strings.Replace(wantCT, "[1, 1, 1]", "[2, 2, 2]", 1)

	// Built in code (no file): PyRadiomics' default dict, plus what differs from the defaults.
	code := &Params{Settings: DefaultSettings(), ImageTypes: []ImageType{{Name: ImageOriginal, Settings: DefaultSettings()}}}
	code.Settings.BinCount = 8
	code.ImageTypes = append(code.ImageTypes, ImageType{Name: ImageLoG, Settings: code.Settings.Clone()})
	code.ImageTypes[1].Settings.Sigma = []float64{1.5}
	wantCode := "{'minimumROIDimensions': 2, 'minimumROISize': None, 'normalize': False, 'normalizeScale': 1, " +
		"'removeOutliers': None, 'resampledPixelSpacing': None, 'interpolator': 'sitkBSpline', 'preCrop': False, " +
		"'padDistance': 5, 'distances': [1], 'force2D': False, 'force2Ddimension': 0, 'resegmentRange': None, " +
		"'label': 1, 'additionalInfo': True, 'binCount': 8}"
	wantCodeTypes := "{'Original': {'binCount': None}, 'LoG': {'sigma': [1.5]}}"

	// Parsed, then changed in code: the literal follows the values.
	changed := DefaultCTParams()
	changed.Settings.BinWidth = 12.5
	changed.Settings.Label = 2
	for i := range changed.ImageTypes {
		changed.ImageTypes[i].Settings.BinWidth = 12.5
		changed.ImageTypes[i].Settings.Label = 2
	}
	changed.ImageTypes[1].Settings.Sigma = []float64{4}
	wantChanged := strings.NewReplacer("'label': 1", "'label': 2", "'binWidth': 25", "'binWidth': 12.5").Replace(wantCT)
	wantChangedTypes := strings.Replace(wantCTTypes, "[1.0, 2.0, 3.0, 5.0]", "[4.0]", 1)
	// Only the global settings changed: the image types, which keep the old values, say so.
	globalOnly := DefaultCTParams()
	globalOnly.Settings.BinWidth = 12.5
	wantGlobalOnlyTypes := "{'Original': {'binWidth': 25.0}, 'LoG': {'sigma': [1.0, 2.0, 3.0, 5.0], 'binWidth': 25.0}, " +
		"'Wavelet': {'wavelet': 'coif1', 'start_level': 0, 'level': 1, 'binWidth': 25.0}}"

	tests := []struct {
		name                string
		p                   *Params
		settings, imageType string
	}{
		{"ct", ct, wantCT, wantCTTypes},
		{"mr", mr, wantMR, wantMRTypes},
		{"large ROI", large, wantLarge, "{'Original': {}}"},
		{"built in code", code, wantCode, wantCodeTypes},
		{"changed after parsing", changed, wantChanged, wantChangedTypes},
		{"global changed only", globalOnly, strings.Replace(wantCT, "'binWidth': 25", "'binWidth': 12.5", 1), wantGlobalOnlyTypes},
		{"flow style and floats", mustParams(t, "setting: {binWidth: 25.0, normalizeScale: 100, resegmentRange: [-3, 3.5], resegmentMode: sigma}\nimageType: {Original: {binWidth: 1e3}}\n"),
			"{'minimumROIDimensions': 2, 'minimumROISize': None, 'normalize': False, 'normalizeScale': 100, " +
				"'removeOutliers': None, 'resampledPixelSpacing': None, 'interpolator': 'sitkBSpline', 'preCrop': False, " +
				"'padDistance': 5, 'distances': [1], 'force2D': False, 'force2Ddimension': 0, 'resegmentRange': [-3, 3.5], " +
				"'label': 1, 'additionalInfo': True, 'binWidth': 25.0, 'resegmentMode': 'sigma'}",
			"{'Original': {'binWidth': 1000.0}}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 3 { // deterministic
				if got := tc.p.SettingsLiteral(); got != tc.settings {
					t.Fatalf("SettingsLiteral\n got %s\nwant %s", got, tc.settings)
				}
				if got := tc.p.ImageTypesLiteral(); got != tc.imageType {
					t.Fatalf("ImageTypesLiteral\n got %s\nwant %s", got, tc.imageType)
				}
			}
		})
	}
}

func TestParamsPyFloat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{1, "1.0"}, {0, "0.0"}, {-2.5, "-2.5"}, {0.5, "0.5"}, {25, "25.0"}, {1e-6, "1e-06"}, {1e-5, "1e-05"},
		{1e-4, "0.0001"}, {1.5e-7, "1.5e-07"}, {1e15, "1000000000000000.0"}, {1e16, "1e+16"}, {1.25e22, "1.25e+22"},
		{math.Nextafter(0.3, 1), "0.30000000000000004"}, {123.456, "123.456"}, {math.NaN(), "nan"}, {math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
	} {
		if got := filter.PyFloat(tc.v); got != tc.want {
			t.Errorf("filter.PyFloat(%v) = %s, want %s", tc.v, got, tc.want)
		}
	}
	for in, want := range map[string]string{"coif1": "'coif1'", "it's": `"it's"`, `a'b"c`: `'a\'b"c'`, "x\\y\n": `'x\\y\n'`} {
		if got := paramsPyStr(in); got != want {
			t.Errorf("paramsPyStr(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParamsFeatureCount(t *testing.T) {
	tests := []struct {
		name, yml string
		want      int
	}{
		{"firstorder only", "featureClass: {firstorder: }\n", 18},
		{"shape only, many image types", "featureClass: {shape: }\nimageType: {Original: {}, LoG: {sigma: [1]}, Wavelet: {}}\n", 14},
		{"shape2D explicit", "featureClass: {shape2D: , firstorder: [Mean]}\n", 9 + 1},
		{"listed features", "featureClass: {glcm: [Contrast, Idm], ngtdm: [Busyness]}\n", 3},
		{"LoG duplicate sigmas", "featureClass: {firstorder: }\nimageType: {LoG: {sigma: [1, 1.0, 2]}}\n", 18 * 2},
		{"LoG without sigma", "featureClass: {firstorder: }\nimageType: {LoG: {}}\n", 0},
		{"LoG global sigma", "featureClass: {firstorder: }\nsetting: {sigma: [1, 2, 3]}\nimageType: {LoG: }\n", 18 * 3},
		{"wavelet levels", "featureClass: {ngtdm: }\nimageType: {Wavelet: {level: 3}}\n", 5 * 22},
		{"simple filters", "featureClass: {gldm: }\nimageType: {Square: {}, SquareRoot: {}, Logarithm: {}, Exponential: {}, Gradient: {}}\n", 14 * 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParams(t, tc.yml).FeatureCount(); got != tc.want {
				t.Errorf("FeatureCount %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParamsLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte("setting:\n  binWidth: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadParams(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != path || p.Settings.BinWidth != 5 {
		t.Errorf("Source %q binWidth %v", p.Source, p.Settings.BinWidth)
	}
	if _, err := LoadParams(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("setting:\n  binWidth: -5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadParams(path); err == nil || !strings.Contains(err.Error(), "radiomics params "+path+`: setting "binWidth" (line 2)`) {
		t.Errorf("error does not name the file: %v", err)
	}
}

func TestParamsJSONAndAliases(t *testing.T) {
	// PyRadiomics also reads JSON parameter files; YAML anchors work as in PyYAML.
	p := mustParams(t, `{"imageType": {"Original": {}}, "featureClass": {"glcm": ["Contrast"]}, "setting": {"binWidth": 5, "distances": [1, 3]}}`)
	if p.Settings.BinWidth != 5 || !slices.Equal(p.Settings.Distances, []int{1, 3}) || p.FeatureCount() != 1 {
		t.Errorf("JSON params %+v", p)
	}
	p = mustParams(t, "setting:\n  sigma: &s [1, 2]\nimageType:\n  LoG: {sigma: *s}\n")
	if !slices.Equal(p.ImageTypes[0].Settings.Sigma, []float64{1, 2}) {
		t.Errorf("alias sigma %v", p.ImageTypes[0].Settings.Sigma)
	}
}
