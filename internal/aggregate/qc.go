package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// QC statuses, most severe first (check_status and overall_status are upper case).
const (
	QCFail    = "FAIL"
	QCError   = "ERROR"
	QCWarning = "WARNING"
	QCInfo    = "INFO"
	QCSkip    = "SKIP"
	QCPass    = "PASS"
)

// qcReport is the part of a course's qc_reports/qc_report.json that aggregate reads. It is
// read tolerantly: checks may be a list of objects or an object of name → object, and fields
// other than the identifier, status and message are kept as JSON.
type qcReport struct {
	File    string
	Overall string
	Checks  []qcCheck
}

// qcCheck is one check of a QC report.
type qcCheck struct {
	ID, Category, Status, Message, Objects, Details string
}

// readQCReport reads the course's QC report: qc_reports/qc_report.json, else the first
// qc_reports/qc_report*.json by name. It returns the report as a course table, or nil and why.
func readQCReport(dir string) (*courseTable, string) {
	rel := "qc_reports/qc_report.json"
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
		matches, _ := filepath.Glob(filepath.Join(dir, "qc_reports", "qc_report*.json"))
		if len(matches) == 0 {
			return nil, "missing qc_reports/qc_report.json"
		}
		sort.Strings(matches)
		rel = "qc_reports/" + filepath.Base(matches[0])
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, rel + ": " + err.Error()
	}
	rep, err := parseQCReport(data)
	if err != nil {
		return nil, rel + ": " + err.Error()
	}
	rep.File = rel
	t := newCourseTable(rel, columnNames(qcTable().Columns))
	if len(rep.Checks) == 0 {
		t.rows = append(t.rows, []string{"", "", rel, rep.Overall, "", "", "", "", "", ""})
	}
	for _, c := range rep.Checks {
		t.rows = append(t.rows, []string{"", "", rel, rep.Overall, c.ID, c.Category, c.Status, c.Message, c.Objects, c.Details})
	}
	t.qc = rep
	return t, ""
}

func columnNames(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// parseQCReport reads a QC report's JSON.
func parseQCReport(data []byte) (*qcReport, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	rep := &qcReport{Overall: normStatus(jsonText(top["overall_status"]))}
	if rep.Overall == "" {
		rep.Overall = normStatus(jsonText(top["status"]))
	}
	raw := bytes.TrimSpace(top["checks"])
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("checks: %w", err)
		}
		for i, item := range list {
			rep.Checks = append(rep.Checks, parseCheck(fmt.Sprintf("check_%d", i+1), item))
		}
	case raw[0] == '{':
		// An object of check name → check, in file order.
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("checks: %w", err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("checks: %w", err)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("checks: %w", err)
			}
			rep.Checks = append(rep.Checks, parseCheck(fmt.Sprint(tok), v))
		}
	default:
		return nil, fmt.Errorf("checks is neither a list nor an object")
	}
	if rep.Overall == "" && len(rep.Checks) > 0 {
		rep.Overall = rollUp(rep.Checks)
	}
	return rep, nil
}

// parseCheck reads one check; name is its key (object form) or position (list form).
func parseCheck(name string, raw json.RawMessage) qcCheck {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		// A bare value: a status word or anything else kept as details.
		if s := jsonText(raw); s != "" && !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
			return qcCheck{ID: name, Status: normStatus(s)}
		}
		return qcCheck{ID: name, Details: compactJSON(raw)}
	}
	c := qcCheck{ID: name}
	for _, k := range []string{"id", "check_id", "check", "name"} {
		if v := jsonText(obj[k]); v != "" {
			c.ID = v
			delete(obj, k)
			break
		}
	}
	c.Status = normStatus(jsonText(obj["status"]))
	delete(obj, "status")
	for _, k := range []string{"message", "msg", "reason"} {
		if v := jsonText(obj[k]); v != "" {
			c.Message = v
			delete(obj, k)
			break
		}
	}
	c.Category = jsonText(obj["category"])
	delete(obj, "category")
	var objects []string
	if json.Unmarshal(obj["objects"], &objects) == nil {
		c.Objects = strings.Join(objects, "; ")
		delete(obj, "objects")
	}
	// The rest: the "details" value alone, else every remaining field.
	if len(obj) > 0 {
		var rest json.RawMessage
		if d, ok := obj["details"]; ok && len(obj) == 1 {
			rest = d
		} else {
			rest, _ = json.Marshal(obj)
		}
		c.Details = sortedJSON(rest)
		if c.Details == "null" || c.Details == "{}" {
			c.Details = ""
		}
	}
	return c
}

// sortedJSON renders JSON compactly with the keys of every object sorted and numbers exactly as
// written.
func sortedJSON(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return compactJSON(raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return compactJSON(raw)
	}
	return strings.TrimSpace(buf.String())
}

// jsonText returns a JSON string's value, or the compact JSON text of any other scalar ("" for
// null, absent, objects and arrays).
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func compactJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// normStatus upper-cases a status and spells WARN as WARNING.
func normStatus(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "WARN" {
		return QCWarning
	}
	return s
}

// rollUp is the roll-up of checks: any FAIL or ERROR → FAIL, any WARNING → WARNING, else PASS.
func rollUp(checks []qcCheck) string {
	out := QCPass
	for _, c := range checks {
		switch c.Status {
		case QCFail, QCError:
			return QCFail
		case QCWarning:
			out = QCWarning
		}
	}
	return out
}

// qcSeverity orders statuses for the report: FAIL and ERROR first, then WARNING, then the rest.
func qcSeverity(status string) int {
	switch status {
	case QCFail, QCError:
		return 0
	case QCWarning:
		return 1
	}
	return 2
}
