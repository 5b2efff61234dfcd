package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/radiomics"
	"github.com/rtpipeline/rtpipeline/internal/radiomics/stage"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

func newRadiomicsCalcCommand(g *globalFlags) *cobra.Command {
	var imagePath, maskPath, paramsPath, format, roiName string
	var label int
	var diagnostics bool
	cmd := &cobra.Command{
		Use:   "radiomics-calc --image IMG --mask MASK [--label N] [--params FILE] [--format json|csv] [--diagnostics] [--roi NAME]",
		Short: "Extract radiomics features of one image and mask",
		Long: `radiomics-calc extracts PyRadiomics-compatible features of the ROI of MASK on IMG and prints
them, feature name → value, in extraction order: a JSON object (--format json, the default) or
"feature,value" CSV lines (--format csv).

IMG is an NRRD (.nrrd, .nhdr) or NIfTI (.nii, .nii.gz) file or a folder holding one DICOM image
series. MASK is an NRRD or NIfTI label image (the ROI is the voxels equal to --label, default
the label of the parameters, 1), or an RTSTRUCT file together with --roi NAME: that ROI's
contours are rasterised on the image grid (voxel centres inside the contours).

--params takes a PyRadiomics parameter file (YAML); without it rtpipeline's CT recipe is used
(1223 features). diagnostics_* entries are printed only with --diagnostics. Warnings of the
extraction go to standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if imagePath == "" || maskPath == "" {
				return errors.New("--image and --mask are required")
			}
			if format != "json" && format != "csv" {
				return fmt.Errorf("--format must be json or csv, not %q", format)
			}
			p := radiomics.DefaultCTParams()
			if paramsPath != "" {
				var err error
				if p, err = radiomics.LoadParams(paramsPath); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("label") {
				if label < 1 {
					return fmt.Errorf("--label must be at least 1, got %d", label)
				}
				p = paramsWithLabel(p, label)
			}
			img, err := readCalcImage(imagePath)
			if err != nil {
				return err
			}
			mask, err := readCalcMask(g, maskPath, roiName, img, p.Settings.Label)
			if err != nil {
				return err
			}
			extract := radiomicsExtract
			if extract == nil {
				extract = radiomics.Extract
			}
			res, err := extract(cmd.Context(), img, mask, p)
			if err != nil {
				return fmt.Errorf("extracting features of %s on %s: %w", maskPath, imagePath, err)
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(g.stderr, "warning:", w)
			}
			return writeRadiomicsCalc(g, format, res, diagnostics)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&imagePath, "image", "", "image: NRRD, NIfTI or a DICOM series folder")
	fl.StringVar(&maskPath, "mask", "", "mask: NRRD or NIfTI label image, or an RTSTRUCT (with --roi)")
	fl.IntVar(&label, "label", 1, "label value of the ROI in the mask (default: the parameters' label, 1)")
	fl.StringVar(&paramsPath, "params", "", "PyRadiomics parameter file (default: rtpipeline's CT recipe)")
	fl.StringVar(&format, "format", "json", "output format: json or csv")
	fl.BoolVar(&diagnostics, "diagnostics", false, "also print the diagnostics_* entries")
	fl.StringVar(&roiName, "roi", "", "ROI name in the RTSTRUCT given as --mask (case-insensitive)")
	return cmd
}

// paramsWithLabel returns a copy of p extracting label, globally and for every image type.
func paramsWithLabel(p *radiomics.Params, label int) *radiomics.Params {
	c := *p
	c.Settings = p.Settings.Clone()
	c.Settings.Label = label
	c.ImageTypes = make([]radiomics.ImageType, len(p.ImageTypes))
	for i, it := range p.ImageTypes {
		c.ImageTypes[i] = radiomics.ImageType{Name: it.Name, Settings: it.Settings.Clone()}
		c.ImageTypes[i].Settings.Label = label
	}
	return &c
}

// withPath prefixes err with "what path: " unless its message already names path.
func withPath(what, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return fmt.Errorf("%s %s: %w", what, path, pe.Err)
	}
	if strings.Contains(err.Error(), path) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s %s: %w", what, path, err)
}

// readCalcImage reads an NRRD or NIfTI file or a DICOM series folder.
func readCalcImage(path string) (*imageio.Image, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, withPath("image", path, err)
	}
	if st.IsDir() {
		img, _, err := imageio.ReadDICOMSeriesDir(path)
		if err != nil {
			return nil, withPath("image", path, err)
		}
		return img, nil
	}
	lower := strings.ToLower(path)
	var img *imageio.Image
	switch {
	case strings.HasSuffix(lower, ".nrrd"), strings.HasSuffix(lower, ".nhdr"):
		img, err = imageio.ReadNRRD(path)
	case strings.HasSuffix(lower, ".nii"), strings.HasSuffix(lower, ".nii.gz"):
		img, err = imageio.ReadNIfTI(path)
	default:
		return nil, fmt.Errorf("image %s: unknown format; give an .nrrd, .nhdr, .nii or .nii.gz file or a DICOM series folder", path)
	}
	if err != nil {
		return nil, withPath("image", path, err)
	}
	return img, nil
}

// readCalcMask reads a label image, or rasterises ROI roi of an RTSTRUCT on img's grid (its
// voxels get value label).
func readCalcMask(g *globalFlags, path, roi string, img *imageio.Image, label int) (*imageio.Image, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, withPath("mask", path, err)
	}
	lower := strings.ToLower(path)
	if strings.HasSuffix(lower, ".nrrd") || strings.HasSuffix(lower, ".nhdr") || strings.HasSuffix(lower, ".nii") || strings.HasSuffix(lower, ".nii.gz") {
		if roi != "" {
			return nil, fmt.Errorf("--roi applies to an RTSTRUCT mask, but %s is a label image (use --label)", path)
		}
		var m *imageio.Image
		var err error
		if strings.HasSuffix(lower, ".nii") || strings.HasSuffix(lower, ".nii.gz") {
			m, err = imageio.ReadNIfTI(path)
		} else {
			m, err = imageio.ReadNRRD(path)
		}
		if err != nil {
			return nil, withPath("mask", path, err)
		}
		return m, nil
	}
	h, err := dicomio.ReadHeader(path)
	if err != nil {
		return nil, fmt.Errorf("mask %s: neither NRRD, NIfTI nor DICOM: %w", path, err)
	}
	if k := rt.Classify(h.String(dicomio.TagSOPClassUID), h.String(dicomio.TagModality)); k != rt.KindRTStruct {
		return nil, fmt.Errorf("mask %s is a DICOM %s, not an RTSTRUCT", path, k)
	}
	ss, err := rt.ReadStructureSetFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range ss.ROIs {
		names = append(names, r.Name)
	}
	if roi == "" {
		return nil, fmt.Errorf("mask %s is an RTSTRUCT: choose the ROI with --roi (one of %s)", path, strings.Join(names, ", "))
	}
	var found *rt.ROIContours
	for _, r := range ss.ROIs {
		if strings.EqualFold(strings.TrimSpace(r.Name), strings.TrimSpace(roi)) {
			found = r
			break
		}
	}
	if found == nil {
		for _, r := range ss.ROIs {
			if stage.NormalizeROIName(r.Name, r.Number) == stage.NormalizeROIName(roi, -1) {
				found = r
				break
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s has no ROI named %q (it has %s)", path, roi, strings.Join(names, ", "))
	}
	m, warnings, err := structures.Rasterize(found, img)
	if err != nil {
		return nil, fmt.Errorf("rasterising ROI %q of %s: %w", found.Name, path, err)
	}
	for _, w := range warnings {
		fmt.Fprintln(g.stderr, "warning:", w)
	}
	n := 0
	for i, v := range m.Data {
		if v != 0 {
			m.Data[i] = float64(label)
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("ROI %q of %s covers no voxel centre of the image", found.Name, path)
	}
	return m, nil
}

// writeRadiomicsCalc prints the result in key order, diagnostics only when asked.
func writeRadiomicsCalc(g *globalFlags, format string, res *radiomics.Result, diagnostics bool) error {
	var buf bytes.Buffer
	if format == "json" {
		buf.WriteString("{")
		first := true
		for i, n := range res.Names {
			if !diagnostics && strings.HasPrefix(n, "diagnostics_") {
				continue
			}
			if !first {
				buf.WriteString(",")
			}
			first = false
			key, _ := json.Marshal(n)
			buf.WriteString("\n  " + string(key) + ": " + calcJSONValue(res.Values[i]))
		}
		if !first {
			buf.WriteString("\n")
		}
		buf.WriteString("}\n")
	} else {
		w := csv.NewWriter(&buf)
		w.Write([]string{"feature", "value"})
		for i, n := range res.Names {
			if !diagnostics && strings.HasPrefix(n, "diagnostics_") {
				continue
			}
			v := res.Values[i]
			s := v.Text
			if !v.IsText {
				s = calcNumber(v.Num)
			}
			w.Write([]string{n, s})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	}
	_, err := g.stdout.Write(buf.Bytes())
	return err
}

// calcNumber formats a feature value in its shortest exact form; NaN and ±Inf are empty.
func calcNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func calcJSONValue(v radiomics.Value) string {
	if v.IsText {
		b, _ := json.Marshal(v.Text)
		return string(b)
	}
	if s := calcNumber(v.Num); s != "" {
		return s
	}
	return "null"
}
