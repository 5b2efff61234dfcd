package organize

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// sumDoses loads the source doses and sums them on a common grid. When every dose shares one
// geometry (beam doses of a plan, usually) the sum is voxel by voxel with no interpolation;
// otherwise the doses are resampled trilinearly onto the finest dose's lattice, extended to cover
// the union of all grids, with zero dose outside each source grid.
func sumDoses(sources []*Entry) (*grid.Volume, error) {
	vols := make([]*rt.DoseVolume, len(sources))
	for i, e := range sources {
		v, err := rt.LoadDoseVolume(e.Abs)
		if err != nil {
			return nil, err
		}
		if v.Relative {
			return nil, fmt.Errorf("dose %s has DoseUnits RELATIVE and cannot be summed in Gy", e.Path)
		}
		vols[i] = v
	}
	same := true
	for _, v := range vols[1:] {
		if !grid.SameGeometry(vols[0].Grid, v.Grid, 1e-3) {
			same = false
		}
	}
	if same {
		out := &grid.Volume{Grid: vols[0].Grid, Data: make([]float32, len(vols[0].Data))}
		for _, v := range vols {
			for i, x := range v.Data {
				out.Data[i] += x
			}
		}
		return out, nil
	}
	target := commonGrid(vols)
	if target.Voxels() <= 0 || target.Voxels() > grid.MaxVoxels {
		return nil, fmt.Errorf("dose grids span %dx%dx%d voxels together; they are too far apart to sum", target.Size[0], target.Size[1], target.Size[2])
	}
	out := &grid.Volume{Grid: target, Data: make([]float32, target.Voxels())}
	nx, ny, nz := target.Size[0], target.Size[1], target.Size[2]
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				p := target.Point(i, j, k)
				s := 0.0
				for _, v := range vols {
					s += v.SampleTrilinear(p)
				}
				out.Data[(k*ny+j)*nx+i] = float32(s)
			}
		}
	}
	return out, nil
}

// commonGrid takes the axes, spacing and voxel lattice of the finest source grid and extends it
// (on the same lattice) to cover every source grid.
func commonGrid(vols []*rt.DoseVolume) *grid.Grid {
	finest := vols[0].Grid
	voxVol := func(g *grid.Grid) float64 {
		dz := g.Spacing[2]
		if g.SliceOffsets != nil {
			dz = (g.SliceOffsets[len(g.SliceOffsets)-1] - g.SliceOffsets[0]) / float64(len(g.SliceOffsets)-1)
		}
		return g.Spacing[0] * g.Spacing[1] * dz
	}
	for _, v := range vols[1:] {
		if voxVol(v.Grid) < voxVol(finest) {
			finest = v.Grid
		}
	}
	spacing := finest.Spacing
	if finest.SliceOffsets != nil {
		spacing[2] = math.Inf(1)
		for k := 1; k < len(finest.SliceOffsets); k++ {
			spacing[2] = math.Min(spacing[2], finest.SliceOffsets[k]-finest.SliceOffsets[k-1])
		}
	}
	lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, v := range vols {
		g := v.Grid
		for _, i := range []int{0, g.Size[0] - 1} {
			for _, j := range []int{0, g.Size[1] - 1} {
				for _, k := range []int{0, g.Size[2] - 1} {
					d := g.Point(i, j, k).Sub(finest.Origin)
					for a := 0; a < 3; a++ {
						c := d.Dot(finest.Axes[a])
						lo[a] = math.Min(lo[a], c)
						hi[a] = math.Max(hi[a], c)
					}
				}
			}
		}
	}
	out := &grid.Grid{Axes: finest.Axes, Spacing: spacing, Origin: finest.Origin}
	for a := 0; a < 3; a++ {
		// Snap to the finest lattice; the small tolerance keeps floating-point noise from adding
		// or dropping an edge plane.
		first := math.Floor(lo[a]/spacing[a] + 1e-6)
		last := math.Ceil(hi[a]/spacing[a] - 1e-6)
		out.Origin = out.Origin.Add(finest.Axes[a].Scale(first * spacing[a]))
		out.Size[a] = int(last-first) + 1
	}
	return out
}

