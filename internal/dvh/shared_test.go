package dvh

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/rt"
	"github.com/rtpipeline/rtpipeline/internal/testutil"
)

// TestRayStationBothPlans: every planar ROI of the RayStation SRS structure set gets a DVH on the
// dose of each plan; the four POINT ROIs are reported as skipped.
func TestRayStationBothPlans(t *testing.T) {
	dir := testutil.SharedTestdata(t, "dicom-rt/brain-srs-raystation")
	rsFiles, _ := filepath.Glob(filepath.Join(dir, "RS*.dcm"))
	rdFiles, _ := filepath.Glob(filepath.Join(dir, "RD*.dcm"))
	if len(rsFiles) != 1 || len(rdFiles) != 2 {
		t.Fatalf("%d RTSTRUCT, %d RTDOSE", len(rsFiles), len(rdFiles))
	}
	ss, err := rt.ReadStructureSetFile(rsFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	if ss.FrameOfRef == "" {
		t.Fatal("frame of reference not found in ReferencedFrameOfReferenceSequence")
	}
	for _, rd := range rdFiles {
		dose, err := rt.LoadDoseVolume(rd)
		if err != nil {
			t.Fatal(err)
		}
		if dose.FrameOfRef != ss.FrameOfRef {
			t.Fatalf("frames of reference differ: %s vs %s", dose.FrameOfRef, ss.FrameOfRef)
		}
		results := ComputeAll(ss.ROIs, dose.Volume, Options{SinglePlaneThicknessMM: ss.CommonPlaneSpacing}, 2)
		planar, points := 0, 0
		for i, r := range results {
			roi := ss.ROIs[i]
			isPoint := roi.GeometricTypes[rt.ContourPoint] > 0 && roi.GeometricTypes[rt.ContourClosedPlanar] == 0
			switch {
			case isPoint:
				points++
				if r.DVH != nil || !strings.Contains(r.Skipped, "POINT") {
					t.Errorf("%s: POINT ROI %q not skipped (%q)", filepath.Base(rd), roi.Name, r.Skipped)
				}
			case r.DVH == nil:
				t.Errorf("%s: planar ROI %q skipped: %s", filepath.Base(rd), roi.Name, r.Skipped)
			default:
				planar++
				d := r.DVH
				if !(d.VolumeCC > 0 && d.MinGy >= 0 && d.MinGy <= d.MeanGy && d.MeanGy <= d.MaxGy && d.DPercent(95) <= d.DPercent(5)) {
					t.Errorf("%s: %q implausible: volume %v, min %v, mean %v, max %v", filepath.Base(rd), roi.Name, d.VolumeCC, d.MinGy, d.MeanGy, d.MaxGy)
				}
			}
		}
		if points != 4 || planar != len(ss.ROIs)-4 {
			t.Errorf("%s: %d planar, %d point ROIs of %d", filepath.Base(rd), planar, points, len(ss.ROIs))
		}
	}
}
