package qc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/rtpipeline/rtpipeline/internal/dicomio"
	"github.com/rtpipeline/rtpipeline/internal/fsutil"
	"github.com/rtpipeline/rtpipeline/internal/rt"
)

// caseMeta is the part of organize's metadata/case_metadata.json the checks read.
type caseMeta struct {
	PatientID string `json:"patient_id"`
	CourseID  string `json:"course_id"`
	Patient   struct {
		Name      string `json:"name"`
		BirthDate string `json:"birth_date"`
	} `json:"patient"`
	DoseSelection struct {
		Decision       string   `json:"decision"`
		Reason         string   `json:"reason"`
		SourceDoseUIDs []string `json:"source_dose_uids"`
		PlanUIDs       []string `json:"plan_uids"`
	} `json:"dose_selection"`
	DoseGrid *struct {
		SOPInstanceUID string `json:"sop_instance_uid"`
	} `json:"dose_grid"`
	CT struct {
		SeriesUID  string `json:"series_instance_uid"`
		FrameOfRef string `json:"frame_of_reference_uid"`
		Slices     int    `json:"slices"`
	} `json:"ct"`
	Files struct {
		CTDir string `json:"ct_dir"`
		RP    string `json:"rp"`
		RD    string `json:"rd"`
		RS    string `json:"rs"`
	} `json:"files"`
}

// identity is the patient module of one object.
type identity struct {
	ID, Name, BirthDate string
}

func identityOf(ds *dicomio.Dataset) identity {
	return identity{ID: ds.String(dicomio.TagPatientID), Name: ds.Text(dicomio.TagPatientName), BirthDate: ds.String(dicomio.TagPatientBirthDate)}
}

// object is one RT file of the course, read header only (an RTSTRUCT has no pixel data, so its
// header is the whole file).
type object struct {
	rel    string // path relative to the course folder, with forward slashes
	exists bool
	f      *dicomio.File
	err    error // read error of an existing file
}

func (o *object) ok() bool { return o != nil && o.exists && o.err == nil && o.f != nil }

func (o *object) str(t dicomio.Tag) string {
	if !o.ok() {
		return ""
	}
	return o.f.String(t)
}

func readObject(dir, rel string) *object {
	o := &object{rel: rel}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return o
	}
	o.exists = true
	o.f, o.err = dicomio.ReadHeader(p)
	return o
}

// structSource is a structure set of the course with its contours.
type structSource struct {
	*object
	source string // Manual, AutoRTS or Custom
	hdr    *rt.StructureSet
	file   *rt.StructureSetFile
	// contourErr is the error reading the contours (the header may still be fine).
	contourErr error
}

// Structure-set sources, in the order the report lists them.
const (
	sourceManual  = "Manual"
	sourceAutoRTS = "AutoRTS"
	sourceCustom  = "Custom"
)

// ctSlice is the header of one file of the CT folder.
type ctSlice struct {
	rel        string
	err        error
	sopClass   string
	modality   string
	sopUID     string
	seriesUID  string
	frameOfRef string
	ipp, iop   []float64
	ps         []float64
	rows, cols int
	frames     int
	thickness  float64
	hasThick   bool
	id         identity
	pos        float64 // position along the slice normal (set by the CT checks)
}

// course is everything the checks read, loaded once.
type course struct {
	dir       string
	organized string // content of .organized ("" when absent)
	meta      *caseMeta
	metaErr   error
	metaExist bool

	ctDir     string // relative
	ctDirErr  error
	ct        []*ctSlice
	structs   []*structSource // present structure sets (RS.dcm first)
	rs        *structSource   // RS.dcm (nil when absent)
	rsMissing bool
	plan      *object
	dose      *object
	// others are the remaining course RT objects (DICOM/RTSTRUCT|RTPLAN|RTDOSE|RTRECORD), header
	// only, for the identity check and the dose bookkeeping.
	others []*object
}

