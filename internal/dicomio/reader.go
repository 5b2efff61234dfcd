// Package dicomio is the only place that knows how DICOM files are encoded. It reads files with its
// own lean parser, which keeps every value as raw bytes and decodes a value only when asked, and it
// writes files through github.com/suyashkumar/dicom.
//
// The parser exists because indexing is the hot path of the whole pipeline: a cohort export has
// hundreds of thousands of image files of which only a few dozen header attributes matter. Reading
// just the header (never the pixel data), without decoding values nobody asks for, is several times
// faster than a general-purpose parse (see docs/benchmarks.md).
package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Transfer syntax UIDs the reader distinguishes.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	RLELossless                    = "1.2.840.10008.1.2.5"
)

const undefinedLength = 0xFFFFFFFF

// initialChunk is how much of a file is read first. Most image headers fit; a larger header makes
// the reader fetch more, doubling the amount each time so a big structure set costs few reads.
const initialChunk = 8 << 10

// ErrNotDICOM reports input that does not look like a DICOM file at all.
var ErrNotDICOM = errors.New("not a DICOM file")

// ErrTruncated reports a file that ends before a value it announces.
var ErrTruncated = errors.New("file is truncated")

// Element is one data element. Value holds the raw encoded bytes of a non-sequence value; Items
// holds the items of a sequence.
type Element struct {
	Tag   Tag
	VR    string
	Value []byte
	Items []*Dataset
}

// Dataset is an ordered list of elements: a file's main data set or one sequence item.
type Dataset struct {
	Elements []Element
	enc      *encoding
}

// encoding is shared by a data set and all its items: byte order and character set.
type encoding struct {
	bigEndian bool
	charset   charsetDecoder
}

func (e *encoding) order() binary.ByteOrder {
	if e.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// File is a parsed DICOM file.
type File struct {
	Dataset
	// Meta is the file meta information (group 0002); empty when the file has none.
	Meta Dataset
	// TransferSyntax is the transfer syntax UID the data set was read with.
	TransferSyntax string
	// HasPixelData tells whether the data set holds a PixelData element.
	HasPixelData bool
	// PixelDataOffset and PixelDataLength locate the PixelData value in the file; the length is
	// -1 for encapsulated (compressed) pixel data.
	PixelDataOffset int64
	PixelDataLength int64
	// PixelData is the raw PixelData value; it is only read by ReadFile, never by ReadHeader.
	PixelData []byte
	// PixelFragments holds the fragments of encapsulated pixel data (ReadFile only), without the
	// basic offset table.
	PixelFragments [][]byte
	// Size is the file size in bytes.
	Size int64
}

// ReadHeader parses everything in the file except the pixel data value, whose bytes are never
// read. A file whose pixel data would extend past its end is reported as truncated.
func ReadHeader(path string) (*File, error) {
	return readPath(path, true)
}

// ReadFile parses the whole file, pixel data included.
func ReadFile(path string) (*File, error) {
	return readPath(path, false)
}

// Parse parses a complete in-memory file, pixel data included.
func Parse(data []byte) (*File, error) {
	p := &parser{buf: data, size: int64(len(data))}
	return p.parseFile()
}

// HeaderReader reads headers one file after another, reusing its buffer. A File it returns is
// valid only until the next call to Read, so callers copy out what they keep (strings and
// numbers decoded from a File are always copies). One HeaderReader serves one goroutine.
type HeaderReader struct {
	buf []byte
}

// Read is ReadHeader with buffer reuse.
func (r *HeaderReader) Read(path string) (*File, error) {
	f, buf, err := readPathBuf(path, true, r.buf)
	if cap(buf) <= 1<<20 {
		r.buf = buf[:0] // keep ordinary buffers; drop the occasional huge one
	}
	return f, err
}

func readPath(path string, headerOnly bool) (*File, error) {
	f, _, err := readPathBuf(path, headerOnly, nil)
	return f, err
}

func readPathBuf(path string, headerOnly bool, reuse []byte) (*File, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, reuse, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, reuse, err
	}
	return readFrom(f, st.Size(), headerOnly, reuse)
}

// readFrom parses from any random-access source of the given size; with headerOnly it reads
// the first chunk and then only as much more as the header needs.
func readFrom(f io.ReaderAt, size int64, headerOnly bool, reuse []byte) (*File, []byte, error) {
	first := size
	if headerOnly && first > initialChunk {
		first = initialChunk
	}
	buf := reuse
	if int64(cap(buf)) < first {
		buf = make([]byte, first, max(first, initialChunk))
	}
	buf = buf[:first]
	if n, err := f.ReadAt(buf, 0); n < len(buf) {
		return nil, buf, fmt.Errorf("reading: %w", err)
	}
	p := &parser{buf: buf, size: size, file: f, headerOnly: headerOnly}
	out, err := p.parseFile()
	return out, p.buf, err
}

