package imageio

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Tolerances of the series checks: direction cosines, pixel spacings (mm), in-plane drift of
// the slice positions (mm), and relative unevenness of the slice gaps.
const (
	seriesCosineTol  = 1e-4
	seriesSpacingTol = 1e-4
	seriesDriftTol   = 1e-2
	seriesGapRelTol  = 1e-3
)

// dicomSlice is one decoded image file of a series.
type dicomSlice struct {
	path         string
	sopUID       string
	seriesUID    string
	ipp, iop, ps []float64
	rows, cols   int
	slope, inter float64
	thickness    float64
	samples      []float64 // stored values
	pos          float64   // position along the slice normal
}

// ReadDICOMSeries reads the single-frame image files of one series (CT, MR, PT, ...), given in
// any order, into a volume in patient coordinates (LPS).
//
// The slices are sorted along the slice normal n = row direction × column direction of
// ImageOrientationPatient, by the projection of ImagePositionPatient on n. All slices must
// share the series, orientation, pixel spacing and matrix size, lie on one line along n (a gantry
// tilt is refused), and be evenly spaced: a gap differing from the mean gap by more than 1e-3
// relative is an error that names the two files. A single slice gets SliceThickness (or 1 mm)
// as its spacing.
//
// Values are stored value × RescaleSlope + RescaleIntercept (per slice; 1 and 0 when absent).
// PixelType is "int16" when every slope is 1, every intercept an integer and every value fits
// int16, else "float64". The grid: Origin is the first sorted slice's position, Axes[0] the row
// direction (increasing column index), Axes[1] the column direction, Axes[2] = n (the sort
// direction), spacings from PixelSpacing (column spacing first) and the slice gap.
func ReadDICOMSeries(files []string) (*Image, error) {
	im, _, _, err := readDICOMSeries(files)
	return im, err
}

// ReadDICOMSeriesDir reads every DICOM image file directly in dir (not in subfolders; files that
// are not DICOM, and DICOM objects that are not images, such as RTSTRUCT or RTDOSE, are
// skipped). The images must belong to one SeriesInstanceUID. It also returns the
// SOPInstanceUIDs in slice order (index k of the image).
func ReadDICOMSeriesDir(dir string) (*Image, []string, error) {
	im, uids, _, err := ReadDICOMSeriesDirFiles(dir)
	return im, uids, err
}

// ReadDICOMSeriesDirFiles is ReadDICOMSeriesDir that also returns the slices' file paths in
// slice order, for callers that need more of a slice's header than the image carries.
func ReadDICOMSeriesDirFiles(dir string) (*Image, []string, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	bySeries := map[string][]string{}
	var hr dicomio.HeaderReader
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := hr.Read(p)
		if errors.Is(err, dicomio.ErrNotDICOM) {
			continue
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		if !f.HasPixelData || !f.Has(dicomio.TagImagePositionPatient) || !f.Has(dicomio.TagImageOrientationPatient) ||
			!rt.Classify(f.String(dicomio.TagSOPClassUID), f.String(dicomio.TagModality)).IsImage() {
			continue // not a slice of a volume: RTDOSE, RTIMAGE, SEG, secondary capture, ...
		}
		uid := f.String(dicomio.TagSeriesInstanceUID)
		bySeries[uid] = append(bySeries[uid], p)
	}
	switch len(bySeries) {
	case 0:
		return nil, nil, nil, fmt.Errorf("%s: no DICOM image files", dir)
	case 1:
	default:
		var list []string
		for uid, fs := range bySeries {
			list = append(list, fmt.Sprintf("%q (%d files)", uid, len(fs)))
		}
		sort.Strings(list)
		return nil, nil, nil, fmt.Errorf("%s holds %d image series: %s", dir, len(list), strings.Join(list, ", "))
	}
	var files []string
	for _, fs := range bySeries {
		files = fs
	}
	im, uids, paths, err := readDICOMSeries(files)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return im, uids, paths, nil
}

