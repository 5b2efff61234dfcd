package stage

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// PartialSuffix is appended to roi_name when the ROI's mask touches a face of the image volume
// (the structure is cut by the scan's field of view).
const PartialSuffix = "__partial"

// BuiltinSkipROIs are never extracted (normalised names): couch and support structures and
// TotalSegmentator's non-anatomical labels. radiomics.skip_rois adds to them.
var BuiltinSkipROIs = []string{"couchsurface", "couchinterior", "couchexterior", "bones", "m1", "m2", "table", "support"}

// NormalizeROIName returns the name rtpipeline tabulates for an RTSTRUCT ROI name: lower case,
// only letters, digits, '_' and '-' kept (spaces and other characters dropped), '_' and '-'
// stripped at both ends. A name with nothing left becomes "roi_<number>" (number 0 for masks
// without an ROI number), so that no row has an empty name.
func NormalizeROIName(name string, number int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' {
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), "_-")
	if s == "" {
		return "roi_" + strconv.Itoa(number)
	}
	return s
}

// withPartial returns name with PartialSuffix unless it already ends with it.
func withPartial(name string) string {
	if strings.HasSuffix(name, PartialSuffix) {
		return name
	}
	return name + PartialSuffix
}

// skipSet returns the normalised skip list: BuiltinSkipROIs plus extra.
func skipSet(extra []string) map[string]bool {
	s := map[string]bool{}
	for _, n := range BuiltinSkipROIs {
		s[n] = true
	}
	for _, n := range extra {
		if strings.TrimSpace(n) != "" {
			s[NormalizeROIName(n, 0)] = true
		}
	}
	return s
}

// isLargeROIName tells whether an ROI always gets the reduced (large-ROI) feature set: its
// normalised name starts with "body" (BODY, body_contour, ...).
func isLargeROIName(normalized string) bool { return strings.HasPrefix(normalized, "body") }

// sortTail sorts list[from:] in place.
func sortTail(list []string, from int) { sort.Strings(list[from:]) }
