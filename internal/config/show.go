package config

import (
	"bufio"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Show writes the effective configuration as YAML, one key per line with its source as a
// comment (`key: value  # source`), sections and keys in registry order so the output is stable
// and diffable. The output loads back into the same values.
func (c *Config) Show(w io.Writer) error {
	type line struct{ text, source string }
	var lines []line
	width := 0
	for i := range registry {
		k := &registry[i]
		indent := strings.Repeat("  ", depth(k.name))
		switch {
		case k.section:
			lines = append(lines, line{text: indent + leaf(k.name) + ":"})
		case k.field != nil:
			text := indent + leaf(k.name) + ": " + k.format(reflect.ValueOf(k.field(c)).Elem())
			lines = append(lines, line{text: text, source: c.prov[k.name]})
			width = max(width, len([]rune(text)))
		}
	}
	width = min(width, 60) // one long list must not push every comment off screen
	bw := bufio.NewWriter(w)
	for _, l := range lines {
		if l.source == "" {
			fmt.Fprintln(bw, l.text)
			continue
		}
		pad := max(width-len([]rune(l.text)), 0)
		fmt.Fprintf(bw, "%s%s  # %s\n", l.text, strings.Repeat(" ", pad), l.source)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	return nil
}

// DefaultYAML is the default configuration as a commented YAML file: every key with its default
// and its help text. The shipped config.yaml is exactly this, so it serves as a template.
func DefaultYAML() []byte {
	var b strings.Builder
	b.WriteString("# rtpipeline configuration: every key with its default.\n")
	b.WriteString("# Generated from internal/config/keys.go by `go test ./internal/config -update`;\n")
	b.WriteString("# docs/config.md explains precedence (flag > environment > file > default) and the worker budget.\n")
	for i := range registry {
		k := &registry[i]
		if !k.section && k.field == nil {
			continue // legacy names are accepted, not advertised
		}
		d := depth(k.name)
		indent := strings.Repeat("  ", d)
		if d == 0 && k.section {
			b.WriteString("\n")
		}
		for _, l := range wrap(k.help, 100-len(indent)-2) {
			b.WriteString(indent + "# " + l + "\n")
		}
		if k.section {
			b.WriteString(indent + leaf(k.name) + ":\n")
		} else {
			b.WriteString(indent + leaf(k.name) + ": " + k.def + "\n")
		}
	}
	return []byte(b.String())
}

// wrap splits text into lines of at most width runes, breaking at spaces.
func wrap(text string, width int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(text) {
		switch {
		case cur == "":
			cur = word
		case len([]rune(cur))+1+len([]rune(word)) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// format renders a field's value as YAML.
func (k *key) format(v reflect.Value) string {
	if v.Type() == workersType {
		return v.Interface().(Workers).String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "null"
		}
		return k.format(v.Elem())
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = k.format(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.String:
		if v.String() == "" && k.nullable {
			return "null"
		}
		return yamlString(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

var plainString = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_ ./*+-]*$`)

// yamlString writes s bare when YAML reads it back as the same string (also inside a flow
// list), quoted otherwise ("8", "true", "null", "a, b" …).
func yamlString(s string) string {
	if plainString.MatchString(s) && !strings.HasSuffix(s, " ") {
		var n yaml.Node
		if yaml.Unmarshal([]byte(s), &n) == nil && len(n.Content) == 1 &&
			n.Content[0].ShortTag() == "!!str" && n.Content[0].Value == s {
			return s
		}
	}
	return strconv.Quote(s)
}
