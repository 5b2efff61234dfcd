package radiomics

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// texCase is one PyRadiomics test image/mask pair, cropped to the ROI bounding box.
type texCase struct {
	size    [3]int
	spacing [3]float64
	values  []float64 // image values in the box
	inROI   []bool
}

var (
	texCaseMu    sync.Mutex
	texCaseCache = map[string]*texCase{}
)

// loadTexCase reads <name>_image.nrrd and <name>_label.nrrd, takes label == 1 as the ROI and crops
// both to its bounding box (no padding).
func loadTexCase(t *testing.T, name string) *texCase {
	t.Helper()
	texCaseMu.Lock()
	defer texCaseMu.Unlock()
	if c, ok := texCaseCache[name]; ok {
		return c
	}
	dir := testutil.SharedTestdata(t, "radiomics/pyradiomics")
	im, err := imageio.ReadNRRD(filepath.Join(dir, "images", name+"_image.nrrd"))
	if err != nil {
		t.Fatal(err)
	}
	lb, err := imageio.ReadNRRD(filepath.Join(dir, "images", name+"_label.nrrd"))
	if err != nil {
		t.Fatal(err)
	}
	if im.Grid.Size != lb.Grid.Size {
		t.Fatalf("%s: image size %v, label size %v", name, im.Grid.Size, lb.Grid.Size)
	}
	sz := im.Grid.Size
	lo := [3]int{sz[0], sz[1], sz[2]}
	hi := [3]int{-1, -1, -1}
	for k := 0; k < sz[2]; k++ {
		for j := 0; j < sz[1]; j++ {
			for i := 0; i < sz[0]; i++ {
				if lb.Data[im.Index(i, j, k)] != 1 {
					continue
				}
				p := [3]int{i, j, k}
				for d := 0; d < 3; d++ {
					lo[d] = min(lo[d], p[d])
					hi[d] = max(hi[d], p[d])
				}
			}
		}
	}
	if hi[0] < 0 {
		t.Fatalf("%s: empty label", name)
	}
	c := &texCase{spacing: im.Grid.Spacing}
	for d := 0; d < 3; d++ {
		c.size[d] = hi[d] - lo[d] + 1
	}
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				idx := im.Index(i, j, k)
				c.values = append(c.values, im.Data[idx])
				c.inROI = append(c.inROI, lb.Data[idx] == 1)
			}
		}
	}
	texCaseCache[name] = c
	return c
}

// resegment keeps only ROI voxels with value >= lo (PyRadiomics' resegmentRange [lo]) and crops
// to the new bounding box.
func (c *texCase) resegment(lo float64) *texCase {
	nx, ny, nz := c.size[0], c.size[1], c.size[2]
	keep := func(i int) bool { return c.inROI[i] && c.values[i] >= lo }
	blo := [3]int{nx, ny, nz}
	bhi := [3]int{-1, -1, -1}
	for z := 0; z < nz; z++ {
		for y := 0; y < ny; y++ {
			for x := 0; x < nx; x++ {
				if !keep((z*ny+y)*nx + x) {
					continue
				}
				p := [3]int{x, y, z}
				for d := 0; d < 3; d++ {
					blo[d] = min(blo[d], p[d])
					bhi[d] = max(bhi[d], p[d])
				}
			}
		}
	}
	r := &texCase{spacing: c.spacing}
	for d := 0; d < 3; d++ {
		r.size[d] = bhi[d] - blo[d] + 1
	}
	for z := blo[2]; z <= bhi[2]; z++ {
		for y := blo[1]; y <= bhi[1]; y++ {
			for x := blo[0]; x <= bhi[0]; x++ {
				i := (z*ny+y)*nx + x
				r.values = append(r.values, c.values[i])
				r.inROI = append(r.inROI, keep(i))
			}
		}
	}
	return r
}

