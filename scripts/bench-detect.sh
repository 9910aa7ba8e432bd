#!/usr/bin/env bash
# Benchmark facesynth's cascade detector against OpenCV's CascadeClassifier.
#
#   scripts/bench-detect.sh [DATA_DIR]     (default ../shared/data)
#
# Makes a venv under bench-out/ with opencv-python-headless<5, writes the test sets as
# grey PNGs (identical pixels for both sides), then times both detectors on the same
# images with the same settings (scale factor 1.1, min neighbours 5, min size 24,
# equalized), with 1 and 2 threads, and prints speed ratios, agreement, recall and
# non-face rates as Markdown (also saved to bench-out/detect/report.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
MODELS=${MODELS:-$(dirname "$DATA")/models}
OUT=bench-out/detect
VENV=bench-out/venv
# The venv is shared with the other benchmark scripts: each installs what it lacks.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import cv2, numpy' 2>/dev/null; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "opencv-python-headless<5" numpy
fi
PY="$VENV/bin/python"
mkdir -p "$OUT"
if [ ! -f "$OUT/anime-pasted.truth.csv" ]; then
  echo "preparing test sets in $OUT" >&2
  "$PY" scripts/bench_detect.py prepare "$DATA" "$OUT"
fi
cargo build --release --example bench_detect
BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_detect
rm -f "$OUT"/*.json
run() { # SET CASCADE
  for t in 1 2; do
    "$PY" scripts/bench_detect.py opencv "$OUT" "$1" "$MODELS/$2" "$t"
    "$BIN" "$OUT" "$1" "$MODELS/$2" "$t"
  done
}
run anime-pasted lbpcascade_animeface.xml
run caltech-nonfaces lbpcascade_animeface.xml
run caltech-faces haarcascade_frontalface_default.xml
run caltech-nonfaces haarcascade_frontalface_default.xml
{
  echo "OpenCV $("$PY" -c 'import cv2; print(cv2.__version__)'), $(nproc) cores, $(date -u +%F)"
  echo
  "$PY" scripts/bench_detect.py compare "$OUT"
} | tee "$OUT/report.md"
