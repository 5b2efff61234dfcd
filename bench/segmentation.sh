#!/usr/bin/env bash
# Built-in CT segmenter benchmark: segmentation of a synthetic 512x512x150 thorax CT (2.5 mm
# slices, 20 HU noise; rendered in memory by synth.PhantomCT) with 1 and 2 workers, returning
# all five masks or only the body. Prints wall times and peak resident memory (GNU time), and
# the Dice of every structure against the phantom's truth in the four patient positions, as
# Markdown for docs/segmentation.md (section "Built-in CT segmenter").
#
#   bench/segmentation.sh [SLICES]   (default 150)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-/tmp/rtpipeline-segbench}
mkdir -p "$work"
command -v /usr/bin/time >/dev/null || { echo "GNU time not installed (apt-get install -y time)" >&2; exit 1; }
go build -o "$work/segbench" ./bench/segbench
slices=${1:-150}
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start."
echo

# run ARGS...: runs segbench under GNU time; sets $out (its key=value line) and $rss (MiB).
run() {
  out=$(/usr/bin/time -f "%M" "$work/segbench" -slices "$slices" "$@" 2>"$work/time.txt")
  rss=$(( $(tail -1 "$work/time.txt") / 1024 ))
}
val() { echo "$out" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

run -ct-only
base=$rss
echo "CT of 512x512x${slices} voxels alone (float64 HU, as imageio holds it): peak RSS ${base} MiB."
echo
echo "| workers | masks returned | segmentation wall (s) | peak RSS (MiB) | above the CT alone (MiB) |"
echo "|---|---|---|---|---|"
for w in 1 2; do
  for s in "" body; do
    run -workers "$w" ${s:+-structures "$s"}
    echo "| $w | ${s:-all 5} | $(val wall_s) | $rss | $((rss - base)) |"
  done
done
echo
echo "| position | body | lung_left | lung_right | airways | bones |"
echo "|---|---|---|---|---|---|"
for p in HFS FFS HFP FFP; do
  run -workers 2 -position "$p" -dice
  echo "| $p | $(val dice_body) | $(val dice_lung_left) | $(val dice_lung_right) | $(val dice_airways) | $(val dice_bones) |"
done
