#!/usr/bin/env bash
# Cohort report screenshot: runs the demo (synthetic cohort → organize → dvh), the stages that
# exist beyond it when asked, then `rtpipeline aggregate`, and renders _RESULTS/report.html in
# headless Chromium (Debian package chromium). Fails when the browser logs a console message, an
# uncaught error or a failed load, or when the page makes a network request.
#
#   bench/report_screenshot.sh [OUT.png]
#
# Environment: BENCH_DIR (work folder, default /tmp/rtpipeline-reportbench; the demo cohort in it
# is reused), WITH_RADIOMICS=1 (also run the radiomics stage: slower), WITH_QC=1 (also run the qc
# stage, when this build has it), HEIGHT (screenshot height in pixels, default 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-/tmp/rtpipeline-reportbench}
shot=$(realpath -m "${1:-$work/report.png}")
mkdir -p "$work" "$(dirname "$shot")"
command -v chromium >/dev/null || { echo "chromium not installed (apt-get install -y chromium)" >&2; exit 1; }
go build -o "$work/rtpipeline" ./cmd/rtpipeline
bin="$work/rtpipeline"
"$bin" demo --outdir "$work/demo" >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; exit 1; }
out="$work/demo/output"
if [ "${WITH_RADIOMICS:-0}" = 1 ]; then
	"$bin" radiomics --outdir "$out" --fail-soft >"$work/radiomics.log" 2>&1 || echo "radiomics: see $work/radiomics.log" >&2
fi
if [ "${WITH_QC:-0}" = 1 ]; then
	if "$bin" qc --help >/dev/null 2>&1; then
		"$bin" qc --outdir "$out" --fail-soft >"$work/qc.log" 2>&1 || echo "qc: see $work/qc.log" >&2
	else
		echo "this build has no qc command; skipped" >&2
	fi
fi
"$bin" aggregate --outdir "$out"
report="$out/_RESULTS/report.html"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
log="$work/chromium.log"
HOME="$profile" chromium --headless --disable-gpu --no-sandbox --disable-dev-shm-usage --no-first-run \
	--hide-scrollbars --user-data-dir="$profile" --enable-logging=stderr --v=1 \
	--host-resolver-rules='MAP * ~NOTFOUND' --disable-background-networking --disable-component-update \
	--disable-sync --disable-default-apps --window-size=1280,"${HEIGHT:-5000}" \
	--screenshot="$shot" "file://$report" 2>"$log" >/dev/null
status=0
if grep -E ':CONSOLE|Uncaught|console\.error|Failed to load' "$log"; then
	echo "report.html: the browser logged errors (above; full log $log)" >&2
	status=1
fi
requests=$(grep -oE 'NotifyBeforeURLRequest: [^ ]+' "$log" | cut -d' ' -f2 \
	| grep -vE '^(file:|data:|chrome)|^https?://([a-z0-9.-]+\.)?(google\.com|googleapis\.com|gvt1\.com|gstatic\.com|googleusercontent\.com)(:[0-9]+)?/' || true)
if [ -n "$requests" ]; then
	echo "report.html made network requests:" >&2
	echo "$requests" >&2
	status=1
fi
[ -s "$shot" ] || { echo "no screenshot written (log $log)" >&2; exit 1; }
echo "report:     $report ($(du -h "$report" | cut -f1))"
echo "screenshot: $shot ($(du -h "$shot" | cut -f1))"
exit $status
