package structures

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// MaxMarginMM bounds the magnitude of a margin value; larger values are taken for typos.
const MaxMarginMM = 200

// maxDefinitionErrors caps the number of errors reported for one file.
const maxDefinitionErrors = 25

// LoadCompositeDefinitions reads a custom-structures YAML file (see ParseCompositeDefinitions).
func LoadCompositeDefinitions(path string) ([]CompositeDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("custom structures: %w", err)
	}
	return ParseCompositeDefinitions(data, path)
}

// ParseCompositeDefinitions parses and validates custom-structure definitions; name (a file
// path, usually) prefixes the error messages, which give the line and key of every problem
// found (all of them, up to 25, joined).
//
// The document is either a mapping with the single key custom_structures holding a list, or the
// list itself; an empty document or list defines nothing. Each list item is a mapping with:
//
//	name: PTV_eval                # required; at most 55 characters, no backslash
//	operation: union              # union (default), intersection, subtract or xor
//	source_structures: [CTV, GTV] # required: ROI or composite names, or glob patterns
//	margin: 5                     # optional, mm: a number (all directions), or a mapping
//	                              # {anterior, posterior, left, right, superior, inferior,
//	                              #  uniform} (each also with the suffix _mm); directions not
//	                              # given take uniform (default 0); negative values contract
//	description: text             # optional
//	color: [255, 128, 0]          # optional ROI display colour
//
// Unknown keys, wrong types, an unknown operation, too few sources (intersection, subtract and
// xor need two), a source listed twice, two composites with the same name (ignoring case and
// punctuation), margins beyond ±200 mm and dependency cycles are errors.
func ParseCompositeDefinitions(data []byte, name string) ([]CompositeDefinition, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &defParser{file: name}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	list := root
	switch root.Kind {
	case yaml.MappingNode:
		list = nil
		for k := 0; k+1 < len(root.Content); k += 2 {
			key, val := root.Content[k], root.Content[k+1]
			if key.Value != "custom_structures" {
				p.errorf(key, "unknown top-level key %q (the file holds custom_structures: [...])", key.Value)
				continue
			}
			if list != nil {
				p.errorf(key, "custom_structures given twice")
			}
			list = val
		}
		if list == nil && len(p.errs) == 0 {
			p.errorf(root, "no custom_structures key")
		}
	case yaml.SequenceNode:
	case yaml.ScalarNode:
		if root.Tag == "!!null" {
			return nil, nil
		}
		p.errorf(root, "expected custom_structures: [...] or a list of structures, found %q", root.Value)
	default:
		p.errorf(root, "expected custom_structures: [...] or a list of structures")
	}
	var defs []CompositeDefinition
	if list != nil && len(p.errs) == 0 {
		switch {
		case list.Kind == yaml.ScalarNode && list.Tag == "!!null":
		case list.Kind != yaml.SequenceNode:
			p.errorf(list, "custom_structures must be a list of structures")
		default:
			for idx, item := range list.Content {
				if d, ok := p.definition(idx, item); ok {
					defs = append(defs, d)
				}
			}
		}
	}
	// Names must be unique, also loosely (they are matched loosely).
	seen := map[string]CompositeDefinition{}
	for _, d := range defs {
		key := normName(d.Name)
		if prev, dup := seen[key]; dup {
			p.errs = append(p.errs, fmt.Sprintf("%s:%d: composite %q has the name of %q (line %d); names must differ in more than case and punctuation",
				p.file, d.Line, d.Name, prev.Name, prev.Line))
			p.lines = append(p.lines, d.Line)
			continue
		}
		seen[key] = d
	}
	if len(p.errs) == 0 {
		if _, err := CompositeOrder(defs); err != nil {
			p.errs = append(p.errs, fmt.Sprintf("%s: %v", p.file, err))
			p.lines = append(p.lines, math.MaxInt)
		}
	}
	if len(p.errs) > 0 {
		// In file order (errors without a line last).
		idx := make([]int, len(p.errs))
		for i := range idx {
			idx[i] = i
		}
		line := func(i int) int {
			if i < len(p.lines) {
				return p.lines[i]
			}
			return math.MaxInt
		}
		sort.SliceStable(idx, func(a, b int) bool { return line(idx[a]) < line(idx[b]) })
		errs := make([]string, len(idx))
		for k, i := range idx {
			errs[k] = p.errs[i]
		}
		if len(errs) > maxDefinitionErrors {
			errs = append(errs[:maxDefinitionErrors:maxDefinitionErrors], fmt.Sprintf("... and %d more", len(p.errs)-maxDefinitionErrors))
		}
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return defs, nil
}

// defParser collects the errors of one file.
type defParser struct {
	file  string
	errs  []string
	lines []int // line of each error, for sorting
}

func (p *defParser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, fmt.Sprintf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...)))
	p.lines = append(p.lines, n.Line)
}

