// Package results writes tables (per-course and cohort) as CSV and XLSX, atomically and with
// byte-identical output for identical content.
package results

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// Table is a named table with a fixed column order. Cells hold string, bool, int, int64,
// float64 or nil (empty).
type Table struct {
	Name    string
	Columns []string
	Rows    [][]any
}

// NewTable returns an empty table with the given columns.
func NewTable(name string, columns ...string) *Table {
	return &Table{Name: name, Columns: columns}
}

// Add appends a row given as column → value; columns not given stay empty. A key that is not a
// column is a programming error and panics, so a typo never silently drops data.
func (t *Table) Add(row map[string]any) {
	out := make([]any, len(t.Columns))
	index := make(map[string]int, len(t.Columns))
	for i, c := range t.Columns {
		index[c] = i
	}
	for k, v := range row {
		i, ok := index[k]
		if !ok {
			panic(fmt.Sprintf("table %s has no column %q", t.Name, k))
		}
		out[i] = v
	}
	t.Rows = append(t.Rows, out)
}

// FormatCell renders a cell for text output: floats in their shortest exact form, NaN and nil
// as empty.
func FormatCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float32:
		return FormatCell(float64(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// EncodeCSV renders the table as CSV with a header row.
func (t *Table) EncodeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Columns); err != nil {
		return err
	}
	rec := make([]string, len(t.Columns))
	for _, row := range t.Rows {
		for i := range rec {
			rec[i] = FormatCell(row[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteCSV writes the table as CSV atomically.
func (t *Table) WriteCSV(path string) error {
	return fsutil.WriteAtomic(path, 0o644, t.EncodeCSV)
}

// fixedTime is written as the workbook's creation and modification time, so the same table
// always gives the same bytes.
var fixedTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)

// EncodeXLSX renders the table as a one-sheet workbook named after the table. The header row is
// frozen; numbers stay numbers.
func (t *Table) EncodeXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := t.Name
	if sheet == "" {
		sheet = "Sheet1"
	}
	if len(sheet) > 31 {
		sheet = sheet[:31]
	}
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	if err := f.SetDocProps(&excelize.DocProperties{Creator: "rtpipeline", Created: fixedTime, Modified: fixedTime}); err != nil {
		return err
	}
	// Cells are set one by one rather than through excelize's stream writer: the stream writer
	// cuts floats to Excel's 15 significant digits, while SetCellFloat with an explicit
	// precision stores the shortest decimal that reads back as the same float64.
	if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	for i, c := range t.Columns {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		if err := f.SetCellStr(sheet, cell, c); err != nil {
			return err
		}
	}
	for r, row := range t.Rows {
		for i, v := range row {
			cell, _ := excelize.CoordinatesToCellName(i+1, r+2)
			var err error
			switch x := v.(type) {
			case nil:
				continue
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					continue
				}
				err = f.SetCellFloat(sheet, cell, x, decimals(x), 64)
			case float32:
				err = f.SetCellFloat(sheet, cell, float64(x), decimals(float64(x)), 64)
			default:
				err = f.SetCellValue(sheet, cell, v)
			}
			if err != nil {
				return err
			}
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteXLSX writes the table as an XLSX workbook atomically.
func (t *Table) WriteXLSX(path string) error {
	return fsutil.WriteAtomic(path, 0o644, t.EncodeXLSX)
}

// WriteBoth writes <base>.csv and <base>.xlsx.
func (t *Table) WriteBoth(base string) error {
	if err := t.WriteCSV(base + ".csv"); err != nil {
		return err
	}
	return t.WriteXLSX(base + ".xlsx")
}

// decimals is the number of digits after the decimal point of v's shortest exact decimal form.
func decimals(v float64) int {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}
