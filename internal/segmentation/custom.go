package segmentation

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// CustomModelFile is the file that describes a custom model inside its folder.
const CustomModelFile = "custom_model.yaml"

// Interfaces of custom models (nnunet.interface).
const (
	InterfaceNnUNetV2            = "nnunetv2"
	InterfaceNnUNetV1            = "nnunetv1"
	InterfaceNnUNetV2ModelFolder = "nnunetv2_modelfolder"
	InterfaceTotalSegmentator    = "totalsegmentator"
	InterfaceMedSAMBoxPrompt     = "medsam_boxprompt"
)

// EnsembleID names an ensemble's output in combine.ordered_networks.
const EnsembleID = "ensemble"

// CustomModel is a parsed custom_models/<dir>/custom_model.yaml (the original pipeline's schema).
// networks, ensemble and combine are accepted at the top level and, as in the original's
// documentation, inside nnunet.
type CustomModel struct {
	// Name names the model and its output folder; default: the folder name.
	Name string `yaml:"name"`
	// Description is free text, copied into the manifest.
	Description string `yaml:"description"`
	// Enabled false skips the model; default true.
	Enabled *bool `yaml:"enabled"`
	// RequiredBodyRegions gate the model on the body regions found in the CT (HEAD_NECK,
	// THORAX, ABDOMEN, PELVIS). Recorded; not evaluated yet (no body-region QC).
	RequiredBodyRegions []string `yaml:"required_body_regions"`
	// MinRegionConfidence is the confidence the regions need (default 0.5). Recorded only.
	MinRegionConfidence *float64 `yaml:"min_region_confidence"`
	// NnUNet holds the predictor settings.
	NnUNet NnUNetSpec `yaml:"nnunet"`
	// Networks are the nnU-Net datasets (tasks) run, label maps and weights.
	Networks []NetworkSpec `yaml:"networks"`
	// Ensemble combines the probabilities of several networks.
	Ensemble *EnsembleSpec `yaml:"ensemble"`
	// Combine sets the precedence between networks producing the same ROI.
	Combine CombineSpec `yaml:"combine"`

	// Dir is the model's folder (absolute); relative paths in the file are taken from it.
	Dir string `yaml:"-"`
	// Digest is the SHA-256 of the file, part of the resume signature.
	Digest string `yaml:"-"`
}

// NnUNetSpec is the nnunet section.
type NnUNetSpec struct {
	// Interface is nnunetv2 (default), nnunetv1, totalsegmentator; nnunetv2_modelfolder and
	// medsam_boxprompt (in-process Python predictors in the original) are refused.
	Interface string `yaml:"interface"`
	// Command is the predictor; default custom_models.nnunet_predict (v2), nnUNet_predict (v1),
	// TotalSegmentator (totalsegmentator).
	Command string `yaml:"command"`
	// Model is the configuration (-c for v2, -m for v1); default 3d_fullres.
	Model string `yaml:"model"`
	// Folds are the folds (-f); default all.
	Folds Folds `yaml:"folds"`
	// Env are environment variables of the predictor; relative paths are taken from the model
	// folder.
	Env map[string]string `yaml:"env"`
	// Networks, Ensemble and Combine may also be given here.
	Networks []NetworkSpec `yaml:"networks"`
	Ensemble *EnsembleSpec `yaml:"ensemble"`
	Combine  CombineSpec   `yaml:"combine"`
}

