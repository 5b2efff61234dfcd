package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite config.yaml and the key tables of docs/config.md from the registry")

var (
	rootConfigPath = filepath.Join("..", "..", "config.yaml")
	docsPath       = filepath.Join("..", "..", "docs", "config.md")
)

const (
	keysBegin = "<!-- keys:begin (generated; edit internal/config/keys.go instead) -->\n"
	keysEnd   = "<!-- keys:end -->\n"
)

// keyTables renders the registry as Markdown: one table for the top-level keys, one per
// top-level section, and one for legacy names.
func keyTables() string {
	var b strings.Builder
	row := func(name, typ, def, help string) {
		cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
		b.WriteString("| `" + name + "` | " + cell(typ) + " | " + cell(def) + " | " + cell(help) + " |\n")
	}
	header := func(title, help string) {
		b.WriteString("\n### " + title + "\n\n")
		if help != "" {
			b.WriteString(help + "\n\n")
		}
		b.WriteString("| Key | Type | Default | Meaning |\n|---|---|---|---|\n")
	}
	header("Top level", "")
	for i := range registry {
		k := &registry[i]
		switch {
		case k.field == nil && !k.section:
			continue // legacy names, listed below
		case k.section && depth(k.name) == 0:
			header("`"+k.name+"`", k.help)
		case k.section:
			row(k.name, "section", "", k.help)
		default:
			row(k.name, k.want(), "`"+k.def+"`", k.help)
		}
	}
	b.WriteString("\n### Legacy and deprecated keys\n\n")
	b.WriteString("Accepted so that older files still load; `rtpipeline config show` lists only the current names.\n\n")
	b.WriteString("| Key | Effect |\n|---|---|\n")
	for i := range registry {
		k := &registry[i]
		if k.field != nil || k.section {
			continue
		}
		effect := k.help
		if k.deprecated != "" {
			effect += " Loading it adds a warning."
		}
		b.WriteString("| `" + k.name + "` | " + effect + " |\n")
	}
	return b.String()
}

// renderDocs replaces the generated region of docs/config.md.
func renderDocs(t *testing.T, doc []byte) []byte {
	t.Helper()
	s := string(doc)
	i, j := strings.Index(s, keysBegin), strings.Index(s, keysEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: markers %q and %q not found", docsPath, keysBegin, keysEnd)
	}
	return []byte(s[:i+len(keysBegin)] + strings.TrimPrefix(keyTables(), "\n") + "\n" + s[j:])
}

// TestGeneratedFiles keeps config.yaml and docs/config.md in step with the registry.
func TestGeneratedFiles(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		rootConfigPath: DefaultYAML(),
		docsPath:       renderDocs(t, doc),
	}
	for path, content := range want {
		if *update {
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s is out of date; run go test ./internal/config -update", path)
		}
	}
}

// TestShippedConfigIsDefault loads the repository's config.yaml and expects exactly Default().
func TestShippedConfigIsDefault(t *testing.T) {
	c, err := Load(LoadOptions{File: rootConfigPath, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings()) > 0 {
		t.Errorf("warnings: %q", c.Warnings())
	}
	assertSameValues(t, c, Default())
	for key, src := range c.Provenance() {
		if !strings.HasPrefix(src, "file "+rootConfigPath+":") {
			t.Errorf("%s comes from %q, want the file", key, src)
		}
	}
}
