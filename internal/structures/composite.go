package structures

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"unicode"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// Operation is the Boolean operation that combines the sources of a composite structure.
type Operation string

// Operations of composite structures. Each source entry gives one operand (see
// EvaluateComposites); the margin is applied to the combined result.
const (
	// OpUnion: voxels in any operand.
	OpUnion Operation = "union"
	// OpIntersection: voxels in every operand.
	OpIntersection Operation = "intersection"
	// OpSubtract: voxels of the first operand in none of the others.
	OpSubtract Operation = "subtract"
	// OpXor: voxels in an odd number of operands (for two: in exactly one).
	OpXor Operation = "xor"
)

// Operations lists the valid operations.
var Operations = []Operation{OpUnion, OpIntersection, OpSubtract, OpXor}

// PartialSuffix is appended to the name of a composite built from incomplete sources: a union
// some of whose sources are missing, or any composite using such a partial composite.
const PartialSuffix = "__partial"

// MaxCompositeNameLen bounds composite names so that the name with PartialSuffix still fits a
// DICOM ROIName (LO, 64 characters).
const MaxCompositeNameLen = 64 - len(PartialSuffix)

// SmallCompositeVoxels is the voxel count below which a built composite gets a warning.
const SmallCompositeVoxels = 10

// CompositeDefinition is one composite ("custom") structure: a Boolean operation on source
// structures followed by an optional margin.
type CompositeDefinition struct {
	// Name is the output ROI name (at most MaxCompositeNameLen characters).
	Name string
	// Operation combines the sources; union when empty.
	Operation Operation
	// Sources are ROI or composite names, or glob patterns (*, ?, [...]) matched
	// case-insensitively against them.
	Sources []string
	// Margin is applied to the combined mask (see ApplyMargin).
	Margin Margin
	// Description is free text, kept in the QC record.
	Description string
	// Color is the ROI display colour; {0, 0, 0} lets the writer choose.
	Color [3]uint8
	// Line is the definition's line in its YAML file (0 when not from a file).
	Line int
}

// SourceMask is a structure available to composites: an ROI rasterised on the common grid.
type SourceMask struct {
	// Name is the ROI name.
	Name string
	// Source says where it comes from ("Manual", "AutoRTS", ...).
	Source string
	// Mask is the ROI's mask; an empty mask counts as missing.
	Mask *imageio.Image
}

// SourceUse records which structure a source entry of a composite resolved to.
type SourceUse struct {
	// Requested is the entry as written in the definition (a name or a pattern).
	Requested string `json:"requested"`
	// Name is the ROI or composite used.
	Name string `json:"name"`
	// Source is the ROI's source ("Manual", "AutoRTS", ...) or "composite".
	Source string `json:"source"`
}

// SourceComposite is the Source of a SourceUse that is another composite.
const SourceComposite = "composite"

// CompositeResult is the outcome of one composite definition.
type CompositeResult struct {
	Definition CompositeDefinition
	// OutputName is the name to write: the definition's name, with PartialSuffix when Partial.
	OutputName string
	// Mask is the composite's mask (uint8 0/1 on the sources' grid); nil when Skipped.
	Mask *imageio.Image
	// Partial is set when some sources of a union are missing, or a partial composite is used.
	Partial bool
	// Skipped gives the reason no mask was built ("" when built).
	Skipped string
	// Used lists the structures each source entry resolved to, in order.
	Used []SourceUse
	// Missing lists the source entries that found no non-empty structure.
	Missing []string
	// Voxels and VolumeCC measure the mask.
	Voxels   int
	VolumeCC float64
	// TouchesBorder is set when the mask reaches a face of the image (the structure may be cut
	// by the image edge).
	TouchesBorder bool
	// Warnings are notes on the result (margin clipped by the image, very small result, ...).
	Warnings []string
}

// normName is the loose form of a structure name used when no exact match exists: lower case,
// letters and digits only ("Lung_L", "lung l" and "LUNG-L" are the same).
func normName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// isPattern tells whether a source entry is a glob pattern.
func isPattern(s string) bool { return strings.ContainsAny(s, "*?[") }

