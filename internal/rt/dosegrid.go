package rt

import (
	"fmt"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
)

// DoseVolume is an RTDOSE's grid with values in Gy (or relative units when DoseUnits is
// RELATIVE, see Relative).
type DoseVolume struct {
	*grid.Volume
	Header   *Dose
	Relative bool
	// SOPInstanceUID and FrameOfRef identify the dose object.
	SOPInstanceUID string
	FrameOfRef     string
}

// Grid returns the dose grid geometry. Exports sometimes carry more GridFrameOffsetVector values
// than frames (an edited multi-frame file); only the first NumberOfFrames offsets describe frames.
func (h *Dose) Grid() (*grid.Grid, error) {
	if h.Frames < 1 {
		return nil, fmt.Errorf("NumberOfFrames %d", h.Frames)
	}
	offs := h.FrameOffsets
	if len(offs) > h.Frames {
		offs = offs[:h.Frames]
	}
	if len(offs) < h.Frames {
		return nil, fmt.Errorf("%d frames but only %d grid frame offsets", h.Frames, len(offs))
	}
	return grid.FromDICOM(h.Position, h.Orientation, h.PixelSpacing, h.Rows, h.Columns, offs)
}

// LoadDoseVolume reads an RTDOSE file and converts stored values to dose: value × DoseGridScaling,
// applied exactly once, and cGy converted to Gy.
func LoadDoseVolume(path string) (*DoseVolume, error) {
	f, err := dicomio.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading dose %s: %w", path, err)
	}
	h := ParseDose(&f.Dataset)
	g, err := h.Grid()
	if err != nil {
		return nil, fmt.Errorf("dose %s: %w", path, err)
	}
	if g.Size[2] != h.Frames {
		return nil, fmt.Errorf("dose %s: %d frames but %d grid frame offsets", path, h.Frames, g.Size[2])
	}
	samples, err := f.PixelSamples()
	if err != nil {
		return nil, fmt.Errorf("dose %s: %w", path, err)
	}
	scale := h.Scaling
	if scale == 0 {
		scale = 1
	}
	rel := false
	switch strings.ToUpper(h.Units) {
	case "CGY":
		scale /= 100
	case "RELATIVE":
		rel = true
	}
	data := make([]float32, len(samples))
	for i, s := range samples {
		data[i] = float32(s * scale)
	}
	return &DoseVolume{Volume: &grid.Volume{Grid: g, Data: data}, Header: h, Relative: rel,
		SOPInstanceUID: f.String(dicomio.TagSOPInstanceUID), FrameOfRef: f.String(dicomio.TagFrameOfReferenceUID)}, nil
}
