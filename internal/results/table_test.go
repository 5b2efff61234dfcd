package results

import (
	"bytes"
	"math"
	"testing"

	"github.com/xuri/excelize/v2"
)

func sample() *Table {
	t := NewTable("demo", "patient_id", "dose_gy", "n", "ok", "note")
	t.Add(map[string]any{"patient_id": "P1", "dose_gy": 60.0, "n": 30, "ok": true, "note": "a,b \"quoted\""})
	t.Add(map[string]any{"patient_id": "P2", "dose_gy": math.NaN()})
	return t
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	if err := sample().EncodeCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "patient_id,dose_gy,n,ok,note\nP1,60,30,true,\"a,b \"\"quoted\"\"\"\nP2,,,,\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
}

func TestXLSXDeterministicAndReadable(t *testing.T) {
	var a, b bytes.Buffer
	if err := sample().EncodeXLSX(&a); err != nil {
		t.Fatal(err)
	}
	if err := sample().EncodeXLSX(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two encodings of one table differ")
	}
	f, err := excelize.OpenReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("demo")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[1][1] != "60" || rows[1][4] != `a,b "quoted"` || rows[0][0] != "patient_id" {
		t.Fatalf("rows %q", rows)
	}
}

func TestAddUnknownColumnPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for unknown column")
		}
	}()
	NewTable("x", "a").Add(map[string]any{"b": 1})
}