// globMatch matches a name against a pattern, case-insensitively.
func globMatch(pattern, name string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(name))
	return ok && err == nil
}

// compositeRef returns the index of the composite (other than self for patterns) that a literal
// source entry names: exact name first, then the loose form; -1 when none.
func compositeRef(defs []CompositeDefinition, entry string) int {
	for j := range defs {
		if defs[j].Name == entry {
			return j
		}
	}
	n := normName(entry)
	for j := range defs {
		if n != "" && normName(defs[j].Name) == n {
			return j
		}
	}
	return -1
}

// dependencies returns, for each definition, the composites its sources refer to.
func dependencies(defs []CompositeDefinition) [][]int {
	deps := make([][]int, len(defs))
	for i, d := range defs {
		seen := map[int]bool{}
		for _, s := range d.Sources {
			if isPattern(s) {
				for j := range defs {
					if j != i && globMatch(s, defs[j].Name) && !seen[j] {
						seen[j] = true
						deps[i] = append(deps[i], j)
					}
				}
				continue
			}
			if j := compositeRef(defs, s); j >= 0 && !seen[j] {
				seen[j] = true
				deps[i] = append(deps[i], j)
			}
		}
		sort.Ints(deps[i])
	}
	return deps
}

// CompositeOrder returns the order in which the definitions must be evaluated so that every
// composite comes after the composites it uses (a source naming another composite, by exact or
// loose name, or a pattern matching its name); among those ready, file order. A cycle (including
// a composite naming itself) is an error that spells the cycle out.
func CompositeOrder(defs []CompositeDefinition) ([]int, error) {
	deps := dependencies(defs)
	// Cycle detection by depth-first search, reporting the first cycle found.
	const (
		white = iota
		grey
		black
	)
	colour := make([]int, len(defs))
	var stack []int
	var cycle []int
	var visit func(i int) bool
	visit = func(i int) bool {
		colour[i] = grey
		stack = append(stack, i)
		for _, j := range deps[i] {
			switch colour[j] {
			case grey:
				for k := len(stack) - 1; k >= 0; k-- {
					if stack[k] == j {
						cycle = append(append([]int{}, stack[k:]...), j)
						break
					}
				}
				return true
			case white:
				if visit(j) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		colour[i] = black
		return false
	}
	for i := range defs {
		if colour[i] == white && visit(i) {
			names := make([]string, len(cycle))
			for k, c := range cycle {
				names[k] = fmt.Sprintf("%q", defs[c].Name)
				if defs[c].Line > 0 && k < len(cycle)-1 {
					names[k] += fmt.Sprintf(" (line %d)", defs[c].Line)
				}
			}
			return nil, fmt.Errorf("composite structures depend on each other in a cycle: %s", strings.Join(names, " → "))
		}
	}
	// Kahn's algorithm, taking the earliest ready definition each time.
	done := make([]bool, len(defs))
	order := make([]int, 0, len(defs))
	for len(order) < len(defs) {
		for i := range defs {
			if done[i] {
				continue
			}
			ready := true
			for _, j := range deps[i] {
				ready = ready && done[j]
			}
			if ready {
				done[i] = true
				order = append(order, i)
				break
			}
		}
	}
	return order, nil
}

// operand is one source entry's resolved voxels.
type operand struct {
	voxels  []bool
	used    []SourceUse
	partial []string // partial composites it includes
}

// EvaluateComposites builds the composites on the grid of the source masks (which must all share
// it) and returns one result per definition, in definition order. Composites are evaluated in
// dependency order (CompositeOrder), so a composite may use another one, whatever their order in
// the file.
//
// Each source entry gives one operand:
//   - A name refers to a composite of that name if there is one (exact, else loose: case and
//     punctuation ignored), otherwise to the source ROIs of that exact name, then of that loose
//     name; among several ROIs (RS.dcm and RS_auto.dcm both holding it), the first non-empty one
//     in the order of sources. A composite that was not built, or ROIs that are all empty or
//     absent, make the entry missing.
//   - A glob pattern (*, ?, [...]; case-insensitive) gives the union of every non-empty
//     structure whose name it matches, composites other than the one being defined included (a
//     composite hides ROIs of the same loose name); it is missing when nothing matches.
//
// Missing entries: a union is built from the entries found and marked Partial (written as
// Name + PartialSuffix); it is skipped only when none is found. Intersection, subtract and xor
// need every entry and are skipped, with the missing entries as the reason. A composite using a
// partial composite is partial too. The margin is then applied (ApplyMargin); an empty result is
// skipped, one under SmallCompositeVoxels voxels gets a warning.
func EvaluateComposites(ctx context.Context, defs []CompositeDefinition, sources []SourceMask, workers int) ([]CompositeResult, error) {
	order, err := CompositeOrder(defs)
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		if d.Operation != "" && !contains(Operations, d.Operation) {
			return nil, fmt.Errorf("composite %q: unknown operation %q", d.Name, d.Operation)
		}
	}
	var g *grid.Grid
	for _, s := range sources {
		if s.Mask == nil || s.Mask.Grid == nil || len(s.Mask.Data) != s.Mask.Grid.Voxels() {
			return nil, fmt.Errorf("source structure %q (%s) has no valid mask", s.Name, s.Source)
		}
		if g == nil {
			g = s.Mask.Grid
			continue
		}
		minSpacing := min(g.Spacing[0], g.Spacing[1], g.Spacing[2])
		if !grid.SameGeometry(g, s.Mask.Grid, 1e-3*minSpacing) {
			return nil, fmt.Errorf("source structure %q (%s) is not on the grid of %q", s.Name, s.Source, sources[0].Name)
		}
	}
	// Source voxel sets, computed once; empty ones are nil.
	srcVox := make([][]bool, len(sources))
	for i, s := range sources {
		v := make([]bool, len(s.Mask.Data))
		any := false
		for k, x := range s.Mask.Data {
			if inMask(x) {
				v[k], any = true, true
			}
		}
		if any {
			srcVox[i] = v
		}
	}
	results := make([]CompositeResult, len(defs))
	built := make([][]bool, len(defs))
	evaluated := make([]bool, len(defs))
	for _, i := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := defs[i]
		if d.Operation == "" {
			d.Operation = OpUnion
		}
		res := &results[i]
		res.Definition = d
		res.OutputName = d.Name
		var ops []operand
		var missingWhy []string
		for _, entry := range d.Sources {
			op, why := resolveEntry(defs, i, entry, sources, srcVox, results, built, evaluated)
			if op == nil {
				res.Missing = append(res.Missing, entry)
				missingWhy = append(missingWhy, why)
				continue
			}
			res.Used = append(res.Used, op.used...)
			if len(op.partial) > 0 {
				res.Partial = true
				res.Warnings = append(res.Warnings, fmt.Sprintf("uses partial composite(s) %s: built from incomplete sources", strings.Join(op.partial, ", ")))
			}
			ops = append(ops, *op)
		}
		evaluated[i] = true
		switch {
		case len(ops) == 0:
			res.Skipped = "no source structure found: " + strings.Join(missingWhy, "; ")
			continue
		case len(res.Missing) > 0 && d.Operation != OpUnion:
			res.Skipped = fmt.Sprintf("%s needs every source; missing: %s", d.Operation, strings.Join(missingWhy, "; "))
			continue
		case len(res.Missing) > 0:
			res.Partial = true
			res.Warnings = append(res.Warnings, "union of the sources found only; missing: "+strings.Join(missingWhy, "; "))
		}
		vox := combine(d.Operation, ops)
		if !d.Margin.IsZero() {
			var warns []string
			vox, warns, err = applyMargin(g, vox, d.Margin, workers)
			if err != nil {
				return nil, fmt.Errorf("composite %q: %w", d.Name, err)
			}
			res.Warnings = append(res.Warnings, warns...)
		}
		n := 0
		for _, b := range vox {
			if b {
				n++
			}
		}
		if n == 0 {
			why := fmt.Sprintf("the %s is empty", d.Operation)
			if !d.Margin.IsZero() {
				why = fmt.Sprintf("the %s with margin %s is empty", d.Operation, d.Margin)
			}
			res.Skipped = why
			continue
		}
		if res.Partial {
			res.OutputName = d.Name + PartialSuffix
		}
		built[i] = vox
		res.Mask = boolImage(g, vox)
		res.Voxels = n
		res.VolumeCC = MaskVolume(res.Mask)
		res.TouchesBorder = touchesBorder(g, vox)
		if n < SmallCompositeVoxels {
			res.Warnings = append(res.Warnings, fmt.Sprintf("only %d voxel(s)", n))
		}
	}
	return results, nil
}

