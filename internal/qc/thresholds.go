package qc

// Thresholds are the tolerances of the checks. They are recorded in every report.
type Thresholds struct {
	// CTCosineTol is the largest difference of an ImageOrientationPatient component between CT
	// slices that still counts as the same orientation.
	CTCosineTol float64 `json:"ct_orientation_cosine_tol"`
	// CTPixelSpacingTolMM is the largest PixelSpacing difference between slices (mm).
	CTPixelSpacingTolMM float64 `json:"ct_pixel_spacing_tol_mm"`
	// CTGapRelTol is the largest relative deviation of a slice gap from the typical gap (the
	// lower median) that still counts as uniform; the image readers of the pipeline refuse
	// series beyond it.
	CTGapRelTol float64 `json:"ct_gap_rel_tol"`
	// CTMissingSliceTol is how close (as a fraction of the typical gap) a larger gap must be to
	// a whole multiple of the typical gap to count as missing slices rather than uneven spacing.
	CTMissingSliceTol float64 `json:"ct_missing_slice_tol"`
	// CTDuplicatePositionMM: two slices closer than this along the normal share a position.
	CTDuplicatePositionMM float64 `json:"ct_duplicate_position_mm"`
	// CTTiltTolMM is the largest in-plane shift of a slice from the line of the first slice's
	// position along the normal (a gantry tilt shifts every slice).
	CTTiltTolMM float64 `json:"ct_tilt_tol_mm"`
	// CoveragePassMM: a target sticking out of the dose grid (box of voxel centres) by at most
	// this distance passes.
	CoveragePassMM float64 `json:"coverage_pass_mm"`
	// CoverageWarnMM and CoverageWarnOutsideFraction: sticking out by at most CoverageWarnMM
	// with at most this share of the target volume outside is a WARNING; more is a FAIL.
	CoverageWarnMM              float64 `json:"coverage_warn_mm"`
	CoverageWarnOutsideFraction float64 `json:"coverage_warn_outside_fraction"`
	// CoverageRasterMM is the in-plane spacing of the lattice targets are rasterised on to
	// measure the volume inside the dose grid; CoverageMaxVoxels caps that lattice (its spacing
	// grows to fit).
	CoverageRasterMM  float64 `json:"coverage_raster_mm"`
	CoverageMaxVoxels int     `json:"coverage_max_voxels"`
	// EdgeMarginVoxels: an ROI whose contours come within this many voxels of the outermost
	// voxel centres of the CT (or beyond) touches that face of the image.
	EdgeMarginVoxels float64 `json:"edge_margin_voxels"`
	// MaxSegmentPairTests caps the segment pairs tested for self-intersection per contour;
	// a contour needing more is reported as not fully checked.
	MaxSegmentPairTests int `json:"max_segment_pair_tests"`
}

// DefaultThresholds returns the thresholds the stage uses.
func DefaultThresholds() Thresholds {
	return Thresholds{
		CTCosineTol:                 1e-4,
		CTPixelSpacingTolMM:         1e-3,
		CTGapRelTol:                 1e-3,
		CTMissingSliceTol:           0.05,
		CTDuplicatePositionMM:       0.01,
		CTTiltTolMM:                 0.01,
		CoveragePassMM:              1,
		CoverageWarnMM:              3,
		CoverageWarnOutsideFraction: 0.005,
		CoverageRasterMM:            1,
		CoverageMaxVoxels:           1 << 24,
		EdgeMarginVoxels:            0.5,
		MaxSegmentPairTests:         2_000_000,
	}
}
