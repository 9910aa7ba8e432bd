#!/usr/bin/env bash
# Near-duplicate precision on real faces: scripts/bench-dedup.sh [OLD_BINARY]
# Builds the release binary, makes a venv with Pillow and numpy (bench-out/venv), and runs
# scripts/bench_dedup.py: planted copies' pair precision/recall on four shared sets and
# the near rows of five whole sets (with OLD_BINARY: both binaries side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
if [ ! -x bench-out/venv/bin/python ] || ! bench-out/venv/bin/python -c 'import numpy, PIL, imagehash' 2>/dev/null; then
    [ -x bench-out/venv/bin/python ] || python3 -m venv bench-out/venv
    bench-out/venv/bin/pip install --quiet pillow imagehash numpy
fi
bench-out/venv/bin/python scripts/bench_dedup.py "${CARGO_TARGET_DIR:-target}/release/facesynth" bench-out/dedup ${1:+"$1"}
