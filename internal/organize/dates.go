package organize

import (
	"strings"
	"time"
)

// normDate turns the date spellings found in exports (DICOM DA "YYYYMMDD", "YYYY-MM-DD",
// "YYYY.MM.DD", "DD-MM-YYYY", "DD.MM.YYYY") into "YYYY-MM-DD"; anything else gives "".
func normDate(s string) string {
	s = strings.TrimSpace(s)
	layouts := []string{"20060102", "2006-01-02", "2006.01.02", "02-01-2006", "02.01.2006", "2006/01/02"}
	for _, l := range layouts {
		if len(s) != len(l) {
			continue
		}
		if t, err := time.Parse(l, s); err == nil && t.Year() >= 1900 {
			return t.Format("2006-01-02")
		}
	}
	return ""
}

// dateKey is a sort key that puts undated items last.
func dateKey(s string) string {
	if d := normDate(s); d != "" {
		return d
	}
	return "9999-99-99"
}

// dayNumber is the number of days since 1970 of a date, for date differences.
func dayNumber(s string) (int, bool) {
	d := normDate(s)
	if d == "" {
		return 0, false
	}
	t, _ := time.Parse("2006-01-02", d)
	return int(t.Unix() / 86400), true
}
