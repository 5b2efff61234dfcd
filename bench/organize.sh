#!/usr/bin/env bash
# Whole-process benchmark of indexing and organize on a synthetic cohort, side by side with a
# pydicom header scan of the same files.
#
#   bench/organize.sh [PATIENTS] [MATRIX]      (defaults: 280 patients, 512x512 CT)
#
# Needs python3 with pydicom (Debian: apt-get install -y python3-pydicom) and GNU time
# (/usr/bin/time). Work files go to $BENCH_DIR (default /tmp/rtpipeline-bench), about 6 GB at the
# defaults. Prints a Markdown table for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
patients=${1:-280}
matrix=${2:-512}
work=${BENCH_DIR:-/tmp/rtpipeline-bench}
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$work"
bin="$work/rtpipeline"
go build -o "$bin" ./cmd/rtpipeline
# Use every core: the worker budget is min(max_workers, cores - reserved_cores).
cfg="$work/bench.yaml"
printf 'scheduler:\n  reserved_cores: 0\n' > "$cfg"

cohort="$work/cohort-$patients-$matrix"
if [ ! -f "$cohort/truth.json" ]; then
  rm -rf "$cohort"
  "$bin" synth --out "$cohort" --patients "$patients" --matrix "$matrix" --seed 42
fi
small="$work/cohort-$patients-64"
if [ ! -f "$small/truth.json" ]; then
  rm -rf "$small"
  "$bin" synth --out "$small" --patients "$patients" --matrix 64 --seed 42
fi
root="$cohort/dicom"
files=$(find "$root" -type f | wc -l)
bytes=$(du -sb "$root" | cut -f1)
# Warm the page cache so every reader sees the same (cached) files.
find "$root" "$small/dicom" -type f -print0 | xargs -0 cat > /dev/null

peak() { grep 'Maximum resident' "$1" | awk '{print $6}'; }
indexed_seconds() { grep -o 'msg=indexed files=[0-9]* seconds=[0-9.]*' "$1" | sed 's/.*seconds=//'; }

read -r pyfiles pysec pyrate pybad < <("$py" bench/pydicom_scan.py "$root")

declare -A idx_rate idx_rss
for w in 1 2; do
  /usr/bin/time -v "$bin" validate --config "$cfg" --max-workers "$w" "$root" > /dev/null 2> "$work/validate-$w.log"
  s=$(indexed_seconds "$work/validate-$w.log")
  idx_rate[$w]=$(awk -v f="$files" -v s="$s" 'BEGIN{printf "%.0f", f/s}')
  idx_rss[$w]=$(peak "$work/validate-$w.log")
done
/usr/bin/time -v "$bin" validate --config "$cfg" --max-workers 2 "$small/dicom" > /dev/null 2> "$work/validate-small.log"
small_rss=$(peak "$work/validate-small.log")

out="$work/out"
rm -rf "$out"
/usr/bin/time -v "$bin" organize --config "$cfg" --max-workers 2 --dicom-root "$root" --outdir "$out" > /dev/null 2> "$work/organize.log"
org_wall=$(grep -o 'msg=organized .*seconds=[0-9.]*' "$work/organize.log" | sed 's/.*seconds=//')
org_rss=$(peak "$work/organize.log")
courses=$(grep -o '"courses_ok": [0-9]*' "$out/_COURSES/organize_report.json" | grep -o '[0-9]*$')
/usr/bin/time -v "$bin" organize --config "$cfg" --max-workers 2 --dicom-root "$root" --outdir "$out" > /dev/null 2> "$work/reorganize.log"
reorg_wall=$(grep -o 'msg=organized .*seconds=[0-9.]*' "$work/reorganize.log" | sed 's/.*seconds=//')

speedup=$(awk -v a="${idx_rate[2]}" -v b="$pyrate" 'BEGIN{printf "%.1f", a/b}')
cat <<TABLE
Cohort: $patients patients, $courses courses, $files files, $((bytes / 1024 / 1024)) MiB, CT ${matrix}x${matrix}; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)).

| measurement | files/s | peak RSS (MiB) |
|---|---|---|
| pydicom 2.x header scan, 1 process (\`dcmread(stop_before_pixels=True)\`) | $pyrate | – |
| rtpipeline indexing, 1 worker | ${idx_rate[1]} | $((idx_rss[1] / 1024)) |
| rtpipeline indexing, 2 workers | ${idx_rate[2]} | $((idx_rss[2] / 1024)) |
| rtpipeline organize (index + decide + write, hard links), 2 workers, fresh output | $(awk -v f="$files" -v s="$org_wall" 'BEGIN{printf "%.0f", f/s}') | $((org_rss / 1024)) |
| rtpipeline organize rerun into the same output (nothing changes) | $(awk -v f="$files" -v s="$reorg_wall" 'BEGIN{printf "%.0f", f/s}') | – |

Indexing speed-up over pydicom (2 workers vs 1 process): ${speedup}x.
Peak RSS of indexing with 64x64 CT pixels instead of ${matrix}x${matrix} (same headers): $((small_rss / 1024)) MiB vs $((idx_rss[2] / 1024)) MiB.
TABLE
