package builtin

import (
	"context"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// BenchmarkSegment512 segments a 512×512×150 synthetic CT (2.5 mm slices, 20 HU noise) with
// two workers, the size bench/segmentation.sh reports.
func BenchmarkSegment512(b *testing.B) {
	ct, err := synth.PhantomCT(synth.PhantomOptions{Position: "HFS", Matrix: 512, Slices: 150, SliceMM: 2.5, NoiseHU: 20, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Segment(context.Background(), ct, Options{Workers: 2}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ct.Grid.Voxels())/1e6, "Mvoxels")
}