// discretize bins the ROI values as PyRadiomics' binImage does: fixed bin width (edges from
// floor(min/w)·w in steps of w up to max + 2w) or fixed bin count (numpy.histogram edges over
// [min, max], top edge + 1), numpy.digitize semantics (bins closed on the left).
func (c *texCase) discretize(binWidth float64, binCount int) *Discretized {
	var vals []float64
	for i, in := range c.inROI {
		if in {
			vals = append(vals, c.values[i])
		}
	}
	mn, mx := slices.Min(vals), slices.Max(vals)
	var edges []float64
	if binCount > 0 {
		lo, hi := mn, mx
		if lo == hi {
			lo -= 0.5
			hi += 0.5
		}
		step := (hi - lo) / float64(binCount)
		for k := 0; k < binCount; k++ {
			edges = append(edges, float64(float64(k)*step)+lo)
		}
		edges = append(edges, hi+1)
	} else {
		low := mn - (mn - binWidth*math.Floor(mn/binWidth))
		high := mx + 2*binWidth
		n := int(math.Ceil((high - low) / binWidth))
		for k := 0; k < n; k++ {
			edges = append(edges, low+float64(k)*binWidth)
		}
		if len(edges) == 1 {
			edges = []float64{edges[0] - 0.5, edges[0] + 0.5}
		}
	}
	d := &Discretized{Size: c.size, Spacing: c.spacing, Levels: make([]int, len(c.values))}
	seen := map[int]bool{}
	for i, in := range c.inROI {
		if !in {
			continue
		}
		// numpy.digitize: number of edges <= value
		l := 0
		for l < len(edges) && edges[l] <= c.values[i] {
			l++
		}
		d.Levels[i] = l
		seen[l] = true
	}
	for l := range seen {
		d.GrayLevels = append(d.GrayLevels, l)
	}
	slices.Sort(d.GrayLevels)
	return d
}

// texReadNpy reads a float64 .npy (format 1.0/2.0) in C or Fortran order and returns its shape and
// its data in C order.
func texReadNpy(path string) ([]int, []float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(b) < 10 || !bytes.Equal(b[:6], []byte("\x93NUMPY")) {
		return nil, nil, fmt.Errorf("%s: not a .npy file", path)
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	default:
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	}
	header := string(b[off : off+hlen])
	data := b[off+hlen:]
	if !strings.Contains(header, "'<f8'") {
		return nil, nil, fmt.Errorf("%s: unsupported dtype in %q", path, header)
	}
	fortran := strings.Contains(header, "'fortran_order': True")
	m := regexp.MustCompile(`'shape': \(([^)]*)\)`).FindStringSubmatch(header)
	if m == nil {
		return nil, nil, fmt.Errorf("%s: no shape in %q", path, header)
	}
	var shape []int
	n := 1
	for _, f := range strings.Split(m[1], ",") {
		f = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), "L"))
		if f == "" {
			continue
		}
		k, err := strconv.Atoi(f)
		if err != nil {
			return nil, nil, err
		}
		shape = append(shape, k)
		n *= k
	}
	if len(data) < 8*n {
		return nil, nil, fmt.Errorf("%s: %d bytes of data for %d values", path, len(data), n)
	}
	raw := make([]float64, n)
	for i := range raw {
		raw[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	if !fortran {
		return shape, raw, nil
	}
	out := make([]float64, n)
	idx := make([]int, len(shape))
	for f := 0; f < n; f++ {
		// f is the Fortran-order position of multi-index idx; compute its C-order position
		c := 0
		for d := 0; d < len(shape); d++ {
			c = c*shape[d] + idx[d]
		}
		out[c] = raw[f]
		for d := 0; d < len(shape); d++ {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return shape, out, nil
}

// texBaseline maps test column -> feature -> value for one class.
type texBaseline map[string]map[string]float64

var (
	texBaselineMu    sync.Mutex
	texBaselineCache = map[string]texBaseline{}
)

func texLoadBaseline(t *testing.T, class string) texBaseline {
	t.Helper()
	texBaselineMu.Lock()
	defer texBaselineMu.Unlock()
	if b, ok := texBaselineCache[class]; ok {
		return b
	}
	dir := testutil.SharedTestdata(t, "radiomics/pyradiomics")
	f, err := os.Open(filepath.Join(dir, "baseline", "baseline_"+class+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	b := texBaseline{}
	prefix := "original_" + class + "_"
	for _, r := range rows[1:] {
		if !strings.HasPrefix(r[0], prefix) {
			continue
		}
		name := strings.TrimPrefix(r[0], prefix)
		for c := 1; c < len(r) && c < len(rows[0]); c++ {
			if r[c] == "" {
				continue
			}
			v, err := strconv.ParseFloat(r[c], 64)
			if err != nil {
				t.Fatalf("%s %s %s: %v", class, rows[0][c], name, err)
			}
			col := rows[0][c]
			if b[col] == nil {
				b[col] = map[string]float64{}
			}
			b[col][name] = v
		}
	}
	texBaselineCache[class] = b
	return b
}

// texRelErr is |1 - got/want|, or |got| when want is 0.
func texRelErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(1 - got/want)
}
