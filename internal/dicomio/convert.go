package dicomio

import (
	"fmt"

	"github.com/suyashkumar/dicom"
)

// ToBuilder converts a parsed data set into a Builder so a copy can be modified and written. Text
// values keep their exact bytes (and so their character set); binary numbers are decoded with the
// source byte order and re-encoded little endian; group 0002 and pixel data are left out.
func ToBuilder(ds *Dataset) *Builder {
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
				items[j] = ToBuilder(it)
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
			if vr != "OB" && vr != "OW" && vr != "UN" {
				vr = "UN"
			}
			b.add(t, vr, append([]byte(nil), el.Value...))
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
