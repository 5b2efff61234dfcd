package synth

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
)

// Equipment written into every object; the model name (ManufacturerModelName) differs per
// modality, as scanner, planning system and record-and-verify system do in a real department.
const (
	manufacturer = "rtpipeline-synth"
	institution  = "Synthetic Radiotherapy Centre"
)

// common adds the patient, general study, series and equipment modules and the SOP common
// module shared by every object.
func (p *patient) common(b *dicomio.Builder, sopClass, sop, modality string, st *study, series string, seriesNumber int, seriesDesc, seriesDate, seriesTime, model string) *dicomio.Builder {
	if p.charset != "" {
		b.Str(dicomio.TagSpecificCharacterSet, p.charset)
	}
	return b.
		Str(dicomio.TagSOPClassUID, sopClass).
		Str(dicomio.TagSOPInstanceUID, sop).
		Str(dicomio.TagInstanceCreationDate, seriesDate).
		Str(dicomio.TagInstanceCreationTime, seriesTime).
		Str(dicomio.TagStudyDate, st.date).
		Str(dicomio.TagStudyTime, st.time).
		Str(dicomio.TagSeriesDate, seriesDate).
		Str(dicomio.TagSeriesTime, seriesTime).
		Str(dicomio.TagAccessionNumber, st.accession).
		Str(dicomio.TagModality, modality).
		Str(dicomio.TagManufacturer, manufacturer).
		Str(dicomio.TagInstitutionName, institution).
		Str(dicomio.TagReferringPhysicianName, "REFERRER^SYNTH").
		Str(dicomio.TagStationName, "SYNTH01").
		Str(dicomio.TagStudyDescription, st.desc).
		Str(dicomio.TagSeriesDescription, seriesDesc).
		Str(dicomio.TagOperatorsName, "OPERATOR^SYNTH").
		Str(dicomio.TagManufacturerModelName, model).
		Str(dicomio.TagPatientName, p.name).
		Str(dicomio.TagPatientID, p.id).
		Str(dicomio.TagPatientBirthDate, p.birth).
		Str(dicomio.TagPatientSex, p.sex).
		Str(dicomio.TagSoftwareVersions, "1.0").
		Str(dicomio.TagStudyInstanceUID, st.uid).
		Str(dicomio.TagSeriesInstanceUID, series).
		Str(dicomio.TagStudyID, st.id).
		IS(dicomio.TagSeriesNumber, seriesNumber)
}

