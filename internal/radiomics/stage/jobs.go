package stage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/radiomics"
	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/structures"
)

// job is one row: an ROI of a source, with how to build its mask.
type job struct {
	modality   string // "CT" or "MR"
	source     string // segmentation_source
	sourcePath string // the RTSTRUCT or mask file, relative to the course
	roiNumber  int    // ROINumber, when hasNumber
	hasNumber  bool   // false for NIfTI masks and unreadable sources
	original   string // roi_original_name
	name       string // normalised roi_name (before the __partial suffix)

	image    *imageio.Image
	roi      *rt.ROIContours // contours to rasterise on image, or
	maskFile string          // a NIfTI/NRRD mask to place on image's grid

	// preStatus, when set, is the row's status without building the mask ("skipped: ..." or
	// "failed: ...").
	preStatus string

	params      string // parameter set name
	largeParams string // parameter set for large ROIs ("" = never)
	minVoxels   int
	maxVoxels   int

	// extra holds modality-specific identity cells.
	extra map[string]any
}

// outcome is what running a job gave.
type outcome struct {
	status    string
	name      string // roi_name as tabulated
	cropped   *bool
	voxels    int
	estimated float64
	params    string
	result    *radiomics.Result
	warnings  []string
	duration  time.Duration
	attempted bool // the extractor was called
}

func (o *outcome) qc(j *job) ROIQC {
	q := ROIQC{Modality: j.modality, Source: j.source, ROIName: o.name, Original: j.original, Status: o.status,
		Voxels: o.voxels, EstimatedVoxels: math.Round(o.estimated), Params: o.params, DurationSec: math.Round(o.duration.Seconds()*1000) / 1000,
		Warnings: append([]string{}, o.warnings...)}
	if o.result != nil {
		for _, n := range o.result.Names {
			if !strings.HasPrefix(n, "diagnostics_") {
				q.Features++
			}
		}
	}
	return q
}

// runJobs runs the jobs on opts.Workers goroutines; outcome i belongs to job i whatever the
// worker count. It returns ctx's error when ctx ends before every job ran.
func runJobs(ctx context.Context, jobs []*job, opts Options, ps *paramSets) ([]*outcome, error) {
	outs := make([]*outcome, len(jobs))
	workers := max(opts.Workers, 1)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				outs[i] = runJob(ctx, jobs[i], opts, ps)
			}
		}()
	}
feed:
	for i := range jobs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return outs, nil
}

// runJob builds the mask of one ROI, applies the selection rules and extracts its features.
func runJob(ctx context.Context, j *job, opts Options, ps *paramSets) (o *outcome) {
	o = &outcome{name: j.name}
	if j.preStatus != "" {
		o.status = j.preStatus
		return o
	}
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			// The stack goes to the log only: it holds addresses that would make the table
			// differ between runs.
			o.status = oneLine(fmt.Sprintf("failed: internal error: %v", r))
			o.result = nil
			slog.Error("radiomics: panic while extracting", "source", j.source, "roi", j.original, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		o.duration = time.Since(start)
	}()
	mask, warnings, err := buildMask(j)
	o.warnings = append(o.warnings, warnings...)
	if err != nil {
		o.status = "failed: mask: " + oneLine(err.Error())
		return o
	}
	n, touches := maskStats(mask)
	o.voxels = n
	if n == 0 {
		f := false
		o.cropped = &f
		o.status = "skipped: empty mask"
		if len(warnings) > 0 {
			o.status += " (see roi_warnings)"
		}
		return o
	}
	o.cropped = &touches
	if touches {
		o.name = withPartial(j.name)
	}
	if j.minVoxels > 0 && n < j.minVoxels {
		o.status = fmt.Sprintf("skipped: %d voxels, fewer than min_voxels %d", n, j.minVoxels)
		return o
	}
	o.params = j.params
	p := ps.byName(j.params)
	sp := j.image.Grid.Spacing
	es := extractorSpacing(p, sp)
	o.estimated = float64(n) * sp[0] * sp[1] * sp[2] / (es[0] * es[1] * es[2])
	if j.largeParams != "" {
		switch {
		case isLargeROIName(j.name):
			o.params = j.largeParams
			o.warnings = append(o.warnings, "reduced feature set: large ROI by name (body*)")
		case j.maxVoxels > 0 && o.estimated > float64(j.maxVoxels):
			o.params = j.largeParams
			o.warnings = append(o.warnings, fmt.Sprintf("reduced feature set: about %.0f voxels at the extractor spacing, more than max_voxels %d", o.estimated, j.maxVoxels))
		}
		p = ps.byName(o.params)
	}
	label := p.Settings.Label
	for i, v := range mask.Data {
		if v != 0 {
			mask.Data[i] = float64(label)
		}
	}
	extract := opts.Extract
	if extract == nil {
		extract = radiomics.Extract
	}
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if opts.ROITimeout > 0 {
		rctx, cancel = context.WithTimeoutCause(ctx, opts.ROITimeout, errTimeout)
	}
	defer cancel()
	o.attempted = true
	res, err := extract(rctx, j.image, mask, p)
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(context.Cause(rctx), errTimeout):
		o.status = fmt.Sprintf("failed: timed out after %s (radiomics.roi_timeout_seconds)", opts.ROITimeout)
	case err != nil:
		o.status = "failed: " + oneLine(err.Error())
	case res == nil || len(res.Names) != len(res.Values):
		o.status = "failed: extractor returned an inconsistent result"
	default:
		o.status = StatusOK
		o.result = res
		o.warnings = append(o.warnings, res.Warnings...)
	}
	return o
}

