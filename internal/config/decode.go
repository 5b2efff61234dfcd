package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

var workersType = reflect.TypeFor[Workers]()

// parseValue reads a YAML scalar or flow collection, as written in the registry, an override or an
// environment variable. Empty text is null.
func parseValue(text string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}, nil
	}
	return doc.Content[0], nil
}

// deref follows YAML aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// nodeText renders a value for an error message.
func nodeText(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.SequenceNode:
		items := make([]string, len(n.Content))
		for i, c := range n.Content {
			items[i] = nodeText(c)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case yaml.MappingNode:
		return "{…}"
	}
	return ""
}

// badValue is a value that does not fit its key; the caller adds key, source and line.
type badValue struct {
	value string // the offending text (a list item when only the item is wrong)
	in    bool   // the value is an item of the key's list
}

// decodeInto validates node against k and, only when it is valid, stores it in c, so a rejected
// value never leaves a half-written field behind.
func (k *key) decodeInto(c *Config, node *yaml.Node) *badValue {
	dst := reflect.ValueOf(k.field(c)).Elem()
	tmp := reflect.New(dst.Type()).Elem()
	if bv := k.decode(tmp, deref(node)); bv != nil {
		return bv
	}
	dst.Set(tmp)
	return nil
}

func (k *key) decode(v reflect.Value, n *yaml.Node) *badValue {
	bad := &badValue{value: nodeText(n)}
	t := v.Type()
	switch {
	case t == workersType:
		return k.decodeWorkers(v, n, bad)
	case t.Kind() == reflect.Pointer:
		if isNull(n) || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && slices.Contains(k.nullWords, n.Value) {
			v.SetZero()
			return nil
		}
		elem := reflect.New(t.Elem())
		if bv := k.decodeScalar(elem.Elem(), n, bad); bv != nil {
			return bv
		}
		v.Set(elem)
		return nil
	case t.Kind() == reflect.Slice:
		if isNull(n) {
			v.SetZero()
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return bad
		}
		if len(n.Content) == 0 {
			v.SetZero() // [] and null are the same setting; one representation keeps comparisons simple
			return nil
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			item = deref(item)
			if bv := k.decodeScalar(s.Index(i), item, &badValue{value: nodeText(item), in: true}); bv != nil {
				return bv
			}
		}
		v.Set(s)
		return nil
	}
	return k.decodeScalar(v, n, bad)
}

// decodeScalar decodes a single string, bool, int or float, checking allowed values and bounds.
func (k *key) decodeScalar(v reflect.Value, n *yaml.Node, bad *badValue) *badValue {
	if n.Kind != yaml.ScalarNode {
		return bad
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		if tag == "!!null" {
			if k.nullable {
				v.SetString("")
				return nil
			}
			return bad
		}
		if len(k.allowed) > 0 && !slices.Contains(k.allowed, n.Value) {
			return bad
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			return bad
		}
		v.SetBool(b)
	case reflect.Int:
		f, ok := number(n)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 || !k.bound.ok(f) {
			return bad
		}
		v.SetInt(int64(f))
	case reflect.Float64:
		f, ok := number(n)
		if !ok || !k.bound.ok(f) {
			return bad
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("config: %s has unsupported type %s", k.name, v.Type()))
	}
	return nil
}

