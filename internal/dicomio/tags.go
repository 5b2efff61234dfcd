package dicomio

import "fmt"

//go:generate go run ./internal/gentags

// Tag is a DICOM attribute tag, group in the high 16 bits and element in the low 16 bits.
type Tag uint32

// NewTag builds a Tag from its group and element numbers.
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group returns the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element returns the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// String formats the tag as (gggg,eeee).
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// Tags of the encoding itself, which have no keyword in the data dictionary.
const (
	tagItem                 Tag = 0xFFFEE000
	tagItemDelimitation     Tag = 0xFFFEE00D
	tagSequenceDelimitation Tag = 0xFFFEE0DD
	tagFileMetaGroupLength  Tag = 0x00020000
)