// doseDataset builds an RTDOSE holding a summed dose. Values are stored as uint32 with a
// DoseGridScaling chosen from the maximum, so the quantisation step is about 1e-9 of the maximum
// dose (far below 0.01 cGy).
func doseDataset(vol *grid.Volume, ref *Entry, refPlanUID, summation, comment string, sources []*Entry) (*dicomio.Builder, string, error) {
	maxDose := 0.0
	for _, v := range vol.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, "", fmt.Errorf("summed dose holds a non-finite value")
		}
		maxDose = math.Max(maxDose, float64(v))
	}
	scaleText := "1"
	if maxDose > 0 {
		scaleText = dicomio.FormatDS(maxDose / 4e9)
	}
	var scale float64
	fmt.Sscan(scaleText, &scale)
	pix := make([]byte, 4*len(vol.Data))
	for i, v := range vol.Data {
		q := uint32(0)
		if v > 0 {
			q = uint32(math.Min(math.Round(float64(v)/scale), math.MaxUint32))
		}
		pix[4*i], pix[4*i+1], pix[4*i+2], pix[4*i+3] = byte(q), byte(q>>8), byte(q>>16), byte(q>>24)
	}
	g := vol.Grid
	// Offsets are measured along row × column, the normal a reader derives from the written
	// orientation, which may point against the grid's own slice axis (decreasing offsets).
	normal := g.Axes[0].Cross(g.Axes[1])
	offsets := make([]float64, g.Size[2])
	for k := range offsets {
		offsets[k] = g.Point(0, 0, k).Sub(g.Origin).Dot(normal)
	}
	var srcUIDs []string
	for _, s := range sources {
		srcUIDs = append(srcUIDs, s.Obj.SOPInstanceUID)
	}
	sort.Strings(srcUIDs)
	sop := dicomio.DeriveUID(append([]string{"rtpipeline summed dose", summation}, srcUIDs...)...)
	o := ref.Obj
	b := dicomio.NewBuilder().
		Str(dicomio.TagSpecificCharacterSet, "ISO_IR 192").
		Str(dicomio.TagSOPClassUID, rt.SOPClassRTDose).
		Str(dicomio.TagSOPInstanceUID, sop).
		Str(dicomio.TagStudyDate, o.StudyDate).Str(dicomio.TagStudyTime, o.StudyTime).
		Str(dicomio.TagAccessionNumber, o.AccessionNumber).
		Str(dicomio.TagModality, "RTDOSE").
		Str(dicomio.TagManufacturer, "rtpipeline").
		Str(dicomio.TagReferringPhysicianName, "").
		Str(dicomio.TagSeriesDescription, "rtpipeline summed dose").
		Str(dicomio.TagPatientName, o.PatientName).Str(dicomio.TagPatientID, o.PatientID).
		Str(dicomio.TagPatientBirthDate, o.BirthDate).Str(dicomio.TagPatientSex, o.Sex).
		Str(dicomio.TagStudyInstanceUID, o.StudyUID).
		Str(dicomio.TagSeriesInstanceUID, dicomio.DeriveUID("rtpipeline summed dose series", sop)).
		Str(dicomio.TagStudyID, o.StudyID).IS(dicomio.TagSeriesNumber, 999).IS(dicomio.TagInstanceNumber, 1).
		DS(dicomio.TagImagePositionPatient, g.Origin[0], g.Origin[1], g.Origin[2]).
		DS(dicomio.TagImageOrientationPatient, g.Axes[0][0], g.Axes[0][1], g.Axes[0][2], g.Axes[1][0], g.Axes[1][1], g.Axes[1][2]).
		Str(dicomio.TagFrameOfReferenceUID, o.FrameOfReference).Str(dicomio.TagPositionReferenceIndicator, "").
		Ints(dicomio.TagSamplesPerPixel, 1).Str(dicomio.TagPhotometricInterpretation, "MONOCHROME2").
		IS(dicomio.TagNumberOfFrames, g.Size[2]).Ints(dicomio.TagFrameIncrementPointer, 0x3004, 0x000C).
		Ints(dicomio.TagRows, g.Size[1]).Ints(dicomio.TagColumns, g.Size[0]).
		DS(dicomio.TagPixelSpacing, g.Spacing[1], g.Spacing[0]).
		Ints(dicomio.TagBitsAllocated, 32).Ints(dicomio.TagBitsStored, 32).Ints(dicomio.TagHighBit, 31).
		Ints(dicomio.TagPixelRepresentation, 0).
		Str(dicomio.TagDoseUnits, "GY").Str(dicomio.TagDoseType, "PHYSICAL").
		Str(dicomio.TagDoseComment, truncate(comment, 10240)).
		Str(dicomio.TagDoseSummationType, summation).
		DS(dicomio.TagGridFrameOffsetVector, offsets...).
		Str(dicomio.TagDoseGridScaling, scaleText).
		Seq(dicomio.TagReferencedRTPlanSequence, dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, rt.SOPClassRTPlan).
			Str(dicomio.TagReferencedSOPInstanceUID, refPlanUID)).
		PixelData(pix)
	return b, sop, b.Err()
}