// definitionKeys are the keys of a structure entry.
var definitionKeys = []string{"name", "operation", "source_structures", "margin", "description", "color"}

// keyHints suggest the right key for common mistakes.
var keyHints = map[string]string{
	"sources": "source_structures", "source": "source_structures", "structures": "source_structures",
	"op": "operation", "operator": "operation", "colour": "color", "margins": "margin", "margin_mm": "margin",
}

func (p *defParser) definition(idx int, item *yaml.Node) (CompositeDefinition, bool) {
	d := CompositeDefinition{Line: item.Line}
	where := fmt.Sprintf("custom_structures[%d]", idx)
	if item.Kind != yaml.MappingNode {
		p.errorf(item, "%s: expected a mapping with name, operation, source_structures, ...", where)
		return d, false
	}
	before := len(p.errs)
	// The name first, so that every message names the structure.
	for k := 0; k+1 < len(item.Content); k += 2 {
		if key, val := item.Content[k], item.Content[k+1]; key.Value == "name" && val.Kind == yaml.ScalarNode && strings.TrimSpace(val.Value) != "" {
			where = fmt.Sprintf("%s %q", where, strings.TrimSpace(val.Value))
			break
		}
	}
	fields := map[string]*yaml.Node{}
	for k := 0; k+1 < len(item.Content); k += 2 {
		key, val := item.Content[k], item.Content[k+1]
		if !contains(definitionKeys, key.Value) {
			hint := ""
			if h, ok := keyHints[strings.ToLower(key.Value)]; ok {
				hint = fmt.Sprintf("; did you mean %q?", h)
			}
			p.errorf(key, "%s: unknown key %q (allowed: %s)%s", where, key.Value, strings.Join(definitionKeys, ", "), hint)
			continue
		}
		if _, dup := fields[key.Value]; dup {
			p.errorf(key, "%s: key %q given twice", where, key.Value)
			continue
		}
		fields[key.Value] = val
	}
	// name
	if n, ok := fields["name"]; !ok {
		p.errorf(item, "%s: no name", where)
	} else if s, ok := p.text(n, where+": name"); ok {
		d.Name = strings.TrimSpace(s)
		switch {
		case d.Name == "":
			p.errorf(n, "%s: name is empty", where)
		case len(d.Name) > MaxCompositeNameLen:
			p.errorf(n, "%s: name has %d characters; at most %d (so that the name with %s fits a DICOM ROI name)", where, len(d.Name), MaxCompositeNameLen, PartialSuffix)
		case strings.HasSuffix(d.Name, PartialSuffix):
			p.errorf(n, "%s: name must not end in %s (added when sources are missing)", where, PartialSuffix)
		case strings.ContainsRune(d.Name, '\\') || strings.IndexFunc(d.Name, unicode.IsControl) >= 0:
			p.errorf(n, "%s: name must not contain a backslash or control characters", where)
		}
	}
	// operation
	d.Operation = OpUnion
	if n, ok := fields["operation"]; ok {
		if s, ok := p.text(n, where+": operation"); ok {
			op := Operation(strings.ToLower(strings.TrimSpace(s)))
			if !contains(Operations, op) {
				p.errorf(n, "%s: unknown operation %q (use union, intersection, subtract or xor)", where, s)
			} else {
				d.Operation = op
			}
		}
	}
	// source_structures
	if n, ok := fields["source_structures"]; !ok {
		p.errorf(item, "%s: no source_structures", where)
	} else if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: source_structures must be a list, e.g. [%s]", where, n.Value)
	} else {
		seen := map[string]int{}
		for _, s := range n.Content {
			v, ok := p.text(s, where+": source_structures")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			key := v
			if !isPattern(v) {
				key = normName(v)
			}
			switch {
			case v == "":
				p.errorf(s, "%s: empty source structure name", where)
				continue
			case isPattern(v):
				if _, err := pathMatchCheck(v); err != nil {
					p.errorf(s, "%s: bad pattern %q: %v", where, v, err)
					continue
				}
			}
			if line, dup := seen[key]; dup {
				p.errorf(s, "%s: source %q listed twice (also line %d)", where, v, line)
				continue
			}
			seen[key] = s.Line
			d.Sources = append(d.Sources, v)
		}
		need := 1
		if d.Operation != OpUnion {
			need = 2
		}
		if len(d.Sources) < need && len(p.errs) == before {
			p.errorf(n, "%s: %s needs at least %d source structure(s), found %d", where, d.Operation, need, len(d.Sources))
		}
	}
	// margin
	if n, ok := fields["margin"]; ok {
		d.Margin = p.margin(n, where)
	}
	// description
	if n, ok := fields["description"]; ok {
		if s, ok := p.text(n, where+": description"); ok {
			d.Description = s
		}
	}
	// color
	if n, ok := fields["color"]; ok {
		if n.Kind != yaml.SequenceNode || len(n.Content) != 3 {
			p.errorf(n, "%s: color must be a list of three integers 0–255, e.g. [255, 128, 0]", where)
		} else {
			for c, v := range n.Content {
				x, err := strconv.Atoi(v.Value)
				if v.Kind != yaml.ScalarNode || err != nil || x < 0 || x > 255 {
					p.errorf(v, "%s: color component %q is not an integer 0–255", where, v.Value)
					continue
				}
				d.Color[c] = uint8(x)
			}
		}
	}
	return d, len(p.errs) == before
}

