package dicomio

import (
	"fmt"
	"strings"

	"github.com/suyashkumar/dicom"
)

// ToBuilder converts a parsed data set into a Builder so a copy can be modified and written.
// Text is decoded from the source character set and written as UTF-8 (SpecificCharacterSet
// becomes ISO_IR 192, so new text added to the copy is encoded consistently); binary values are
// decoded with the source byte order and written little endian; group 0002 and pixel data are
// left out.
func ToBuilder(ds *Dataset) *Builder {
	b := toBuilder(ds)
	b.Str(TagSpecificCharacterSet, "ISO_IR 192")
	return b
}

func toBuilder(ds *Dataset) *Builder {
	b := NewBuilder()
	for i := range ds.Elements {
		el := &ds.Elements[i]
		t := el.Tag
		if t.Group() == 0x0002 || t == TagPixelData || t.Element() == 0 {
			continue
		}
		vr := el.VR
		if vr == "" {
			vr = dictionaryVR(t)
		}
		switch vr {
		case "SQ":
			items := make([]*Builder, len(el.Items))
			for j, it := range el.Items {
				items[j] = toBuilder(it)
			}
			b.add(t, "SQ", seqValue(b, items))
		case "US", "SS", "UL", "SL", "AT":
			b.add(t, vr, decodeInts(ds, el, vr))
		case "FD", "FL":
			fs := ds.Floats(t)
			if vr == "FL" {
				for k := range fs {
					fs[k] = float64(float32(fs[k]))
				}
			}
			b.add(t, vr, fs)
		case "OB", "OW", "UN", "OD", "OF", "OL", "OV", "SV", "UV":
			raw := append([]byte(nil), el.Value...)
			if size := wordSize(vr); size > 1 && ds.BigEndian() {
				for k := 0; k+size <= len(raw); k += size {
					for a, z := k, k+size-1; a < z; a, z = a+1, z-1 {
						raw[a], raw[z] = raw[z], raw[a]
					}
				}
			}
			if vr != "OB" && vr != "OW" && vr != "UN" {
				vr = "UN"
			}
			b.add(t, vr, raw)
		case "PN", "LO", "SH", "LT", "ST", "UT", "UC":
			b.add(t, vr, []string{strings.TrimRight(ds.decodeText(el), " \x00")})
		default:
			s := string(el.Value)
			for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == 0) {
				s = s[:len(s)-1]
			}
			b.add(t, vr, []string{s})
		}
		if b.err != nil {
			b.err = fmt.Errorf("copying %s: %w", t, b.err)
			return b
		}
	}
	return b
}

// wordSize is the size of one value of a binary VR, for byte swapping.
func wordSize(vr string) int {
	switch vr {
	case "OW":
		return 2
	case "OF", "OL":
		return 4
	case "OD", "OV", "SV", "UV":
		return 8
	}
	return 1
}

func seqValue(b *Builder, items []*Builder) any {
	seq := make([][]*dicom.Element, 0, len(items))
	for _, it := range items {
		if it.err != nil && b.err == nil {
			b.err = it.err
		}
		seq = append(seq, sortedElements(it.elems))
	}
	return seq
}

func decodeInts(ds *Dataset, el *Element, vr string) []int {
	o := ds.order()
	b := el.Value
	var out []int
	switch vr {
	case "US", "AT":
		for i := 0; i+2 <= len(b); i += 2 {
			out = append(out, int(o.Uint16(b[i:])))
		}
	case "SS":
		for i := 0; i+2 <= len(b); i += 2 {
			out = append(out, int(int16(o.Uint16(b[i:]))))
		}
	case "UL":
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, int(o.Uint32(b[i:])))
		}
	case "SL":
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, int(int32(o.Uint32(b[i:]))))
		}
	}
	return out
}
