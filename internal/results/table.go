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
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	header := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = c
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	for r, row := range t.Rows {
		cells := make([]any, len(row))
		for i, v := range row {
			switch x := v.(type) {
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					cells[i] = nil
				} else {
					cells[i] = x
				}
			default:
				cells[i] = v
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, r+2)
		if err := sw.SetRow(cell, cells); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
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
