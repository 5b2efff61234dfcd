package aggregate

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"sort"

	"github.com/rtpipeline/rtpipeline/internal/version"
)

// The report is one self-contained HTML file: inline CSS, DVH plots as data: URIs, no scripts,
// no external requests; links to the tables are relative to _RESULTS. Every text is escaped by
// html/template. The markup is also well-formed XML (void elements closed, only numeric
// character references), which the tests check.

type reportStageCount struct {
	Stage                       string
	OK, Skipped, Failed, NotRun int
}

type reportStage struct {
	Status, Reason, Class string
}

type reportCourse struct {
	Anchor, PatientID, CourseID, Path string
	Stages                            []reportStage
	QC, QCClass                       string
	Plot                              bool
}

type reportProblem struct {
	Status, Class, Anchor, PatientID, CourseID, Check, Message string
}

type reportTable struct {
	Name                   string
	Rows, Columns, Courses int
	Files                  []string
	Skipped                []SkippedCourse
	Dropped                []string
}

type reportPlot struct {
	Anchor, PatientID, CourseID string
	Src                         template.URL
}

type reportData struct {
	Version        string
	Patients       int
	Courses        []reportCourse
	StageNames     []string
	StageCounts    []reportStageCount
	Problems       []reportProblem
	QCFail, QCWarn int
	QCPass, QCNone int
	QCChecks       int
	Tables         []reportTable
	Plots          []reportPlot
	NoPlots        []SkippedCourse
	Warnings       []string
	ReadmeFile     string
	SummaryFile    string
}

func statusClass(s string) string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusSkipped:
		return "skip"
	case StatusFailed:
		return "fail"
	}
	return "none"
}

func qcClass(s string) string {
	switch qcSeverity(s) {
	case 0:
		return "fail"
	case 1:
		return "warn"
	}
	if s == "" {
		return "none"
	}
	return "ok"
}

// buildReport assembles what the report shows.
func buildReport(res *Result, per []*courseData) *reportData {
	d := &reportData{Version: version.Version, Patients: res.Patients, ReadmeFile: ReadmeFile, SummaryFile: SummaryFile,
		Warnings: res.Warnings}
	for _, st := range Stages {
		d.StageNames = append(d.StageNames, st.Name)
		d.StageCounts = append(d.StageCounts, reportStageCount{Stage: st.Name})
	}
	for i, cd := range per {
		anchor := fmt.Sprintf("course-%d", i+1)
		rc := reportCourse{Anchor: anchor, PatientID: cd.mc.PatientID, CourseID: cd.mc.Course, Path: cd.mc.Path, Plot: cd.dvhPNG != nil}
		for k, s := range cd.status.Stages {
			rc.Stages = append(rc.Stages, reportStage{Status: s.Status, Reason: s.Reason, Class: statusClass(s.Status)})
			c := &d.StageCounts[k]
			switch s.Status {
			case StatusOK:
				c.OK++
			case StatusSkipped:
				c.Skipped++
			case StatusFailed:
				c.Failed++
			default:
				c.NotRun++
			}
		}
		if cd.qc != nil {
			rc.QC, rc.QCClass = cd.qc.Overall, qcClass(cd.qc.Overall)
			if rc.QC == "" {
				rc.QC, rc.QCClass = "no checks", "none"
			}
			switch qcSeverity(cd.qc.Overall) {
			case 0:
				d.QCFail++
			case 1:
				d.QCWarn++
			default:
				d.QCPass++
			}
			for _, c := range cd.qc.Checks {
				d.QCChecks++
				if qcSeverity(c.Status) < 2 {
					d.Problems = append(d.Problems, reportProblem{Status: c.Status, Class: qcClass(c.Status), Anchor: anchor,
						PatientID: cd.mc.PatientID, CourseID: cd.mc.Course, Check: c.ID, Message: c.Message})
				}
			}
		} else {
			rc.QC, rc.QCClass = "—", "none"
			d.QCNone++
		}
		d.Courses = append(d.Courses, rc)
		if cd.dvhPNG != nil {
			d.Plots = append(d.Plots, reportPlot{Anchor: anchor, PatientID: cd.mc.PatientID, CourseID: cd.mc.Course,
				Src: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(cd.dvhPNG))})
		} else {
			why := "dvh: " + describe(cd.status.Stage("dvh"))
			if cd.status.Stage("dvh").Status == StatusOK {
				why = "no dvh.png"
			}
			d.NoPlots = append(d.NoPlots, SkippedCourse{Path: cd.mc.Path, Reason: why})
		}
	}
	// Problems first by severity (FAIL/ERROR, then WARNING), then course and check order.
	sort.SliceStable(d.Problems, func(i, j int) bool { return qcSeverity(d.Problems[i].Status) < qcSeverity(d.Problems[j].Status) })
	for _, t := range res.Tables {
		d.Tables = append(d.Tables, reportTable{Name: t.Name, Rows: t.Rows, Columns: t.Columns, Courses: t.Courses, Files: t.Files,
			Skipped: t.Skipped, Dropped: t.Dropped})
	}
	return d
}

