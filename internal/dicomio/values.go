package dicomio

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Find returns the element with tag t, or nil.
func (d *Dataset) Find(t Tag) *Element {
	if d == nil {
		return nil
	}
	for i := range d.Elements {
		if d.Elements[i].Tag == t {
			return &d.Elements[i]
		}
	}
	return nil
}

// Has tells whether the data set holds tag t.
func (d *Dataset) Has(t Tag) bool { return d.Find(t) != nil }

// String returns the first value of a text element, trimmed; "" when absent.
func (d *Dataset) String(t Tag) string {
	vs := d.Strings(t)
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// Text returns the whole value of a text element (all values joined by backslashes), trimmed.
func (d *Dataset) Text(t Tag) string {
	el := d.Find(t)
	if el == nil {
		return ""
	}
	return trimValue(d.decodeText(el))
}

// Strings returns every value of a text element, each trimmed.
func (d *Dataset) Strings(t Tag) []string {
	el := d.Find(t)
	if el == nil || len(el.Value) == 0 {
		return nil
	}
	s := d.decodeText(el)
	switch el.VR {
	case "LT", "ST", "UT", "UR":
		return []string{trimValue(s)} // single-valued by definition; backslashes are text
	}
	parts := strings.Split(s, `\`)
	for i := range parts {
		parts[i] = trimValue(parts[i])
	}
	return parts
}

func (d *Dataset) decodeText(el *Element) string {
	switch el.VR {
	case "PN", "LO", "SH", "LT", "ST", "UT", "UC":
		if d.enc != nil && d.enc.charset != nil {
			return d.enc.charset(el.Value)
		}
	}
	if utf8.Valid(el.Value) {
		return string(el.Value)
	}
	return latin1(el.Value)
}

func trimValue(s string) string {
	return strings.Trim(s, " \x00\t\r\n")
}

// Float returns the first numeric value of an element, whatever its VR (DS, IS, FD, FL, US, SS,
// UL, SL). ok is false when the element is absent, empty or not a number.
func (d *Dataset) Float(t Tag) (v float64, ok bool) {
	vs := d.Floats(t)
	if len(vs) == 0 {
		return 0, false
	}
	return vs[0], true
}

// Floats returns every numeric value of an element. A text value that does not parse as a
// number makes the whole result nil, because a half-read vector would silently shift positions.
func (d *Dataset) Floats(t Tag) []float64 {
	el := d.Find(t)
	if el == nil || len(el.Value) == 0 {
		return nil
	}
	o := d.order()
	b := el.Value
	switch el.VR {
	case "FD", "OD":
		out := make([]float64, len(b)/8)
		for i := range out {
			out[i] = math.Float64frombits(o.Uint64(b[8*i:]))
		}
		return out
	case "FL", "OF":
		out := make([]float64, len(b)/4)
		for i := range out {
			out[i] = float64(math.Float32frombits(o.Uint32(b[4*i:])))
		}
		return out
	case "US", "OW":
		out := make([]float64, len(b)/2)
		for i := range out {
			out[i] = float64(o.Uint16(b[2*i:]))
		}
		return out
	case "SS":
		out := make([]float64, len(b)/2)
		for i := range out {
			out[i] = float64(int16(o.Uint16(b[2*i:])))
		}
		return out
	case "UL", "OL":
		out := make([]float64, len(b)/4)
		for i := range out {
			out[i] = float64(o.Uint32(b[4*i:]))
		}
		return out
	case "SL":
		out := make([]float64, len(b)/4)
		for i := range out {
			out[i] = float64(int32(o.Uint32(b[4*i:])))
		}
		return out
	}
	parts := strings.Split(string(b), `\`)
	out := make([]float64, 0, len(parts))
	for _, s := range parts {
		s = trimValue(s)
		if s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil // "NaN" and "Inf" parse but are not DICOM numbers
		}
		out = append(out, f)
	}
	return out
}

// Int returns the first value of an integer element (IS, US, SS, UL, SL), or a DS value that is a
// whole number.
func (d *Dataset) Int(t Tag) (int, bool) {
	f, ok := d.Float(t)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return int(f), true
}

// Seq returns the items of a sequence element (nil when absent).
func (d *Dataset) Seq(t Tag) []*Dataset {
	el := d.Find(t)
	if el == nil {
		return nil
	}
	return el.Items
}

// First returns the first item of a sequence, or nil.
func (d *Dataset) First(t Tag) *Dataset {
	items := d.Seq(t)
	if len(items) == 0 {
		return nil
	}
	return items[0]
}

func (d *Dataset) order() binary.ByteOrder {
	if d.enc == nil {
		return binary.LittleEndian
	}
	return d.enc.order()
}

// BigEndian tells whether the data set's binary values are big endian.
func (d *Dataset) BigEndian() bool { return d.enc != nil && d.enc.bigEndian }

// charsetDecoder turns raw text bytes into UTF-8 under a Specific Character Set.
type charsetDecoder func([]byte) string

// newCharsetDecoder supports the character sets found in radiotherapy exports: the default
// repertoire, ISO-IR 100 (Latin-1) and ISO-IR 192 (UTF-8). Other sets are decoded as UTF-8 when the
// bytes are valid UTF-8 and as Latin-1 otherwise, which never loses bytes and keeps IDs readable.
func newCharsetDecoder(terms []string) charsetDecoder {
	for _, t := range terms {
		switch strings.ToUpper(strings.TrimSpace(t)) {
		case "ISO_IR 100", "ISO 2022 IR 100":
			return latin1
		case "ISO_IR 192":
			return func(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }
		}
	}
	return nil
}

func decodeStrings(b []byte) []string {
	parts := strings.Split(string(b), `\`)
	for i := range parts {
		parts[i] = trimValue(parts[i])
	}
	return parts
}

func latin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}
