// Command segbench times the built-in CT segmenter (internal/segmentation/builtin) on a
// synthetic thorax phantom rendered in memory (synth.PhantomCT; by default 512×512×150 with
// 2.5 mm slices and 20 HU noise) and, with -dice, scores it against the phantom's analytic
// truth. It prints key=value pairs; bench/segmentation.sh runs it under /usr/bin/time for the
// peak resident memory and formats the Markdown table of docs/segmentation.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/segmentation/builtin"
	"github.com/rtpipeline/rtpipeline/internal/structures"
	"github.com/rtpipeline/rtpipeline/internal/synth"
)

func main() {
	matrix := flag.Int("matrix", 512, "rows and columns")
	slices := flag.Int("slices", 150, "slices")
	sliceMM := flag.Float64("slice-mm", 2.5, "slice spacing (mm)")
	noise := flag.Float64("noise", 20, "Gaussian noise (HU)")
	pos := flag.String("position", "HFS", "patient position: HFS, FFS, HFP or FFP")
	workers := flag.Int("workers", 2, "segmentation workers")
	structs := flag.String("structures", "", "comma-separated structures to return (default all)")
	ctOnly := flag.Bool("ct-only", false, "only render the phantom (baseline memory)")
	dice := flag.Bool("dice", false, "also compute Dice against the truth (raises the peak memory)")
	flag.Parse()

	t0 := time.Now()
	// Centred at z = 40 mm, 150 slices of 2.5 mm reach from the lung bases to above the apices.
	ct, err := synth.PhantomCT(synth.PhantomOptions{Position: *pos, Matrix: *matrix, Slices: *slices, SliceMM: *sliceMM,
		CentreMM: [3]float64{0, 0, 40}, NoiseHU: *noise, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("voxels=%d render_s=%.2f", ct.Grid.Voxels(), time.Since(t0).Seconds())
	if *ctOnly {
		fmt.Println()
		return
	}
	var names []string
	if *structs != "" {
		names = strings.Split(*structs, ",")
	}
	t1 := time.Now()
	res, err := builtin.Segment(context.Background(), ct, builtin.Options{Workers: *workers, Structures: names})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf(" wall_s=%.2f masks=%d", time.Since(t1).Seconds(), len(res.Masks))
	if *dice {
		truth, err := synth.PhantomTruth(ct.Grid, *pos)
		if err != nil {
			log.Fatal(err)
		}
		of := map[string]string{builtin.Body: synth.TruthBody, builtin.LungLeft: synth.TruthLungLeft,
			builtin.LungRight: synth.TruthLungRight, builtin.Airways: synth.TruthAirways, builtin.Bones: synth.TruthBones}
		for _, m := range res.Masks {
			fmt.Printf(" dice_%s=%.4f", m.Name, structures.Dice(m.Mask, truth[of[m.Name]]))
		}
	}
	fmt.Println()
	for _, m := range res.Masks {
		fmt.Fprintf(os.Stderr, "%s %.1f cm³: %s\n", m.Name, m.VolumeCC, strings.Join(m.Notes, "; "))
	}
}
