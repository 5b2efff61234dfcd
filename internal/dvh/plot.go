package dvh

import (
	"bytes"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/rtpipeline/rtpipeline/internal/fsutil"
)

type plotLine struct {
	name, source   string
	doses, volumes []float64
	total          float64
}

// palette is a colour-blind-safe cycle (Okabe-Ito, then darker variants).
var palette = []color.RGBA{
	{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}, {86, 180, 233, 255},
	{213, 94, 0, 255}, {240, 228, 66, 255}, {0, 0, 0, 255}, {0, 70, 110, 255}, {140, 95, 0, 255},
	{0, 95, 70, 255}, {130, 70, 105, 255},
}

// writePlot draws the cumulative DVHs (volume in % of each ROI against dose) as dvh.png, with a
// dashed vertical line at the prescription when known.
func writePlot(path, title string, lines []plotLine, rxGy float64) error {
	p := plot.New()
	p.Title.Text = "Cumulative DVH — " + title
	p.X.Label.Text = "Dose (Gy)"
	p.Y.Label.Text = "Volume (%)"
	p.Y.Min, p.Y.Max = 0, 100
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	for i, l := range lines {
		pts := make(plotter.XYs, len(l.doses))
		for k := range l.doses {
			pts[k].X, pts[k].Y = l.doses[k], 100*l.volumes[k]/l.total
		}
		ln, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		ln.Color = palette[i%len(palette)]
		ln.Width = vg.Points(1.2)
		if i >= len(palette) {
			ln.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(ln)
		label := l.name
		if l.source != SourceManual && l.source != SourcePlanRTSTRUCT {
			label += " (" + l.source + ")"
		}
		p.Legend.Add(label, ln)
	}
	if rxGy > 0 {
		rx, _ := plotter.NewLine(plotter.XYs{{X: rxGy, Y: 0}, {X: rxGy, Y: 100}})
		rx.Color = color.RGBA{120, 120, 120, 255}
		rx.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(rx)
		p.Legend.Add("prescription", rx)
	}
	p.Add(plotter.NewGrid())
	// Leave room on the right for the legend.
	maxDose := rxGy
	for _, l := range lines {
		if n := len(l.doses); n > 0 {
			maxDose = max(maxDose, l.doses[n-1])
		}
	}
	p.X.Min, p.X.Max = 0, 1.35*max(maxDose, 1)
	w, err := p.WriterTo(10*vg.Inch, 6*vg.Inch, "png")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return err
	}
	return fsutil.WriteAtomic(path, 0o644, func(out io.Writer) error {
		_, err := out.Write(buf.Bytes())
		return err
	})
}
