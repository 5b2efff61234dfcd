#!/usr/bin/env bash
# Radiomics benchmark: the full CT recipe (Original + LoG 1/2/3/5 mm + Wavelet coif1, 1 mm
# B-spline resampling, all classes, distances [1,2]: 1223 features) on synthetic 100 cm³ and
# 1000 cm³ tumours in a 0.98×0.98×3 mm CT, with 1 and 2 workers (ROIs in parallel). Prints seconds
# per ROI and peak resident memory as Markdown for docs/benchmarks.md.
#
#   bench/radiomics.sh [ROIS]   (ROIS per configuration, default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-/tmp/rtpipeline-radiomicsbench}
mkdir -p "$work"
go build -o "$work/radiomicsbench" ./bench/radiomicsbench
rois=${1:-4}
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); $rois ROIs per row."
echo
echo "| ROI volume | workers | features | wall (s) | s per ROI | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for vol in 100 1000; do
  for w in 1 2; do
    out=$(/usr/bin/time -f "%M" "$work/radiomicsbench" -volume "$vol" -rois "$rois" -workers "$w" 2>"$work/time.txt")
    rss=$(tail -1 "$work/time.txt")
    eval "$(echo "$out" | tr ' ' '\n' | grep '=' )"
    echo "| ${vol} cm³ | $w | $features | $wall_s | $s_per_roi | $((rss / 1024)) |"
  done
done
