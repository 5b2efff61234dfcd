package radiomics

import (
	"testing"
)

// BenchmarkTexture runs each class on a ~100,000-voxel spherical ROI with about 100 gray levels,
// distances [1, 2] (62 GLCM angles, 124 GLDM/NGTDM neighbours).
func BenchmarkTexture(b *testing.B) {
	d := texSynthetic(29, 100, 3)
	s := TextureSettings{Distances: []int{1, 2}, Symmetrical: true}
	for _, cl := range texClasses {
		b.Run(cl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := cl.fn(d, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
