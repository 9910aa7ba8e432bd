#!/usr/bin/env bash
# eval's metrics against known answers and against Python references on the same feature
# vectors (scipy FID as pytorch-fid, torch-fidelity's KID formula, the `prdc` package),
# and the time of the metric pipeline on 10,000 images, side by side.
#
#   scripts/bench-eval.sh                          # MNIST (../shared/data/mnist), 28 px
#   DATA=../shared/data/anime-faces-64 SIZE=64 scripts/bench-eval.sh
#   THREADS=2 scripts/bench-eval.sh
#
# Writes bench-out/eval/<dataset>/: the .npy feature sets, rust.json, the cached feature
# network; prints markdown tables (the figures in BENCHMARKS.md, eval). The venv with numpy,
# scipy and prdc is made under bench-out/ with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/mnist}
SIZE=${SIZE:-28}
THREADS=${THREADS:-2}
OUT=bench-out/eval/$(basename "$DATA")
mkdir -p "$OUT"
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

if [ ! -x bench-out/venv-eval/bin/python ]; then
  python3 -m venv bench-out/venv-eval
  bench-out/venv-eval/bin/pip install --quiet numpy scipy prdc
fi

cargo build --release --quiet --example eval_reference
EX=${CARGO_TARGET_DIR:-target}/release/examples/eval_reference
"$EX" "$DATA" "$OUT" "$SIZE"
bench-out/venv-eval/bin/python scripts/eval_ref.py "$OUT"
