package dicomio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrUnsupportedPixels reports pixel data in an encoding the reader cannot decode.
var ErrUnsupportedPixels = errors.New("unsupported pixel data encoding")

// PixelSamples decodes single-sample (grayscale) pixel data of a file read with ReadFile into
// stored values, frame after frame, row by row. Native data (little or big endian, 8/16/32 bits,
// signed or unsigned) and RLE Lossless are supported.
func (f *File) PixelSamples() ([]float64, error) {
	if !f.HasPixelData {
		return nil, errors.New("no pixel data")
	}
	rows, _ := f.Int(TagRows)
	cols, _ := f.Int(TagColumns)
	frames, ok := f.Int(TagNumberOfFrames)
	if !ok || frames < 1 {
		frames = 1
	}
	bits, _ := f.Int(TagBitsAllocated)
	spp, ok := f.Int(TagSamplesPerPixel)
	if !ok {
		spp = 1
	}
	rep, _ := f.Int(TagPixelRepresentation)
	if spp != 1 {
		return nil, fmt.Errorf("%w: %d samples per pixel", ErrUnsupportedPixels, spp)
	}
	if bits != 8 && bits != 16 && bits != 32 {
		return nil, fmt.Errorf("%w: %d bits allocated", ErrUnsupportedPixels, bits)
	}
	n := rows * cols * frames
	bytesPer := bits / 8
	var raw []byte
	order := binary.ByteOrder(binary.LittleEndian)
	switch {
	case f.PixelDataLength >= 0:
		raw = f.PixelData
		if f.BigEndian() {
			order = binary.BigEndian
		}
	case f.TransferSyntax == RLELossless:
		var err error
		raw, err = decodeRLE(f.PixelFragments, rows*cols, bytesPer, frames)
		if err != nil {
			return nil, err
		}
		order = binary.BigEndian // decodeRLE assembles samples most significant byte first
	default:
		return nil, fmt.Errorf("%w: transfer syntax %s", ErrUnsupportedPixels, f.TransferSyntax)
	}
	if len(raw) < n*bytesPer {
		return nil, fmt.Errorf("pixel data holds %d bytes, %d needed for %dx%dx%d at %d bits: %w", len(raw), n*bytesPer, cols, rows, frames, bits, ErrTruncated)
	}
	out := make([]float64, n)
	signed := rep == 1
	for i := 0; i < n; i++ {
		switch bits {
		case 8:
			if signed {
				out[i] = float64(int8(raw[i]))
			} else {
				out[i] = float64(raw[i])
			}
		case 16:
			v := order.Uint16(raw[2*i:])
			if signed {
				out[i] = float64(int16(v))
			} else {
				out[i] = float64(v)
			}
		case 32:
			v := order.Uint32(raw[4*i:])
			if signed {
				out[i] = float64(int32(v))
			} else {
				out[i] = float64(v)
			}
		}
	}
	return out, nil
}

// decodeRLE decodes DICOM RLE Lossless (PS3.5 Annex G): one fragment per frame, each holding a
// 64-byte header and one PackBits segment per byte plane, most significant plane first.
func decodeRLE(fragments [][]byte, pixels, bytesPer, frames int) ([]byte, error) {
	if len(fragments) < frames {
		return nil, fmt.Errorf("RLE: %d fragments for %d frames", len(fragments), frames)
	}
	out := make([]byte, 0, pixels*bytesPer*frames)
	for fi := 0; fi < frames; fi++ {
		frag := fragments[fi]
		if len(frag) < 64 {
			return nil, errors.New("RLE: fragment shorter than its header")
		}
		nseg := int(binary.LittleEndian.Uint32(frag))
		if nseg != bytesPer {
			return nil, fmt.Errorf("RLE: %d segments for %d-byte samples", nseg, bytesPer)
		}
		planes := make([][]byte, nseg)
		for s := 0; s < nseg; s++ {
			start := int(binary.LittleEndian.Uint32(frag[4+4*s:]))
			end := len(frag)
			if s+1 < nseg {
				end = int(binary.LittleEndian.Uint32(frag[4+4*(s+1):]))
			}
			if start < 64 || end > len(frag) || start > end {
				return nil, errors.New("RLE: bad segment offsets")
			}
			plane, err := unpackBits(frag[start:end], pixels)
			if err != nil {
				return nil, err
			}
			planes[s] = plane
		}
		for p := 0; p < pixels; p++ {
			for s := 0; s < nseg; s++ {
				out = append(out, planes[s][p])
			}
		}
	}
	return out, nil
}

func unpackBits(src []byte, want int) ([]byte, error) {
	out := make([]byte, 0, want)
	for i := 0; i < len(src) && len(out) < want; {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0:
			if i+n+1 > len(src) {
				return nil, errors.New("RLE: literal run past segment end")
			}
			out = append(out, src[i:i+n+1]...)
			i += n + 1
		case n != -128:
			if i >= len(src) {
				return nil, errors.New("RLE: replicate run past segment end")
			}
			for k := 0; k < 1-n; k++ {
				out = append(out, src[i])
			}
			i++
		}
	}
	if len(out) < want {
		return nil, fmt.Errorf("RLE: segment decodes to %d bytes, %d expected", len(out), want)
	}
	return out[:want], nil
}
