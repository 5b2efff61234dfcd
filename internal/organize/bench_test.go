package organize

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/synth"
)

// benchCohort generates (once per run) a synthetic cohort for benchmarks: 60 patients of
// 512x512 CT, about 4,500 files.
func benchCohort(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "rtpipeline-bench-organize-60-512")
	if _, err := os.Stat(filepath.Join(dir, "truth.json")); err != nil {
		os.RemoveAll(dir)
		if _, err := synth.Generate(context.Background(), dir, synth.Options{Patients: 60, Seed: 11, Matrix: 512}); err != nil {
			b.Fatal(err)
		}
	}
	return filepath.Join(dir, "dicom")
}

// BenchmarkIndex measures header indexing (files/s) with one and two workers.
func BenchmarkIndex(b *testing.B) {
	root := benchCohort(b)
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			files := 0
			for i := 0; i < b.N; i++ {
				inv, err := Index(context.Background(), root, IndexOptions{Workers: w})
				if err != nil {
					b.Fatal(err)
				}
				files = len(inv.Entries)
			}
			b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

// BenchmarkOrganize measures a whole organize (index, decide, write with hard links) into a fresh
// output folder.
func BenchmarkOrganize(b *testing.B) {
	root := benchCohort(b)
	opt := DefaultOptions()
	opt.Workers = 2
	files := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		out := b.TempDir()
		b.StartTimer()
		inv, err := Index(context.Background(), root, IndexOptions{Workers: 2})
		if err != nil {
			b.Fatal(err)
		}
		res := Build(inv, opt)
		if _, err := Write(context.Background(), res, out, WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		files = len(inv.Entries)
	}
	b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
}