// ctSlice encodes slice k of a CT series. The pixel loop classifies each row once into x
// intervals and then only compares x against them, so a slice costs one buffer and no
// per-pixel allocation.
func (g *generator) ctSlice(p *patient, s *ctSeries, k int) ([]byte, error) {
	gr := s.grid
	z := gr.z[k]
	n := gr.size
	pix := make([]byte, 2*n*n)
	shapes := shapesAt(z, s.tum, prone(p.position))
	xs, ys := gr.xs(), gr.ys()
	var noise *rand.Rand
	if g.opt.NoiseHU > 0 {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%s/%d", g.seed, s.uid, k)
		noise = rand.New(rand.NewPCG(uint64(g.opt.Seed), h.Sum64()))
	}
	for r, y := range ys {
		sp := shapes.spans(y)
		row := pix[2*r*n : 2*(r+1)*n]
		for c, x := range xs {
			hu := sp.hu(x)
			if noise != nil {
				hu = math.Round(math.Min(math.Max(hu+noise.NormFloat64()*g.opt.NoiseHU, -1024), 3071))
			}
			binary.LittleEndian.PutUint16(row[2*c:], uint16(int16(hu-huStored0)))
		}
	}
	ipp := gr.ipp(k)
	st := s.st
	b := p.common(dicomio.NewBuilder(), sopCT, s.sops[k], "CT", st, s.uid, s.number, s.desc, s.date, s.time, "PhantomScan CT").
		Str(dicomio.TagImageType, "ORIGINAL", "PRIMARY", "AXIAL").
		Str(dicomio.TagContentDate, s.date).
		Str(dicomio.TagContentTime, s.time).
		Str(dicomio.TagAcquisitionDate, s.date).
		Str(dicomio.TagAcquisitionTime, s.time).
		IS(dicomio.TagAcquisitionNumber, 1).
		Str(dicomio.TagBodyPartExamined, "CHEST").
		DS(dicomio.TagSliceThickness, gr.thickness).
		DS(dicomio.TagKVP, s.kvp).
		DS(dicomio.TagDataCollectionDiameter, 500).
		DS(dicomio.TagReconstructionDiameter, gr.spacing*float64(n)).
		DS(dicomio.TagGantryDetectorTilt, 0).
		DS(dicomio.TagTableHeight, 150).
		IS(dicomio.TagExposureTime, 1000).
		IS(dicomio.TagXRayTubeCurrent, 200).
		Str(dicomio.TagConvolutionKernel, s.kernel).
		Str(dicomio.TagPatientPosition, p.position).
		IS(dicomio.TagInstanceNumber, k+1).
		DS(dicomio.TagImagePositionPatient, ipp.slice()...).
		DS(dicomio.TagImageOrientationPatient, gr.iop()...).
		Str(dicomio.TagFrameOfReferenceUID, st.forUID).
		Str(dicomio.TagPositionReferenceIndicator).
		DS(dicomio.TagSliceLocation, z).
		Ints(dicomio.TagSamplesPerPixel, 1).
		Str(dicomio.TagPhotometricInterpretation, "MONOCHROME2").
		Ints(dicomio.TagRows, n).
		Ints(dicomio.TagColumns, n).
		DS(dicomio.TagPixelSpacing, gr.spacing, gr.spacing).
		Ints(dicomio.TagBitsAllocated, 16).
		Ints(dicomio.TagBitsStored, 16).
		Ints(dicomio.TagHighBit, 15).
		Ints(dicomio.TagPixelRepresentation, 1).
		DS(dicomio.TagWindowCenter, 40).
		DS(dicomio.TagWindowWidth, 400).
		DS(dicomio.TagRescaleIntercept, huStored0).
		DS(dicomio.TagRescaleSlope, 1).
		Str(dicomio.TagRescaleType, "HU").
		PixelData(pix)
	return p.encode(b, sopCT, s.sops[k])
}

// structureSet encodes an RTSTRUCT with one closed planar contour per ROI and image plane
// that cuts the ROI's shape.
func (g *generator) structureSet(p *patient, rs *structSet) ([]byte, error) {
	st := rs.st
	b := p.common(dicomio.NewBuilder(), sopRTStruct, rs.uid, "RTSTRUCT", st, rs.seriesUID, rs.number, "RTSTRUCT "+rs.label, rs.date, rs.time, "PhantomPlan TPS").
		IS(dicomio.TagInstanceNumber, 1).
		Str(dicomio.TagStructureSetLabel, rs.label).
		Str(dicomio.TagStructureSetName, rs.label).
		Str(dicomio.TagStructureSetDate, rs.date).
		Str(dicomio.TagStructureSetTime, rs.time)
	if p.structFOR {
		b.Str(dicomio.TagFrameOfReferenceUID, st.forUID)
	}
	images := make([]*dicomio.Builder, len(rs.refSOPs))
	for i, sop := range rs.refSOPs {
		images[i] = imageRef(sop)
	}
	b.Seq(dicomio.TagReferencedFrameOfReferenceSequence, dicomio.NewBuilder().
		Str(dicomio.TagFrameOfReferenceUID, st.forUID).
		Seq(dicomio.TagRTReferencedStudySequence, dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, sopStudyComponent).
			Str(dicomio.TagReferencedSOPInstanceUID, st.uid).
			Seq(dicomio.TagRTReferencedSeriesSequence, dicomio.NewBuilder().
				Str(dicomio.TagSeriesInstanceUID, rs.refSeries).
				Seq(dicomio.TagContourImageSequence, images...))))
	var setROIs, roiContours, observations []*dicomio.Builder
	for _, r := range rs.rois {
		setROIs = append(setROIs, dicomio.NewBuilder().
			IS(dicomio.TagROINumber, r.number).
			Str(dicomio.TagReferencedFrameOfReferenceUID, st.forUID).
			Str(dicomio.TagROIName, r.name).
			Str(dicomio.TagROIGenerationAlgorithm, r.algo))
		var contours []*dicomio.Builder
		for k, z := range rs.geom.z {
			sec := sectionAt(r.shape, z)
			if !sec.ok || min(sec.ax, sec.ay) < minContourSemiAxisMM {
				continue
			}
			pts := ellipsePolygon(sec, z)
			contours = append(contours, dicomio.NewBuilder().
				Seq(dicomio.TagContourImageSequence, imageRef(rs.refSOPs[k])).
				Str(dicomio.TagContourGeometricType, "CLOSED_PLANAR").
				IS(dicomio.TagNumberOfContourPoints, len(pts)/3).
				IS(dicomio.TagContourNumber, len(contours)+1).
				Str(dicomio.TagContourData, joinDS(pts)))
		}
		roiContours = append(roiContours, dicomio.NewBuilder().
			IS(dicomio.TagROIDisplayColor, r.color[0], r.color[1], r.color[2]).
			Seq(dicomio.TagContourSequence, contours...).
			IS(dicomio.TagReferencedROINumber, r.number))
		observations = append(observations, dicomio.NewBuilder().
			IS(dicomio.TagObservationNumber, r.number).
			IS(dicomio.TagReferencedROINumber, r.number).
			Str(dicomio.TagROIObservationLabel, r.name).
			Str(dicomio.TagRTROIInterpretedType, r.kind).
			Str(dicomio.TagROIInterpreter))
	}
	b.Seq(dicomio.TagStructureSetROISequence, setROIs...).
		Seq(dicomio.TagROIContourSequence, roiContours...).
		Seq(dicomio.TagRTROIObservationsSequence, observations...)
	return p.encode(b, sopRTStruct, rs.uid)
}