// number reads an int or float scalar. Whole floats are accepted for integer keys because counts
// like max_voxels are naturally written 15e6.
func number(n *yaml.Node) (float64, bool) {
	var f float64
	switch n.ShortTag() {
	case "!!int", "!!float":
		if n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

func (k *key) workerWords() []string {
	if len(k.allowed) > 0 {
		return k.allowed
	}
	return []string{"auto", "all"}
}

func (k *key) decodeWorkers(v reflect.Value, n *yaml.Node, bad *badValue) *badValue {
	if n.Kind != yaml.ScalarNode {
		return bad
	}
	var w Workers
	switch tag := n.ShortTag(); {
	case tag == "!!null":
		if !k.nullable {
			return bad
		}
	case tag == "!!str":
		switch {
		case !slices.Contains(k.workerWords(), n.Value):
			return bad
		case n.Value == "all":
			w.Mode = WorkersAll
		}
	default:
		f, ok := number(n)
		if !ok || f != math.Trunc(f) || f < 1 || f > 1<<31 {
			return bad
		}
		w = Workers{Mode: WorkersFixed, N: int(f)}
	}
	v.Set(reflect.ValueOf(w))
	return nil
}

// want describes the values a key accepts, for error messages and the docs' type column.
func (k *key) want() string {
	if k.field == nil {
		return ""
	}
	return k.describe(reflect.TypeOf(k.field(&Config{})).Elem())
}

func (k *key) describe(t reflect.Type) string {
	switch {
	case t == workersType:
		var words []string
		if k.nullable {
			words = append(words, "null")
		}
		words = append(words, k.workerWords()...)
		return strings.Join(words, ", ") + " or an integer ≥ 1"
	case t.Kind() == reflect.Pointer:
		return strings.Join(append([]string{"null"}, k.nullWords...), ", ") + " or " + k.describe(t.Elem())
	case t.Kind() == reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			if len(k.allowed) > 0 {
				return "a list of: " + strings.Join(k.allowed, ", ")
			}
			return "a list of strings"
		}
		return "a list of numbers" + k.bound.String()
	}
	switch t.Kind() {
	case reflect.String:
		if len(k.allowed) > 0 {
			return "one of " + strings.Join(k.allowed, ", ")
		}
		if k.nullable {
			return "a string or null"
		}
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer" + k.bound.String()
	case reflect.Float64:
		return "a number" + k.bound.String()
	}
	return t.String()
}

// invalid turns a decoding failure into an Error naming the key, value, accepted values and
// source.
func (k *key) invalid(bv *badValue, via, source string, line int) error {
	msg := fmt.Sprintf("invalid value %q for %q", bv.value, via)
	if bv.in {
		msg = fmt.Sprintf("invalid value %q in %q", bv.value, via)
	}
	return &Error{Source: source, Line: line, Key: via, Msg: msg, Hint: "want " + k.want()}
}

// assignment is one key = value found in a source, before it is applied.
type assignment struct {
	target *key // the key whose field is set (an alias's target)
	via    *key // the key as written
	value  *yaml.Node
	line   int // line of the key
}

// applyFile reads one YAML config file over c. Every problem in the file is reported, not just
// the first, so one edit-run cycle fixes them all.
func (c *Config) applyFile(path string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("parsing config file %s: %w", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file: defaults
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return &Error{Source: path, Line: root.Line, Msg: "the file is not a mapping of keys to values"}
	}
	var as []assignment
	var errs []error
	c.walk(root, "", path, &as, &errs)

	// A legacy alias yields to its canonical key given in the same file, whatever the order.
	direct := make(map[*key]bool)
	for _, a := range as {
		if a.via == a.target {
			direct[a.target] = true
		}
	}
	for _, a := range as {
		if a.via != a.target && direct[a.target] {
			c.warn(path, a.line, fmt.Sprintf("%q ignored because %q is also set", a.via.name, a.target.name))
			continue
		}
		if bv := a.target.decodeInto(c, a.value); bv != nil {
			errs = append(errs, a.target.invalid(bv, a.via.name, path, a.value.Line))
			continue
		}
		c.prov[a.target.name] = fmt.Sprintf("file %s:%d", path, a.line)
	}
	return errors.Join(errs...)
}

// walk collects the assignments of one mapping, reporting unknown and duplicate keys.
func (c *Config) walk(m *yaml.Node, prefix, path string, as *[]assignment, errs *[]error) {
	seen := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := deref(m.Content[i]), deref(m.Content[i+1])
		name := kn.Value
		if prefix != "" {
			name = prefix + "." + kn.Value
		}
		if kn.Kind != yaml.ScalarNode {
			*errs = append(*errs, &Error{Source: path, Line: kn.Line, Key: prefix, Msg: "a key must be a plain name"})
			continue
		}
		if first, dup := seen[kn.Value]; dup {
			*errs = append(*errs, &Error{Source: path, Line: kn.Line, Key: name,
				Msg: fmt.Sprintf("key %q given twice", name), Hint: fmt.Sprintf("first at line %d", first)})
			continue
		}
		seen[kn.Value] = kn.Line
		if strings.Contains(kn.Value, ".") {
			// Dotted names are for flags; in a file they would bypass duplicate detection.
			*errs = append(*errs, &Error{Source: path, Line: kn.Line, Key: name,
				Msg: fmt.Sprintf("unknown key %q", name), Hint: "nest it under its section instead of writing a dotted name"})
			continue
		}
		k := byName[name]
		if k == nil {
			e := &Error{Source: path, Line: kn.Line, Key: name, Msg: fmt.Sprintf("unknown key %q", name)}
			if s := suggest(name); s != "" {
				e.Hint = fmt.Sprintf("did you mean %q?", s)
			}
			*errs = append(*errs, e)
			continue
		}
		switch {
		case k.section:
			if isNull(vn) {
				continue // an empty section keeps its defaults
			}
			if vn.Kind != yaml.MappingNode {
				*errs = append(*errs, &Error{Source: path, Line: vn.Line, Key: name,
					Msg: fmt.Sprintf("invalid value %q for %q", nodeText(vn), name), Hint: "want a mapping of its keys"})
				continue
			}
			c.walk(vn, name, path, as, errs)
		case k.aliasOf != "":
			if k.deprecated != "" {
				c.warn(path, kn.Line, fmt.Sprintf("%q is %s", name, k.deprecated))
			}
			*as = append(*as, assignment{target: byName[k.aliasOf], via: k, value: vn, line: kn.Line})
		case k.field == nil:
			c.warn(path, kn.Line, fmt.Sprintf("%q is %s", name, k.deprecated))
		default:
			*as = append(*as, assignment{target: k, via: k, value: vn, line: kn.Line})
		}
	}
}

