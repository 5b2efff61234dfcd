package workflow

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rtpipeline/rtpipeline/internal/organize"
	"github.com/rtpipeline/rtpipeline/internal/pipeline"
)

// SnakefilePath is where the generated Snakefile is committed, relative to the repository root.
const SnakefilePath = "workflow/Snakefile"

// WorkersResource is the Snakemake resource through which the Snakefile keeps the threads of the
// jobs in flight within the worker budget: every job holds as many as it has threads, and the
// pool holds the budget (local runs only; on a cluster each job has its own node allocation).
const WorkersResource = "workers"

var ruleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Snakefile returns workflow/Snakefile for a stage table. The text depends on the table only (the
// configuration is read when Snakemake parses it, through `rtpipeline workflow plan`), so the
// committed file is checked against the table byte for byte.
//
// The table's first stage must be a cohort stage: it is the checkpoint that writes the course
// manifest (organize). Course stages become one rule each, run per course of the manifest; a
// cohort stage after them (an aggregation) becomes a rule whose inputs are every course's
// sentinels of its Needs (of every course stage when it has none). Every stage command is called as
//
//	rtpipeline <stage> --outdir OUT [--course P/C] --max-workers {threads} --fail-soft [--config FILE]
//
// (organize: rtpipeline organize --dicom-root IN --outdir OUT --max-workers {threads}). Snakefile
// panics on a table that breaks these rules; the package's tests run it on pipeline.Table().
func Snakefile(table []pipeline.Stage) string {
	checkTable(table)
	var course, after []*pipeline.Stage
	for i := range table[1:] {
		s := &table[1+i]
		if s.Scope == pipeline.Course {
			course = append(course, s)
		} else {
			after = append(after, s)
		}
	}
	org := &table[0]
	w := &strings.Builder{}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }

	p("%s#\n# Stages: %s (checkpoint: writes the course manifest)", header, org.Name)
	if len(course) > 0 {
		p("; per course: %s", strings.Join(names(course), ", "))
	}
	if len(after) > 0 {
		p("; after every course: %s", strings.Join(names(after), ", "))
	}
	p(".\n\n%s", prelude)

	sentinels := func(stages []*pipeline.Stage) string {
		return pyDict(stages, func(s *pipeline.Stage) string { return py(slashPath(s.Sentinel)) })
	}
	p("# Course stages in table order: sentinel in the course folder, and the course stages each needs.\n")
	p("COURSE_SENTINELS = %s\n", sentinels(course))
	// Snakemake waits for Needs and After alike (a failed stage still writes its sentinel with
	// --fail-soft); whether a failure blocks the job is the command's decision (workflow.Blocked).
	p("COURSE_NEEDS = %s\n", pyDict(course, func(s *pipeline.Stage) string {
		return "[" + pyList(append(append([]string(nil), s.Needs...), s.After...)) + "]"
	}))
	p("# Cohort stages after the courses: sentinel under OUTDIR.\n")
	p("COHORT_SENTINELS = %s\n", sentinels(after))
	p("# A course's organize sentinel: \"ok\" or \"failed: <reason>\".\n")
	p("ORGANIZED = %s\n\n", py(organize.Sentinel))
	p("%s", strings.ReplaceAll(helpers, "CHECKPOINT", org.Name))

	p("rule all:\n    input:\n        lambda wildcards: _course_targets() + _cohort_targets(),\n\n\n")
	p("localrules:\n    all,\n\n\n")

	p("checkpoint %s:\n", org.Name)
	p("    output:\n        %s,\n", outPath(org))
	p("    threads: THREADS[%s]\n", py(org.Name))
	p("%s", resources(org))
	p("    log:\n        os.path.join(LOGS, %s),\n", py(org.Name+".log"))
	p("    params:\n        dicom_root=DICOM_ROOT,\n        outdir=OUTDIR,\n")
	p("    shell:\n        \"{RTPIPELINE:q} %s --dicom-root {params.dicom_root:q} --outdir {params.outdir:q} --max-workers {threads} {CONFIG_ARGS:q} > {log:q} 2>&1\"\n", org.Name)

	for _, s := range course {
		p("\n\nrule %s:\n", s.Name)
		p("    input:\n        _course_inputs(%s),\n", py(s.Name))
		p("    output:\n        os.path.join(OUTDIR, \"{patient}\", \"{course}\", %s),\n", pyJoinArgs(s.Sentinel))
		p("    threads: THREADS[%s]\n", py(s.Name))
		p("%s", resources(s))
		p("    log:\n        os.path.join(LOGS, %s, \"{patient}_{course}.log\"),\n", py(s.Name))
		p("    params:\n        outdir=OUTDIR,\n")
		p("    shell:\n        \"{RTPIPELINE:q} %s --outdir {params.outdir:q} --course {wildcards.patient:q}/{wildcards.course:q} --max-workers {threads} --fail-soft {CONFIG_ARGS:q} > {log:q} 2>&1\"\n", s.Name)
	}

	for _, s := range after {
		needs := s.Needs
		if len(needs) == 0 {
			needs = names(course)
		}
		p("\n\nrule %s:\n", s.Name)
		p("    input:\n        lambda wildcards: _course_targets([%s]),\n", pyList(needs))
		p("    output:\n        %s,\n", outPath(s))
		p("    threads: THREADS[%s]\n", py(s.Name))
		p("%s", resources(s))
		p("    log:\n        os.path.join(LOGS, %s),\n", py(s.Name+".log"))
		p("    params:\n        outdir=OUTDIR,\n")
		p("    shell:\n        \"{RTPIPELINE:q} %s --outdir {params.outdir:q} --max-workers {threads} --fail-soft {CONFIG_ARGS:q} > {log:q} 2>&1\"\n", s.Name)
	}
	return w.String()
}

