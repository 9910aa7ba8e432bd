#!/usr/bin/env bash
# Whether one temperature can meet ECE <= 0.05 on a simulate run's labels: dumps each
# run's logits with examples/label_calibration (DUMP=), then scripts/calibration-shapes.py
# compares the round's temperature with a label-noise floor and with the best temperature
# the test split and the unasked images would each fit (BENCHMARKS.md, label, session 46).
#
#   scripts/bench-calibration-shapes.sh RUN_DIR...    # simulate folders of one set
#
# Env: TRUTH (default bench-out/raw96-truth.csv, scripts/label-set.sh's), HOLDOUT (the
# runs' --holdout, default 0.5), OUT (default bench-out/calibration-shapes). Makes a venv
# with numpy in bench-out/venv.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "no RUN_DIR given" >&2; exit 2; }
TRUTH=${TRUTH:-bench-out/raw96-truth.csv}
[ -f "$TRUTH" ] || { echo "skip: $TRUTH not found (scripts/label-set.sh raw96 makes it)"; exit 0; }
OUT=${OUT:-bench-out/calibration-shapes}
mkdir -p "$OUT"
if [ ! -x bench-out/venv/bin/python ] || ! bench-out/venv/bin/python -c 'import numpy' 2>/dev/null; then
  python3 -m venv bench-out/venv
  bench-out/venv/bin/pip install --quiet numpy
fi
cargo build --release --example label_calibration
args=()
for run in "$@"; do
  name=$(basename "$run")
  HOLDOUT=${HOLDOUT:-0.5} DUMP="$OUT/$name.csv" \
    "${CARGO_TARGET_DIR:-target}/release/examples/label_calibration" "$run" "$TRUTH" > "$OUT/$name.txt"
  args+=("$OUT/$name.csv" "$run")
done
bench-out/venv/bin/python scripts/calibration-shapes.py "${args[@]}" | tee "$OUT/shapes.csv"