// NetworkSpec is one nnU-Net network of a custom model.
type NetworkSpec struct {
	// ID is the dataset ID (v2 -d) or task (v1 -t when Task is empty).
	ID Scalar `yaml:"id"`
	// Alias is another name used in ensemble.inputs and combine.ordered_networks.
	Alias Scalar `yaml:"alias"`
	// Archive is a zip of the weights, extracted on first use into nnUNet_results.
	Archive string `yaml:"archive"`
	// Checkpoint is the checkpoint file name (-chk), e.g. checkpoint_final.pth.
	Checkpoint string `yaml:"checkpoint"`
	// SourceDirectory is an unpacked weights folder, copied into nnUNet_results on first use.
	SourceDirectory string `yaml:"source_directory"`
	// DatasetDirectory is the dataset folder under nnUNet_results (v2) or
	// RESULTS_FOLDER/nnUNet/<configuration> (v1), e.g. Dataset603_X or Task603_X.
	DatasetDirectory string `yaml:"dataset_directory"`
	// LabelOrder names the labels: label i of the output is LabelOrder[i-1].
	LabelOrder []string `yaml:"label_order"`
	// Architecture overrides nnunet.model for this network.
	Architecture string `yaml:"architecture"`
	// Trainer (-tr), CascadeTrainer (v1 -ctr) and Plans (-p) override nnU-Net's defaults.
	Trainer        string `yaml:"trainer"`
	CascadeTrainer string `yaml:"cascade_trainer"`
	Plans          string `yaml:"plans"`
	// Folds override nnunet.folds.
	Folds Folds `yaml:"folds"`
	// Task is the v1 task name (-t) or the TotalSegmentator task (-ta).
	Task string `yaml:"task"`
	// PredictArgs are appended to the predictor's arguments.
	PredictArgs []string `yaml:"predict_args"`
	// Env adds environment variables for this network.
	Env map[string]string `yaml:"env"`
	// Prompt belongs to the MedSAM interface (not supported); accepted so files load.
	Prompt any `yaml:"prompt"`
	// Postprocessing (anchor checks, lung confinement, small components) is recorded but not
	// applied.
	Postprocessing map[string]any `yaml:"postprocessing"`
}

// EnsembleSpec is an nnU-Net ensemble of several networks' probabilities.
type EnsembleSpec struct {
	// Command is the ensembler; default nnUNetv2_ensemble (v2) or nnUNet_ensemble (v1).
	Command string `yaml:"command"`
	// Inputs are network IDs or aliases.
	Inputs []Scalar `yaml:"inputs"`
	// PostprocessingJSON is v1's -pp file (relative to the model folder).
	PostprocessingJSON string `yaml:"postprocessing_json"`
	// LabelOrder names the ensemble's labels; default: the first input's.
	LabelOrder []string `yaml:"label_order"`
}

// CombineSpec sets the precedence of networks.
type CombineSpec struct {
	// OrderedNetworks lists network IDs/aliases (and "ensemble"); for an ROI produced by
	// several, the later one wins.
	OrderedNetworks []Scalar `yaml:"ordered_networks"`
}

// Scalar is a YAML scalar read as text (IDs are written both as 603 and "603").
type Scalar string

// UnmarshalYAML accepts any scalar.
func (s *Scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a single value, not a %s", n.Line, kindName(n.Kind))
	}
	*s = Scalar(strings.TrimSpace(n.Value))
	return nil
}

// Folds is a fold list written as a scalar (all, 0) or a sequence ([0, 1, 2]).
type Folds []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (f *Folds) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			*f = nil
			return nil
		}
		*f = strings.Fields(strings.ReplaceAll(n.Value, ",", " "))
		return nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a fold must be a single value", c.Line)
			}
			out = append(out, strings.TrimSpace(c.Value))
		}
		*f = out
		return nil
	}
	return fmt.Errorf("line %d: folds must be a value or a list", n.Line)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "node"
}