// text returns a scalar's value; null and non-scalars are errors.
func (p *defParser) text(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s: expected a text value", what)
		return "", false
	}
	return n.Value, true
}

// number returns a scalar's numeric value.
func (p *defParser) number(n *yaml.Node, what string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		p.errorf(n, "%s: expected a number of mm, found %q", what, n.Value)
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.errorf(n, "%s: %q is not a finite number", what, n.Value)
		return 0, false
	}
	if math.Abs(v) > MaxMarginMM {
		p.errorf(n, "%s: %g mm is beyond ±%d mm", what, v, MaxMarginMM)
		return 0, false
	}
	return v, true
}

// marginDirections are the direction keys of a margin mapping, in Margin field order.
var marginDirections = []string{"anterior", "posterior", "left", "right", "superior", "inferior"}

// margin parses a margin: a number, or a mapping of directions (see ParseCompositeDefinitions).
func (p *defParser) margin(n *yaml.Node, where string) Margin {
	what := where + ": margin"
	if n.Kind == yaml.ScalarNode {
		v, _ := p.number(n, what)
		return UniformMargin(v)
	}
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		p.errorf(n, "%s: expected a number of mm or a mapping {anterior, posterior, left, right, superior, inferior, uniform}", what)
		return Margin{}
	}
	vals := map[string]float64{}
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := n.Content[k], n.Content[k+1]
		dir := strings.TrimSuffix(strings.ToLower(key.Value), "_mm")
		if dir != "uniform" && !contains(marginDirections, dir) {
			p.errorf(key, "%s: unknown direction %q (use anterior, posterior, left, right, superior, inferior or uniform, in mm; optionally with the suffix _mm)", what, key.Value)
			continue
		}
		if _, dup := vals[dir]; dup {
			p.errorf(key, "%s: direction %q given twice", what, dir)
			continue
		}
		if v, ok := p.number(val, what+"."+key.Value); ok {
			vals[dir] = v
		}
	}
	u := vals["uniform"]
	get := func(dir string) float64 {
		if v, ok := vals[dir]; ok {
			return v
		}
		return u
	}
	return Margin{Anterior: get("anterior"), Posterior: get("posterior"), Left: get("left"), Right: get("right"),
		Superior: get("superior"), Inferior: get("inferior")}
}

// pathMatchCheck validates a glob pattern.
func pathMatchCheck(pattern string) (bool, error) { return path.Match(pattern, "") }

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
