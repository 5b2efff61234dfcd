package rt

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// TestDoseEncodingsAgree loads the same pydicom dose in implicit VR little endian, explicit VR
// big endian and RLE Lossless: every voxel must agree.
func TestDoseEncodingsAgree(t *testing.T) {
	dir := testutil.SharedTestdata(t, "dicom-rt/pydicom")
	for _, set := range [][]string{{"rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"}, {"rtdose_1frame.dcm", "rtdose_expb_1frame.dcm", "rtdose_rle_1frame.dcm"}} {
		ref, err := LoadDoseVolume(filepath.Join(dir, set[0]))
		if err != nil {
			t.Fatal(err)
		}
		if !ref.Relative {
			t.Errorf("%s: DoseUnits RELATIVE not flagged", set[0])
		}
		maxV := 0.0
		for _, v := range ref.Data {
			maxV = math.Max(maxV, float64(v))
		}
		if maxV <= 0 {
			t.Fatalf("%s: empty dose", set[0])
		}
		for _, other := range set[1:] {
			got, err := LoadDoseVolume(filepath.Join(dir, other))
			if err != nil {
				t.Fatalf("%s: %v", other, err)
			}
			if len(got.Data) != len(ref.Data) {
				t.Fatalf("%s: %d voxels, want %d", other, len(got.Data), len(ref.Data))
			}
			for i := range ref.Data {
				if got.Data[i] != ref.Data[i] {
					t.Fatalf("%s voxel %d: %v, want %v", other, i, got.Data[i], ref.Data[i])
				}
			}
		}
	}
}
