package aggregate

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/results"
)

// courseTable is one course's table as text: every cell exactly as its CSV holds it.
type courseTable struct {
	file    string // where it was read from, relative to the course folder (or OUT for Data/)
	columns []string
	index   map[string]int // column → first position
	rows    [][]string
	qc      *qcReport // for qc_reports: the parsed report
}

func newCourseTable(file string, columns []string) *courseTable {
	t := &courseTable{file: file, columns: columns, index: map[string]int{}}
	for i, c := range columns {
		if _, dup := t.index[c]; !dup {
			t.index[c] = i
		}
	}
	return t
}

// cell returns row r's cell of column c ("" when the table has no such column).
func (t *courseTable) cell(r int, c string) string {
	if i, ok := t.index[c]; ok && i < len(t.rows[r]) {
		return t.rows[r][i]
	}
	return ""
}

// cohortTable is one of organize's cohort tables (Data/) with its rows grouped by course.
type cohortTable struct {
	*courseTable
	byCourse map[[2]string][]int // (identity cell, course_id) → row indices
}

// indexBy groups the rows of t by (idCol, course_id); idCol is patient_dir when the table has
// it, else patient_id. It reports which column it used.
func indexBy(t *courseTable, idCols ...string) (*cohortTable, string) {
	col := ""
	for _, c := range idCols {
		if _, ok := t.index[c]; ok {
			col = c
			break
		}
	}
	ct := &cohortTable{courseTable: t, byCourse: map[[2]string][]int{}}
	if col == "" {
		return ct, ""
	}
	for r := range t.rows {
		k := [2]string{t.cell(r, col), t.cell(r, "course_id")}
		ct.byCourse[k] = append(ct.byCourse[k], r)
	}
	return ct, col
}

// subset returns a course's rows (by its identity cell id and course) as a table.
func (ct *cohortTable) subset(file, id, course string) *courseTable {
	out := newCourseTable(file, ct.columns)
	for _, r := range ct.byCourse[[2]string{id, course}] {
		out.rows = append(out.rows, ct.rows[r])
	}
	return out
}

// readTableFile reads a CSV file (or, for a .parquet name, a Parquet file, its cells rendered as
// the CSV would hold them).
func readTableFile(p string) (*courseTable, error) {
	if strings.HasSuffix(p, ".parquet") {
		pt, err := results.ReadParquet(p)
		if err != nil {
			return nil, err
		}
		t := newCourseTable(filepath.Base(p), pt.Columns)
		for _, row := range pt.Rows {
			rec := make([]string, len(row))
			for i, v := range row {
				rec[i] = results.FormatCell(v)
			}
			t.rows = append(t.rows, rec)
		}
		return t, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(data))
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("empty file (no header)")
	}
	t := newCourseTable(filepath.Base(p), recs[0])
	t.rows = recs[1:]
	return t, nil
}

// merge concatenates the courses' tables of one definition into a cohort table: known columns
// in their fixed order, then the other columns in first-seen order (a column first seen in a
// later course goes right after the column that precedes it in that course's header); key cells
// from the course folder's identity; duplicates dropped by the definition's rule; cells typed by
// column kind.
func merge(def *TableDef, per []*courseData) (*results.Table, TableSummary) {
	sum := TableSummary{Name: def.Name, Skipped: []SkippedCourse{}, Dropped: []string{}}
	known := map[string]bool{}
	for _, c := range def.Columns {
		known[c.Name] = true
	}
	var extras []string
	pos := map[string]int{}
	for _, cd := range per {
		t := cd.tables[def.Name]
		if t == nil {
			continue
		}
		prev := -1
		for i, c := range t.columns {
			if known[c] || t.index[c] != i {
				continue
			}
			if p, ok := pos[c]; ok {
				prev = p
				continue
			}
			at := prev + 1
			extras = append(extras, "")
			copy(extras[at+1:], extras[at:])
			extras[at] = c
			for k := at; k < len(extras); k++ {
				pos[extras[k]] = k
			}
			prev = at
		}
	}
	cols := make([]string, 0, len(def.Columns)+len(extras))
	kinds := make([]Kind, 0, cap(cols))
	for _, c := range def.Columns {
		cols, kinds = append(cols, c.Name), append(kinds, c.Kind)
	}
	for _, c := range extras {
		k := Auto
		if def.Extra != nil {
			k, _ = def.Extra(c)
		}
		cols, kinds = append(cols, c), append(kinds, k)
	}
	// Rows as text, in course order then each table's own order.
	var text [][]string
	for _, cd := range per {
		t := cd.tables[def.Name]
		if t == nil {
			if why, ok := cd.skipped[def.Name]; ok {
				sum.Skipped = append(sum.Skipped, SkippedCourse{Path: cd.mc.Path, Reason: why})
			}
			continue
		}
		sum.Courses++
		src := make([]int, len(cols)) // output column → source column (-1 = none)
		for i, c := range cols {
			src[i] = -1
			if j, ok := t.index[c]; ok {
				src[i] = j
			}
		}
		mismatch := ""
		keep := dedup(def, t, cd.mc.Path, &sum.Dropped)
		for r, row := range t.rows {
			if !keep[r] {
				continue
			}
			out := make([]string, len(cols))
			for i, j := range src {
				if j >= 0 && j < len(row) {
					out[i] = row[j]
				}
			}
			if mismatch == "" && ((out[0] != "" && out[0] != cd.mc.PatientID) || (out[1] != "" && out[1] != cd.mc.Course)) {
				mismatch = fmt.Sprintf("%s: %s/%s: rows name patient %q course %q; the course folder's patient_id %q and course_id %q are used",
					def.Name, cd.mc.Path, t.file, out[0], out[1], cd.mc.PatientID, cd.mc.Course)
			}
			out[0], out[1] = cd.mc.PatientID, cd.mc.Course
			text = append(text, out)
		}
		if mismatch != "" {
			cd.warnings = append(cd.warnings, mismatch)
		}
	}
	// Type the cells.
	for i, k := range kinds {
		if k == Auto {
			kinds[i] = inferKind(text, i)
		}
	}
	table := results.NewTable(def.Name, cols...)
	table.Rows = make([][]any, len(text))
	for r, row := range text {
		cells := make([]any, len(cols))
		for i, s := range row {
			cells[i] = typed(s, kinds[i])
		}
		table.Rows[r] = cells
	}
	sum.Rows, sum.Columns = len(table.Rows), len(cols)
	return table, sum
}