// LoadCustomModel reads and checks <dir>/custom_model.yaml. Unknown keys are errors (they are
// usually typos), naming the file and line.
func LoadCustomModel(dir string) (*CustomModel, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(abs, CustomModelFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &CustomModel{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Dir = abs
	sum := sha256.Sum256(data)
	m.Digest = hex.EncodeToString(sum[:])
	if err := m.normalise(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// normalise merges the nnunet-nested sections, fills defaults and checks the model.
func (m *CustomModel) normalise() error {
	if len(m.NnUNet.Networks) > 0 {
		if len(m.Networks) > 0 {
			return errors.New("networks given both at the top level and under nnunet")
		}
		m.Networks = m.NnUNet.Networks
	}
	if m.NnUNet.Ensemble != nil {
		if m.Ensemble != nil {
			return errors.New("ensemble given both at the top level and under nnunet")
		}
		m.Ensemble = m.NnUNet.Ensemble
	}
	if len(m.NnUNet.Combine.OrderedNetworks) > 0 {
		if len(m.Combine.OrderedNetworks) > 0 {
			return errors.New("combine given both at the top level and under nnunet")
		}
		m.Combine = m.NnUNet.Combine
	}
	m.NnUNet.Networks, m.NnUNet.Ensemble, m.NnUNet.Combine = nil, nil, CombineSpec{}
	if strings.TrimSpace(m.Name) == "" {
		m.Name = filepath.Base(m.Dir)
	}
	m.Name = strings.TrimSpace(m.Name)
	if SanitizeROI(m.Name) != m.Name || strings.HasPrefix(m.Name, "_") {
		return fmt.Errorf("name %q cannot be a folder name: use letters, digits, '.', '-' and '_' (not leading)", m.Name)
	}
	if m.NnUNet.Interface == "" {
		m.NnUNet.Interface = InterfaceNnUNetV2
	}
	switch m.NnUNet.Interface {
	case InterfaceNnUNetV2, InterfaceNnUNetV1, InterfaceTotalSegmentator:
	case InterfaceNnUNetV2ModelFolder, InterfaceMedSAMBoxPrompt:
		return fmt.Errorf("nnunet.interface %s is not supported: the original pipeline runs it in-process in Python; export the model as an nnU-Net v2 dataset folder (interface nnunetv2 with dataset_directory) instead", m.NnUNet.Interface)
	default:
		return fmt.Errorf("unknown nnunet.interface %q (want nnunetv2, nnunetv1 or totalsegmentator)", m.NnUNet.Interface)
	}
	if m.NnUNet.Model == "" {
		m.NnUNet.Model = "3d_fullres"
	}
	if len(m.NnUNet.Folds) == 0 {
		m.NnUNet.Folds = Folds{"all"}
	}
	if len(m.Networks) == 0 {
		return errors.New("no networks")
	}
	seen := map[string]int{}
	for i := range m.Networks {
		n := &m.Networks[i]
		if n.ID == "" {
			return fmt.Errorf("networks[%d] has no id", i)
		}
		for _, name := range []Scalar{n.ID, n.Alias} {
			if name == "" {
				continue
			}
			if j, dup := seen[string(name)]; dup && j != i {
				return fmt.Errorf("networks[%d]: id or alias %q is also used by networks[%d]", i, name, j)
			}
			if name == EnsembleID {
				return fmt.Errorf("networks[%d]: %q is reserved for the ensemble", i, name)
			}
			seen[string(name)] = i
		}
		if m.NnUNet.Interface == InterfaceTotalSegmentator {
			if n.Task == "" {
				return fmt.Errorf("networks[%d] (%s): interface totalsegmentator needs task", i, n.ID)
			}
		} else if len(n.LabelOrder) == 0 {
			return fmt.Errorf("networks[%d] (%s) has no label_order", i, n.ID)
		}
		if err := checkLabels(n.LabelOrder); err != nil {
			return fmt.Errorf("networks[%d] (%s): %w", i, n.ID, err)
		}
	}
	if e := m.Ensemble; e != nil {
		if m.NnUNet.Interface == InterfaceTotalSegmentator {
			return errors.New("ensemble needs an nnU-Net interface")
		}
		if len(e.Inputs) < 2 {
			return errors.New("ensemble needs at least two inputs")
		}
		for _, in := range e.Inputs {
			if _, ok := seen[string(in)]; !ok {
				return fmt.Errorf("ensemble input %q names no network", in)
			}
		}
		if e.PostprocessingJSON != "" && m.NnUNet.Interface != InterfaceNnUNetV1 {
			return errors.New("ensemble.postprocessing_json is an nnUNet_ensemble (v1) option; nnUNetv2_ensemble has none")
		}
		if err := checkLabels(e.LabelOrder); err != nil {
			return fmt.Errorf("ensemble: %w", err)
		}
	}
	for _, c := range m.Combine.OrderedNetworks {
		if _, ok := seen[string(c)]; !ok && !(c == EnsembleID && m.Ensemble != nil) {
			return fmt.Errorf("combine.ordered_networks: %q names no network", c)
		}
	}
	return nil
}

// containsFold tells whether list holds s, ignoring case.
func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// checkLabels rejects empty labels and labels that collide once made file-safe.
func checkLabels(labels []string) error {
	seen := map[string]string{}
	for i, l := range labels {
		if strings.TrimSpace(l) == "" {
			return fmt.Errorf("label %d is empty", i+1)
		}
		s := lower(SanitizeROI(l))
		if prev, dup := seen[s]; dup {
			return fmt.Errorf("labels %q and %q collide as file names (%s)", prev, l, SanitizeROI(l))
		}
		seen[s] = l
	}
	return nil
}

// enabled tells whether the model runs.
func (m *CustomModel) enabled() bool { return m.Enabled == nil || *m.Enabled }

// network returns the network with this ID or alias.
func (m *CustomModel) network(name string) *NetworkSpec {
	for i := range m.Networks {
		if string(m.Networks[i].ID) == name || m.Networks[i].Alias != "" && string(m.Networks[i].Alias) == name {
			return &m.Networks[i]
		}
	}
	return nil
}

// ensembleInput tells whether a network feeds the ensemble.
func (m *CustomModel) ensembleInput(n *NetworkSpec) bool {
	if m.Ensemble == nil {
		return false
	}
	for _, in := range m.Ensemble.Inputs {
		if m.network(string(in)) == n {
			return true
		}
	}
	return false
}

// combineOrder lists the sources of ROIs from lowest to highest precedence: network IDs and
// EnsembleID. Default: the networks in file order, without those that only feed the ensemble,
// then the ensemble. An explicit combine.ordered_networks is taken as given, the ensemble
// appended when it is not listed.
func (m *CustomModel) combineOrder() []string {
	var out []string
	if len(m.Combine.OrderedNetworks) > 0 {
		for _, c := range m.Combine.OrderedNetworks {
			if c == EnsembleID {
				out = append(out, EnsembleID)
			} else if n := m.network(string(c)); n != nil {
				out = append(out, string(n.ID))
			}
		}
	} else {
		for i := range m.Networks {
			if !m.ensembleInput(&m.Networks[i]) {
				out = append(out, string(m.Networks[i].ID))
			}
		}
	}
	if m.Ensemble != nil && !contains(out, EnsembleID) {
		out = append(out, EnsembleID)
	}
	return out
}

// runs tells whether a network is run: it is a combine source or feeds the ensemble.
func (m *CustomModel) runs(n *NetworkSpec) bool {
	return contains(m.combineOrder(), string(n.ID)) || m.ensembleInput(n)
}

// labelsOf is the label order of a combine source (a network ID or EnsembleID).
func (m *CustomModel) labelsOf(src string) []string {
	if src == EnsembleID {
		return m.ensembleLabels()
	}
	if n := m.network(src); n != nil {
		return n.LabelOrder
	}
	return nil
}

// ensembleLabels is the ensemble's label order.
func (m *CustomModel) ensembleLabels() []string {
	if len(m.Ensemble.LabelOrder) > 0 {
		return m.Ensemble.LabelOrder
	}
	return m.network(string(m.Ensemble.Inputs[0])).LabelOrder
}

// DiscoverCustomModels lists the model folders under root that hold a custom_model.yaml, by
// folder name, skipping folders whose name starts with "_" or "."; names, when given, keep only
// the models with those names (model name or folder name). A name matching nothing is an error.
func DiscoverCustomModels(root string, names []string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("custom models folder: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || strings.HasPrefix(n, "_") || strings.HasPrefix(n, ".") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, n, CustomModelFile)); err == nil {
			dirs = append(dirs, filepath.Join(root, n))
		}
	}
	sort.Strings(dirs)
	if len(names) == 0 {
		return dirs, nil
	}
	var out []string
	for _, want := range names {
		found := false
		for _, d := range dirs {
			if filepath.Base(d) == want || modelNameOf(d) == want {
				if !contains(out, d) {
					out = append(out, d)
				}
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("custom model %q not found under %s", want, root)
		}
	}
	return out, nil
}

// modelNameOf reads just the name of a model folder's file ("" when unreadable).
func modelNameOf(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, CustomModelFile))
	if err != nil {
		return ""
	}
	var v struct {
		Name string `yaml:"name"`
	}
	if yaml.Unmarshal(data, &v) != nil {
		return ""
	}
	return strings.TrimSpace(v.Name)
}
