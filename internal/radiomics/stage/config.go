package stage

import (
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rtpipeline/rtpipeline/internal/config"
	"github.com/rtpipeline/rtpipeline/internal/radiomics"
)

// OptionsFromConfig builds the stage options from the configuration: the radiomics section
// (params_file, mr_params_file, skip_rois, min_voxels, max_voxels, roi_timeout_seconds,
// sequential) and custom_structures (for the names of the composite structures). workers is
// the ROI parallelism (1 when radiomics.sequential is true). A parameter file that cannot be
// read or parsed is an error naming it. An MR parameter file without binCount gets binCount 64,
// as the original forces.
func OptionsFromConfig(cfg *config.Config, workers int) (Options, error) {
	r := cfg.Radiomics
	opts := Options{Workers: max(workers, 1), SkipROIs: append([]string(nil), r.SkipROIs...), MinVoxels: r.MinVoxels,
		MaxVoxels: r.MaxVoxels, ROITimeout: time.Duration(r.ROITimeoutSeconds) * time.Second}
	if r.Sequential {
		opts.Workers = 1
	}
	if r.ParamsFile != "" {
		p, err := radiomics.LoadParams(r.ParamsFile)
		if err != nil {
			return opts, fmt.Errorf("radiomics.params_file: %w", err)
		}
		opts.CTParams = p
	}
	if r.MRParamsFile != "" {
		p, err := radiomics.LoadParams(r.MRParamsFile)
		if err != nil {
			return opts, fmt.Errorf("radiomics.mr_params_file: %w", err)
		}
		opts.MRParams = withMRBinCount(p)
	}
	if cfg.CustomStructures != "" {
		names, err := CustomStructureNames(cfg.CustomStructures)
		if err != nil {
			return opts, fmt.Errorf("custom_structures: %w", err)
		}
		opts.CustomStructures = names
	}
	return opts, nil
}

// CustomStructureNames returns the structure names of a custom-structures YAML file
// (custom_structures: [{name: ..., ...}, ...]), in file order.
func CustomStructureNames(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		CustomStructures []struct {
			Name string `yaml:"name"`
		} `yaml:"custom_structures"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	names := []string{}
	for i, s := range doc.CustomStructures {
		if s.Name == "" {
			return nil, fmt.Errorf("%s: custom structure %d has no name", path, i+1)
		}
		names = append(names, s.Name)
	}
	return names, nil
}