func readDICOMSeries(files []string) (*Image, []string, []string, error) {
	if len(files) == 0 {
		return nil, nil, nil, errors.New("no DICOM files")
	}
	slices, err := readSlices(files)
	if err != nil {
		return nil, nil, nil, err
	}
	first := slices[0]
	g, err := grid.FromDICOM(first.ipp, first.iop, first.ps, first.rows, first.cols, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: ImagePositionPatient %v, ImageOrientationPatient %v, PixelSpacing %v: %w",
			first.path, first.ipp, first.iop, first.ps, err)
	}
	for a := range g.Axes {
		g.Axes[a] = g.Axes[a].Scale(1 / g.Axes[a].Norm())
	}
	normal := g.Axes[2]
	for _, s := range slices {
		if err := sameFrame(first, s); err != nil {
			return nil, nil, nil, err
		}
		s.pos = grid.Vec(s.ipp).Dot(normal)
	}
	sort.SliceStable(slices, func(a, b int) bool { return slices[a].pos < slices[b].pos })
	first = slices[0]
	g.Origin = grid.Vec(first.ipp)
	n := len(slices)
	if n == 1 {
		g.Spacing[2] = 1
		if first.thickness > 0 {
			g.Spacing[2] = first.thickness
		}
	} else {
		gaps := make([]float64, n-1)
		for k := 1; k < n; k++ {
			gaps[k-1] = slices[k].pos - slices[k-1].pos
		}
		sorted := append([]float64(nil), gaps...)
		sort.Float64s(sorted)
		typical := sorted[(len(sorted)-1)/2] // the lower median: a missing slice makes a gap larger
		for k := 1; k < n; k++ {
			gap := gaps[k-1]
			if gap < 1e-6*math.Max(1, typical) {
				return nil, nil, nil, fmt.Errorf("%s and %s share slice position %.4f mm along the normal",
					slices[k-1].path, slices[k].path, slices[k].pos)
			}
			if math.Abs(gap-typical) > seriesGapRelTol*typical {
				return nil, nil, nil, fmt.Errorf("uneven slice spacing: gap of %.4f mm between %s and %s (sorted slices %d and %d), typical gap %.4f mm",
					gap, slices[k-1].path, slices[k].path, k-1, k, typical)
			}
			d := grid.Vec(slices[k].ipp).Sub(grid.Vec(first.ipp))
			if drift := d.Sub(normal.Scale(d.Dot(normal))).Norm(); drift > seriesDriftTol {
				return nil, nil, nil, fmt.Errorf("%s is shifted %.3f mm in-plane from the first slice (gantry tilt?); such series are not supported",
					slices[k].path, drift)
			}
		}
		g.Spacing[2] = (slices[n-1].pos - first.pos) / float64(n-1)
	}
	g.Size[2] = n
	if g.Voxels() > grid.MaxVoxels {
		return nil, nil, nil, fmt.Errorf("series of %v voxels is too large", g.Size)
	}
	im := &Image{Grid: g, Data: make([]float64, 0, g.Voxels()), PixelType: "int16"}
	uids, paths := make([]string, n), make([]string, n)
	for k, s := range slices {
		uids[k], paths[k] = s.sopUID, s.path
		integral := s.slope == 1 && s.inter == math.Trunc(s.inter)
		if !integral {
			im.PixelType = "float64"
		}
		for _, v := range s.samples {
			v = v*s.slope + s.inter
			if integral && (v < math.MinInt16 || v > math.MaxInt16) {
				im.PixelType = "float64"
			}
			im.Data = append(im.Data, v)
		}
		s.samples = nil
	}
	return im, uids, paths, nil
}

// readSlices reads and decodes the files concurrently, keeping the input order.
func readSlices(files []string) ([]*dicomSlice, error) {
	out := make([]*dicomSlice, len(files))
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(files)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = readSlice(files[i])
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	failed := 0
	var firstErr error
	for _, err := range errs {
		if err != nil {
			if failed == 0 {
				firstErr = err
			}
			failed++
		}
	}
	switch {
	case failed == 1:
		return nil, firstErr
	case failed > 1:
		return nil, fmt.Errorf("%w (and %d more unreadable files)", firstErr, failed-1)
	}
	return out, nil
}

func readSlice(path string) (*dicomSlice, error) {
	f, err := dicomio.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &dicomSlice{
		path:      path,
		sopUID:    f.String(dicomio.TagSOPInstanceUID),
		seriesUID: f.String(dicomio.TagSeriesInstanceUID),
		ipp:       f.Floats(dicomio.TagImagePositionPatient),
		iop:       f.Floats(dicomio.TagImageOrientationPatient),
		ps:        f.Floats(dicomio.TagPixelSpacing),
		slope:     1,
	}
	s.rows, _ = f.Int(dicomio.TagRows)
	s.cols, _ = f.Int(dicomio.TagColumns)
	if len(s.ipp) != 3 || len(s.iop) != 6 || len(s.ps) != 2 || s.rows <= 0 || s.cols <= 0 {
		return nil, fmt.Errorf("%s: not a single-frame image with geometry (ImagePositionPatient %v, ImageOrientationPatient %v, PixelSpacing %v, %dx%d)",
			path, s.ipp, s.iop, s.ps, s.cols, s.rows)
	}
	if nf, ok := f.Int(dicomio.TagNumberOfFrames); ok && nf > 1 {
		return nil, fmt.Errorf("%s: multi-frame images (%d frames) are not supported", path, nf)
	}
	if v, ok := f.Float(dicomio.TagRescaleSlope); ok && v != 0 {
		s.slope = v
	}
	s.inter, _ = f.Float(dicomio.TagRescaleIntercept)
	s.thickness, _ = f.Float(dicomio.TagSliceThickness)
	if s.samples, err = f.PixelSamples(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.samples) != s.rows*s.cols {
		return nil, fmt.Errorf("%s: %d samples for %dx%d pixels", path, len(s.samples), s.cols, s.rows)
	}
	return s, nil
}

// sameFrame checks that slice s has the series, orientation, spacing and size of slice ref.
func sameFrame(ref, s *dicomSlice) error {
	if s.seriesUID != ref.seriesUID {
		return fmt.Errorf("%s belongs to series %q, %s to %q", s.path, s.seriesUID, ref.path, ref.seriesUID)
	}
	if s.rows != ref.rows || s.cols != ref.cols {
		return fmt.Errorf("%s is %dx%d, %s %dx%d", s.path, s.cols, s.rows, ref.path, ref.cols, ref.rows)
	}
	for i := range s.iop {
		if math.Abs(s.iop[i]-ref.iop[i]) > seriesCosineTol {
			return fmt.Errorf("%s has ImageOrientationPatient %v, %s %v", s.path, s.iop, ref.path, ref.iop)
		}
	}
	for i := range s.ps {
		if math.Abs(s.ps[i]-ref.ps[i]) > seriesSpacingTol {
			return fmt.Errorf("%s has PixelSpacing %v, %s %v", s.path, s.ps, ref.path, ref.ps)
		}
	}
	return nil
}
