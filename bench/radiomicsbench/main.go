// Command radiomicsbench times rtpipeline's radiomics engine on synthetic CT tumours with the
// full CT recipe (DefaultCTParams: Original + LoG 1/2/3/5 mm + Wavelet coif1, 1 mm B-spline,
// all classes, distances [1,2]; 1223 features). It is driven by bench/radiomics.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/radiomics"
)

func main() {
	volume := flag.Float64("volume", 100, "ROI volume in cm³")
	rois := flag.Int("rois", 2, "number of ROIs (different seeds)")
	workers := flag.Int("workers", 1, "ROIs computed at once")
	flag.Parse()
	runtime.GOMAXPROCS(*workers)

	type input struct{ image, mask *imageio.Image }
	inputs := make([]input, *rois)
	for i := range inputs {
		im, m := tumour(*volume, uint64(i+1))
		inputs[i] = input{im, m}
	}
	p := radiomics.DefaultCTParams()
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	counts := make([]int, *rois)
	errs := make([]error, *rois)
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := radiomics.Extract(context.Background(), inputs[i].image, inputs[i].mask, p)
				errs[i] = err
				if err == nil {
					counts[i] = len(r.Features())
				}
			}
		}()
	}
	for i := range inputs {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(start).Seconds()
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "ROI %d: %v\n", i, err)
			os.Exit(1)
		}
	}
	fmt.Printf("volume_cm3=%g rois=%d workers=%d features=%d wall_s=%.2f s_per_roi=%.2f\n", *volume, *rois, *workers, counts[0], wall, wall/float64(*rois))
}

// tumour synthesises a 0.98×0.98×3 mm int16 CT of a heterogeneous soft-tissue sphere of the given
// volume in fatty tissue, with a mask of the sphere.
func tumour(volumeCM3 float64, seed uint64) (*imageio.Image, *imageio.Image) {
	radius := math.Cbrt(3 * volumeCM3 * 1000 / (4 * math.Pi))
	sp := [3]float64{0.977, 0.977, 3}
	var n [3]int
	for a := range n {
		n[a] = int(math.Ceil((2*radius+40)/sp[a])) + 1
	}
	g := &grid.Grid{Origin: grid.Vec{-100, -120, -300}, Axes: [3]grid.Vec{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, Spacing: sp, Size: n}
	im := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels()), PixelType: "int16"}
	gm := *g
	mask := &imageio.Image{Grid: &gm, Data: make([]float64, g.Voxels()), PixelType: "uint8"}
	r := rand.New(rand.NewPCG(seed, 11))
	phase := r.Float64() * 6
	i := 0
	for z := 0; z < n[2]; z++ {
		for y := 0; y < n[1]; y++ {
			for x := 0; x < n[0]; x++ {
				dx := (float64(x) - float64(n[0]-1)/2) * sp[0]
				dy := (float64(y) - float64(n[1]-1)/2) * sp[1]
				dz := (float64(z) - float64(n[2]-1)/2) * sp[2]
				d := math.Sqrt(dx*dx + dy*dy + dz*dz)
				v := -90 + 25*r.NormFloat64()
				if d <= radius {
					v = 35 + 40*math.Sin(dx/7+phase)*math.Cos(dy/9) + 30*(1-d/radius) + 18*r.NormFloat64()
					mask.Data[i] = 1
				}
				im.Data[i] = math.Round(v)
				i++
			}
		}
	}
	return im, mask
}
