package results

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestXLSXKeepsFullPrecision: numbers are stored as the shortest decimal that reads back as the
// same float64, not cut to Excel's 15 displayed digits.
func TestXLSXKeepsFullPrecision(t *testing.T) {
	values := []float64{12345.678901234567, 0.1, 1e-20, -2.5e-7, 123456789012345678, 3}
	tb := NewTable("t", "a")
	for _, v := range values {
		tb.Add(map[string]any{"a": v})
	}
	var b bytes.Buffer
	if err := tb.EncodeXLSX(&b); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var sheet string
	for _, f := range z.File {
		if strings.HasPrefix(f.Name, "xl/worksheets/sheet") {
			r, _ := f.Open()
			d, _ := io.ReadAll(r)
			sheet = string(d)
		}
	}
	for _, want := range []string{"12345.678901234567", "0.1", "0.00000000000000000001", "-0.00000025", "123456789012345680", ">3<"} {
		if !strings.Contains(sheet, want) {
			t.Errorf("sheet lacks %s", want)
		}
	}
}
