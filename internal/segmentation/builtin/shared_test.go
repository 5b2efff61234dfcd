package builtin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/structures"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// sharedCase is one CT series of the shared test data with its segmentation and the manual
// ROIs of the structure sets in its folder that match a segmented structure.
type sharedCase struct {
	name   string // folder relative to dicom-rt
	ct     *imageio.Image
	res    *Result
	manual []manualROI
}

// manualROI is a rasterised manual ROI and the segmented structure(s) it compares with.
type manualROI struct {
	roi, file string
	mask      *imageio.Image
	against   []string // union of these structures
	dice      float64
	warnings  []string
}

var sharedCases struct {
	cases []*sharedCase
	err   error
	done  bool
}

// loadShared segments every folder of the shared dicom-rt data that holds a CT series.
func loadShared(t *testing.T) []*sharedCase {
	t.Helper()
	root := testutil.SharedTestdata(t, "dicom-rt")
	if sharedCases.done {
		if sharedCases.err != nil {
			t.Fatal(sharedCases.err)
		}
		return sharedCases.cases
	}
	sharedCases.done = true
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		ct, _, err := imageio.ReadDICOMSeriesDir(p)
		if err != nil {
			return nil // no (single) image series here
		}
		rel, _ := filepath.Rel(root, p)
		c := &sharedCase{name: filepath.ToSlash(rel), ct: ct}
		if c.res, err = Segment(context.Background(), ct, Options{Workers: 2}); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range entries {
			ss, err := rt.ReadStructureSetFile(filepath.Join(p, e.Name()))
			if err != nil {
				continue
			}
			for _, roi := range ss.ROIs {
				against := manualMatch(roi.Name)
				if against == nil {
					continue
				}
				m, warn, err := structures.Rasterize(roi, ct)
				if err != nil {
					return err
				}
				union := unionMask(c.res, against)
				c.manual = append(c.manual, manualROI{roi: roi.Name, file: e.Name(), mask: m, against: against,
					dice: structures.Dice(m, union), warnings: warn})
			}
		}
		sharedCases.cases = append(sharedCases.cases, c)
		return nil
	})
	if err == nil && len(sharedCases.cases) == 0 {
		err = errors.New("no CT series in the shared data")
	}
	sharedCases.err = err
	if err != nil {
		t.Fatal(err)
	}
	return sharedCases.cases
}

var (
	bodyName = regexp.MustCompile(`^(body|external|skin|outer contour|body contour|patient outline)$`)
	leftSide = regexp.MustCompile(`\b(l|lt|left|sin)\b`)
	rightSde = regexp.MustCompile(`\b(r|rt|right|dx)\b`)
)

// manualMatch returns the segmented structures a manual ROI name corresponds to (nil: none).
func manualMatch(name string) []string {
	n := strings.ToLower(strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}), " "))
	switch {
	case bodyName.MatchString(n):
		return []string{Body}
	case strings.Contains(n, "lung") && !regexp.MustCompile(`\b(gtv|ctv|ptv|itv|minus|ex|opt)\b`).MatchString(n):
		l, r := leftSide.MatchString(n), rightSde.MatchString(n)
		switch {
		case l && !r:
			return []string{LungLeft}
		case r && !l:
			return []string{LungRight}
		}
		return []string{LungLeft, LungRight}
	}
	return nil
}

// unionMask is the union of the named masks of a result.
func unionMask(res *Result, names []string) *imageio.Image {
	var out *imageio.Image
	for _, n := range names {
		m := res.Get(n).Mask
		if out == nil {
			out = m.Clone()
			continue
		}
		for i, v := range m.Data {
			if v != 0 {
				out.Data[i] = 1
			}
		}
	}
	return out
}

func TestManualNameMatch(t *testing.T) {
	for name, want := range map[string][]string{
		"BODY": {Body}, "External": {Body}, "Lt Lung": {LungLeft}, "LUNG_R": {LungRight}, "Lung Left": {LungLeft},
		"Lungs": {LungLeft, LungRight}, "Lung-GTV": nil, "Heart": nil, "Breast": nil,
	} {
		if got := manualMatch(name); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}

// TestSharedData segments every CT series of the shared data and compares with the manual
// body and lung ROIs of the structure sets beside them. The figures are in
// docs/segmentation.md; the test requires a Dice of at least 0.9 for manual BODY ROIs that
// have contours on the image.
func TestSharedData(t *testing.T) {
	cases := loadShared(t)
	for _, c := range cases {
		t.Logf("%s: CT %v, spacing %.3g mm, axes %v", c.name, c.ct.Grid.Size, c.ct.Grid.Spacing, c.ct.Grid.Axes)
		for _, m := range c.res.Masks {
			t.Logf("  %-10s %8.1f cm³  %s", m.Name, m.VolumeCC, strings.Join(m.Notes, "; "))
		}
		for _, m := range c.manual {
			vol := structures.MaskVolume(m.mask)
			t.Logf("  manual %q (%s) %.1f cm³ vs %v: Dice %.3f %v", m.roi, m.file, vol, m.against, m.dice, m.warnings)
			if m.against[0] == Body && vol > 0 && m.dice < 0.9 {
				t.Errorf("%s: Dice %.3f against manual %q", c.name, m.dice, m.roi)
			}
		}
	}
}
