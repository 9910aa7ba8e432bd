#!/usr/bin/env bash
# GAN training step time: facesynth (burn flex, CPU) against the same model in PyTorch on
# this CPU, same thread count, side by side in one run. Writes bench-out/gan/results.csv
# and prints a markdown table with the ratio facesynth / PyTorch (lower is better).
#
#   scripts/bench-gan.sh                 # release build, 2 threads, 10 timed steps
#   THREADS=4 STEPS=20 scripts/bench-gan.sh
#   PROFILE=dev scripts/bench-gan.sh     # skip the release build (deps are opt-level 2 in dev)
#
# Data: ../shared/data/anime-faces-64 (real 64 px faces; resized for 32 px). PyTorch comes
# from Debian's python3-torch (apt-get install -y python3-torch) or a venv made here under
# bench-out/ with the CPU wheel when apt is not available.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
STEPS=${STEPS:-10}
PROFILE=${PROFILE:-release}
CONFIGS=${CONFIGS:-"dcgan:32 dcgan:64 acgan:32 acgan:64"}
DATA=${DATA:-../shared/data/anime-faces-64}
OUT=bench-out/gan
mkdir -p "$OUT"

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/facesynth
else
  cargo build --quiet
  BIN=${CARGO_TARGET_DIR:-target}/debug/facesynth
fi

PY=python3
# Debian's python3-torch lives in the system Python (a pyenv shim may come first).
if ! $PY -c 'import torch' 2>/dev/null && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  PY=/usr/bin/python3
fi
if ! $PY -c 'import torch' 2>/dev/null; then
  if [ ! -x "$OUT/venv/bin/python" ]; then
    python3 -m venv "$OUT/venv"
    "$OUT/venv/bin/pip" install --quiet torch --index-url https://download.pytorch.org/whl/cpu
  fi
  PY=$OUT/venv/bin/python
fi
TORCH=$($PY -c 'import torch; print(torch.__version__)')

export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
echo "model,size,facesynth_ms,pytorch_ms,ratio" > "$OUT/results.csv"
for cfg in $CONFIGS; do
  model=${cfg%%:*}; size=${cfg##*:}
  run="$OUT/run-$model-$size"
  rm -rf "$run"
  # Classes only for the conditional models: `--attr` on a dcgan is a usage error.
  cond=()
  [ "$model" = dcgan ] || cond=(--labels "$DATA/tags.csv" --attr hair_color)
  "$BIN" --quiet train --data "$DATA" "${cond[@]}" \
    --model "$model" --size "$size" --batch 64 --width 64 --steps $((STEPS + 2)) \
    --sample-every 100000 --checkpoint-every 100000 --log-every 1 --out "$run"
  # metrics.csv logs seconds since the loop started after every step: time steps 3..n
  # (two warm-up steps excluded), data loading, logging and the batch thread included.
  fs=$(awk -F, -v n=$((STEPS + 2)) 'NR>1 { s[$1]=$9 } END { printf "%.1f", (s[n]-s[2])/(n-2)*1000 }' "$run/metrics.csv")
  pt=$($PY scripts/bench_gan.py --threads "$THREADS" --steps "$STEPS" --configs "$cfg" | cut -d, -f3)
  ratio=$(awk -v a="$fs" -v b="$pt" 'BEGIN { printf "%.2f", a/b }')
  echo "$model,$size,$fs,$pt,$ratio" >> "$OUT/results.csv"
done

echo "| model | size | facesynth ms/step | PyTorch $TORCH ms/step | ratio |"
echo "|---|---|---|---|---|"
tail -n +2 "$OUT/results.csv" | awk -F, '{ printf "| %s | %s | %s | %s | %sx |\n", $1, $2, $3, $4, $5 }'
echo "($THREADS threads, batch 64, width 64, $STEPS timed steps; $(nproc) cores; $(date -I))"
