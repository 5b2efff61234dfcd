package structures

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/rtpipeline/rtpipeline/internal/grid"
	"github.com/rtpipeline/rtpipeline/internal/imageio"
)

// lens returns the volume (mm³) of the intersection of two spheres of radius r at distance d.
func lens(r, d float64) float64 { return math.Pi * (4*r + d) * (2*r - d) * (2*r - d) / 12 }

func sphereVol(r float64) float64 { return 4 * math.Pi / 3 * r * r * r }

// TestCompositeBooleanVolumes: union, intersection, subtract and xor of analytic shapes give
// exactly the voxels of the Boolean combination of the shapes, and volumes within 2 % of the
// analytic ones.
func TestCompositeBooleanVolumes(t *testing.T) {
	g := testGrid([3]int{61, 41, 41}, [3]float64{1, 1, 1}, axial)
	const r, d = 12.0, 10.0
	ca, cb, cc := grid.Vec{-d / 2, 0.3, 0.2}, grid.Vec{d / 2, 0.3, 0.2}, grid.Vec{0, 6, 0.2}
	inA, inB, inC := sphere(ca, r), sphere(cb, r), sphere(cc, 8)
	sources := []SourceMask{
		{Name: "A", Source: SourceManual, Mask: shapeMask(g, inA)},
		{Name: "B", Source: SourceManual, Mask: shapeMask(g, inB)},
		{Name: "C", Source: SourceAutoRTS, Mask: shapeMask(g, inC)},
	}
	cases := []struct {
		name    string
		op      Operation
		sources []string
		inside  func(p grid.Vec) bool
		volume  float64 // analytic mm³; 0: not checked
	}{
		{"union", OpUnion, []string{"A", "B"}, func(p grid.Vec) bool { return inA(p) || inB(p) }, 2*sphereVol(r) - lens(r, d)},
		{"intersection", OpIntersection, []string{"A", "B"}, func(p grid.Vec) bool { return inA(p) && inB(p) }, lens(r, d)},
		{"subtract", OpSubtract, []string{"A", "B"}, func(p grid.Vec) bool { return inA(p) && !inB(p) }, sphereVol(r) - lens(r, d)},
		{"xor", OpXor, []string{"A", "B"}, func(p grid.Vec) bool { return inA(p) != inB(p) }, 2*sphereVol(r) - 2*lens(r, d)},
		{"subtract2", OpSubtract, []string{"A", "B", "C"}, func(p grid.Vec) bool { return inA(p) && !inB(p) && !inC(p) }, 0},
		{"xor3", OpXor, []string{"A", "B", "C"}, func(p grid.Vec) bool { return (inA(p) != inB(p)) != inC(p) }, 0},
		{"intersection3", OpIntersection, []string{"a", "b", "c"}, func(p grid.Vec) bool { return inA(p) && inB(p) && inC(p) }, 0},
		{"pattern", OpUnion, []string{"[ab]"}, func(p grid.Vec) bool { return inA(p) || inB(p) }, 0},
	}
	var defs []CompositeDefinition
	for _, c := range cases {
		defs = append(defs, CompositeDefinition{Name: c.name, Operation: c.op, Sources: c.sources})
	}
	results, err := EvaluateComposites(context.Background(), defs, sources, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		res := results[i]
		if res.Mask == nil || res.Partial || res.OutputName != c.name {
			t.Fatalf("%s: not built: %+v", c.name, res)
		}
		want := shapeMask(g, c.inside)
		if Dice(want, res.Mask) != 1 || res.Voxels != count(want) {
			t.Errorf("%s: %d voxels, want exactly the %d of the shapes' %s", c.name, res.Voxels, count(want), c.op)
		}
		if c.volume > 0 {
			if rel := res.VolumeCC/(c.volume/1000) - 1; math.Abs(rel) > 0.02 {
				t.Errorf("%s: %.3f cc, analytic %.3f cc (%+.2f%%)", c.name, res.VolumeCC, c.volume/1000, 100*rel)
			}
		}
		if len(res.Used) == 0 || len(res.Missing) != 0 {
			t.Errorf("%s: used %v, missing %v", c.name, res.Used, res.Missing)
		}
	}
	// Loose names resolve ("a" → "A"); the pattern used both spheres.
	if u := results[6].Used; len(u) != 3 || u[0].Name != "A" || u[2].Source != SourceAutoRTS {
		t.Errorf("intersection3 used %+v", u)
	}
	if u := results[7].Used; len(u) != 2 || u[0].Requested != "[ab]" {
		t.Errorf("pattern used %+v", u)
	}
}

