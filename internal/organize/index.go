// Package organize turns a DICOM export into patient courses: it indexes every file (headers
// only), links doses to plans to structure sets to images, groups the objects into treatment
// courses, chooses each course's dose, CT and prescription, lays the courses out on disk and
// accounts for every input file.
package organize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// Entry is one input file and what its header says. Exactly one of Obj and Err is set.
type Entry struct {
	// Path is relative to the input root, with forward slashes.
	Path string `json:"path"`
	// Abs is the absolute path (after resolving an in-root symlink).
	Abs  string  `json:"-"`
	Size int64   `json:"size"`
	Obj  *Object `json:"-"`
	Err  error   `json:"-"`
}

// Object holds the header attributes organisation needs, read once during indexing so no file is
// parsed twice.
type Object struct {
	Kind              rt.Kind
	SOPClassUID       string
	SOPInstanceUID    string
	Modality          string
	TransferSyntax    string
	PatientID         string
	PatientName       string
	BirthDate         string
	Sex               string
	Age               string
	Weight            float64
	Height            float64
	StudyUID          string
	StudyDate         string
	StudyTime         string
	StudyDescription  string
	StudyID           string
	AccessionNumber   string
	SeriesUID         string
	SeriesDate        string
	SeriesTime        string
	SeriesDescription string
	SeriesNumber      int
	AcquisitionDate   string
	ContentDate       string
	ContentTime       string
	InstanceCreation  string
	// InstanceCreationTime pairs with InstanceCreation to order objects made the same day.
	InstanceCreationTime string
	FrameOfReference     string
	InstanceNumber       int
	HasInstanceNumber    bool
	ImagePosition        []float64
	ImageOrientation     []float64
	PixelSpacing         []float64
	SliceThickness       float64
	Rows, Columns        int
	PatientPosition      string
	BodyPart             string
	Manufacturer         string
	Model                string
	Institution          string
	Station              string
	KVP                  float64
	Kernel               string
	ExposureMAs          float64
	TubeCurrent          float64
	ImageType            string
	RescaleSlope         float64
	RescaleIntercept     float64
	Software             string

	Plan   *rt.Plan
	Dose   *rt.Dose
	Struct *rt.StructureSet
	Record *rt.TreatmentRecord
	Reg    *rt.Registration
	// ReferencedPlans holds the RTPLAN references of objects other than doses and records
	// (RT images, for example), used to attach them to a course.
	ReferencedPlans []string
}

// IndexOptions control indexing.
type IndexOptions struct {
	// Workers is the number of parallel header readers (at least 1).
	Workers int
	// Progress, when set, is called after each file with the number done and the total.
	Progress func(done, total int)
}

// Inventory is the result of indexing a root: every file in walk order, plus the directories that
// were deliberately not entered.
type Inventory struct {
	Root    string   `json:"root"`
	Entries []*Entry `json:"entries"`
	// Skipped lists paths not indexed and why (hidden folders, symlinked folders).
	Skipped []SkippedPath `json:"skipped,omitempty"`
}

// SkippedPath is a directory the walk did not enter.
type SkippedPath struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// ErrLinkEscapes marks a symlinked file whose target lies outside the input root.
var ErrLinkEscapes = errors.New("symbolic link points outside the input root")