// applyOverride sets one key from a flag or environment variable.
func (c *Config) applyOverride(o Override) error {
	k := byName[o.Key]
	if k == nil {
		e := &Error{Source: o.Source, Key: o.Key, Msg: fmt.Sprintf("unknown key %q", o.Key)}
		if s := suggest(o.Key); s != "" {
			e.Hint = fmt.Sprintf("did you mean %q?", s)
		}
		return e
	}
	if k.section {
		return &Error{Source: o.Source, Key: o.Key, Msg: fmt.Sprintf("%q is a section", o.Key), Hint: "set one of its keys"}
	}
	via := k
	if k.aliasOf != "" {
		k = byName[k.aliasOf]
	}
	if via.deprecated != "" {
		c.warn(o.Source, 0, fmt.Sprintf("%q is %s", via.name, via.deprecated))
	}
	if k.field == nil {
		return nil // accepted for compatibility, without effect
	}
	var node *yaml.Node
	if reflect.TypeOf(k.field(c)).Elem().Kind() == reflect.String {
		// Paths and names are taken verbatim: YAML would read "#x" as a comment or "a: b" as a map.
		tag := "!!str"
		if o.Value == "" && k.nullable {
			tag = "!!null"
		}
		node = &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: o.Value}
	} else {
		var err error
		if node, err = parseValue(o.Value); err != nil {
			return k.invalid(&badValue{value: o.Value}, via.name, o.Source, 0)
		}
	}
	if bv := k.decodeInto(c, node); bv != nil {
		if !bv.in {
			bv.value = o.Value // report what was typed, not its YAML reading
		}
		return k.invalid(bv, via.name, o.Source, 0)
	}
	c.prov[k.name] = o.Source
	return nil
}

func (c *Config) warn(source string, line int, msg string) {
	if line > 0 {
		msg = fmt.Sprintf("%s: %s (line %d)", source, msg, line)
	} else {
		msg = fmt.Sprintf("%s: %s", source, msg)
	}
	c.warnings = append(c.warnings, msg)
}
