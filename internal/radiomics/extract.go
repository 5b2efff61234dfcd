package radiomics

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/radiomics/filter"
	"github.com/rtpipeline/rtpipeline/internal/version"
)

// Value is one output value: a number, or text for the diagnostics that PyRadiomics reports as
// strings, tuples or dicts (written as Python would print them).
type Value struct {
	Num    float64
	Text   string
	IsText bool
}

// String renders the value as a table cell would.
func (v Value) String() string {
	if v.IsText {
		return v.Text
	}
	return strconv.FormatFloat(v.Num, 'g', -1, 64)
}

// Result is an extraction's output in PyRadiomics' key order: diagnostics_* first (when
// additionalInfo is on), then original_shape_*, then per image type and feature class
// "<imagetype>_<class>_<Feature>".
type Result struct {
	Names  []string
	Values []Value
	// Warnings are non-fatal notes (e.g. a LoG sigma skipped because the image is too small).
	Warnings []string
}

// Get returns the value of a key.
func (r *Result) Get(name string) (Value, bool) {
	for i, n := range r.Names {
		if n == name {
			return r.Values[i], true
		}
	}
	return Value{}, false
}

// Features returns the numeric feature values (no diagnostics) by key.
func (r *Result) Features() map[string]float64 {
	m := make(map[string]float64, len(r.Names))
	for i, n := range r.Names {
		if !strings.HasPrefix(n, "diagnostics_") && !r.Values[i].IsText {
			m[n] = r.Values[i].Num
		}
	}
	return m
}

func (r *Result) num(name string, v float64) {
	r.Names = append(r.Names, name)
	r.Values = append(r.Values, Value{Num: v})
}

func (r *Result) text(name, v string) {
	r.Names = append(r.Names, name)
	r.Values = append(r.Values, Value{Text: v, IsText: true})
}

// Options tune an extraction without changing its values.
type Options struct {
	// Workers is the number of filtered images processed at once (default 1). Output does not
	// depend on it.
	Workers int
}

// Extract computes the enabled features of the ROI mask == label in image, as PyRadiomics 3.0.1's
// RadiomicsFeatureExtractor.execute does (see docs/radiomics.md for the steps and the points
// where rtpipeline deliberately differs).
func Extract(ctx context.Context, image, mask *imageio.Image, p *Params) (*Result, error) {
	return ExtractWith(ctx, image, mask, p, Options{Workers: 1})
}

