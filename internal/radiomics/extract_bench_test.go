package radiomics

import (
	"context"
	"testing"
)

// ctRecipeNoResampling is the CT recipe's image types and classes on an image already at 1 mm.
func ctRecipeNoResampling() *Params {
	s := DefaultSettings()
	s.Distances = []int{1, 2}
	s.MinimumROISize = 64
	s.CorrectMask = true
	sl := s.Clone()
	sl.Sigma = []float64{1, 2, 3, 5}
	return testParams(s, []ImageType{{Name: ImageOriginal}, {Name: ImageLoG, Settings: sl}, {Name: ImageWavelet, Settings: s.Clone()}}, allClasses...)
}

// BenchmarkExtractCTRecipe100cc: 100 cm³ sphere at 1 mm, Original + LoG 1/2/3/5 + wavelet coif1,
// all classes, distances [1,2] (1223 features), one worker.
func BenchmarkExtractCTRecipe100cc(b *testing.B) {
	im, mask := phantom([3]int{80, 80, 80}, [3]float64{1, 1, 1}, 28.8, 9)
	p := ctRecipeNoResampling()
	for b.Loop() {
		r, err := Extract(context.Background(), im, mask, p)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Features()) != 1223 {
			b.Fatalf("%d features", len(r.Features()))
		}
	}
}