type parser struct {
	buf        []byte
	pos        int
	size       int64
	file       io.ReaderAt // nil when the whole input is in buf
	headerOnly bool
	out        *File
	stopped    bool
}

// need makes sure n more bytes are available, fetching the rest of the file when the first
// chunk was too short.
func (p *parser) need(n int) error {
	if n < 0 {
		return ErrTruncated
	}
	if p.pos+n <= len(p.buf) {
		return nil
	}
	for p.file != nil && int64(len(p.buf)) < p.size {
		want := min(max(int64(p.pos+n), 2*int64(len(p.buf))), p.size)
		grown := p.buf
		if int64(cap(grown)) < want {
			grown = make([]byte, len(p.buf), want)
			copy(grown, p.buf)
		}
		grown = grown[:want]
		if _, err := p.file.ReadAt(grown[len(p.buf):], int64(len(p.buf))); err != nil && err != io.EOF {
			return fmt.Errorf("reading: %w", err)
		}
		p.buf = grown
		if p.pos+n <= len(p.buf) {
			return nil
		}
	}
	return ErrTruncated
}

func (p *parser) parseFile() (*File, error) {
	out := &File{Size: p.size, PixelDataLength: 0}
	p.out = out
	if err := p.need(8); err != nil {
		return nil, ErrNotDICOM
	}
	implicit := false
	enc := &encoding{}
	hasPreamble := false
	if p.need(132) == nil && string(p.buf[128:132]) == "DICM" {
		hasPreamble = true
		p.pos = 132
	}
	// File meta information: always explicit VR little endian, group 0002.
	if hasPreamble || (p.buf[0] == 0x02 && p.buf[1] == 0x00 && isVR(p.buf[4], p.buf[5])) {
		metaEnc := &encoding{}
		out.Meta.enc = metaEnc
		for {
			if p.need(4) != nil {
				break
			}
			if binary.LittleEndian.Uint16(p.buf[p.pos:]) != 0x0002 {
				break
			}
			el, err := p.readElement(metaEnc, false, 0)
			if err != nil {
				return nil, fmt.Errorf("file meta information: %w", err)
			}
			out.Meta.Elements = append(out.Meta.Elements, el)
		}
		out.TransferSyntax = out.Meta.String(TagTransferSyntaxUID)
	} else if !looksLikeDataset(p.buf) {
		return nil, ErrNotDICOM
	}
	switch out.TransferSyntax {
	case ImplicitVRLittleEndian:
		implicit = true
	case ExplicitVRBigEndian:
		enc.bigEndian = true
	case "":
		// No meta information: guess the encoding from the first element.
		if p.need(6) != nil {
			return nil, ErrNotDICOM
		}
		if isVR(p.buf[p.pos+4], p.buf[p.pos+5]) {
			out.TransferSyntax = ExplicitVRLittleEndian
		} else {
			implicit = true
			out.TransferSyntax = ImplicitVRLittleEndian
		}
	case DeflatedExplicitVRLittleEndian:
		if err := p.need(int(p.size) - p.pos); err != nil {
			return nil, err
		}
		limit := max(64*int64(len(p.buf)), 64<<20) // a deflate bomb stops here
		inflated, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(p.buf[p.pos:])), limit+1))
		if err != nil {
			return nil, fmt.Errorf("inflating deflated data set: %w", err)
		}
		if int64(len(inflated)) > limit {
			return nil, fmt.Errorf("deflated data set expands beyond %d bytes", limit)
		}
		p.buf, p.pos, p.size, p.file = inflated, 0, int64(len(inflated)), nil
	}
	if hasPreamble && len(out.Meta.Elements) == 0 {
		return nil, fmt.Errorf("%w: DICM marker without file meta information", ErrNotDICOM)
	}
	out.Dataset.enc = enc
	out.Elements = make([]Element, 0, 48)
	for !p.stopped {
		if p.pos >= len(p.buf) && int64(p.pos) >= p.size {
			break
		}
		if p.need(4) != nil {
			return nil, ErrTruncated
		}
		el, err := p.readElement(enc, implicit, 0)
		if err != nil {
			return nil, err
		}
		if el.Tag == TagSpecificCharacterSet {
			enc.charset = newCharsetDecoder(decodeStrings(el.Value))
		}
		if el.Tag == tagItemDelimitation || el.Tag == tagSequenceDelimitation || el.Tag == 0xFFFCFFFC {
			continue // stray delimiters and trailing padding carry nothing
		}
		out.Elements = append(out.Elements, el)
	}
	if len(out.Elements) == 0 {
		return nil, fmt.Errorf("%w: no data elements", ErrNotDICOM)
	}
	return out, nil
}