// load reads the course. Missing or unreadable files are recorded, never fatal.
func load(ctx context.Context, dir string, workers int) (*course, error) {
	c := &course{dir: dir, ctDir: "DICOM/CT"}
	if data, err := os.ReadFile(filepath.Join(dir, ".organized")); err == nil {
		c.organized = strings.TrimSpace(string(data))
	}
	metaPath := filepath.Join(dir, "metadata", "case_metadata.json")
	if data, err := os.ReadFile(metaPath); err == nil {
		c.metaExist = true
		var m caseMeta
		if err := json.Unmarshal(data, &m); err != nil {
			c.metaErr = err
		} else {
			c.meta = &m
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		c.metaExist, c.metaErr = true, err
	}
	rel := func(given, def string) string {
		if given == "" {
			return def
		}
		given = filepath.ToSlash(filepath.Clean(filepath.FromSlash(given)))
		if !fsutil.Within(dir, filepath.Join(dir, filepath.FromSlash(given))) {
			return def
		}
		return given
	}
	rpRel, rdRel, rsRel := "RP.dcm", "RD.dcm", "RS.dcm"
	if c.meta != nil {
		c.ctDir = rel(c.meta.Files.CTDir, c.ctDir)
		rpRel, rdRel, rsRel = rel(c.meta.Files.RP, rpRel), rel(c.meta.Files.RD, rdRel), rel(c.meta.Files.RS, rsRel)
	}
	if err := c.loadCT(ctx, workers); err != nil {
		return nil, err
	}
	c.plan = readObject(dir, rpRel)
	c.dose = readObject(dir, rdRel)
	for _, s := range []struct{ rel, source string }{{rsRel, sourceManual}, {"RS_auto.dcm", sourceAutoRTS}, {"RS_custom.dcm", sourceCustom}} {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		o := readObject(dir, s.rel)
		if !o.exists {
			if s.source == sourceManual {
				c.rsMissing = true
			}
			continue
		}
		src := &structSource{object: o, source: s.source}
		if o.ok() {
			if k := rt.Classify(o.f.String(dicomio.TagSOPClassUID), o.f.String(dicomio.TagModality)); k != rt.KindRTStruct {
				src.contourErr = fmt.Errorf("%s is %s, not an RTSTRUCT", o.rel, k)
			} else {
				src.hdr = rt.ParseStructureSet(&o.f.Dataset)
				src.file, src.contourErr = rt.ReadStructureSetFile(filepath.Join(dir, filepath.FromSlash(o.rel)))
			}
		}
		c.structs = append(c.structs, src)
		if s.source == sourceManual {
			c.rs = src
		}
	}
	for _, sub := range []string{"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD"} {
		files, _ := filepath.Glob(filepath.Join(dir, "DICOM", sub, "*"))
		sort.Strings(files)
		for _, f := range files {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r, _ := filepath.Rel(dir, f)
			if o := readObject(dir, filepath.ToSlash(r)); o.exists {
				c.others = append(c.others, o)
			}
		}
	}
	return c, nil
}

// loadCT reads the headers of every regular file of the CT folder with workers goroutines.
func (c *course) loadCT(ctx context.Context, workers int) error {
	entries, err := os.ReadDir(filepath.Join(c.dir, filepath.FromSlash(c.ctDir)))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.ctDirErr = err
		}
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	c.ct = make([]*ctSlice, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(workers, len(names))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hr dicomio.HeaderReader
			for i := range next {
				c.ct[i] = readCTSlice(&hr, c.dir, c.ctDir+"/"+names[i])
			}
		}()
	}
	for i := range names {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return ctx.Err()
}

func readCTSlice(hr *dicomio.HeaderReader, dir, rel string) *ctSlice {
	s := &ctSlice{rel: rel}
	f, err := hr.Read(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		s.err = err
		return s
	}
	// Strings and numbers decoded from f are copies, so nothing refers to the reused buffer.
	s.sopClass = f.String(dicomio.TagSOPClassUID)
	s.modality = f.String(dicomio.TagModality)
	s.sopUID = f.String(dicomio.TagSOPInstanceUID)
	s.seriesUID = f.String(dicomio.TagSeriesInstanceUID)
	s.frameOfRef = f.String(dicomio.TagFrameOfReferenceUID)
	s.ipp = f.Floats(dicomio.TagImagePositionPatient)
	s.iop = f.Floats(dicomio.TagImageOrientationPatient)
	s.ps = f.Floats(dicomio.TagPixelSpacing)
	s.rows, _ = f.Int(dicomio.TagRows)
	s.cols, _ = f.Int(dicomio.TagColumns)
	s.frames = 1
	if n, ok := f.Int(dicomio.TagNumberOfFrames); ok {
		s.frames = n
	}
	s.thickness, s.hasThick = f.Float(dicomio.TagSliceThickness)
	s.id = identityOf(&f.Dataset)
	return s
}

// patientCourse returns the patient and course ids: from the metadata, else the folder names.
func (c *course) patientCourse() (string, string) {
	if c.meta != nil && c.meta.PatientID != "" && c.meta.CourseID != "" {
		return c.meta.PatientID, c.meta.CourseID
	}
	abs, err := filepath.Abs(c.dir)
	if err != nil {
		abs = c.dir
	}
	return filepath.Base(filepath.Dir(abs)), filepath.Base(abs)
}

// readableCT returns the CT files that could be read.
func (c *course) readableCT() []*ctSlice {
	var out []*ctSlice
	for _, s := range c.ct {
		if s != nil && s.err == nil {
			out = append(out, s)
		}
	}
	return out
}