// joinDS formats a long decimal-string vector as one backslash-separated value. The encoded
// element is the same as with Builder.DS, but the DICOM library joins multi-valued strings by
// repeated concatenation, which is quadratic in the number of values and dominated the cost of
// writing structure sets.
func joinDS(values []float64) string {
	var sb strings.Builder
	sb.Grow(10 * len(values))
	for i, v := range values {
		if i > 0 {
			sb.WriteByte('\\')
		}
		sb.WriteString(dicomio.FormatDS(v))
	}
	return sb.String()
}

func imageRef(sop string) *dicomio.Builder {
	return dicomio.NewBuilder().Str(dicomio.TagReferencedSOPClassUID, sopCT).Str(dicomio.TagReferencedSOPInstanceUID, sop)
}

func (rs *structSet) roiNumber(name string) int {
	for _, r := range rs.rois {
		if r.name == name {
			return r.number
		}
	}
	return 0
}

// rtPlanFile encodes an RTPLAN.
func (g *generator) rtPlanFile(p *patient, pl *rtPlan) ([]byte, error) {
	st := pl.st
	b := p.common(dicomio.NewBuilder(), sopRTPlan, pl.uid, "RTPLAN", st, pl.seriesUID, pl.number, "RTPLAN "+pl.label, pl.date, pl.time, "PhantomPlan TPS").
		IS(dicomio.TagInstanceNumber, 1).
		Str(dicomio.TagFrameOfReferenceUID, st.forUID).
		Str(dicomio.TagPositionReferenceIndicator).
		Str(dicomio.TagRTPlanLabel, pl.label).
		Str(dicomio.TagRTPlanName, pl.name).
		Str(dicomio.TagRTPlanDescription, pl.desc).
		Str(dicomio.TagRTPlanDate, pl.date).
		Str(dicomio.TagRTPlanTime, pl.time).
		Str(dicomio.TagPlanIntent, "CURATIVE").
		Str(dicomio.TagRTPlanGeometry, "PATIENT").
		Str(dicomio.TagApprovalStatus, pl.approval).
		Seq(dicomio.TagReferencedStructureSetSequence, dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, sopRTStruct).
			Str(dicomio.TagReferencedSOPInstanceUID, pl.rs.uid))
	if pl.approval == "APPROVED" {
		b.Str(dicomio.TagReviewDate, pl.date).Str(dicomio.TagReviewTime, pl.time).Str(dicomio.TagReviewerName, "PHYSICIAN^SYNTH")
	}
	if pl.predecessor != nil {
		b.Seq(dicomio.TagReferencedRTPlanSequence, dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, sopRTPlan).
			Str(dicomio.TagReferencedSOPInstanceUID, pl.predecessor.uid).
			Str(dicomio.TagRTPlanRelationship, "PREDECESSOR"))
	}
	b.Seq(dicomio.TagDoseReferenceSequence,
		dicomio.NewBuilder().
			IS(dicomio.TagDoseReferenceNumber, 1).
			Str(dicomio.TagDoseReferenceUID, g.uid(p, pl.uid, "doseref", "1")).
			Str(dicomio.TagDoseReferenceStructureType, "VOLUME").
			Str(dicomio.TagDoseReferenceDescription, "PTV").
			IS(dicomio.TagReferencedROINumber, pl.rs.roiNumber("PTV")).
			Str(dicomio.TagDoseReferenceType, "TARGET").
			DS(dicomio.TagTargetPrescriptionDose, pl.rx),
		dicomio.NewBuilder().
			IS(dicomio.TagDoseReferenceNumber, 2).
			Str(dicomio.TagDoseReferenceUID, g.uid(p, pl.uid, "doseref", "2")).
			Str(dicomio.TagDoseReferenceStructureType, "VOLUME").
			Str(dicomio.TagDoseReferenceDescription, "SPINAL_CORD").
			IS(dicomio.TagReferencedROINumber, pl.rs.roiNumber("SPINAL_CORD")).
			Str(dicomio.TagDoseReferenceType, "ORGAN_AT_RISK").
			DS(dicomio.TagOrganAtRiskMaximumDose, pl.oarMax))
	b.Seq(dicomio.TagPatientSetupSequence, dicomio.NewBuilder().
		Str(dicomio.TagPatientPosition, p.position).
		IS(dicomio.TagPatientSetupNumber, 1).
		Str(dicomio.TagSetupTechnique, "ISOCENTRIC"))
	refBeams := make([]*dicomio.Builder, len(pl.beams))
	beams := make([]*dicomio.Builder, len(pl.beams))
	for i, bm := range pl.beams {
		refBeams[i] = dicomio.NewBuilder().
			IS(dicomio.TagReferencedBeamNumber, bm.number).
			DS(dicomio.TagBeamDose, bm.doseGy).
			DS(dicomio.TagBeamMeterset, bm.mu)
		beams[i] = g.beamItem(p, pl, bm)
	}
	b.Seq(dicomio.TagFractionGroupSequence, dicomio.NewBuilder().
		IS(dicomio.TagFractionGroupNumber, 1).
		IS(dicomio.TagNumberOfFractionsPlanned, pl.fx).
		IS(dicomio.TagNumberOfBeams, len(pl.beams)).
		IS(dicomio.TagNumberOfBrachyApplicationSetups, 0).
		Seq(dicomio.TagReferencedBeamSequence, refBeams...).
		Seq(dicomio.TagReferencedDoseReferenceSequence,
			dicomio.NewBuilder().IS(dicomio.TagReferencedDoseReferenceNumber, 1),
			dicomio.NewBuilder().IS(dicomio.TagReferencedDoseReferenceNumber, 2)))
	b.Seq(dicomio.TagBeamSequence, beams...)
	return p.encode(b, sopRTPlan, pl.uid)
}