// TestCompositeMarginOnResult: the margin applies to the combined mask and a contraction that
// removes everything skips the composite.
func TestCompositeMarginOnResult(t *testing.T) {
	g := testGrid([3]int{41, 41, 41}, [3]float64{1, 1, 3}, axial)
	src := []SourceMask{{Name: "CTV", Source: SourceManual, Mask: shapeMask(g, sphere(grid.Vec{}, 15))}}
	defs := []CompositeDefinition{
		{Name: "PTV", Sources: []string{"CTV"}, Margin: Margin{Anterior: 7, Posterior: 5, Left: 5, Right: 5, Superior: 10, Inferior: 10}},
		{Name: "shrunk", Sources: []string{"CTV"}, Margin: UniformMargin(-20)},
	}
	res, err := EvaluateComposites(context.Background(), defs, src, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := ApplyMargin(src[0].Mask, defs[0].Margin, 1)
	if Dice(want, res[0].Mask) != 1 {
		t.Errorf("PTV differs from the margin applied to CTV")
	}
	if res[1].Mask != nil || !strings.Contains(res[1].Skipped, "empty") {
		t.Errorf("over-contracted composite: %+v", res[1].Skipped)
	}
}

// TestCompositeDependencyOrder: composites may use composites defined later in the file, by
// name (exact or loose) or by pattern; evaluation follows the dependencies, ties in file order.
func TestCompositeDependencyOrder(t *testing.T) {
	defs := []CompositeDefinition{
		{Name: "ring", Operation: OpSubtract, Sources: []string{"outer", "inner"}},
		{Name: "outer", Sources: []string{"CTV"}, Margin: UniformMargin(5)},
		{Name: "Inner", Sources: []string{"CTV"}},
		{Name: "all_rings", Sources: []string{"ring*"}},
		{Name: "independent", Sources: []string{"CTV"}},
	}
	order, err := CompositeOrder(defs)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for p, i := range order {
		pos[defs[i].Name] = p
	}
	if !(pos["outer"] < pos["ring"] && pos["Inner"] < pos["ring"] && pos["ring"] < pos["all_rings"]) {
		t.Errorf("order %v", order)
	}
	if want := []int{1, 2, 0, 3, 4}; !equalInts(order, want) {
		t.Errorf("order %v, want %v (dependencies first, else file order)", order, want)
	}
	g := testGrid([3]int{31, 31, 31}, [3]float64{1, 1, 1}, axial)
	src := []SourceMask{{Name: "CTV", Source: SourceManual, Mask: shapeMask(g, sphere(grid.Vec{}, 6))}}
	res, err := EvaluateComposites(context.Background(), defs, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	outer, _, _ := ApplyMargin(src[0].Mask, UniformMargin(5), 1)
	wantRing := count(outer) - count(src[0].Mask)
	if res[0].Voxels != wantRing || res[3].Voxels != wantRing {
		t.Errorf("ring %d voxels, all_rings %d, want %d", res[0].Voxels, res[3].Voxels, wantRing)
	}
	if u := res[0].Used; len(u) != 2 || u[0].Source != SourceComposite || u[1].Name != "Inner" {
		t.Errorf("ring used %+v", u)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCompositeCycle: a dependency cycle, or a composite using itself, is an error spelling the
// cycle out with its lines.
func TestCompositeCycle(t *testing.T) {
	cases := []struct {
		defs []CompositeDefinition
		want string
	}{
		{[]CompositeDefinition{
			{Name: "A", Sources: []string{"B", "CTV"}, Line: 2},
			{Name: "B", Sources: []string{"C"}, Line: 6},
			{Name: "C", Sources: []string{"a"}, Line: 9},
		}, `"A" (line 2) → "B" (line 6) → "C" (line 9) → "A"`},
		{[]CompositeDefinition{{Name: "self", Sources: []string{"self"}, Line: 3}}, `"self" (line 3) → "self"`},
		{[]CompositeDefinition{
			{Name: "X_1", Sources: []string{"Y*"}, Line: 2},
			{Name: "Y_1", Sources: []string{"X*"}, Line: 5},
		}, `"X_1" (line 2) → "Y_1" (line 5) → "X_1"`},
	}
	for _, c := range cases {
		_, err := CompositeOrder(c.defs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one naming %s", err, c.want)
		}
		if _, err := EvaluateComposites(context.Background(), c.defs, nil, 1); err == nil {
			t.Errorf("EvaluateComposites accepted a cycle")
		}
	}
}

// TestCompositePartial: a union with missing (absent or empty) sources is built from the rest
// and named __partial; other operations are skipped with the reason; composites using a partial
// composite are partial too; a union with nothing found is skipped.
func TestCompositePartial(t *testing.T) {
	g := testGrid([3]int{31, 31, 31}, [3]float64{1, 1, 1}, axial)
	empty := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels())}
	src := []SourceMask{
		{Name: "Bladder", Source: SourceManual, Mask: shapeMask(g, sphere(grid.Vec{0, 0, 0}, 5))},
		{Name: "Rectum", Source: SourceManual, Mask: empty},
		{Name: "rectum", Source: SourceAutoRTS, Mask: empty},
		{Name: "Bowel", Source: SourceAutoRTS, Mask: shapeMask(g, sphere(grid.Vec{0, 8, 0}, 4))},
	}
	defs := []CompositeDefinition{
		{Name: "OARs", Sources: []string{"Bladder", "Rectum", "Sigmoid"}},
		{Name: "overlap", Operation: OpIntersection, Sources: []string{"Bladder", "Sigmoid"}},
		{Name: "minus", Operation: OpSubtract, Sources: []string{"Bladder", "Rectum"}},
		{Name: "xor", Operation: OpXor, Sources: []string{"Bladder", "Bowel"}},
		{Name: "OARs_plus", Sources: []string{"OARs", "Bowel"}, Margin: UniformMargin(2)},
		{Name: "nothing", Sources: []string{"Sigmoid", "Rectum"}},
		{Name: "uses_nothing", Sources: []string{"nothing"}},
	}
	res, err := EvaluateComposites(context.Background(), defs, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]CompositeResult{}
	for _, r := range res {
		byName[r.Definition.Name] = r
	}
	oars := byName["OARs"]
	if oars.Mask == nil || !oars.Partial || oars.OutputName != "OARs__partial" || !equalStrings(oars.Missing, []string{"Rectum", "Sigmoid"}) ||
		oars.Voxels != count(src[0].Mask) {
		t.Errorf("OARs: %+v", oars)
	}
	if !strings.Contains(strings.Join(oars.Warnings, " "), "Rectum (empty") {
		t.Errorf("OARs warnings %q", oars.Warnings)
	}
	for _, n := range []string{"overlap", "minus"} {
		r := byName[n]
		if r.Mask != nil || !strings.Contains(r.Skipped, "needs every source") {
			t.Errorf("%s: %q", n, r.Skipped)
		}
	}
	if r := byName["xor"]; r.Mask == nil || r.Partial {
		t.Errorf("xor: %+v", r.Skipped)
	}
	if r := byName["OARs_plus"]; r.Mask == nil || !r.Partial || r.OutputName != "OARs_plus__partial" {
		t.Errorf("OARs_plus: partial %v name %q", r.Partial, r.OutputName)
	} else if u := r.Used; len(u) != 2 || u[0].Name != "OARs__partial" || u[0].Source != SourceComposite {
		t.Errorf("OARs_plus used %+v", u)
	}
	if r := byName["nothing"]; r.Mask != nil || !strings.Contains(r.Skipped, "no source structure found") {
		t.Errorf("nothing: %q", r.Skipped)
	}
	if r := byName["uses_nothing"]; r.Mask != nil || !strings.Contains(r.Skipped, "composite not built") {
		t.Errorf("uses_nothing: %q", r.Skipped)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCompositeSourcePriority: an exact name beats a loose one; among sources of the same name
// the first non-empty (Manual before AutoRTS) is used.
func TestCompositeSourcePriority(t *testing.T) {
	g := testGrid([3]int{21, 21, 21}, [3]float64{1, 1, 1}, axial)
	empty := &imageio.Image{Grid: g, Data: make([]float64, g.Voxels())}
	small, big := shapeMask(g, sphere(grid.Vec{}, 3)), shapeMask(g, sphere(grid.Vec{}, 6))
	src := []SourceMask{
		{Name: "Liver", Source: SourceManual, Mask: empty},
		{Name: "liver", Source: SourceAutoRTS, Mask: big},
		{Name: "Heart", Source: SourceManual, Mask: small},
		{Name: "heart", Source: SourceAutoRTS, Mask: big},
		{Name: "HEART", Source: SourceAutoRTS, Mask: big},
	}
	defs := []CompositeDefinition{
		{Name: "liver_copy", Sources: []string{"Liver"}},
		{Name: "heart_copy", Sources: []string{"heart"}},
		{Name: "heart_loose", Sources: []string{"HeArT"}},
	}
	res, err := EvaluateComposites(context.Background(), defs, src, 1)
	if err != nil {
		t.Fatal(err)
	}
	if u := res[0].Used; len(u) != 1 || u[0].Source != SourceAutoRTS || res[0].Voxels != count(big) {
		t.Errorf("liver: %+v", u)
	}
	if u := res[1].Used; len(u) != 1 || u[0].Name != "heart" || u[0].Source != SourceAutoRTS {
		t.Errorf("heart exact: %+v", u)
	}
	if u := res[2].Used; len(u) != 1 || u[0].Name != "Heart" || u[0].Source != SourceManual {
		t.Errorf("heart loose: %+v", u)
	}
}

// TestCompositeYAML parses the accepted forms.
func TestCompositeYAML(t *testing.T) {
	src := `# composite structures
custom_structures:
  - name: PTV_eval
    operation: Subtract
    source_structures: [PTV, BODY_ring]
    description: PTV inside the body
  - name: BODY_ring
    source_structures:
      - BODY
    margin: -5
  - name: CTV_PTV
    source_structures: ["CTV*", "GTV"]
    margin: {anterior_mm: 7, posterior: 5, uniform: 3, superior_mm: 10.5}
    color: [255, 128, 0]
  - name: "123"
    source_structures: [1, 2]
`
	defs, err := ParseCompositeDefinitions([]byte(src), "cs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 4 {
		t.Fatalf("%d definitions", len(defs))
	}
	d := defs[0]
	if d.Name != "PTV_eval" || d.Operation != OpSubtract || !equalStrings(d.Sources, []string{"PTV", "BODY_ring"}) || d.Line != 3 || d.Description == "" {
		t.Errorf("first: %+v", d)
	}
	if defs[1].Operation != OpUnion || defs[1].Margin != UniformMargin(-5) {
		t.Errorf("second: %+v", defs[1])
	}
	if m := defs[2].Margin; m != (Margin{Anterior: 7, Posterior: 5, Left: 3, Right: 3, Superior: 10.5, Inferior: 3}) || defs[2].Color != [3]uint8{255, 128, 0} {
		t.Errorf("third: %+v", defs[2])
	}
	if defs[3].Name != "123" || !equalStrings(defs[3].Sources, []string{"1", "2"}) {
		t.Errorf("fourth: %+v", defs[3])
	}
	// A bare list and empty documents.
	if defs, err := ParseCompositeDefinitions([]byte("- name: X\n  source_structures: [A]\n"), "x"); err != nil || len(defs) != 1 {
		t.Errorf("bare list: %v %v", defs, err)
	}
	for _, empty := range []string{"", "# nothing\n", "custom_structures: []\n", "custom_structures:\n", "~\n"} {
		if defs, err := ParseCompositeDefinitions([]byte(empty), "x"); err != nil || len(defs) != 0 {
			t.Errorf("%q: %v %v", empty, defs, err)
		}
	}
}

// TestCompositeYAMLValidation: every kind of mistake is reported with its file, line and key.
func TestCompositeYAMLValidation(t *testing.T) {
	cases := []struct {
		yaml string
		want []string
	}{
		{"custom_structures:\n  - name: A\n    sources: [B]\n", []string{`cs.yaml:3: custom_structures[0] "A": unknown key "sources"`, `did you mean "source_structures"?`, `cs.yaml:2: custom_structures[0] "A": no source_structures`}},
		{"custom_structures:\n  - name: A\n    operation: minus\n    source_structures: [B, C]\n", []string{`cs.yaml:3:`, `unknown operation "minus"`}},
		{"custom_structures:\n  - name: A\n    operation: intersection\n    source_structures: [B]\n", []string{`cs.yaml:4:`, "intersection needs at least 2 source structure(s), found 1"}},
		{"custom_structures:\n  - name: A\n    source_structures: B\n", []string{`cs.yaml:3:`, "source_structures must be a list"}},
		{"custom_structures:\n  - source_structures: [B]\n", []string{`cs.yaml:2: custom_structures[0]: no name`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B, b]\n", []string{`cs.yaml:3:`, `source "b" listed twice`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n    margin: {front: 5}\n", []string{`cs.yaml:4:`, `margin: unknown direction "front"`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n    margin: {left: 5, left_mm: 3}\n", []string{`cs.yaml:4:`, `direction "left" given twice`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n    margin: five\n", []string{`cs.yaml:4:`, `expected a number of mm, found "five"`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n    margin: 500\n", []string{`cs.yaml:4:`, "beyond ±200 mm"}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n    color: [1, 2]\n", []string{`cs.yaml:4:`, "color must be a list of three integers"}},
		{"custom_structures:\n  - name: A__partial\n    source_structures: [B]\n", []string{`cs.yaml:2:`, "must not end in __partial"}},
		{"custom_structures:\n  - name: " + strings.Repeat("x", 56) + "\n    source_structures: [B]\n", []string{`cs.yaml:2:`, "at most 55"}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n  - name: a\n    source_structures: [C]\n", []string{`cs.yaml:4: composite "a" has the name of "A" (line 2)`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n    name: C\n", []string{`cs.yaml:4:`, `key "name" given twice`}},
		{"structures: []\n", []string{`cs.yaml:1: unknown top-level key "structures"`}},
		{"custom_structures: {name: A}\n", []string{`cs.yaml:1: custom_structures must be a list`}},
		{"custom_structures:\n  - A\n", []string{`cs.yaml:2: custom_structures[0]: expected a mapping`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B, \"[x\"]\n", []string{`cs.yaml:3:`, `bad pattern "[x"`}},
		{"custom_structures:\n  - name: A\n    source_structures: [B]\n  - name: B\n    source_structures: [A]\n", []string{`cycle: "A" (line 2) → "B" (line 4) → "A"`}},
		{"custom_structures: [\n", []string{"cs.yaml: yaml:"}},
		{"custom_structures:\n  - name: A\n    operation: xor\n    source_structures: [B]\n    margin: {up: 1}\n  - name: B\n", []string{`cs.yaml:4:`, `cs.yaml:5:`, `cs.yaml:6: custom_structures[1] "B": no source_structures`}},
	}
	for _, c := range cases {
		_, err := ParseCompositeDefinitions([]byte(c.yaml), "cs.yaml")
		if err == nil {
			t.Errorf("%q: accepted", c.yaml)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q:\nerror %q\nlacks %q", c.yaml, err, w)
			}
		}
	}
}