// syntheticPlan writes a plan that stands for several plans: a copy of the first with new UIDs,
// one fraction group with the summed fractions, every plan's beams renumbered (names suffixed
// _P<k>), a single target dose reference holding the summed prescription, and references to the
// source plans.
func syntheticPlan(plans []*Entry, totalRx float64) (*dicomio.Builder, string, error) {
	first, err := dicomio.ReadHeader(plans[0].Abs)
	if err != nil {
		return nil, "", fmt.Errorf("reading plan %s: %w", plans[0].Path, err)
	}
	var uids, labels []string
	for _, p := range plans {
		uids = append(uids, p.Obj.SOPInstanceUID)
		labels = append(labels, p.Obj.Plan.Label)
	}
	sorted := append([]string(nil), uids...)
	sort.Strings(sorted)
	sop := dicomio.DeriveUID(append([]string{"rtpipeline summed plan"}, sorted...)...)
	b := dicomio.ToBuilder(&first.Dataset)
	fractions := 0
	var beams, refBeams []*dicomio.Builder
	var refPlans []*dicomio.Builder
	number := 0
	setup := 1
	if ps := first.First(dicomio.TagPatientSetupSequence); ps != nil {
		if n, ok := ps.Int(dicomio.TagPatientSetupNumber); ok {
			setup = n
		}
	}
	for k, p := range plans {
		fractions += p.Obj.Plan.Prescription.Fractions
		ds := &first.Dataset
		if k > 0 {
			f, err := dicomio.ReadHeader(p.Abs)
			if err != nil {
				return nil, "", fmt.Errorf("reading plan %s: %w", p.Path, err)
			}
			ds = &f.Dataset
		}
		metersets := map[int]float64{}
		for _, fg := range p.Obj.Plan.FractionGroups {
			for n, m := range fg.BeamMetersets {
				metersets[n] += m
			}
		}
		beamSeq := ds.Seq(dicomio.TagBeamSequence)
		for _, it := range beamSeq {
			number++
			old, _ := it.Int(dicomio.TagBeamNumber)
			bb := dicomio.ToBuilder(it).
				IS(dicomio.TagBeamNumber, number).
				Str(dicomio.TagBeamName, truncate(fmt.Sprintf("%s_P%d", it.String(dicomio.TagBeamName), k+1), 64)).
				IS(dicomio.TagReferencedPatientSetupNumber, setup).
				Remove(dicomio.TagReferencedToleranceTableNumber)
			beams = append(beams, bb)
			rb := dicomio.NewBuilder().IS(dicomio.TagReferencedBeamNumber, number)
			if m, ok := metersets[old]; ok {
				rb.DS(dicomio.TagBeamMeterset, m)
			}
			refBeams = append(refBeams, rb)
		}
		refPlans = append(refPlans, dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, rt.SOPClassRTPlan).
			Str(dicomio.TagReferencedSOPInstanceUID, p.Obj.SOPInstanceUID).
			Str(dicomio.TagRTPlanRelationship, "CONCURRENT"))
	}
	label := truncate(plans[0].Obj.Plan.Label, 12)
	b.Str(dicomio.TagSOPInstanceUID, sop).
		Str(dicomio.TagSeriesInstanceUID, dicomio.DeriveUID("rtpipeline summed plan series", sop)).
		Str(dicomio.TagSeriesDescription, "rtpipeline summed plan").
		Str(dicomio.TagRTPlanLabel, label+"_SUM").
		Str(dicomio.TagRTPlanName, truncate("Sum of "+strings.Join(labels, " + "), 64)).
		Str(dicomio.TagRTPlanDescription, truncate("Synthetic plan written by rtpipeline: sum of "+strings.Join(labels, ", ")+" ("+strings.Join(uids, ", ")+")", 1024)).
		Str(dicomio.TagApprovalStatus, "UNAPPROVED").
		Remove(dicomio.TagReviewDate).Remove(dicomio.TagReviewTime).Remove(dicomio.TagReviewerName).
		Remove(dicomio.TagToleranceTableSequence).
		Seq(dicomio.TagDoseReferenceSequence, dicomio.NewBuilder().
			IS(dicomio.TagDoseReferenceNumber, 1).
			Str(dicomio.TagDoseReferenceUID, dicomio.DeriveUID("rtpipeline summed plan dose reference", sop)).
			Str(dicomio.TagDoseReferenceStructureType, "SITE").
			Str(dicomio.TagDoseReferenceDescription, "summed prescription").
			Str(dicomio.TagDoseReferenceType, "TARGET").
			DS(dicomio.TagTargetPrescriptionDose, totalRx)).
		Seq(dicomio.TagFractionGroupSequence, dicomio.NewBuilder().
			IS(dicomio.TagFractionGroupNumber, 1).
			IS(dicomio.TagNumberOfFractionsPlanned, fractions).
			IS(dicomio.TagNumberOfBeams, len(beams)).
			IS(dicomio.TagNumberOfBrachyApplicationSetups, 0).
			Seq(dicomio.TagReferencedBeamSequence, refBeams...)).
		Seq(dicomio.TagBeamSequence, beams...).
		Seq(dicomio.TagReferencedRTPlanSequence, refPlans...)
	return b, sop, b.Err()
}

// truncate shortens s to at most n bytes without splitting a UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