// buildMask rasterises the job's contours on its image, or reads its mask file and places it
// on the image grid (nearest neighbour, by physical position, when the grids differ).
func buildMask(j *job) (*imageio.Image, []string, error) {
	if j.roi != nil {
		return structures.Rasterize(j.roi, j.image)
	}
	m, err := readMaskFile(j.maskFile)
	if err != nil {
		return nil, nil, err
	}
	if grid.SameGeometry(m.Grid, j.image.Grid, 1e-3) {
		out := &imageio.Image{Grid: j.image.Grid, Data: m.Data, PixelType: "uint8"}
		for i, v := range out.Data {
			if v != 0 {
				out.Data[i] = 1
			}
		}
		return out, nil, nil
	}
	out, inside := resampleNearest(m, j.image.Grid)
	w := []string{fmt.Sprintf("mask grid %v differs from the image grid %v: placed by nearest neighbour", m.Grid.Size, j.image.Grid.Size)}
	if !inside {
		w = append(w, "part of the mask lies outside the image")
	}
	return out, w, nil
}

// readMaskFile reads a NIfTI or NRRD mask.
func readMaskFile(path string) (*imageio.Image, error) {
	lower := strings.ToLower(path)
	if strings.HasSuffix(lower, ".nrrd") || strings.HasSuffix(lower, ".nhdr") {
		return imageio.ReadNRRD(path)
	}
	return imageio.ReadNIfTI(path)
}

// resampleNearest places mask m on grid g: each voxel of g takes the value (0/1) of the voxel
// of m its centre falls in. It reports whether every set voxel of m landed inside g.
func resampleNearest(m *imageio.Image, g *grid.Grid) (*imageio.Image, bool) {
	out := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	mx, my, mz := m.Grid.Size[0], m.Grid.Size[1], m.Grid.Size[2]
	for k := 0; k < g.Size[2]; k++ {
		for jj := 0; jj < g.Size[1]; jj++ {
			for i := 0; i < g.Size[0]; i++ {
				fi, fj, fk := m.Grid.ContinuousIndex(g.Point(i, jj, k))
				a, b, c := int(math.Round(fi)), int(math.Round(fj)), int(math.Round(fk))
				if a < 0 || b < 0 || c < 0 || a >= mx || b >= my || c >= mz {
					continue
				}
				if m.Data[(c*my+b)*mx+a] != 0 {
					out.Data[(k*g.Size[1]+jj)*g.Size[0]+i] = 1
				}
			}
		}
	}
	// Every set voxel of m must map inside g.
	inside := true
	for k := 0; k < mz && inside; k++ {
		for jj := 0; jj < my && inside; jj++ {
			for i := 0; i < mx; i++ {
				if m.Data[(k*my+jj)*mx+i] == 0 {
					continue
				}
				fi, fj, fk := g.ContinuousIndex(m.Grid.Point(i, jj, k))
				if fi < -0.5 || fj < -0.5 || fk < -0.5 || fi > float64(g.Size[0])-0.5 || fj > float64(g.Size[1])-0.5 || fk > float64(g.Size[2])-0.5 {
					inside = false
					break
				}
			}
		}
	}
	return out, inside
}

// maskStats counts the mask's voxels and tells whether any lies on a face of the volume.
func maskStats(m *imageio.Image) (n int, touches bool) {
	nx, ny, nz := m.Grid.Size[0], m.Grid.Size[1], m.Grid.Size[2]
	idx := 0
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				if m.Data[idx] != 0 {
					n++
					if i == 0 || j == 0 || k == 0 || i == nx-1 || j == ny-1 || k == nz-1 {
						touches = true
					}
				}
				idx++
			}
		}
	}
	return n, touches
}
