#!/usr/bin/env bash
# Scheduling benchmark: the whole pipeline (every stage of the stage table) on one synthetic cohort,
# side by side with the embedded scheduler (`rtpipeline run`) and with Snakemake running
# workflow/Snakefile (the same stage commands, the same budget and threads). Reports courses per
# minute, wall time, CPU time (GNU time %U+%S, the engine and every job it started) and budget
# utilisation = CPU time / (wall time × worker budget), as Markdown for docs/benchmarks.md.
#
#   bench/run.sh [PATIENTS] [CORES]    (default 50 patients, 2 cores)
#
# Environment: BENCH_DIR (work folder, default /tmp/rtpipeline-runbench), MATRIX (CT rows and
# columns, default 64), RESERVED (scheduler.reserved_cores, default 0 so that the budget is every
# core), JOB_THREADS (when set, scheduler.dvh_threads_per_job and radiomics_threads_per_job; default:
# the configuration defaults, 4 and 6, clipped to the budget). Radiomics runs with a light recipe (first order + GLCM on the original image): this
# measures scheduling, not feature extraction (bench/radiomics.sh does that). Segmentation is the
# built-in CPU segmenter with segmentation.device: cpu (a CPU-only host, the guide's third example).
set -euo pipefail
cd "$(dirname "$0")/.."
patients=${1:-50}
cores=${2:-2}
work=${BENCH_DIR:-/tmp/rtpipeline-runbench}
matrix=${MATRIX:-64}
reserved=${RESERVED:-0}
rm -rf "$work"
mkdir -p "$work"
bin="$work/rtpipeline"
go build -o "$bin" ./cmd/rtpipeline
export RTPIPELINE_CONFIGFILE= RTPIPELINE_MAX_WORKERS=

"$bin" synth --out "$work/in" --patients "$patients" --seed 1 --matrix "$matrix" --min-slices 24 --max-slices 40 >/dev/null
cat >"$work/params.yaml" <<EOF
setting:
  binWidth: 25
imageType:
  Original: {}
featureClass:
  firstorder:
  glcm:
EOF
jobthreads=""
if [ -n "${JOB_THREADS:-}" ]; then
  jobthreads="
  dvh_threads_per_job: $JOB_THREADS
  radiomics_threads_per_job: $JOB_THREADS
  qc_threads_per_job: $JOB_THREADS"
fi
cat >"$work/config.yaml" <<EOF
scheduler:
  reserved_cores: $reserved$jobthreads
segmentation:
  device: cpu
radiomics:
  enabled: true
  params_file: $work/params.yaml
EOF
budget=$("$bin" workflow plan --cores "$cores" --config "$work/config.yaml" | sed -n 's/^  "budget": \([0-9]*\),$/\1/p')
stages=$("$bin" workflow snakefile | sed -n 's/^# Stages: //p')

# measure NAME COMMAND...: runs the command under GNU time and prints a table row.
measure() {
  local name=$1 out=$2
  shift 2
  local rc=0
  /usr/bin/time -f "%e %U %S" -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1 || rc=$?
  local courses
  courses=$(grep -c '"path"' "$out/_COURSES/manifest.json" || true)
  read -r wall user sys <"$work/$name.time"
  awk -v n="$name" -v c="$courses" -v w="$wall" -v u="$user" -v s="$sys" -v b="$budget" -v rc="$rc" 'BEGIN {
    cpu = u + s
    printf "| %s | %d | %.1f | %.1f | %.1f | %d | %.0f %% |%s\n", n, c, w, c / w * 60, cpu, b, 100 * cpu / (w * b), (rc ? " exit " rc : "")
  }'
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); $(snakemake --version 2>/dev/null | sed 's/^/Snakemake /' || echo 'no Snakemake')."
echo "Cohort: rtpipeline synth --patients $patients --matrix $matrix --min-slices 24 --max-slices 40; --cores $cores, scheduler.reserved_cores $reserved: budget $budget; threads per job: $("$bin" workflow plan --cores "$cores" --config "$work/config.yaml" | tr -d ' \n' | grep -o '"[a-z_]*":{"threads":[0-9]*' | sed 's/"//g; s/:{threads:/ /' | paste -sd, -)."
echo "Stages: $stages"
echo
echo "| engine | courses | wall (s) | courses/min | CPU (s) | budget | budget utilisation |"
echo "|---|---|---|---|---|---|---|"
if "$bin" run --help >/dev/null 2>&1; then
  measure "rtpipeline run" "$work/out-run" "$bin" run --dicom-root "$work/in/dicom" --outdir "$work/out-run" --config "$work/config.yaml" --cores "$cores"
else
  echo "| rtpipeline run | – | – | – | – | – | not available in this build: skipped |"
fi
if command -v snakemake >/dev/null; then
  measure "snakemake" "$work/out-smk" snakemake --snakefile workflow/Snakefile --directory "$work/smk" --cores "$cores" --nocolor \
    --config dicom_root="$work/in/dicom" outdir="$work/out-smk" rtpipeline="$bin" rtpipeline_config="$work/config.yaml"
else
  echo "| snakemake | – | – | – | – | – | not installed: skipped |"
fi
echo
echo "Load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg). Logs: $work/*.log"