// dedup marks the rows of one course's table to keep (see TableDef.RowKey and Priority) and
// records the dropped ones.
func dedup(def *TableDef, t *courseTable, course string, dropped *[]string) []bool {
	keep := make([]bool, len(t.rows))
	best := map[string]int{}
	prio := func(r int) int {
		if def.Priority == nil {
			return 0
		}
		return def.Priority(func(c string) string { return t.cell(r, c) })
	}
	for r := range t.rows {
		parts := make([]string, len(def.RowKey))
		empty := false
		for i, c := range def.RowKey {
			v := t.cell(r, c)
			if def.RowKeyFold {
				v = strings.ToLower(strings.TrimSpace(v))
			}
			parts[i] = v
			empty = empty || v == ""
		}
		if empty {
			keep[r] = true
			continue
		}
		key := strings.Join(parts, "\x00")
		b, seen := best[key]
		switch {
		case !seen:
			best[key], keep[r] = r, true
		case prio(r) < prio(b):
			keep[b], keep[r], best[key] = false, true, r
			*dropped = append(*dropped, dropText(def, t, course, b, r))
		default:
			*dropped = append(*dropped, dropText(def, t, course, r, b))
		}
	}
	return keep
}

func dropText(def *TableDef, t *courseTable, course string, dropped, kept int) string {
	var key []string
	for _, c := range def.RowKey {
		key = append(key, c+"="+strconv.Quote(t.cell(dropped, c)))
	}
	if len(key) == 0 {
		key = append(key, "one row per course")
	}
	s := fmt.Sprintf("%s (%s): row %d dropped (%s), row %d kept", course, t.file, dropped+1, strings.Join(key, ", "), kept+1)
	if def.Priority != nil {
		s += fmt.Sprintf(" [Segmentation_Source %q over %q]", t.cell(kept, "Segmentation_Source"), t.cell(dropped, "Segmentation_Source"))
	}
	return s
}

// asInt, asFloat and asBool parse a cell's text when it reads back as exactly the same text.
func asInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && strconv.FormatInt(v, 10) == s
}

func asFloat(s string) (float64, bool) {
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) && results.FormatCell(v) == s
}

func asBool(s string) (bool, bool) {
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// typed converts a cell's text to the column kind, keeping the text when it would not read back
// unchanged. Empty text is an empty cell.
func typed(s string, k Kind) any {
	if s == "" {
		return nil
	}
	switch k {
	case Int:
		if v, ok := asInt(s); ok {
			return v
		}
	case Float:
		if v, ok := asFloat(s); ok {
			return v
		}
	case Bool:
		if v, ok := asBool(s); ok {
			return v
		}
	}
	return s
}

// inferKind types an Auto column from its non-empty cells: Bool, Int, Float or Text.
func inferKind(rows [][]string, col int) Kind {
	isBool, isInt, isFloat, any := true, true, true, false
	for _, row := range rows {
		s := row[col]
		if s == "" {
			continue
		}
		any = true
		if _, ok := asBool(s); !ok {
			isBool = false
		}
		if _, ok := asInt(s); !ok {
			isInt = false
		}
		if _, ok := asFloat(s); !ok {
			isFloat = false
		}
		if !isBool && !isInt && !isFloat {
			break
		}
	}
	switch {
	case !any:
		return Text
	case isBool:
		return Bool
	case isInt:
		return Int
	case isFloat:
		return Float
	}
	return Text
}
