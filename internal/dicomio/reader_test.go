package dicomio

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// TestReaderAgreesWithLibrary reads every shared DICOM-RT file with our header reader and with
// suyashkumar/dicom, and requires the same top-level string values for the attributes indexing uses.
func TestReaderAgreesWithLibrary(t *testing.T) {
	root := testutil.SharedTestdata(t, "dicom-rt")
	tags := []Tag{TagSOPClassUID, TagSOPInstanceUID, TagModality, TagPatientID, TagStudyInstanceUID,
		TagSeriesInstanceUID, TagFrameOfReferenceUID, TagInstanceNumber, TagImagePositionPatient,
		TagRTPlanLabel, TagDoseSummationType, TagDoseGridScaling, TagStructureSetLabel}
	n := 0
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".dcm") {
			return err
		}
		ours, ourErr := ReadHeader(path)
		lib, libErr := dicom.ParseFile(path, nil, dicom.SkipPixelData())
		if (ourErr != nil) != (libErr != nil) {
			t.Errorf("%s: our error %v, library error %v", path, ourErr, libErr)
			return nil
		}
		if ourErr != nil {
			return nil
		}
		n++
		for _, tg := range tags {
			want := ""
			if e, err := lib.FindElementByTag(tag.Tag{Group: tg.Group(), Element: tg.Element()}); err == nil {
				switch v := e.Value.GetValue().(type) {
				case []string:
					want = strings.Trim(strings.Join(v, `\`), " \x00")
				case []byte:
					want = strings.Trim(string(v), " \x00")
				}
			}
			got := strings.Join(ours.Strings(tg), `\`)
			if want != "" && normalise(got) != normalise(want) {
				t.Errorf("%s %s: ours %q, library %q", filepath.Base(path), tg, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d files compared", n)
	}
}

func normalise(s string) string {
	parts := strings.Split(s, `\`)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, `\`)
}

func TestReaderErrors(t *testing.T) {
	dir := t.TempDir()
	valid := buildCT(t)
	cases := []struct {
		name    string
		content []byte
		wantErr string
	}{
		{"text file", []byte("# not dicom at all\n"), "not a DICOM file"},
		{"empty", nil, "not a DICOM file"},
		{"truncated pixel data", valid[:len(valid)-100], "truncated"},
		{"truncated header", valid[:200], "truncated"},
		{"valid", valid, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.WriteFile(p, c.content, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadHeader(p)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func buildCT(t *testing.T) []byte {
	t.Helper()
	pix := make([]byte, 16*16*2)
	for i := range pix {
		pix[i] = byte(i)
	}
	b := NewBuilder().
		Str(TagSOPClassUID, "1.2.840.10008.5.1.4.1.1.2").
		Str(TagSOPInstanceUID, "1.2.3.4").
		Str(TagModality, "CT").
		Str(TagPatientID, "P1").
		Str(TagPatientName, "Doe^J").
		DS(TagImagePositionPatient, -10.5, 20, 30.25).
		IS(TagInstanceNumber, 7).
		Ints(TagRows, 16).Ints(TagColumns, 16).
		Ints(TagBitsAllocated, 16).Ints(TagBitsStored, 16).Ints(TagHighBit, 15).Ints(TagPixelRepresentation, 1).
		Seq(TagReferencedRTPlanSequence, NewBuilder().Str(TagReferencedSOPInstanceUID, "9.8.7")).
		PixelData(pix)
	data, err := b.Encode("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRoundTrip(t *testing.T) {
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian} {
		t.Run(ts, func(t *testing.T) {
			b := NewBuilder().
				Str(TagSOPClassUID, "1.2.840.10008.5.1.4.1.1.481.2").
				Str(TagSOPInstanceUID, "1.2.3.5").
				Str(TagModality, "RTDOSE").
				Str(TagPatientName, "Müller^Jörg").Str(TagSpecificCharacterSet, "ISO_IR 192").
				DS(TagDoseGridScaling, 1.234567890123456e-5).
				DS(TagGridFrameOffsetVector, 0, 2.5, 5).
				Ints(TagRows, 2).Ints(TagColumns, 3).
				Seq(TagReferencedRTPlanSequence,
					NewBuilder().Str(TagReferencedSOPInstanceUID, "9.8.7"),
					NewBuilder().Str(TagReferencedSOPInstanceUID, "9.8.8").
						Seq(TagReferencedFractionGroupSequence, NewBuilder().IS(TagReferencedFractionGroupNumber, 1)))
			data, err := b.Encode("1.2.840.10008.5.1.4.1.1.481.2", "1.2.3.5", WriteOptions{TransferSyntax: ts})
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if f.TransferSyntax != ts {
				t.Errorf("transfer syntax %q", f.TransferSyntax)
			}
			if got := f.String(TagPatientName); got != "Müller^Jörg" {
				t.Errorf("name %q", got)
			}
			if v, _ := f.Float(TagDoseGridScaling); v != 1.2345678901e-05 {
				t.Errorf("scaling %v", v)
			}
			if got := f.Floats(TagGridFrameOffsetVector); len(got) != 3 || got[2] != 5 {
				t.Errorf("offsets %v", got)
			}
			if r, ok := f.Int(TagColumns); !ok || r != 3 {
				t.Errorf("columns %v %v", r, ok)
			}
			refs := f.Seq(TagReferencedRTPlanSequence)
			if len(refs) != 2 || refs[1].String(TagReferencedSOPInstanceUID) != "9.8.8" {
				t.Fatalf("refs %+v", refs)
			}
			if n, _ := refs[1].First(TagReferencedFractionGroupSequence).Int(TagReferencedFractionGroupNumber); n != 1 {
				t.Errorf("nested fraction group %d", n)
			}
		})
	}
}

func TestFormatDS(t *testing.T) {
	cases := map[float64]string{0: "0", 1.5: "1.5", -27: "-27", 1.234567890123456e-5: "1.2345678901e-05",
		123456789.123456789: "123456789.123457", 0.1: "0.1"}
	for v, want := range cases {
		if got := FormatDS(v); got != want || len(got) > 16 {
			t.Errorf("FormatDS(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestToBuilderRoundTrip copies real RT objects through ToBuilder and requires every element of
// the copy to carry the same value as the source.
func TestToBuilderRoundTrip(t *testing.T) {
	root := testutil.SharedTestdata(t, "dicom-rt")
	for _, rel := range []string{"slicerrt-eclipse-prostate/RP.1.2.246.352.71.5.2088656855.377401.20110920153647.dcm",
		"pydicom/rtdose_expb.dcm", "dicompyler-core/rtss.dcm", "pydicom/rtstruct.dcm"} {
		t.Run(rel, func(t *testing.T) {
			src, err := ReadHeader(filepath.Join(root, rel))
			if err != nil {
				t.Fatal(err)
			}
			data, err := ToBuilder(&src.Dataset).Encode(src.String(TagSOPClassUID), src.String(TagSOPInstanceUID), WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cp, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			compareDatasets(t, "", &src.Dataset, &cp.Dataset)
		})
	}
}

func compareDatasets(t *testing.T, path string, a, b *Dataset) {
	t.Helper()
	for i := range a.Elements {
		ea := &a.Elements[i]
		if ea.Tag == TagPixelData || ea.Tag.Element() == 0 {
			continue
		}
		eb := b.Find(ea.Tag)
		if eb == nil {
			t.Errorf("%s%s missing in copy", path, ea.Tag)
			continue
		}
		if ea.VR == "SQ" {
			if len(ea.Items) != len(eb.Items) {
				t.Errorf("%s%s: %d items, copy %d", path, ea.Tag, len(ea.Items), len(eb.Items))
				continue
			}
			for k := range ea.Items {
				compareDatasets(t, fmt.Sprintf("%s%s[%d].", path, ea.Tag, k), ea.Items[k], eb.Items[k])
			}
			continue
		}
		fa, fb := a.Floats(ea.Tag), b.Floats(ea.Tag)
		sa, sb := a.Text(ea.Tag), b.Text(ea.Tag)
		if sa != sb && fmt.Sprint(fa) != fmt.Sprint(fb) {
			t.Errorf("%s%s (%s): %q != %q", path, ea.Tag, ea.VR, sa, sb)
		}
	}
}

type countingReaderAt struct {
	r    *bytes.Reader
	read int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

// TestHeaderOnlyNeverReadsPixels: reading the header of a 512x512 CT fetches only the first chunk,
// never the half megabyte of pixel data.
func TestHeaderOnlyNeverReadsPixels(t *testing.T) {
	pix := make([]byte, 512*512*2)
	data, err := NewBuilder().
		Str(TagSOPClassUID, "1.2.840.10008.5.1.4.1.1.2").Str(TagSOPInstanceUID, "1.2.3").Str(TagModality, "CT").
		Ints(TagRows, 512).Ints(TagColumns, 512).Ints(TagBitsAllocated, 16).PixelData(pix).
		Encode("1.2.840.10008.5.1.4.1.1.2", "1.2.3", WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := &countingReaderAt{r: bytes.NewReader(data)}
	f, _, err := readFrom(src, int64(len(data)), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.String(TagModality) != "CT" || !f.HasPixelData || f.PixelDataLength != int64(len(pix)) {
		t.Fatalf("header %+v", f)
	}
	if src.read > initialChunk {
		t.Fatalf("read %d bytes of a %d-byte file; the header needs at most %d", src.read, len(data), initialChunk)
	}
	if f.PixelData != nil {
		t.Fatal("pixel data loaded by a header read")
	}
}

// TestEncapsulatedEdgeCases: truncated RLE pixel data is reported by a header-only read; an
// encapsulated icon inside a sequence does not make the file unreadable.
func TestEncapsulatedEdgeCases(t *testing.T) {
	root := testutil.SharedTestdata(t, "dicom-rt/pydicom")
	data, err := os.ReadFile(filepath.Join(root, "rtdose_rle.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cut.dcm")
	os.WriteFile(p, data[:len(data)-2000], 0o644)
	if _, err := ReadHeader(p); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated RLE header read: %v", err)
	}
	if _, err := ReadHeader(filepath.Join(root, "rtdose_rle.dcm")); err != nil {
		t.Errorf("intact RLE: %v", err)
	}
	// An icon image sequence with encapsulated (JPEG-like) pixel data, written by hand.
	var icon bytes.Buffer
	le := func(v ...uint16) {
		for _, x := range v {
			icon.Write([]byte{byte(x), byte(x >> 8)})
		}
	}
	le32 := func(v uint32) { icon.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}) }
	le(0x0088, 0x0200)
	icon.WriteString("SQ")
	le(0)
	le32(0xFFFFFFFF)
	le(0xFFFE, 0xE000)
	le32(0xFFFFFFFF)
	le(0x7FE0, 0x0010)
	icon.WriteString("OB")
	le(0)
	le32(0xFFFFFFFF)
	le(0xFFFE, 0xE000)
	le32(0) // empty offset table
	le(0xFFFE, 0xE000)
	le32(4)
	icon.Write([]byte{0xFF, 0xD8, 0xFF, 0xE0})
	le(0xFFFE, 0xE0DD)
	le32(0)
	le(0xFFFE, 0xE00D)
	le32(0)
	le(0xFFFE, 0xE0DD)
	le32(0)
	base := buildCT(t)
	// Splice the sequence in before PixelData (tag order matters only to strict readers).
	idx := bytes.Index(base, []byte{0xE0, 0x7F, 0x10, 0x00})
	withIcon := append(append(append([]byte{}, base[:idx]...), icon.Bytes()...), base[idx:]...)
	f, err := Parse(withIcon)
	if err != nil {
		t.Fatalf("file with an encapsulated icon: %v", err)
	}
	if f.String(TagModality) != "CT" || len(f.Seq(NewTag(0x0088, 0x0200))) != 1 {
		t.Fatalf("icon sequence not parsed")
	}
}