// Index walks root and reads the header of every file, in parallel, never reading pixel data.
// The result is in lexical path order whatever the worker count.
func Index(ctx context.Context, root string, opt IndexOptions) (*Inventory, error) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	realRoot, err := filepath.EvalSymlinks(absRoot)
	if err != nil {
		return nil, fmt.Errorf("input root %s: %w", root, err)
	}
	st, err := os.Stat(realRoot)
	if err != nil {
		return nil, fmt.Errorf("input root %s: %w", root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("input root %s is not a directory", root)
	}
	inv := &Inventory{Root: absRoot}
	err = filepath.WalkDir(realRoot, func(path string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(realRoot, path)
		rel = filepath.ToSlash(rel)
		if err != nil {
			if d != nil && d.IsDir() && path != realRoot {
				inv.Skipped = append(inv.Skipped, SkippedPath{rel, "unreadable folder: " + err.Error()})
				return fs.SkipDir
			}
			if path == realRoot {
				return err
			}
			inv.Entries = append(inv.Entries, &Entry{Path: rel, Abs: path, Err: err})
			return nil
		}
		if d.IsDir() {
			if path != realRoot && strings.HasPrefix(d.Name(), ".") {
				inv.Skipped = append(inv.Skipped, SkippedPath{rel, "hidden folder not entered"})
				return fs.SkipDir
			}
			return nil
		}
		e := &Entry{Path: rel, Abs: path}
		if d.Type()&fs.ModeSymlink != 0 {
			target, terr := filepath.EvalSymlinks(path)
			if terr == nil {
				if ti, serr := os.Stat(target); serr == nil && ti.IsDir() {
					reason := "symbolic link to a folder not followed"
					if !fsutil.Within(realRoot, target) {
						reason += " (it points outside the input root)"
					}
					inv.Skipped = append(inv.Skipped, SkippedPath{rel, reason})
					return nil
				}
			}
			switch {
			case terr != nil:
				e.Err = fmt.Errorf("broken symbolic link: %w", terr)
			case !fsutil.Within(realRoot, target):
				e.Err = ErrLinkEscapes
			default:
				e.Abs = target
			}
		} else if !d.Type().IsRegular() {
			e.Err = fmt.Errorf("not a regular file (%s)", d.Type())
		}
		inv.Entries = append(inv.Entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].Path < inv.Entries[j].Path })
	if err := readHeaders(ctx, inv.Entries, opt); err != nil {
		return nil, err
	}
	return inv, nil
}

func readHeaders(ctx context.Context, entries []*Entry, opt IndexOptions) error {
	workers := max(opt.Workers, 1)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	total := len(entries)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var reader dicomio.HeaderReader
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				e := entries[i]
				if e.Err == nil {
					e.Obj, e.Size, e.Err = safeReadObject(&reader, e.Abs)
				}
				n := done.Add(1)
				if opt.Progress != nil {
					opt.Progress(int(n), total)
				}
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// safeReadObject is readObject with a panic on hostile input turned into that file's error, so
// one malformed file can never stop the run.
func safeReadObject(reader *dicomio.HeaderReader, path string) (o *Object, size int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			*reader = dicomio.HeaderReader{}
			o, err = nil, fmt.Errorf("malformed file (reader panic: %v)", r)
		}
	}()
	return readObject(reader, path)
}

// readObject reads one file's header and extracts what organisation needs.
func readObject(reader *dicomio.HeaderReader, path string) (*Object, int64, error) {
	f, err := reader.Read(path)
	if err != nil {
		var size int64
		if st, serr := os.Stat(path); serr == nil {
			size = st.Size()
		}
		return nil, size, err
	}
	o := extractObject(f)
	if o.SOPInstanceUID == "" {
		// A DICOMDIR (and some exports) carry the UID only in the file meta information.
		o.SOPInstanceUID = f.Meta.String(dicomio.TagMediaStorageSOPInstanceUID)
	}
	if o.SOPInstanceUID == "" {
		return nil, f.Size, errors.New("DICOM file without SOPInstanceUID (0008,0018)")
	}
	return o, f.Size, nil
}

