package results

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// mixedTable has one column of each kind ParquetColumnKind distinguishes, with empty cells of
// every sort.
func mixedTable() *Table {
	t := NewTable("mixed", "name", "dose", "count", "flag", "mixed_num", "text_num", "empty", "nan_only", "bool_num")
	t.Add(map[string]any{"name": "GTV", "dose": 60.5, "count": 30, "flag": true, "mixed_num": 1, "text_num": "001", "bool_num": true})
	t.Add(map[string]any{"name": "", "dose": math.NaN(), "count": int64(-2), "flag": false, "mixed_num": 2.25, "text_num": 7.0, "nan_only": math.Inf(1), "bool_num": 3})
	t.Add(map[string]any{"name": `a,"b"`, "dose": 1e-300, "mixed_num": nil, "text_num": nil, "bool_num": 0.5})
	t.Add(map[string]any{"name": "ünïcode", "dose": -0.0, "count": 0, "flag": nil, "mixed_num": float32(0.5)})
	return t
}

func TestParquetColumnKinds(t *testing.T) {
	tab := mixedTable()
	want := []string{ParquetString, ParquetDouble, ParquetInt64, ParquetBoolean, ParquetDouble, ParquetString, ParquetString, ParquetString, ParquetString}
	for i, c := range tab.Columns {
		if got := tab.ParquetColumnKind(i); got != want[i] {
			t.Errorf("column %s: kind %s, want %s", c, got, want[i])
		}
	}
}

// TestParquetRoundTrip writes tables to Parquet, reads them back with parquet-go and checks
// column order, physical types, nulls and that every value renders as the CSV cell does.
func TestParquetRoundTrip(t *testing.T) {
	empty := NewTable("empty", "a", "b")
	for _, tab := range []*Table{mixedTable(), sample(), empty} {
		t.Run(tab.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tab.Name+".parquet")
			if err := tab.WriteParquet(path); err != nil {
				t.Fatal(err)
			}
			back, err := ReadParquet(path)
			if err != nil {
				t.Fatal(err)
			}
			var want, got bytes.Buffer
			tab.EncodeCSV(&want)
			back.EncodeCSV(&got)
			if want.String() != got.String() {
				t.Fatalf("CSV of the Parquet file:\n%s\nwant\n%s", got.String(), want.String())
			}
			if back.Name != tab.Name || len(back.Rows) != len(tab.Rows) {
				t.Fatalf("name %q, %d rows", back.Name, len(back.Rows))
			}
			// Physical types and nulls as declared.
			data, _ := os.ReadFile(path)
			pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]parquet.Kind{ParquetDouble: parquet.Double, ParquetInt64: parquet.Int64, ParquetBoolean: parquet.Boolean, ParquetString: parquet.ByteArray}
			for i, c := range pf.Root().Columns() {
				if !c.Optional() || c.Type().Kind() != kinds[tab.ParquetColumnKind(i)] {
					t.Errorf("column %s: optional %v, kind %v, want %s", c.Name(), c.Optional(), c.Type().Kind(), tab.ParquetColumnKind(i))
				}
				if lt := c.Type().LogicalType(); tab.ParquetColumnKind(i) == ParquetString && (lt == nil || lt.String() != "STRING") {
					t.Errorf("column %s: no UTF8 annotation", c.Name())
				}
			}
			for r, row := range tab.Rows {
				for i, v := range row {
					if isEmptyCell(v) != (back.Rows[r][i] == nil) {
						t.Errorf("row %d column %s: %v read back as %v", r, tab.Columns[i], v, back.Rows[r][i])
					}
				}
			}
		})
	}
	// Typed values survive exactly.
	path := filepath.Join(t.TempDir(), "m.parquet")
	mixedTable().WriteParquet(path)
	back, _ := ReadParquet(path)
	if back.Rows[0][1] != 60.5 || back.Rows[0][2] != int64(30) || back.Rows[0][3] != true || back.Rows[2][1] != 1e-300 || back.Rows[1][5] != "7" {
		t.Fatalf("typed values %v / %v", back.Rows[0], back.Rows[1])
	}
}

func TestParquetDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := mixedTable().EncodeParquet(&a); err != nil {
		t.Fatal(err)
	}
	if err := mixedTable().EncodeParquet(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two encodings of one table differ")
	}
	dup := NewTable("dup", "a", "a")
	if err := dup.EncodeParquet(&a); err == nil {
		t.Fatal("duplicate column names accepted")
	}
}

func TestWriteAll(t *testing.T) {
	base := filepath.Join(t.TempDir(), "sub", "tab")
	if err := sample().WriteAll(base); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".csv", ".xlsx", ".parquet"} {
		if st, err := os.Stat(base + ext); err != nil || st.Size() == 0 {
			t.Errorf("%s missing", ext)
		}
	}
}