// beamItem builds one BeamSequence item: the first control point carries the full machine
// state, later ones only what changes (gantry for arcs) and the cumulative meterset weight.
func (g *generator) beamItem(p *patient, pl *rtPlan, bm beam) *dicomio.Builder {
	iso := pl.tum.center.slice()
	n := len(bm.gantry)
	if n == 1 {
		n = 2
	}
	cps := make([]*dicomio.Builder, n)
	for i := range n {
		w := float64(i) / float64(n-1)
		cp := dicomio.NewBuilder().IS(dicomio.TagControlPointIndex, i)
		if i == 0 {
			cp.DS(dicomio.TagNominalBeamEnergy, pl.energy).
				DS(dicomio.TagDoseRateSet, 600).
				Seq(dicomio.TagBeamLimitingDevicePositionSequence,
					dicomio.NewBuilder().Str(dicomio.TagRTBeamLimitingDeviceType, "ASYMX").DS(dicomio.TagLeafJawPositions, -pl.tum.ptvR-10, pl.tum.ptvR+10),
					dicomio.NewBuilder().Str(dicomio.TagRTBeamLimitingDeviceType, "ASYMY").DS(dicomio.TagLeafJawPositions, -pl.tum.ptvR-10, pl.tum.ptvR+10)).
				DS(dicomio.TagGantryAngle, bm.gantry[0]).
				Str(dicomio.TagGantryRotationDirection, bm.rotation).
				DS(dicomio.TagBeamLimitingDeviceAngle, bm.coll).
				Str(dicomio.TagBeamLimitingDeviceRotationDirection, "NONE").
				DS(dicomio.TagPatientSupportAngle, 0).
				Str(dicomio.TagPatientSupportRotationDirection, "NONE").
				DS(dicomio.TagTableTopEccentricAngle, 0).
				Str(dicomio.TagTableTopEccentricRotationDirection, "NONE").
				DS(dicomio.TagIsocenterPosition, iso...)
		} else if len(bm.gantry) > 1 {
			cp.DS(dicomio.TagGantryAngle, bm.gantry[i]).Str(dicomio.TagGantryRotationDirection, bm.rotation)
			if i == n-1 {
				cp.Str(dicomio.TagGantryRotationDirection, "NONE")
			}
		}
		cps[i] = cp.DS(dicomio.TagCumulativeMetersetWeight, roundTo(w, 1e-6))
	}
	return dicomio.NewBuilder().
		Str(dicomio.TagTreatmentMachineName, pl.machine).
		Str(dicomio.TagManufacturer, manufacturer).
		Str(dicomio.TagInstitutionName, institution).
		Str(dicomio.TagPrimaryDosimeterUnit, "MU").
		DS(dicomio.TagSourceAxisDistance, 1000).
		Seq(dicomio.TagBeamLimitingDeviceSequence,
			dicomio.NewBuilder().Str(dicomio.TagRTBeamLimitingDeviceType, "ASYMX").IS(dicomio.TagNumberOfLeafJawPairs, 1),
			dicomio.NewBuilder().Str(dicomio.TagRTBeamLimitingDeviceType, "ASYMY").IS(dicomio.TagNumberOfLeafJawPairs, 1)).
		IS(dicomio.TagBeamNumber, bm.number).
		Str(dicomio.TagBeamName, bm.name).
		Str(dicomio.TagBeamDescription, pl.technique+" "+bm.name).
		Str(dicomio.TagBeamType, bm.kind).
		Str(dicomio.TagRadiationType, "PHOTON").
		Str(dicomio.TagTreatmentDeliveryType, "TREATMENT").
		IS(dicomio.TagNumberOfWedges, 0).
		IS(dicomio.TagNumberOfCompensators, 0).
		IS(dicomio.TagNumberOfBoli, 0).
		IS(dicomio.TagNumberOfBlocks, 0).
		DS(dicomio.TagFinalCumulativeMetersetWeight, 1).
		IS(dicomio.TagNumberOfControlPoints, n).
		Seq(dicomio.TagControlPointSequence, cps...).
		IS(dicomio.TagReferencedPatientSetupNumber, 1)
}

