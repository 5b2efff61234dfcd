package builtin

import (
	"errors"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// Plane is the orientation of an overlay picture.
type Plane int

// Overlay planes. Both are drawn in patient coordinates whatever the image's orientation:
// axial pictures show patient left on the right (x increasing to the right, as seen from the
// feet) and anterior at the top; coronal pictures show patient left on the right and superior
// at the top.
const (
	Axial Plane = iota
	Coronal
)

// Outline is a mask drawn as a coloured outline on an overlay.
type Outline struct {
	Label string
	Mask  *imageio.Image
	Color color.RGBA
	// Dashed draws every other outline pixel, to tell reference contours from results.
	Dashed bool
}

// overlaySize is the larger side of an overlay picture in pixels.
const overlaySize = 640

// RenderOverlay draws the plane of ct at patient coordinate at (z in mm for Axial, y for
// Coronal) in a window of lo..hi HU, with the outlines of the masks (each on ct's grid or any
// grid of the same frame) and a legend. Voxels are sampled nearest-neighbour at the picture's
// pixel centres, so any image orientation works.
func RenderOverlay(ct *imageio.Image, plane Plane, at, lo, hi float64, outlines []Outline, title string) (*image.RGBA, error) {
	if ct == nil || ct.Grid == nil || len(ct.Data) != ct.Grid.Voxels() {
		return nil, errors.New("builtin: no image to draw")
	}
	blo, bhi := ct.Grid.Bounds()
	for a := range 3 { // voxel boxes, not centres
		half := 0.0
		for ax := range 3 {
			half += math.Abs(ct.Grid.Axes[ax][a]) * math.Abs(ct.Grid.Spacing[ax]) / 2
		}
		blo[a] -= half
		bhi[a] += half
	}
	// Picture axes: u to the right, v downwards.
	ua, va := 0, 1 // x, y
	vSign := 1.0
	if plane == Coronal {
		va, vSign = 2, -1 // z, superior at the top
	}
	wu, wv := bhi[ua]-blo[ua], bhi[va]-blo[va]
	px := math.Max(wu, wv) / overlaySize
	if px <= 0 {
		return nil, errors.New("builtin: empty image extent")
	}
	w, h := max(1, int(math.Round(wu/px))), max(1, int(math.Round(wv/px)))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	// Voxel index of every picture pixel (-1 outside the image).
	idx := make([]int, w*h)
	g := ct.Grid
	for y := range h {
		for x := range w {
			var p grid.Vec
			p[ua] = blo[ua] + (float64(x)+0.5)*px
			if vSign > 0 {
				p[va] = blo[va] + (float64(y)+0.5)*px
			} else {
				p[va] = bhi[va] - (float64(y)+0.5)*px
			}
			fixedAxis := 3 - ua - va
			p[fixedAxis] = at
			fi, fj, fk := g.ContinuousIndex(p)
			i, j, k := int(math.Round(fi)), int(math.Round(fj)), int(math.Round(fk))
			if i < 0 || j < 0 || k < 0 || i >= g.Size[0] || j >= g.Size[1] || k >= g.Size[2] {
				idx[y*w+x] = -1
				img.SetRGBA(x, y, color.RGBA{0, 0, 40, 255})
				continue
			}
			n := (k*g.Size[1]+j)*g.Size[0] + i
			idx[y*w+x] = n
			v := math.Round(255 * math.Min(1, math.Max(0, (ct.Data[n]-lo)/(hi-lo))))
			img.SetRGBA(x, y, color.RGBA{uint8(v), uint8(v), uint8(v), 255})
		}
	}
	inMask := func(m *imageio.Image, x, y int) bool {
		if x < 0 || y < 0 || x >= w || y >= h {
			return false
		}
		n := idx[y*w+x]
		return n >= 0 && n < len(m.Data) && m.Data[n] != 0
	}
	for _, o := range outlines {
		if o.Mask == nil || len(o.Mask.Data) != len(ct.Data) {
			continue
		}
		for y := range h {
			for x := range w {
				if !inMask(o.Mask, x, y) {
					continue
				}
				edge := false
				for _, d := range [][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {1, 1}, {-1, 1}, {1, -1}} {
					if !inMask(o.Mask, x+d[0], y+d[1]) {
						edge = true
						break
					}
				}
				if edge && (!o.Dashed || (x+y)/4%2 == 0) {
					img.SetRGBA(x, y, o.Color)
				}
			}
		}
	}
	// Legend.
	d := &font.Drawer{Dst: img, Face: basicfont.Face7x13}
	line := 0
	text := func(s string, c color.RGBA) {
		line++
		d.Src = image.NewUniform(c)
		d.Dot = fixed.P(6, 4+14*line)
		d.DrawString(s)
	}
	if title != "" {
		text(title, color.RGBA{255, 255, 255, 255})
	}
	for _, o := range outlines {
		label := o.Label
		if o.Dashed {
			label += " (dashed)"
		}
		text(label, o.Color)
	}
	return img, nil
}