// checkTable panics unless the table has the shape Snakefile relies on.
func checkTable(table []pipeline.Stage) {
	if len(table) == 0 || table[0].Scope != pipeline.Cohort {
		panic("workflow: the stage table must start with the cohort stage that writes the course manifest")
	}
	seen := map[string]pipeline.Scope{}
	for _, s := range table {
		if !ruleName.MatchString(s.Name) || s.Name == "all" {
			panic(fmt.Sprintf("workflow: stage name %q is not a Snakemake rule name", s.Name))
		}
		if _, dup := seen[s.Name]; dup {
			panic(fmt.Sprintf("workflow: stage %q appears twice", s.Name))
		}
		if s.Sentinel == "" || filepath.IsAbs(s.Sentinel) {
			panic(fmt.Sprintf("workflow: stage %q needs a relative sentinel", s.Name))
		}
		if s.Gate != "" && !ruleName.MatchString(s.Gate) {
			panic(fmt.Sprintf("workflow: gate %q of stage %q is not a Snakemake resource name", s.Gate, s.Name))
		}
		for _, n := range append(append([]string(nil), s.Needs...), s.After...) {
			if seen[n] != pipeline.Course {
				panic(fmt.Sprintf("workflow: stage %q needs %q, which is not an earlier course stage", s.Name, n))
			}
		}
		seen[s.Name] = s.Scope
	}
}

// resources is the rule's resources: section: its workers (threads) and its gate.
func resources(s *pipeline.Stage) string {
	r := "    resources:\n        " + WorkersResource + "=lambda wildcards, threads: threads,\n"
	if s.Gate != "" {
		r += "        " + s.Gate + "=1,\n"
	}
	return r
}

// pyDict is a Python dict literal from stage names to value(stage), one entry a line.
func pyDict(stages []*pipeline.Stage, value func(*pipeline.Stage) string) string {
	if len(stages) == 0 {
		return "{}"
	}
	var b strings.Builder
	b.WriteString("{\n")
	for _, s := range stages {
		b.WriteString("    " + py(s.Name) + ": " + value(s) + ",\n")
	}
	return b.String() + "}"
}

func names(stages []*pipeline.Stage) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.Name
	}
	return out
}

// outPath is the Python expression of a cohort stage's sentinel under OUTDIR.
func outPath(s *pipeline.Stage) string { return "os.path.join(OUTDIR, " + pyJoinArgs(s.Sentinel) + ")" }

// pyJoinArgs splits a relative path into os.path.join arguments.
func pyJoinArgs(p string) string { return pyList(strings.Split(slashPath(p), "/")) }

func slashPath(p string) string { return filepath.ToSlash(filepath.Clean(p)) }

// py quotes a string as a Python literal (the table's names and paths are plain ASCII).
func py(s string) string { return strconv.Quote(s) }

func pyList(ss []string) string {
	q := slices.Clone(ss)
	for i, s := range q {
		q[i] = py(s)
	}
	return strings.Join(q, ", ")
}

const header = `# Code generated by "rtpipeline workflow snakefile" from the stage table (internal/pipeline).
# DO NOT EDIT: change the table, then run "go test ./internal/workflow -update"; a test fails
# while this file and the table disagree. See docs/snakemake.md.
#
#   snakemake --snakefile workflow/Snakefile --cores 8 \
#       --config dicom_root=IN outdir=OUT rtpipeline=/path/to/rtpipeline rtpipeline_config=config.yaml
#
# Snakemake config keys (--config k=v or --configfile FILE; all optional):
#   rtpipeline         the rtpipeline binary (default: rtpipeline on PATH)
#   rtpipeline_config  rtpipeline configuration, passed to every command as --config
#                      (default: none, i.e. $RTPIPELINE_CONFIGFILE or the built-in defaults)
#   dicom_root         input DICOM folder (default: dicom_root of the rtpipeline configuration)
#   outdir             output folder (default: output_dir of the rtpipeline configuration)
#   logs_dir           folder of the job logs (default: logs_dir of the rtpipeline configuration
#                      when it sets one, else OUT/Logs, as "rtpipeline run")
#   max_workers        cap on the worker budget, as rtpipeline --max-workers
#   cores              cores the worker budget is derived from (default: --cores); set it to the
#                      cores of one node when jobs run on a cluster
#
# Threads, gates and the worker budget come from "rtpipeline workflow plan", i.e. from the same
# Go code as the embedded scheduler. A failed course job exits 0 with "failed: <reason>" in its
# sentinel (--fail-soft), and the course's later stages write "skipped: upstream <stage> failed",
# so one bad course never stops the others.
`

