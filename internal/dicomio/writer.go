package dicomio

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

// ImplementationClassUID identifies files written by rtpipeline.
var ImplementationClassUID = DeriveUID("rtpipeline", "implementation")

// ImplementationVersionName is written into the file meta information.
const ImplementationVersionName = "RTPIPELINE_1"

// DeriveUID returns a deterministic UID under the 2.25 root (PS3.5 B.2): the decimal form of the
// first 128 bits of a SHA-256 over the parts. The same parts always give the same UID, which keeps
// every output byte-identical across reruns.
func DeriveUID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	n := new(big.Int).SetBytes(sum[:16])
	return "2.25." + n.String()
}

// Builder assembles the elements of a new DICOM object or sequence item. Methods record the first
// error and later calls do nothing, so a chain of calls needs one check at the end.
type Builder struct {
	elems []*dicom.Element
	err   error
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{} }

// Err returns the first error met while building.
func (b *Builder) Err() error { return b.err }

func (b *Builder) add(t Tag, vr string, value any) *Builder {
	if b.err != nil {
		return b
	}
	lt := tag.Tag{Group: t.Group(), Element: t.Element()}
	if vr == "" {
		info, err := tag.Find(lt)
		if err != nil {
			b.err = fmt.Errorf("tag %s: %w", t, err)
			return b
		}
		vr = info.VR
		switch vr {
		case "US or SS", "US or SS or OW":
			vr = "US"
		case "OB or OW":
			vr = "OW"
		}
	}
	v, err := dicom.NewValue(value)
	if err != nil {
		b.err = fmt.Errorf("tag %s: %w", t, err)
		return b
	}
	el := &dicom.Element{Tag: lt, RawValueRepresentation: vr, ValueRepresentation: tag.GetVRKind(lt, vr), Value: v}
	if vr == "SQ" {
		el.ValueLength = tag.VLUndefinedLength
	}
	for i, old := range b.elems {
		if old.Tag == lt {
			b.elems[i] = el // setting a tag again replaces it
			return b
		}
	}
	b.elems = append(b.elems, el)
	return b
}

// Remove deletes a tag from the builder, if present.
func (b *Builder) Remove(t Tag) *Builder {
	lt := tag.Tag{Group: t.Group(), Element: t.Element()}
	for i, old := range b.elems {
		if old.Tag == lt {
			b.elems = append(b.elems[:i], b.elems[i+1:]...)
			break
		}
	}
	return b
}

// Str adds a text element (any string VR, including DA, TM, UI, DS and IS given as text).
func (b *Builder) Str(t Tag, values ...string) *Builder { return b.add(t, "", values) }

// DS adds a decimal string element, each value formatted in at most 16 characters.
func (b *Builder) DS(t Tag, values ...float64) *Builder {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = FormatDS(v)
	}
	return b.add(t, "", s)
}

// IS adds an integer string element.
func (b *Builder) IS(t Tag, values ...int) *Builder {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = strconv.Itoa(v)
	}
	return b.add(t, "", s)
}

// Ints adds a binary integer element (US, SS, UL, SL, AT).
func (b *Builder) Ints(t Tag, values ...int) *Builder { return b.add(t, "", values) }

// Floats adds a binary floating-point element (FD or FL).
func (b *Builder) Floats(t Tag, values ...float64) *Builder { return b.add(t, "", values) }

// Seq adds a sequence whose items are the given builders.
func (b *Builder) Seq(t Tag, items ...*Builder) *Builder {
	if b.err != nil {
		return b
	}
	seq := make([][]*dicom.Element, 0, len(items))
	for _, it := range items {
		if it.err != nil {
			b.err = it.err
			return b
		}
		seq = append(seq, sortedElements(it.elems))
	}
	return b.add(t, "SQ", seq)
}

// PixelData adds native (uncompressed, little endian) pixel data given as raw bytes.
func (b *Builder) PixelData(raw []byte) *Builder {
	if b.err != nil {
		return b
	}
	info := dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: raw,
		Frames: []*frame.Frame{}}
	return b.add(TagPixelData, "OW", info)
}

// Bytes adds an OB/OW/UN element with raw bytes.
func (b *Builder) Bytes(t Tag, vr string, raw []byte) *Builder { return b.add(t, vr, raw) }

func sortedElements(elems []*dicom.Element) []*dicom.Element {
	out := append([]*dicom.Element(nil), elems...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Tag.Compare(out[j].Tag) < 0 })
	return out
}

// WriteOptions choose the encoding of a written file.
type WriteOptions struct {
	// TransferSyntax defaults to explicit VR little endian; implicit VR little endian is also
	// supported (for test inputs that mimic older exports).
	TransferSyntax string
}

// Encode serialises the builder as a DICOM Part 10 file with file meta information.
func (b *Builder) Encode(sopClassUID, sopInstanceUID string, opt WriteOptions) ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	ts := opt.TransferSyntax
	if ts == "" {
		ts = uid.ExplicitVRLittleEndian
	}
	meta := NewBuilder().
		Bytes(NewTag(0x0002, 0x0001), "OB", []byte{0, 1}).
		Str(TagMediaStorageSOPClassUID, sopClassUID).
		Str(TagMediaStorageSOPInstanceUID, sopInstanceUID).
		Str(TagTransferSyntaxUID, ts).
		Str(TagImplementationClassUID, ImplementationClassUID).
		Str(TagImplementationVersionName, ImplementationVersionName)
	if meta.err != nil {
		return nil, meta.err
	}
	elems := append(sortedElements(meta.elems), sortedElements(b.elems)...)
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := dicom.Write(w, dicom.Dataset{Elements: elems}); err != nil {
		return nil, fmt.Errorf("encoding DICOM: %w", err)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFile encodes the builder and writes it atomically to path.
func (b *Builder) WriteFile(path, sopClassUID, sopInstanceUID string, opt WriteOptions) error {
	data, err := b.Encode(sopClassUID, sopInstanceUID, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, data, 0o644)
}

// FormatDS formats a number as a DICOM decimal string of at most 16 characters, with as many
// significant digits as fit.
func FormatDS(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	if v == 0 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) <= 16 {
		return s
	}
	for prec := 15; prec >= 1; prec-- {
		if s = strconv.FormatFloat(v, 'g', prec, 64); len(s) <= 16 {
			return s
		}
	}
	return s
}