// doseScaling picks DoseGridScaling so that maxGy is stored near 95% of the uint32 range, and
// returns the value as it is written (parsed back from its decimal string), so the stored
// integers times the written scaling give the dose exactly as computed.
func doseScaling(maxGy float64) (string, float64) {
	if maxGy <= 0 {
		return "1", 1
	}
	s := dicomio.FormatDS(maxGy / (0.95 * math.MaxUint32))
	v, _ := strconv.ParseFloat(s, 64)
	return s, v
}

// doseAt evaluates the sum of radial components at squared distance r2 from their common
// centre.
func doseAt(comps []DoseComponent, r2 float64) float64 {
	r := math.Sqrt(r2)
	d := 0.0
	for _, c := range comps {
		switch {
		case r <= c.PlateauRadiusMM:
			d += c.PeakGy
		case r < c.ZeroRadiusMM:
			d += c.PeakGy * (c.ZeroRadiusMM - r) / (c.ZeroRadiusMM - c.PlateauRadiusMM)
		}
	}
	return d
}

func maxDose(comps []DoseComponent) float64 {
	return doseAt(comps, 0)
}

// rtDoseFile encodes an RTDOSE: 32-bit unsigned voxels of the analytic dose.
func (g *generator) rtDoseFile(p *patient, d *rtDose) ([]byte, error) {
	gr := d.grid
	n := gr.n
	centre := vec3(d.comps[0].CenterMM)
	normal := gr.normal()
	// Squared distance from the centre along each grid axis, per index.
	dc, dr, df := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		s := float64(i) * gr.spacing
		dc[i] = sq(gr.origin.add(gr.row.scale(s)).sub(centre).dot(gr.row))
		dr[i] = sq(gr.origin.add(gr.col.scale(s)).sub(centre).dot(gr.col))
		df[i] = sq(gr.origin.add(normal.scale(s)).sub(centre).dot(normal))
	}
	scaleText, scale := doseScaling(maxDose(d.comps))
	pix := make([]byte, 4*n*n*n)
	o := 0
	for k := range n {
		for r := range n {
			base := df[k] + dr[r]
			for c := range n {
				v := math.Round(doseAt(d.comps, base+dc[c]) / scale)
				binary.LittleEndian.PutUint32(pix[o:], uint32(v))
				o += 4
			}
		}
	}
	st := d.st
	refs := make([]*dicomio.Builder, len(d.planUIDs))
	for i, uid := range d.planUIDs {
		ref := dicomio.NewBuilder().Str(dicomio.TagReferencedSOPClassUID, sopRTPlan).Str(dicomio.TagReferencedSOPInstanceUID, uid)
		if len(d.beams) > 0 {
			beams := make([]*dicomio.Builder, len(d.beams))
			for j, bn := range d.beams {
				beams[j] = dicomio.NewBuilder().IS(dicomio.TagReferencedBeamNumber, bn)
			}
			ref.Seq(dicomio.TagReferencedFractionGroupSequence, dicomio.NewBuilder().
				IS(dicomio.TagReferencedFractionGroupNumber, 1).
				Seq(dicomio.TagReferencedBeamSequence, beams...))
		}
		refs[i] = ref
	}
	b := p.common(dicomio.NewBuilder(), sopRTDose, d.uid, "RTDOSE", st, d.seriesUID, d.number, d.desc, d.date, d.time, "PhantomPlan TPS").
		Str(dicomio.TagContentDate, d.date).
		Str(dicomio.TagContentTime, d.time).
		IS(dicomio.TagInstanceNumber, 1).
		Str(dicomio.TagFrameOfReferenceUID, st.forUID).
		Str(dicomio.TagPositionReferenceIndicator).
		DS(dicomio.TagSliceThickness, gr.spacing).
		DS(dicomio.TagImagePositionPatient, gr.origin.slice()...).
		DS(dicomio.TagImageOrientationPatient, append(gr.row.slice(), gr.col.slice()...)...).
		Ints(dicomio.TagSamplesPerPixel, 1).
		Str(dicomio.TagPhotometricInterpretation, "MONOCHROME2").
		IS(dicomio.TagNumberOfFrames, n).
		Ints(dicomio.TagFrameIncrementPointer, 0x3004, 0x000C).
		Ints(dicomio.TagRows, n).
		Ints(dicomio.TagColumns, n).
		DS(dicomio.TagPixelSpacing, gr.spacing, gr.spacing).
		Ints(dicomio.TagBitsAllocated, 32).
		Ints(dicomio.TagBitsStored, 32).
		Ints(dicomio.TagHighBit, 31).
		Ints(dicomio.TagPixelRepresentation, 0).
		Str(dicomio.TagDoseUnits, "GY").
		Str(dicomio.TagDoseType, "PHYSICAL").
		Str(dicomio.TagDoseComment, d.desc).
		Str(dicomio.TagDoseSummationType, d.summation).
		Seq(dicomio.TagReferencedRTPlanSequence, refs...).
		Str(dicomio.TagGridFrameOffsetVector, joinDS(gr.offsets())).
		Str(dicomio.TagDoseGridScaling, scaleText).
		Str(dicomio.TagTissueHeterogeneityCorrection, "IMAGE").
		PixelData(pix)
	return p.encode(b, sopRTDose, d.uid)
}