// resolveEntry resolves one source entry of definition self to an operand, or returns nil and
// why it is missing.
func resolveEntry(defs []CompositeDefinition, self int, entry string, sources []SourceMask, srcVox [][]bool,
	results []CompositeResult, built [][]bool, evaluated []bool) (*operand, string) {
	fromComposite := func(j int) *operand {
		op := &operand{voxels: built[j], used: []SourceUse{{Requested: entry, Name: results[j].OutputName, Source: SourceComposite}}}
		if results[j].Partial {
			op.partial = []string{results[j].OutputName}
		}
		return op
	}
	if !isPattern(entry) {
		if j := compositeRef(defs, entry); j >= 0 {
			if j == self || !evaluated[j] {
				// CompositeOrder rules this out; keep the evaluation safe anyway.
				return nil, fmt.Sprintf("%s (composite not evaluated)", entry)
			}
			if built[j] == nil {
				return nil, fmt.Sprintf("%s (composite not built: %s)", entry, results[j].Skipped)
			}
			return fromComposite(j), ""
		}
		found := false
		for _, loose := range []bool{false, true} {
			for k, s := range sources {
				if (!loose && s.Name == entry) || (loose && normName(s.Name) == normName(entry) && normName(entry) != "") {
					found = true
					if srcVox[k] != nil {
						return &operand{voxels: srcVox[k], used: []SourceUse{{Requested: entry, Name: s.Name, Source: s.Source}}}, ""
					}
				}
			}
		}
		if found {
			return nil, fmt.Sprintf("%s (empty: no contour on the image)", entry)
		}
		return nil, fmt.Sprintf("%s (not found)", entry)
	}
	// A pattern: every matching composite, and every matching ROI name not hidden by a
	// composite, each loose name once (the first non-empty ROI in source order).
	op := &operand{}
	var sets [][]bool
	hidden := map[string]bool{}
	for j := range defs {
		hidden[normName(defs[j].Name)] = true
		if j == self || !globMatch(entry, defs[j].Name) || built[j] == nil || !evaluated[j] {
			continue
		}
		c := fromComposite(j)
		op.used = append(op.used, c.used...)
		op.partial = append(op.partial, c.partial...)
		sets = append(sets, built[j])
	}
	taken := map[string]bool{}
	for k, s := range sources {
		key := normName(s.Name)
		if hidden[key] || taken[key] || srcVox[k] == nil || !globMatch(entry, s.Name) {
			continue
		}
		taken[key] = true
		op.used = append(op.used, SourceUse{Requested: entry, Name: s.Name, Source: s.Source})
		sets = append(sets, srcVox[k])
	}
	if len(sets) == 0 {
		return nil, fmt.Sprintf("%s (pattern matched no non-empty structure)", entry)
	}
	op.voxels = make([]bool, len(sets[0]))
	for _, s := range sets {
		for k, b := range s {
			op.voxels[k] = op.voxels[k] || b
		}
	}
	return op, ""
}

// combine applies a Boolean operation to the operands.
func combine(op Operation, ops []operand) []bool {
	out := make([]bool, len(ops[0].voxels))
	switch op {
	case OpIntersection:
		copy(out, ops[0].voxels)
		for _, o := range ops[1:] {
			for k, b := range o.voxels {
				out[k] = out[k] && b
			}
		}
	case OpSubtract:
		copy(out, ops[0].voxels)
		for _, o := range ops[1:] {
			for k, b := range o.voxels {
				out[k] = out[k] && !b
			}
		}
	case OpXor:
		for _, o := range ops {
			for k, b := range o.voxels {
				out[k] = out[k] != b
			}
		}
	default: // union
		for _, o := range ops {
			for k, b := range o.voxels {
				out[k] = out[k] || b
			}
		}
	}
	return out
}
