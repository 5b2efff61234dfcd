#!/usr/bin/env bash
# DVH benchmark: rtpipeline dvh-calc against plastimatch (Debian package plastimatch), side by
# side in one run, on every case of the Nelms analytical phantom and on a synthetic course with
# 30 ROIs on a 512x512x150 CT and a 2.5 mm dose grid. Reports wall times and both tools' errors
# against analytic values, as Markdown for docs/benchmarks.md.
#
#   bench/dvh.sh [N]     (N: only the first N Nelms cases; default all 300)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-/tmp/rtpipeline-dvhbench}
mkdir -p "$work"
command -v plastimatch >/dev/null || { echo "plastimatch not installed (apt-get install -y plastimatch)" >&2; exit 1; }
go build -o "$work/rtpipeline" ./cmd/rtpipeline
go build -o "$work/dvhbench" ./bench/dvhbench
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); $(plastimatch --version 2>&1 | head -1)."
echo
"$work/dvhbench" -rtpipeline "$work/rtpipeline" -nelms ../shared/testdata/dicom-rt/nelms-dvh-analytical -work "$work" -limit "${1:-0}"