func sq(v float64) float64 { return v * v }

// treatmentRecord encodes one RT Beams Treatment Record: one fraction of one plan, every beam
// delivered as planned. The per-beam fraction dose is in the top-level
// CalculatedDoseReferenceSequence (one item per beam, numbered like the beam), which each
// TreatmentSessionBeamSequence item references.
func (g *generator) treatmentRecord(p *patient, rec *rtRecord) ([]byte, error) {
	pl := rec.plan
	st := pl.st
	b := p.common(dicomio.NewBuilder(), sopRTRecord, rec.uid, "RTRECORD", st, rec.seriesUID, rec.number, "Treatment records "+pl.label, rec.date, rec.time, "PhantomTMS").
		IS(dicomio.TagInstanceNumber, rec.instance).
		Str(dicomio.TagContentDate, rec.date).
		Str(dicomio.TagContentTime, rec.time).
		Seq(dicomio.TagReferencedRTPlanSequence, dicomio.NewBuilder().
			Str(dicomio.TagReferencedSOPClassUID, sopRTPlan).
			Str(dicomio.TagReferencedSOPInstanceUID, pl.uid)).
		Seq(dicomio.TagTreatmentMachineSequence, dicomio.NewBuilder().
			Str(dicomio.TagTreatmentMachineName, pl.machine).
			Str(dicomio.TagManufacturer, manufacturer).
			Str(dicomio.TagInstitutionName, institution).
			Str(dicomio.TagManufacturerModelName, "PhantomLinac").
			Str(dicomio.TagDeviceSerialNumber, "SN-"+pl.machine)).
		IS(dicomio.TagReferencedFractionGroupNumber, 1).
		IS(dicomio.TagNumberOfFractionsPlanned, pl.fx).
		Str(dicomio.TagPrimaryDosimeterUnit, "MU")
	if !rec.noTreatmentDate {
		b.Str(dicomio.TagTreatmentDate, rec.date).Str(dicomio.TagTreatmentTime, rec.time)
	}
	calc := make([]*dicomio.Builder, len(pl.beams))
	session := make([]*dicomio.Builder, len(pl.beams))
	for i, bm := range pl.beams {
		calc[i] = dicomio.NewBuilder().
			IS(dicomio.TagCalculatedDoseReferenceNumber, bm.number).
			Str(dicomio.TagCalculatedDoseReferenceDescription, bm.name).
			DS(dicomio.TagCalculatedDoseReferenceDoseValue, bm.doseGy)
		first, last := bm.gantry[0], bm.gantry[len(bm.gantry)-1]
		session[i] = dicomio.NewBuilder().
			IS(dicomio.TagReferencedBeamNumber, bm.number).
			Str(dicomio.TagBeamName, bm.name).
			Str(dicomio.TagBeamType, bm.kind).
			Str(dicomio.TagRadiationType, "PHOTON").
			IS(dicomio.TagNumberOfWedges, 0).
			IS(dicomio.TagNumberOfCompensators, 0).
			IS(dicomio.TagNumberOfBoli, 0).
			IS(dicomio.TagNumberOfBlocks, 0).
			IS(dicomio.TagCurrentFractionNumber, rec.fraction).
			Str(dicomio.TagTreatmentDeliveryType, "TREATMENT").
			Str(dicomio.TagTreatmentTerminationStatus, "NORMAL").
			Str(dicomio.TagTreatmentVerificationStatus, "VERIFIED").
			DS(dicomio.TagSpecifiedPrimaryMeterset, bm.mu).
			DS(dicomio.TagDeliveredPrimaryMeterset, bm.mu).
			IS(dicomio.TagNumberOfControlPoints, 2).
			Seq(dicomio.TagControlPointDeliverySequence,
				deliveredCP(rec, 0, pl.energy, first, 0),
				deliveredCP(rec, max(len(bm.gantry), 2)-1, pl.energy, last, bm.mu)).
			Seq(dicomio.TagReferencedCalculatedDoseReferenceSequence, dicomio.NewBuilder().
				IS(dicomio.TagReferencedCalculatedDoseReferenceNumber, bm.number).
				DS(dicomio.TagCalculatedDoseReferenceDoseValue, bm.doseGy))
	}
	b.Seq(dicomio.TagCalculatedDoseReferenceSequence, calc...).
		Seq(dicomio.TagTreatmentSessionBeamSequence, session...)
	return p.encode(b, sopRTRecord, rec.uid)
}

func deliveredCP(rec *rtRecord, index int, energy, gantry, mu float64) *dicomio.Builder {
	return dicomio.NewBuilder().
		IS(dicomio.TagReferencedControlPointIndex, index).
		Str(dicomio.TagTreatmentControlPointDate, rec.date).
		Str(dicomio.TagTreatmentControlPointTime, rec.time).
		DS(dicomio.TagSpecifiedMeterset, mu).
		DS(dicomio.TagDeliveredMeterset, mu).
		DS(dicomio.TagNominalBeamEnergy, energy).
		DS(dicomio.TagGantryAngle, gantry)
}
