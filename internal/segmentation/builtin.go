package segmentation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rtpipeline/rtpipeline/internal/imageio"
	"github.com/rtpipeline/rtpipeline/internal/segmentation/builtin"
)

// BuiltinModel is the model name of the built-in segmenter in file names and manifests.
const BuiltinModel = "builtin"

// NamedImage is one ROI mask returned by a BuiltinFunc.
type NamedImage struct {
	Name string
	Mask *imageio.Image
}

// BuiltinFunc segments a CT in-process; builtinSegment (builtin.Segment) is the default.
type BuiltinFunc func(ctx context.Context, ct *imageio.Image, workers int) ([]NamedImage, error)

// builtinSegment adapts builtin.Segment.
func builtinSegment(ctx context.Context, ct *imageio.Image, workers int) ([]NamedImage, error) {
	res, err := builtin.Segment(ctx, ct, builtin.Options{Workers: workers})
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, errors.New("the built-in segmenter returned no result")
	}
	out := make([]NamedImage, 0, len(res.Masks))
	for _, m := range res.Masks {
		out = append(out, NamedImage{Name: m.Name, Mask: m.Mask})
	}
	return out, nil
}

// Builtin runs the pipeline's own segmenter (internal/segmentation/builtin) and writes its masks
// as builtin--<roi>.nii.gz (uint8, 0/1, on the CT grid). It needs no external program.
type Builtin struct {
	Options
}

// Segment implements Segmenter.
func (b *Builtin) Segment(ctx context.Context, in Input) (Output, error) {
	out := Output{Backend: BackendBuiltin}
	if in.OutDir == "" {
		return out, errors.New("builtin segmentation: no output folder")
	}
	if err := readInput(&in); err != nil {
		return out, err
	}
	key := seriesKey(in.SOPInstanceUIDs)
	sig := signature(BuiltinModel, key)
	if !b.Force {
		if masks := ReadManifest(in.OutDir).complete(in.OutDir, BuiltinModel, sig); masks != nil {
			out.Models = []ModelResult{{Model: BuiltinModel, Masks: masks, Resumed: true, Version: builtinVersion}}
			return out, nil
		}
	}
	head := Manifest{Backend: BackendBuiltin, SourceDir: relTo(filepath.Dir(in.OutDir), in.CTDir), SeriesKey: key}
	res := ModelResult{Model: BuiltinModel, Version: builtinVersion}
	start := time.Now()
	err := b.run(ctx, in, &res)
	res.Duration = time.Since(start)
	if err == nil {
		err = recordModel(in.OutDir, head, ManifestModel{Model: BuiltinModel, Signature: sig, Masks: relMasks(in.OutDir, res.Masks),
			Version: res.Version, CompletedAt: nowUTC(), DurationSec: res.Duration.Seconds()})
	} else {
		recordSkip(in.OutDir, head, BuiltinModel, firstLine(err.Error()))
		err = fmt.Errorf("built-in segmentation: %w", err)
	}
	res.Err = err
	out.Models = []ModelResult{res}
	return out, err
}

// builtinVersion is recorded as the built-in segmenter's version.
const builtinVersion = "rtpipeline-builtin"

func (b *Builtin) run(ctx context.Context, in Input, res *ModelResult) error {
	seg := b.Builtin
	if seg == nil {
		seg = builtinSegment
	}
	masks, err := seg(ctx, in.CTImage, b.threads())
	if err != nil {
		return err
	}
	if len(masks) == 0 {
		return errors.New("the built-in segmenter returned no mask")
	}
	if err := os.MkdirAll(in.OutDir, 0o755); err != nil {
		return err
	}
	if err := clearModelMasks(in.OutDir, BuiltinModel); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, m := range masks {
		if m.Mask == nil || m.Mask.Grid == nil || len(m.Mask.Data) != m.Mask.Grid.Voxels() {
			return fmt.Errorf("mask %q is not an image", m.Name)
		}
		roi := uniqueName(SanitizeROI(m.Name), used)
		bin := &imageio.Image{Grid: m.Mask.Grid, Data: make([]float64, len(m.Mask.Data)), PixelType: "uint8"}
		for i, v := range m.Mask.Data {
			if v != 0 && v == v {
				bin.Data[i] = 1
			}
		}
		p := filepath.Join(in.OutDir, maskName(BuiltinModel, roi))
		if err := imageio.WriteNIfTI(p, bin); err != nil {
			return err
		}
		res.Masks = append(res.Masks, MaskFile{ROI: roi, Path: p})
	}
	sortMasks(res.Masks)
	return nil
}

// uniqueName returns name, or name_2, name_3, … when taken, and marks it used (case-insensitive,
// since masks become files).
func uniqueName(name string, used map[string]bool) string {
	cand := name
	for n := 2; used[lower(cand)]; n++ {
		cand = fmt.Sprintf("%s_%d", name, n)
	}
	used[lower(cand)] = true
	return cand
}