// looksLikeDataset accepts a file without meta information only when it starts with a plausible
// group-0008 element, which keeps arbitrary binary files from being read as DICOM.
func looksLikeDataset(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	group := binary.LittleEndian.Uint16(b)
	return group == 0x0008 || (group >= 0x0008 && group <= 0x0010 && isVR(b[4], b[5]))
}

func isVR(a, b byte) bool {
	switch string([]byte{a, b}) {
	case "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF",
		"OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN",
		"UR", "US", "UT", "UV":
		return true
	}
	return false
}

func hasLongLength(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// dictionaryVR looks up the VR of a tag for implicit-VR data.
func dictionaryVR(t Tag) string {
	if t.Element() == 0 {
		return "UL" // group length
	}
	info, err := tag.Find(tag.Tag{Group: t.Group(), Element: t.Element()})
	if err != nil {
		return "UN"
	}
	switch info.VR {
	case "US or SS", "US or OW", "US or SS or OW":
		return "US"
	case "OB or OW":
		return "OW"
	}
	return info.VR
}

func (p *parser) readTag(enc *encoding) Tag {
	o := enc.order()
	g := o.Uint16(p.buf[p.pos:])
	e := o.Uint16(p.buf[p.pos+2:])
	p.pos += 4
	return NewTag(g, e)
}

func (p *parser) readElement(enc *encoding, implicit bool, depth int) (Element, error) {
	if depth > 32 {
		return Element{}, errors.New("sequences nested too deeply")
	}
	start := p.pos
	if err := p.need(8); err != nil {
		return Element{}, err
	}
	t := p.readTag(enc)
	o := enc.order()
	var vr string
	var length uint32
	if t.Group() == 0xFFFE || implicit {
		length = o.Uint32(p.buf[p.pos:])
		p.pos += 4
		if t.Group() != 0xFFFE {
			vr = dictionaryVR(t)
		}
	} else {
		vr = string(p.buf[p.pos : p.pos+2])
		if !isVR(p.buf[p.pos], p.buf[p.pos+1]) {
			return Element{}, fmt.Errorf("invalid VR %q for tag %s at offset %d", vr, t, start)
		}
		p.pos += 2
		if hasLongLength(vr) {
			if err := p.need(6); err != nil {
				return Element{}, err
			}
			length = o.Uint32(p.buf[p.pos+2:])
			p.pos += 6
		} else {
			length = uint32(o.Uint16(p.buf[p.pos:]))
			p.pos += 2
		}
	}
	el := Element{Tag: t, VR: vr}
	if t.Group() == 0xFFFE {
		return el, nil
	}
	if t == TagPixelData && depth == 0 {
		return el, p.readPixelData(enc, implicit, length)
	}
	if t == TagPixelData && length == undefinedLength {
		// Encapsulated pixel data inside an item (an icon image): skip its fragments.
		return el, p.skipFragments(enc)
	}
	isSeq := vr == "SQ" || (length == undefinedLength) || (vr == "UN" && dictionaryVR(t) == "SQ")
	if isSeq {
		el.VR = "SQ"
		// An undefined-length UN element, or a UN element the dictionary knows as a sequence, is a
		// sequence encoded in implicit VR little endian (PS3.5 6.2.2).
		itemImplicit, itemEnc := implicit, enc
		if vr == "UN" {
			itemImplicit = true
			itemEnc = &encoding{charset: enc.charset}
		}
		items, err := p.readItems(itemEnc, itemImplicit, length, depth+1)
		if err != nil {
			return Element{}, fmt.Errorf("sequence %s: %w", t, err)
		}
		el.Items = items
		return el, nil
	}
	if err := p.need(int(length)); err != nil {
		return Element{}, fmt.Errorf("value of %s (%d bytes at offset %d): %w", t, length, p.pos, err)
	}
	el.Value = p.buf[p.pos : p.pos+int(length)]
	p.pos += int(length)
	return el, nil
}

func (p *parser) readItems(enc *encoding, implicit bool, length uint32, depth int) ([]*Dataset, error) {
	end := -1
	if length != undefinedLength {
		if err := p.need(int(length)); err != nil {
			return nil, err
		}
		end = p.pos + int(length)
	}
	var items []*Dataset
	for end < 0 || p.pos < end {
		if err := p.need(8); err != nil {
			return nil, err
		}
		t := p.readTag(enc)
		itemLen := enc.order().Uint32(p.buf[p.pos:])
		p.pos += 4
		if t == tagSequenceDelimitation {
			break
		}
		if t != tagItem {
			return nil, fmt.Errorf("expected an item, found tag %s", t)
		}
		item := &Dataset{enc: enc}
		itemEnd := -1
		if itemLen != undefinedLength {
			if err := p.need(int(itemLen)); err != nil {
				return nil, err
			}
			itemEnd = p.pos + int(itemLen)
		}
		for itemEnd < 0 || p.pos < itemEnd {
			el, err := p.readElement(enc, implicit, depth)
			if err != nil {
				return nil, err
			}
			if el.Tag == tagItemDelimitation {
				break
			}
			item.Elements = append(item.Elements, el)
		}
		items = append(items, item)
	}
	return items, nil
}

// readPixelData records where the pixel data is. With headerOnly it never touches the bytes and
// stops the parse; the file size alone tells whether the value is complete.
func (p *parser) readPixelData(enc *encoding, implicit bool, length uint32) error {
	out := p.out
	out.HasPixelData = true
	out.PixelDataOffset = int64(p.pos)
	if length != undefinedLength {
		out.PixelDataLength = int64(length)
		if int64(p.pos)+int64(length) > p.size {
			return fmt.Errorf("pixel data of %d bytes at offset %d: %w", length, p.pos, ErrTruncated)
		}
		if p.headerOnly {
			p.stopped = true
			return nil
		}
		if err := p.need(int(length)); err != nil {
			return err
		}
		out.PixelData = p.buf[p.pos : p.pos+int(length)]
		p.pos += int(length)
		return nil
	}
	out.PixelDataLength = -1
	if p.headerOnly {
		p.stopped = true
		return p.checkFragments(enc)
	}
	// Encapsulated: basic offset table item, then one item per fragment, then a delimiter.
	first := true
	for {
		if err := p.need(8); err != nil {
			return fmt.Errorf("encapsulated pixel data: %w", err)
		}
		t := p.readTag(enc)
		n := enc.order().Uint32(p.buf[p.pos:])
		p.pos += 4
		if t == tagSequenceDelimitation {
			return nil
		}
		if t != tagItem {
			return fmt.Errorf("encapsulated pixel data: expected an item, found %s", t)
		}
		if err := p.need(int(n)); err != nil {
			return fmt.Errorf("encapsulated pixel data: %w", err)
		}
		if !first {
			out.PixelFragments = append(out.PixelFragments, p.buf[p.pos:p.pos+int(n)])
		}
		first = false
		p.pos += int(n)
	}
}

// skipFragments skips the items of encapsulated pixel data up to its sequence delimiter.
func (p *parser) skipFragments(enc *encoding) error {
	for {
		if err := p.need(8); err != nil {
			return fmt.Errorf("encapsulated pixel data: %w", err)
		}
		t := p.readTag(enc)
		n := enc.order().Uint32(p.buf[p.pos:])
		p.pos += 4
		if t == tagSequenceDelimitation {
			return nil
		}
		if t != tagItem || n == undefinedLength {
			return fmt.Errorf("encapsulated pixel data: expected an item, found %s", t)
		}
		if err := p.need(int(n)); err != nil {
			return fmt.Errorf("encapsulated pixel data: %w", err)
		}
		p.pos += int(n)
	}
}

// checkFragments walks the item headers of top-level encapsulated pixel data, reading 8 bytes
// per fragment and never the fragments, to report a file cut inside its pixel data.
func (p *parser) checkFragments(enc *encoding) error {
	off := int64(p.pos)
	head := make([]byte, 8)
	for {
		if off+8 > p.size {
			return fmt.Errorf("encapsulated pixel data: %w", ErrTruncated)
		}
		if off+8 <= int64(len(p.buf)) {
			copy(head, p.buf[off:off+8])
		} else if p.file == nil {
			return fmt.Errorf("encapsulated pixel data: %w", ErrTruncated)
		} else if _, err := p.file.ReadAt(head, off); err != nil {
			return fmt.Errorf("encapsulated pixel data: %w", err)
		}
		o := enc.order()
		t := NewTag(o.Uint16(head), o.Uint16(head[2:]))
		n := int64(o.Uint32(head[4:]))
		off += 8
		if t == tagSequenceDelimitation {
			return nil
		}
		if t != tagItem || n == undefinedLength {
			return fmt.Errorf("encapsulated pixel data: expected an item, found %s", t)
		}
		if off+n > p.size {
			return fmt.Errorf("encapsulated pixel data fragment of %d bytes: %w", n, ErrTruncated)
		}
		off += n
	}
}