// renderReport writes report.html.
func renderReport(w io.Writer, res *Result, per []*courseData) error {
	return reportTemplate.Execute(w, buildReport(res, per))
}

var reportTemplate = template.Must(template.New("report").Parse(reportHTML))

const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>rtpipeline cohort report</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 1.5em 3em; color: #1d2330; background: #fff; line-height: 1.4; }
h1 { margin: 0.8em 0 0.1em; font-size: 1.7em; }
h2 { margin-top: 1.8em; border-bottom: 2px solid #d9dee8; padding-bottom: 0.2em; }
nav a { margin-right: 1.2em; }
.sub { color: #5a6478; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d9dee8; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f1f4f9; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { background: #e3f4e6; color: #1b5e20; }
.skip { background: #eef0f3; color: #4a5160; }
.fail { background: #fde4e4; color: #a01919; font-weight: 600; }
.warn { background: #fff1d6; color: #8a5300; font-weight: 600; }
.none { color: #8a93a6; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 0.8em 0; }
.card { border: 1px solid #d9dee8; border-radius: 6px; padding: 0.5em 1em; min-width: 8em; }
.card b { display: block; font-size: 1.5em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; border: 1px solid #d9dee8; border-radius: 6px; padding: 0.5em; }
figure img { display: block; max-width: 540px; width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #3a4252; margin-top: 0.3em; }
details { margin: 0.3em 0; }
summary { cursor: pointer; }
code { font-size: 0.95em; }
ul.plain { padding-left: 1.2em; }
</style>
</head>
<body>
<h1>Cohort report</h1>
<p class="sub">rtpipeline {{.Version}} · <code>_RESULTS</code> · column definitions in <a href="{{.ReadmeFile}}">{{.ReadmeFile}}</a>, statuses in <a href="{{.SummaryFile}}">{{.SummaryFile}}</a></p>
<nav><a href="#summary">Summary</a><a href="#qc">QC</a><a href="#tables">Tables</a><a href="#dvh">DVH plots</a>{{if .Warnings}}<a href="#warnings">Warnings</a>{{end}}</nav>

<h2 id="summary">Cohort summary</h2>
<div class="cards">
<div class="card"><b>{{.Patients}}</b>patients</div>
<div class="card"><b>{{len .Courses}}</b>courses</div>
{{range .StageCounts}}<div class="card"><b>{{.OK}}</b>{{.Stage}} ok{{if .Skipped}} · {{.Skipped}} skipped{{end}}{{if .Failed}} · <span class="fail">{{.Failed}} failed</span>{{end}}{{if .NotRun}} · {{.NotRun}} not run{{end}}</div>
{{end}}</div>
<table>
<thead><tr><th>stage</th><th>ok</th><th>skipped</th><th>failed</th><th>not run</th></tr></thead>
<tbody>
{{range .StageCounts}}<tr><td>{{.Stage}}</td><td class="num">{{.OK}}</td><td class="num">{{.Skipped}}</td><td class="num">{{.Failed}}</td><td class="num">{{.NotRun}}</td></tr>
{{end}}</tbody>
</table>
{{if .Courses}}<table>
<thead><tr><th>patient_id</th><th>course_id</th>{{range .StageNames}}<th>{{.}}</th>{{end}}<th>QC result</th><th>DVH plot</th></tr></thead>
<tbody>
{{range .Courses}}<tr id="{{.Anchor}}"><td>{{.PatientID}}</td><td>{{.CourseID}}</td>{{range .Stages}}<td class="{{.Class}}"{{if .Reason}} title="{{.Reason}}"{{end}}>{{.Status}}{{if .Reason}}: {{.Reason}}{{end}}</td>{{end}}<td class="{{.QCClass}}">{{.QC}}</td><td>{{if .Plot}}<a href="#plot-{{.Anchor}}">plot</a>{{else}}<span class="none">—</span>{{end}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>The manifest lists no courses.</p>{{end}}

<h2 id="qc">QC overview</h2>
<div class="cards">
<div class="card fail"><b>{{.QCFail}}</b>courses FAIL</div>
<div class="card warn"><b>{{.QCWarn}}</b>courses WARNING</div>
<div class="card ok"><b>{{.QCPass}}</b>courses without problems</div>
<div class="card"><b>{{.QCNone}}</b>courses without a QC report</div>
</div>
{{if .Problems}}<p>{{len .Problems}} of {{.QCChecks}} checks need attention (FAIL first, then WARNING):</p>
<table>
<thead><tr><th>status</th><th>patient_id</th><th>course_id</th><th>check</th><th>message</th></tr></thead>
<tbody>
{{range .Problems}}<tr><td class="{{.Class}}">{{.Status}}</td><td><a href="#{{.Anchor}}">{{.PatientID}}</a></td><td>{{.CourseID}}</td><td><code>{{.Check}}</code></td><td>{{.Message}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>No check failed or warned{{if .QCChecks}} ({{.QCChecks}} checks){{end}}.</p>{{end}}

<h2 id="tables">Result tables</h2>
<p>Each table as Excel, CSV and Parquet, keyed by <code>patient_id</code> and <code>course_id</code>; every column is described in <a href="{{.ReadmeFile}}">{{.ReadmeFile}}</a>.</p>
<table>
<thead><tr><th>table</th><th>rows</th><th>columns</th><th>courses</th><th>files</th><th>courses left out</th><th>duplicates dropped</th></tr></thead>
<tbody>
{{range .Tables}}<tr><td><code>{{.Name}}</code></td><td class="num">{{.Rows}}</td><td class="num">{{.Columns}}</td><td class="num">{{.Courses}}</td><td>{{range $i, $f := .Files}}{{if $i}} · {{end}}<a href="{{$f}}">{{$f}}</a>{{end}}</td><td>{{if .Skipped}}<details><summary>{{len .Skipped}}</summary><ul class="plain">{{range .Skipped}}<li><code>{{.Path}}</code>: {{.Reason}}</li>{{end}}</ul></details>{{else}}0{{end}}</td><td>{{if .Dropped}}<details><summary>{{len .Dropped}}</summary><ul class="plain">{{range .Dropped}}<li>{{.}}</li>{{end}}</ul></details>{{else}}0{{end}}</td></tr>
{{end}}</tbody>
</table>

<h2 id="dvh">DVH plots</h2>
{{if .Plots}}<div class="plots">
{{range .Plots}}<figure id="plot-{{.Anchor}}"><img src="{{.Src}}" alt="DVH of {{.PatientID}} / {{.CourseID}}" /><figcaption><a href="#{{.Anchor}}">{{.PatientID}} / {{.CourseID}}</a></figcaption></figure>
{{end}}</div>{{else}}<p>No course has a DVH plot.</p>{{end}}
{{if .NoPlots}}<details><summary>{{len .NoPlots}} courses without a DVH plot</summary><ul class="plain">{{range .NoPlots}}<li><code>{{.Path}}</code>: {{.Reason}}</li>{{end}}</ul></details>{{end}}
{{if .Warnings}}
<h2 id="warnings">Warnings</h2>
<ul class="plain">{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body>
</html>
`