const prelude = `import json
import os
import subprocess

from snakemake.exceptions import WorkflowError

RTPIPELINE = str(config.get("rtpipeline") or "rtpipeline")
RTPIPELINE_CONFIG = str(config.get("rtpipeline_config") or "")
CONFIG_ARGS = ["--config", RTPIPELINE_CONFIG] if RTPIPELINE_CONFIG else []


# False when jobs go to a cluster (--slurm, --cluster, ...).
RUN_LOCAL = getattr(workflow, "run_local", True)


def _cores():
    """Cores the worker budget is derived from: config cores, else Snakemake's --cores."""
    if config.get("cores") is not None:
        return int(config["cores"])
    cores = workflow.global_resources.get("_cores")
    if cores is None or not RUN_LOCAL:
        raise WorkflowError(
            "rtpipeline: the worker budget needs a core count: pass --cores N on one machine, or "
            "--config cores=N (the cores of one node) when jobs run on a cluster"
        )
    return int(cores)


def _plan():
    """Budget, threads per stage and gate sizes, computed by rtpipeline itself."""
    cmd = [RTPIPELINE, "workflow", "plan", "--cores", str(_cores())] + CONFIG_ARGS
    if config.get("max_workers") is not None:
        cmd += ["--max-workers", str(config["max_workers"])]
    try:
        run = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise WorkflowError("rtpipeline: cannot run {}: {}".format(RTPIPELINE, e))
    except subprocess.CalledProcessError as e:
        raise WorkflowError("rtpipeline: {} failed:\n{}".format(" ".join(cmd), e.stderr))
    return json.loads(run.stdout)


PLAN = _plan()
DICOM_ROOT = str(config.get("dicom_root") or PLAN["dicom_root"])
OUTDIR = os.path.normpath(str(config.get("outdir") or PLAN["output_dir"]))
LOGS = os.path.normpath(str(config.get("logs_dir") or PLAN["logs_dir"] or os.path.join(OUTDIR, "Logs")))
THREADS = {name: stage["threads"] for name, stage in PLAN["stages"].items()}
ENABLED = {name: stage["enabled"] for name, stage in PLAN["stages"].items()}

# On one machine the gate sizes and the worker budget bound the jobs in flight, as Snakemake
# resources (--resources NAME=N on the command line or in a profile takes precedence). On a
# cluster every job has its own allocation, and only --resources bounds anything.
if RUN_LOCAL:
    for _gate, _size in PLAN["gates"].items():
        workflow.global_resources.setdefault(_gate, _size)
    workflow.global_resources.setdefault("` + WorkersResource + `", PLAN["budget"])


wildcard_constraints:
    patient="[^/]+",
    course="[^/]+",


`

const helpers = `
def _courses():
    """The courses of the manifest the checkpoint wrote ("<patient>/<course>"), in its order."""
    with open(checkpoints.CHECKPOINT.get().output[0]) as f:
        return [c["path"] for c in json.load(f)["courses"]]


def _course_targets(stages=None):
    """Sentinels of the enabled course stages (default: all) of every course, course by course."""
    stages = [s for s in (stages or COURSE_SENTINELS) if ENABLED[s]]
    return [os.path.join(OUTDIR, c, COURSE_SENTINELS[s]) for c in _courses() for s in stages]


def _cohort_targets():
    """Sentinels of the enabled cohort stages that run after every course."""
    return [os.path.join(OUTDIR, p) for s, p in COHORT_SENTINELS.items() if ENABLED[s]]


def _course_inputs(stage):
    """A course job's inputs: the course's organize sentinel and the sentinels of the enabled
    course stages it needs."""

    def inputs(wildcards):
        _courses()  # the course exists only once the organize checkpoint has run
        course = os.path.join(OUTDIR, wildcards.patient, wildcards.course)
        needs = [n for n in COURSE_NEEDS[stage] if ENABLED[n]]
        return [os.path.join(course, ORGANIZED)] + [os.path.join(course, COURSE_SENTINELS[n]) for n in needs]

    return inputs


`
