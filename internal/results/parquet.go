package results

import (
	"fmt"
	"io"
	"math"
	"os"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/version"
)

// Parquet physical types chosen for a column by ParquetColumnKind.
const (
	ParquetDouble  = "DOUBLE"
	ParquetInt64   = "INT64"
	ParquetBoolean = "BOOLEAN"
	ParquetString  = "UTF8"
)

// ParquetColumnKind returns the Parquet type WriteParquet gives column i, from its non-empty
// cells: BOOLEAN when all are bool, INT64 when all are int or int64, DOUBLE when all are numbers
// (float64, float32, int, int64), else UTF8 (also for bools mixed with numbers, so that every
// value reads as its CSV cell, and for a column without any non-empty cell). Empty cells (nil,
// "", NaN, ±Inf) are not looked at.
func (t *Table) ParquetColumnKind(i int) string {
	var nBool, nInt, nFloat, nOther int
	for _, row := range t.Rows {
		switch x := row[i].(type) {
		case nil:
		case string:
			if x != "" {
				nOther++
			}
		case bool:
			nBool++
		case int, int64:
			nInt++
		case float32:
			if !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
				nFloat++
			}
		case float64:
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				nFloat++
			}
		default:
			nOther++
		}
	}
	switch {
	case nOther > 0 || nBool+nInt+nFloat == 0 || (nBool > 0 && nInt+nFloat > 0):
		return ParquetString
	case nInt == 0 && nFloat == 0:
		return ParquetBoolean
	case nBool == 0 && nFloat == 0:
		return ParquetInt64
	}
	return ParquetDouble
}

// parquetCreatedBy is the file's created_by: the rtpipeline version only, no build time, so
// the same table always gives the same bytes.
func parquetCreatedBy() parquet.WriterOption {
	return parquet.CreatedBy("rtpipeline", version.Version, "")
}

// EncodeParquet renders the table as a Parquet file with one row group and one optional column
// per table column, in table order, typed by ParquetColumnKind; empty cells are nulls. Text
// cells of a UTF8 column are rendered with FormatCell, so they read as the CSV does. Columns are
// Snappy-compressed; the output holds no timestamp and is byte-identical for identical tables.
func (t *Table) EncodeParquet(w io.Writer) error {
	seen := make(map[string]bool, len(t.Columns))
	kinds := make([]string, len(t.Columns))
	fields := make([]parquet.Field, len(t.Columns))
	for i, c := range t.Columns {
		if seen[c] {
			return fmt.Errorf("table %s: column %q appears twice", t.Name, c)
		}
		seen[c] = true
		kinds[i] = t.ParquetColumnKind(i)
		var leaf parquet.Node
		switch kinds[i] {
		case ParquetDouble:
			leaf = parquet.Leaf(parquet.DoubleType)
		case ParquetInt64:
			leaf = parquet.Leaf(parquet.Int64Type)
		case ParquetBoolean:
			leaf = parquet.Leaf(parquet.BooleanType)
		default:
			leaf = parquet.String()
		}
		fields[i] = &orderedField{Node: parquet.Optional(leaf), name: c}
	}
	name := t.Name
	if name == "" {
		name = "table"
	}
	schema := parquet.NewSchema(name, orderedGroup(fields))
	pw := parquet.NewWriter(w, schema, parquetCreatedBy(), parquet.Compression(&parquet.Snappy))
	rows := make([]parquet.Row, 0, len(t.Rows))
	for _, row := range t.Rows {
		out := make(parquet.Row, len(t.Columns))
		for i, v := range row {
			out[i] = parquetValue(v, kinds[i]).Level(0, 0, i)
			if !out[i].IsNull() {
				out[i] = out[i].Level(0, 1, i)
			}
		}
		rows = append(rows, out)
	}
	if len(rows) > 0 {
		if _, err := pw.WriteRows(rows); err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
	}
	return pw.Close()
}

// parquetValue converts a cell to the value of a column of the given kind (a null value for an
// empty cell).
func parquetValue(v any, kind string) parquet.Value {
	if isEmptyCell(v) {
		return parquet.NullValue()
	}
	switch kind {
	case ParquetBoolean:
		return parquet.BooleanValue(v.(bool))
	case ParquetInt64:
		switch x := v.(type) {
		case int:
			return parquet.Int64Value(int64(x))
		case int64:
			return parquet.Int64Value(x)
		}
	case ParquetDouble:
		switch x := v.(type) {
		case int:
			return parquet.DoubleValue(float64(x))
		case int64:
			return parquet.DoubleValue(float64(x))
		case float32:
			return parquet.DoubleValue(float64(x))
		case float64:
			return parquet.DoubleValue(x)
		}
	}
	return parquet.ByteArrayValue([]byte(FormatCell(v)))
}

// isEmptyCell tells whether a cell is written as an empty CSV field.
func isEmptyCell(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float32:
		return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0)
	case float64:
		return math.IsNaN(x) || math.IsInf(x, 0)
	}
	return false
}

// WriteParquet writes the table as a Parquet file atomically (see EncodeParquet).
func (t *Table) WriteParquet(path string) error {
	return fsutil.WriteAtomic(path, 0o644, t.EncodeParquet)
}

// WriteAll writes <base>.csv, <base>.xlsx and <base>.parquet.
func (t *Table) WriteAll(base string) error {
	if err := t.WriteBoth(base); err != nil {
		return err
	}
	return t.WriteParquet(base + ".parquet")
}

// ReadParquet reads a flat Parquet file of optional or required DOUBLE, FLOAT, INT32, INT64,
// BOOLEAN and BYTE_ARRAY columns (as EncodeParquet writes them) into a table: cells are
// float64, int64, bool or string, nulls are nil. The table is named after the file's schema.
func ReadParquet(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &Table{Name: pf.Schema().Name()}
	for _, c := range pf.Root().Columns() {
		if !c.Leaf() {
			return nil, fmt.Errorf("%s: column %q is nested", path, c.Name())
		}
		t.Columns = append(t.Columns, c.Name())
	}
	buf := make([]parquet.Row, 64)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				out := make([]any, len(t.Columns))
				for _, v := range r {
					if v.IsNull() || v.Column() < 0 || v.Column() >= len(out) {
						continue
					}
					switch v.Kind() {
					case parquet.Boolean:
						out[v.Column()] = v.Boolean()
					case parquet.Int32:
						out[v.Column()] = int64(v.Int32())
					case parquet.Int64:
						out[v.Column()] = v.Int64()
					case parquet.Float:
						out[v.Column()] = float64(v.Float())
					case parquet.Double:
						out[v.Column()] = v.Double()
					default:
						out[v.Column()] = string(v.ByteArray())
					}
				}
				t.Rows = append(t.Rows, out)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		rows.Close()
	}
	return t, nil
}

// orderedGroup is a Parquet group whose fields keep the given order (parquet.Group sorts them
// by name, which would scramble the table's column order).
type orderedGroup []parquet.Field

// The methods below implement parquet.Node for orderedGroup.
func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return fmt.Sprintf("group(%d fields)", len(g)) }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }

// GoType is only used when Go values are written through the schema, which EncodeParquet never
// does (it writes parquet.Row values).
func (g orderedGroup) GoType() reflect.Type { return reflect.TypeOf(map[string]any{}) }

// orderedField is one named column of an orderedGroup.
type orderedField struct {
	parquet.Node
	name string
}

func (f *orderedField) Name() string { return f.name }

func (f *orderedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}