// ExtractWith is Extract with options.
func ExtractWith(ctx context.Context, image, mask *imageio.Image, p *Params, opt Options) (*Result, error) {
	if image == nil || mask == nil || image.Grid == nil || mask.Grid == nil {
		return nil, errors.New("radiomics: image and mask are required")
	}
	if len(image.Data) != image.Grid.Voxels() || len(mask.Data) != mask.Grid.Voxels() {
		return nil, errors.New("radiomics: image or mask data does not match its grid")
	}
	s := p.Settings.Clone()
	res := &Result{}
	var diag []diagItem
	if s.AdditionalInfo {
		diag = append(diag,
			diagItem{"diagnostics_Versions_rtpipeline", txt(version.Version)},
			diagItem{"diagnostics_Versions_PyRadiomicsCompatible", txt("3.0.1")},
			diagItem{"diagnostics_Configuration_Settings", txt(p.SettingsLiteral())},
			diagItem{"diagnostics_Configuration_EnabledImageTypes", txt(p.ImageTypesLiteral())})
		diag = append(diag, imageDiagnostics(image, "original")...)
		diag = append(diag, maskDiagnostics(nil, mask, s.Label, "original")...)
	}
	if err := checkLabels(mask, s.Label); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var err error
	if s.Normalize {
		if image, err = normalizeImage(image, &s); err != nil {
			return nil, err
		}
	}
	switch {
	case s.ResampledPixelSpacing != nil:
		if s.IBSI {
			image, mask, err = resampleIBSI(image, mask, &s)
		} else {
			image, mask, err = ResampleForExtraction(image, mask, s.Label, s.ResampledPixelSpacing, s.Interpolator, s.PadDistance)
		}
		if err != nil {
			return nil, fmt.Errorf("resampling: %w", err)
		}
		if s.AdditionalInfo {
			diag = append(diag, imageDiagnostics(image, "interpolated")...)
			diag = append(diag, maskDiagnostics(image, mask, s.Label, "interpolated")...)
		}
	case s.PreCrop:
		bb, corrected, err := checkMask(image, mask, &s)
		if err != nil {
			return nil, err
		}
		if corrected != nil {
			mask = corrected
		}
		lo, hi := padBox(bb, s.PadDistance, image.Grid.Size)
		image, mask = cropImage(image, lo, hi), cropImage(mask, lo, hi)
	}

	bb, corrected, err := checkMask(image, mask, &s)
	if err != nil {
		return nil, err
	}
	if corrected != nil {
		mask = corrected
		if s.AdditionalInfo {
			diag = append(diag, maskDiagnostics(image, mask, s.Label, "corrected")...)
		}
	}
	morphMask, morphBox := mask, bb
	var ibsiOrigin *float64
	if s.ResegmentRange != nil {
		rmask, err := resegment(image, mask, &s)
		if err != nil {
			return nil, err
		}
		if bb, _, err = checkMask(image, rmask, &s); err != nil {
			return nil, fmt.Errorf("after resegmentation: %w", err)
		}
		if s.AdditionalInfo {
			diag = append(diag, maskDiagnostics(image, rmask, s.Label, "resegmented")...)
		}
		if s.ResegmentShape {
			morphMask, morphBox = rmask, bb
		}
		mask = rmask
		if s.IBSI && (s.ResegmentMode == "" || s.ResegmentMode == "absolute") {
			lo := s.ResegmentRange[0]
			if len(s.ResegmentRange) == 2 {
				lo = math.Min(lo, s.ResegmentRange[1])
			}
			ibsiOrigin = &lo
		}
	}
	for _, d := range diag {
		if d.v.IsText {
			res.text(d.k, d.v.Text)
		} else {
			res.num(d.k, d.v.Num)
		}
	}

	// Shape is computed once, on the morphological mask (PyRadiomics crops the morphological mask
	// to the resegmented mask's box here; rtpipeline uses the mask's own box, which gives the
	// same values whenever the resegmented ROI spans the same box and correct ones otherwise).
	if cls, ok := p.featureClass(ClassShape); ok {
		cm := cropImage(morphMask, morphBox.Lo, morphBox.Hi)
		f, err := ShapeFeatures(roiVoxels(cm, s.Label), cm.Grid.Size, cm.Grid.Spacing)
		if err != nil {
			return nil, fmt.Errorf("shape features: %w", err)
		}
		if s.IBSI {
			// IBSI's axis lengths use the sample covariance (n-1), PyRadiomics the population one.
			n := 0
			for _, v := range cm.Data {
				if maskLabel(v) == s.Label {
					n++
				}
			}
			if n > 1 {
				c := math.Sqrt(float64(n) / float64(n-1))
				for _, k := range []string{"MajorAxisLength", "MinorAxisLength", "LeastAxisLength"} {
					f[k] *= c
				}
			}
		}
		for _, name := range cls.names() {
			res.num("original_shape_"+name, f[name])
		}
	}

	// shape2D, like shape, is computed once (original_shape2D_*), and only for an ROI one voxel
	// thick along force2Ddimension; otherwise PyRadiomics logs a warning and skips it.
	if cls, ok := p.featureClass(ClassShape2D); ok {
		dim := 2 - s.Force2DDimension // force2Ddimension counts numpy axes (z, y, x)
		switch {
		case !s.Force2D:
			res.Warnings = append(res.Warnings, "shape2D skipped: it needs force2D: true")
		case dim < 0 || dim > 2 || morphBox.Size()[dim] > 1:
			res.Warnings = append(res.Warnings, fmt.Sprintf("shape2D skipped: the ROI spans more than one voxel along force2Ddimension %d", s.Force2DDimension))
		default:
			cm := cropImage(morphMask, morphBox.Lo, morphBox.Hi)
			f, err := Shape2DFeatures(roiVoxels(cm, s.Label), cm.Grid.Size, cm.Grid.Spacing, s.Force2DDimension)
			if err != nil {
				return nil, fmt.Errorf("shape2D features: %w", err)
			}
			for _, name := range cls.names() {
				res.num("original_shape2D_"+name, f[name])
			}
		}
	}

	roi := roiVoxels(cropImage(mask, bb.Lo, bb.Hi), s.Label)
	type job struct {
		name     string
		settings Settings
		image    *imageio.Image
	}
	var jobs []job
	for _, it := range p.ImageTypes {
		imgs, warns, err := filteredImages(it, image)
		if err != nil {
			return nil, fmt.Errorf("image type %s: %w", it.Name, err)
		}
		res.Warnings = append(res.Warnings, warns...)
		for _, f := range imgs {
			jobs = append(jobs, job{f.Name, it.Settings, cropImage(f.Image, bb.Lo, bb.Hi)})
		}
	}

	outs := make([]*Result, len(jobs))
	errs := make([]error, len(jobs))
	workers := max(1, min(opt.Workers, len(jobs), runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				j := jobs[i]
				o := origin(j.name, ibsiOrigin)
				outs[i], errs[i] = classFeatures(p, j.name, j.image, roi, &j.settings, o)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, o := range outs {
		if errs[i] != nil {
			return nil, fmt.Errorf("%s image: %w", jobs[i].name, errs[i])
		}
		res.Names = append(res.Names, o.Names...)
		res.Values = append(res.Values, o.Values...)
		res.Warnings = append(res.Warnings, o.Warnings...)
	}
	return res, nil
}

// origin returns the IBSI bin origin for the original image only: filtered images have other
// intensity scales, so the resegmentation bound means nothing there.
func origin(imageType string, o *float64) *float64 {
	if imageType == filter.NameOriginal {
		return o
	}
	return nil
}

// filteredImages derives the images of one image type from the (preprocessed) image.
func filteredImages(it ImageType, im *imageio.Image) ([]filter.Filtered, []string, error) {
	s := &it.Settings
	switch it.Name {
	case ImageOriginal:
		return []filter.Filtered{{Name: filter.NameOriginal, Image: im}}, nil, nil
	case ImageLoG:
		var out []filter.Filtered
		var warns []string
		if len(s.Sigma) == 0 {
			warns = append(warns, "LoG enabled without sigma values: no LoG images")
		}
		for _, sigma := range s.Sigma {
			f, err := filter.LoG(im, sigma)
			if errors.Is(err, filter.ErrImageTooSmall) || errors.Is(err, filter.ErrSigmaTooLarge) || errors.Is(err, filter.ErrInvalidSigma) {
				warns = append(warns, fmt.Sprintf("%s skipped: %v (image size %v, spacing %v)", filter.LoGName(sigma), err, im.Grid.Size, im.Grid.Spacing))
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			out = append(out, filter.Filtered{Name: filter.LoGName(sigma), Image: f})
		}
		return out, warns, nil
	case ImageWavelet:
		if s.Force2D {
			return nil, nil, errors.New("wavelet with force2D is not supported")
		}
		out, err := filter.Wavelet(im, s.Wavelet, s.Level, s.StartLevel)
		return out, nil, err
	case ImageSquare:
		return []filter.Filtered{{Name: filter.NameSquare, Image: filter.Square(im)}}, nil, nil
	case ImageSquareRoot:
		return []filter.Filtered{{Name: filter.NameSquareRoot, Image: filter.SquareRoot(im)}}, nil, nil
	case ImageLogarithm:
		return []filter.Filtered{{Name: filter.NameLogarithm, Image: filter.Logarithm(im)}}, nil, nil
	case ImageExponential:
		return []filter.Filtered{{Name: filter.NameExponential, Image: filter.Exponential(im)}}, nil, nil
	case ImageGradient:
		src := im
		if !s.GradientUseSpacing {
			src = &imageio.Image{Grid: im.Grid, Data: im.Data, PixelType: im.PixelType}
			g := *im.Grid
			g.Spacing = [3]float64{1, 1, 1}
			g.SliceOffsets = nil
			src.Grid = &g
		}
		f := filter.Gradient(src)
		f.Grid = im.Grid
		return []filter.Filtered{{Name: filter.NameGradient, Image: f}}, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown image type %q", it.Name)
}

// classFeatures computes every enabled non-shape class on one cropped (filtered) image.
func classFeatures(p *Params, imageType string, im *imageio.Image, roi []bool, s *Settings, ibsiOrigin *float64) (*Result, error) {
	res := &Result{}
	var d *Discretized
	var vals []float64
	needGray := false
	for _, c := range p.FeatureClasses {
		if c.Name != ClassShape && c.Name != ClassShape2D {
			needGray = true
		}
	}
	if needGray {
		var err error
		if d, vals, err = discretize(im, roi, s, ibsiOrigin); err != nil {
			return nil, err
		}
	}
	ts := s.TextureSettings()
	for _, c := range p.FeatureClasses {
		var f map[string]float64
		var err error
		switch c.Name {
		case ClassShape, ClassShape2D:
			continue
		case ClassFirstOrder:
			levels := make([]int, 0, len(vals))
			for i, ok := range roi {
				if ok {
					levels = append(levels, d.Levels[i])
				}
			}
			sp := im.Grid.Spacing
			f = FirstOrder(vals, levels, s.VoxelArrayShift, sp[0]*sp[1]*sp[2], s.IBSI)
		case ClassGLCM:
			f, _, err = GLCM(d, ts)
		case ClassGLRLM:
			f, _, err = GLRLM(d, ts)
		case ClassGLSZM:
			f, _, err = GLSZM(d, ts)
		case ClassGLDM:
			f, _, err = GLDM(d, ts)
		case ClassNGTDM:
			f, _, err = NGTDM(d, ts)
		default:
			return nil, fmt.Errorf("unknown feature class %q", c.Name)
		}
		if err != nil {
			// The texture classes return NaN features with the error (e.g. a one-voxel box):
			// the row keeps its columns and says why they are empty.
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s %s: %v", imageType, c.Name, err))
		}
		for _, name := range c.names() {
			v, ok := f[name]
			if !ok {
				v = math.NaN()
			}
			res.num(imageType+"_"+c.Name+"_"+name, v)
		}
	}
	return res, nil
}

// featureClass returns the enabled class of that name.
func (p *Params) featureClass(name string) (FeatureClass, bool) {
	for _, c := range p.FeatureClasses {
		if c.Name == name {
			return c, true
		}
	}
	return FeatureClass{}, false
}

// names returns the class's enabled feature names (all defaults when none are listed).
func (c FeatureClass) names() []string {
	if c.Features != nil {
		return c.Features
	}
	switch c.Name {
	case ClassShape:
		return ShapeFeatureNames()
	case ClassShape2D:
		return Shape2DFeatureNames()
	case ClassFirstOrder:
		return FirstOrderFeatureNames()
	}
	return TextureFeatureNames(c.Name)
}

type diagItem struct {
	k string
	v Value
}

func txt(s string) Value { return Value{Text: s, IsText: true} }

// imageDiagnostics are PyRadiomics' diagnostics_Image-<prefix>_* items.
func imageDiagnostics(im *imageio.Image, prefix string) []diagItem {
	k := "diagnostics_Image-" + prefix + "_"
	var out []diagItem
	if prefix == "original" {
		out = append(out, diagItem{k + "Hash", txt(pixelHash(im.Data, im.PixelType))}, diagItem{k + "Dimensionality", txt("3D")})
	}
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, v := range im.Data {
		mn, mx = math.Min(mn, v), math.Max(mx, v)
	}
	sp := im.Grid.Spacing
	sz := im.Grid.Size
	return append(out,
		diagItem{k + "Spacing", txt(pyTuple(sp[:]))},
		diagItem{k + "Size", txt(pyIntTuple(sz[:]))},
		diagItem{k + "Mean", Value{Num: pairwiseSum(im.Data) / float64(len(im.Data))}},
		diagItem{k + "Minimum", Value{Num: mn}},
		diagItem{k + "Maximum", Value{Num: mx}})
}

// maskDiagnostics are PyRadiomics' diagnostics_Mask-<prefix>_* items; image may be nil (then
// the intensity statistics are left out, as PyRadiomics does for the original mask).
func maskDiagnostics(image, mask *imageio.Image, label int, prefix string) []diagItem {
	k := "diagnostics_Mask-" + prefix + "_"
	var out []diagItem
	if prefix == "original" {
		u := make([]float64, len(mask.Data))
		for i, v := range mask.Data {
			u[i] = float64(uint32FromMask(v))
		}
		out = append(out, diagItem{k + "Hash", txt(pixelHash(u, "uint32"))})
	}
	sp := mask.Grid.Spacing
	sz := mask.Grid.Size
	out = append(out, diagItem{k + "Spacing", txt(pyTuple(sp[:]))}, diagItem{k + "Size", txt(pyIntTuple(sz[:]))})
	in := roiVoxels(mask, label)
	bb, n := boundingBox(in, sz)
	if n == 0 {
		return out
	}
	size := bb.Size()
	out = append(out,
		diagItem{k + "BoundingBox", txt(pyIntTuple([]int{bb.Lo[0], bb.Lo[1], bb.Lo[2], size[0], size[1], size[2]}))},
		diagItem{k + "VoxelNum", Value{Num: float64(n)}},
		diagItem{k + "VolumeNum", Value{Num: float64(countComponents26(in, sz))}})
	var c [3]float64
	var vals []float64
	i := 0
	for z := 0; z < sz[2]; z++ {
		for y := 0; y < sz[1]; y++ {
			for x := 0; x < sz[0]; x++ {
				if in[i] {
					c[0] += float64(x)
					c[1] += float64(y)
					c[2] += float64(z)
					if image != nil && len(image.Data) == len(in) {
						vals = append(vals, image.Data[i])
					}
				}
				i++
			}
		}
	}
	for a := range c {
		c[a] /= float64(n)
	}
	p := continuousPoint(mask.Grid, c)
	out = append(out, diagItem{k + "CenterOfMassIndex", txt(pyTuple(c[:]))}, diagItem{k + "CenterOfMass", txt(pyTuple(p[:]))})
	if len(vals) > 0 {
		mn, mx := math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			mn, mx = math.Min(mn, v), math.Max(mx, v)
		}
		out = append(out, diagItem{k + "Mean", Value{Num: pairwiseSum(vals) / float64(len(vals))}},
			diagItem{k + "Minimum", Value{Num: mn}}, diagItem{k + "Maximum", Value{Num: mx}})
	}
	return out
}

func uint32FromMask(v float64) uint32 {
	if !(v >= 0) || v > math.MaxUint32 {
		return 0
	}
	return uint32(v)
}

// countComponents26 counts 26-connected components of in.
func countComponents26(in []bool, size [3]int) int {
	seen := make([]bool, len(in))
	nx, ny, nz := size[0], size[1], size[2]
	count := 0
	var stack []int
	for start, ok := range in {
		if !ok || seen[start] {
			continue
		}
		count++
		seen[start] = true
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y, z := i%nx, (i/nx)%ny, i/(nx*ny)
			for dz := -1; dz <= 1; dz++ {
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						X, Y, Z := x+dx, y+dy, z+dz
						if X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz {
							continue
						}
						j := (Z*ny+Y)*nx + X
						if in[j] && !seen[j] {
							seen[j] = true
							stack = append(stack, j)
						}
					}
				}
			}
		}
	}
	return count
}

// pixelHash is SimpleITK's Hash: SHA1 of the pixel buffer in its stored type (little endian).
func pixelHash(data []float64, pixelType string) string {
	h := sha1.New()
	buf := make([]byte, 0, 8*4096)
	flush := func() { h.Write(buf); buf = buf[:0] }
	for _, v := range data {
		switch pixelType {
		case "uint8":
			buf = append(buf, uint8(v))
		case "int8":
			buf = append(buf, byte(int8(v)))
		case "int16":
			buf = binary.LittleEndian.AppendUint16(buf, uint16(int16(v)))
		case "uint16":
			buf = binary.LittleEndian.AppendUint16(buf, uint16(v))
		case "int32":
			buf = binary.LittleEndian.AppendUint32(buf, uint32(int32(v)))
		case "uint32":
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
		case "float32":
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(v)))
		default:
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
		if len(buf) >= 8*4096-8 {
			flush()
		}
	}
	flush()
	return hex.EncodeToString(h.Sum(nil))
}

func pyTuple(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = filter.PyFloat(x)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func pyIntTuple(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.Itoa(x)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