func extractObject(f *dicomio.File) *Object {
	ds := &f.Dataset
	sopClass := ds.String(dicomio.TagSOPClassUID)
	if sopClass == "" {
		sopClass = f.Meta.String(dicomio.TagMediaStorageSOPClassUID)
	}
	o := &Object{
		SOPClassUID:          sopClass,
		SOPInstanceUID:       ds.String(dicomio.TagSOPInstanceUID),
		Modality:             strings.ToUpper(ds.String(dicomio.TagModality)),
		TransferSyntax:       f.TransferSyntax,
		PatientID:            ds.String(dicomio.TagPatientID),
		PatientName:          ds.String(dicomio.TagPatientName),
		BirthDate:            ds.String(dicomio.TagPatientBirthDate),
		Sex:                  ds.String(dicomio.TagPatientSex),
		Age:                  ds.String(dicomio.TagPatientAge),
		StudyUID:             ds.String(dicomio.TagStudyInstanceUID),
		StudyDate:            ds.String(dicomio.TagStudyDate),
		StudyTime:            ds.String(dicomio.TagStudyTime),
		StudyDescription:     ds.String(dicomio.TagStudyDescription),
		StudyID:              ds.String(dicomio.TagStudyID),
		AccessionNumber:      ds.String(dicomio.TagAccessionNumber),
		SeriesUID:            ds.String(dicomio.TagSeriesInstanceUID),
		SeriesDate:           ds.String(dicomio.TagSeriesDate),
		SeriesTime:           ds.String(dicomio.TagSeriesTime),
		SeriesDescription:    ds.String(dicomio.TagSeriesDescription),
		AcquisitionDate:      ds.String(dicomio.TagAcquisitionDate),
		ContentDate:          ds.String(dicomio.TagContentDate),
		ContentTime:          ds.String(dicomio.TagContentTime),
		InstanceCreation:     ds.String(dicomio.TagInstanceCreationDate),
		InstanceCreationTime: ds.String(dicomio.TagInstanceCreationTime),
		FrameOfReference:     ds.String(dicomio.TagFrameOfReferenceUID),
		ImagePosition:        ds.Floats(dicomio.TagImagePositionPatient),
		ImageOrientation:     ds.Floats(dicomio.TagImageOrientationPatient),
		PixelSpacing:         ds.Floats(dicomio.TagPixelSpacing),
		PatientPosition:      ds.String(dicomio.TagPatientPosition),
		BodyPart:             ds.String(dicomio.TagBodyPartExamined),
		Manufacturer:         ds.String(dicomio.TagManufacturer),
		Model:                ds.String(dicomio.TagManufacturerModelName),
		Institution:          ds.String(dicomio.TagInstitutionName),
		Station:              ds.String(dicomio.TagStationName),
		Kernel:               ds.Text(dicomio.TagConvolutionKernel),
		ImageType:            ds.Text(dicomio.TagImageType),
		Software:             ds.Text(dicomio.TagSoftwareVersions),
	}
	o.Kind = rt.Classify(o.SOPClassUID, o.Modality)
	o.Weight, _ = ds.Float(dicomio.TagPatientWeight)
	o.Height, _ = ds.Float(dicomio.TagPatientSize)
	o.SeriesNumber, _ = ds.Int(dicomio.TagSeriesNumber)
	o.InstanceNumber, o.HasInstanceNumber = ds.Int(dicomio.TagInstanceNumber)
	o.SliceThickness, _ = ds.Float(dicomio.TagSliceThickness)
	o.Rows, _ = ds.Int(dicomio.TagRows)
	o.Columns, _ = ds.Int(dicomio.TagColumns)
	o.KVP, _ = ds.Float(dicomio.TagKVP)
	o.ExposureMAs, _ = ds.Float(dicomio.TagExposure)
	o.TubeCurrent, _ = ds.Float(dicomio.TagXRayTubeCurrent)
	o.RescaleSlope, _ = ds.Float(dicomio.TagRescaleSlope)
	o.RescaleIntercept, _ = ds.Float(dicomio.TagRescaleIntercept)
	switch o.Kind {
	case rt.KindRTPlan:
		o.Plan = rt.ParsePlan(ds)
	case rt.KindRTDose:
		o.Dose = rt.ParseDose(ds)
	case rt.KindRTStruct:
		o.Struct = rt.ParseStructureSet(ds)
	case rt.KindRTRecord:
		o.Record = rt.ParseTreatmentRecord(ds)
		o.Record.Summary = o.SOPClassUID == rt.SOPClassRTTreatmentSummary
	case rt.KindRegistration:
		o.Reg = rt.ParseRegistration(ds)
	default:
		for _, it := range ds.Seq(dicomio.TagReferencedRTPlanSequence) {
			if u := it.String(dicomio.TagReferencedSOPInstanceUID); u != "" {
				o.ReferencedPlans = append(o.ReferencedPlans, u)
			}
		}
	}
	return o
}
