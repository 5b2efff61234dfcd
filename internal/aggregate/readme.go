package aggregate

import (
	"fmt"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/results"
)

// readmeIntro is the fixed part of _RESULTS/README.md.
const readmeIntro = `# _RESULTS: cohort tables

Written by ` + "`rtpipeline aggregate`" + ` (docs/aggregate.md). This file is generated from the
column definitions the aggregation itself uses; every column of every table below is listed.

- **Formats.** Every table is written as ` + "`<name>.xlsx`, `<name>.csv` and `<name>.parquet`" + `
  with the same values: the CSV cell text is the course tables' text unchanged; Parquet and XLSX
  hold typed cells (numbers, integers, booleans, text; empty cells are null / blank). XLSX
  numbers carry at most Excel's 15 significant digits; CSV and Parquet are exact.
- **Key.** ` + "`patient_id`, `course_id`" + ` are the first two columns of every table, taken from
  the course folder (the manifest), so rows of a course always carry its identity.
- **Rows.** Courses in the order of ` + "`_COURSES/manifest.json`" + `, each course's rows in its own
  table's order. A course contributes only when the sentinel of the stage that writes the table says ` + "`ok`" + `
  (and ` + "`.organized`" + ` says ` + "`ok`" + `); the courses left out, and why, are listed in
  ` + "`aggregate_summary.json`" + ` and ` + "`report.html`" + `. Each course's table is read once, from one file.
- **Columns.** The known columns below, in this order, then columns found only in the course
  tables, in first-seen order (a column first seen in a later course goes right after the column
  that precedes it in that course's header). A table without any input has the known columns
  and no rows.
- **Types.** A known column's cells are read as its type; a cell whose text would not read back
  unchanged in that type (for example ` + "`007`" + ` as an integer) stays text. Columns of type
  "inferred" are typed from all their cells: boolean, else integer, else number, else text.

Other files: ` + "`report.html`" + ` (the cohort report), ` + "`aggregate_summary.json`" + ` (statuses,
skipped courses, dropped duplicates, warnings), ` + "`.aggregate_done`" + ` (` + "`ok` or `failed: <reason>`" + `,
written last).
`

// Readme returns _RESULTS/README.md for the cohort tables of one aggregation (as merge built
// them, in Tables() order): per table what a row is, where it comes from, its key and duplicate
// rule, and every column with its type and description — the known columns of its TableDef,
// then the other columns the tables hold, described by the definition's Extra rule.
func Readme(tables []*results.Table) string {
	var b strings.Builder
	b.WriteString(readmeIntro)
	byName := map[string]*results.Table{}
	for _, t := range tables {
		byName[t.Name] = t
	}
	for _, def := range Tables() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", def.Name, def.Desc)
		fmt.Fprintf(&b, "- Source: %s\n", def.Source)
		key := "`patient_id`, `course_id`"
		for _, c := range def.RowKey {
			key += ", " + mdCode(c)
		}
		if def.RowKeyFold {
			key += " (compared in lower case, trimmed)"
		}
		if len(def.RowKey) == 0 {
			key += " (one row per course)"
		}
		fmt.Fprintf(&b, "- Row key: %s\n- Duplicates: %s\n\n", key, def.Dedup)
		b.WriteString("| column | type | description |\n|---|---|---|\n")
		known := map[string]bool{}
		for _, c := range def.Columns {
			known[c.Name] = true
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCode(c.Name), c.Kind, mdCell(c.Desc))
		}
		t := byName[def.Name]
		if t == nil {
			continue
		}
		var extras []string
		for _, c := range t.Columns {
			if !known[c] {
				extras = append(extras, c)
			}
		}
		if len(extras) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nOther columns of this output (%d), found in the course tables:\n\n", len(extras))
		b.WriteString("| column | type | description |\n|---|---|---|\n")
		for _, c := range extras {
			k, desc := Auto, genericExtra
			if def.Extra != nil {
				k, desc = def.Extra(c)
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCode(c), k, mdCell(desc))
		}
	}
	return b.String()
}

// mdCode renders a column name as Markdown code inside a table cell.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

// mdCell makes text safe inside a Markdown table cell.
func mdCell(s string) string {
	s = strings.NewReplacer("|", `\|`, "<", `\<`).Replace(s)
	return strings.Join(strings.Fields(s), " ")
}
