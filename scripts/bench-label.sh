#!/usr/bin/env bash
# Benchmark of `facesynth label` on ../shared/data/anime-faces-64 (10,000 faces, tags.csv).
# Writes bench-out/label/ (git-ignored): per-strategy simulate.json, a markdown table
# (bench-out/label/results.md) and timings. Nothing from the shared data enters the repo.
#
#   scripts/bench-label.sh                     # margin and random, budgets 50..1000
#   STRATEGIES="entropy margin least-confidence random" scripts/bench-label.sh
#   SCHEDULE=50,100,200,500 STEPS=300 ALL_LABELS=1 scripts/bench-label.sh
#   WARMUP=50,100,200 SCHEDULE=500,1000 STRATEGIES="entropy margin least-confidence random" \
#     scripts/bench-label.sh                    # the grid from one shared random warm-up:
#                                               # each strategy continues a copy of it
#   FIT=500 scripts/bench-label.sh              # only the supervised check against the
#                                               # PyTorch reference (examples/label_fit)
#   scripts/raw96-truth.py && SRC=../shared/data/anime-faces-96-raw TRUTH=bench-out/raw96-truth.csv \
#     SCHEMA=labels/anime-mlds.toml OUT=bench-out/label-96 ARGS="--holdout 0.5" \
#     scripts/bench-label.sh                    # the raw 96 px set (2,749 labeled; its
#                                               # labels.csv read right: columns swapped back,
#                                               # values renamed); half of them as the test
#                                               # split (1,397), whose ECE noise floor (0.03)
#                                               # can tell 0.05 apart
#
# Env: FACESYNTH (binary; default: cargo build --release), STRATEGIES, SCHEDULE, STEPS,
# SIZE (default 48), SELF_TRAIN (self-training steps, default 0), FIT, ALL_LABELS (1: also
# train on all ~8,000 training labels, ALL_STEPS steps, default 1500), TIME_ROUND (1: time one plain `label round` on all
# images), THREADS (default 2: RAYON_NUM_THREADS), PARALLEL (1: the simulations side by
# side, THREADS threads each), WARMUP (a schedule: one random run `warmup` to its last
# count, which every strategy's run then continues, so that all strategies start from
# the same answers and the grid costs one warm-up instead of one per strategy), SEED
# (`--seed`, default 0), ARGS (more `label simulate` flags, e.g. "--warm-start false
# --trust 0.9"), ROUND_ARGS (more flags of TIME_ROUND's `label round`: simulate's
# `--holdout` is no round flag). The accuracy curves are drawn to bench-out/label/curves.png
# (examples/label_curves.rs).
set -euo pipefail
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
cd "$(dirname "$0")/.."
SRC=${SRC:-../shared/data/anime-faces-64}
OUT=${OUT:-bench-out/label}
TRUTH=${TRUTH:-$SRC/tags.csv} # wide CSV: file,hair_color,eye_color (96-raw: scripts/raw96-truth.py's)
SCHEMA=${SCHEMA:-labels/anime.toml} # 96-raw: labels/anime-mlds.toml (its eye colours include gray)
STRATEGIES=${STRATEGIES-"margin random"} # set and empty: no simulations
SCHEDULE=${SCHEDULE:-50,100,200,500,1000}
STEPS=${STEPS:-} # empty: the round's default (`label round --help`)
ALL_STEPS=${ALL_STEPS:-1500} # the all-labels ceiling trains longer (1,500 steps, as label-anchors.md)
SIZE=${SIZE:-48}
SELF_TRAIN=${SELF_TRAIN:-0}
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS
if [ ! -f "$TRUTH" ]; then echo "skip: $TRUTH not found"; exit 0; fi
if [ -z "${FACESYNTH:-}" ]; then
  cargo build --release --bin facesynth
  FACESYNTH=${CARGO_TARGET_DIR:-target}/release/facesynth
fi
mkdir -p "$OUT"
if [ -n "${FIT:-}" ]; then # N random labels, supervised, then one self-training pass
  cargo build --release --example label_fit
  /usr/bin/time -f "%e s label_fit $FIT" "${CARGO_TARGET_DIR:-target}/release/examples/label_fit" \
    "$SRC" "$FIT" "${STEPS:-600}" "$SIZE" 0 1 2>&1 | tee "$OUT/fit-$FIT.txt"
  exit 0
fi
BASE=$OUT/base
if [ ! -f "$BASE/labels/labels.csv" ]; then
  rm -rf "$BASE"; mkdir -p "$BASE"
  ln -s "$(realpath "$SRC/images")" "$BASE/images"
  cp "$TRUTH" "$OUT/truth.csv"
  /usr/bin/time -f "%e s init (heuristics on all images)" "$FACESYNTH" -q label init --schema "$SCHEMA" --data "$BASE" 2>&1 | tee "$OUT/init-time.txt"
fi
run_sim() { # name strategy schedule [steps] [the run whose store to continue; default: BASE]
  local dir=$OUT/$1 from=${5:-$BASE}
  rm -rf "$dir"; mkdir -p "$dir"
  ln -s "$(realpath "$SRC/images")" "$dir/images"
  cp -r "$from/labels" "$dir/labels"
  local max=${3##*,} steps=${4:-$STEPS}
  /usr/bin/time -f "%e s simulate $1" "$FACESYNTH" -q label simulate --data "$dir" --oracle "$OUT/truth.csv" \
    --budget "$max" --schedule "$3" --strategy "$2" ${steps:+--steps "$steps"} --size "$SIZE" --self-train-steps "$SELF_TRAIN" --seed "${SEED:-0}" ${ARGS:-} 2>&1 | tee "$OUT/$1-time.txt"
}
FROM=$BASE
if [ -n "${WARMUP:-}" ]; then
  run_sim warmup random "$WARMUP"
  FROM=$OUT/warmup
fi
if [ "${PARALLEL:-0}" = 1 ]; then # side by side, THREADS threads each
  for s in $STRATEGIES; do run_sim "$s" "$s" "$SCHEDULE" "" "$FROM" & done
  if [ "${ALL_LABELS:-0}" = 1 ]; then run_sim all-labels random 8000 "$ALL_STEPS" & fi
  wait
else
  for s in $STRATEGIES; do run_sim "$s" "$s" "$SCHEDULE" "" "$FROM"; done
  if [ "${ALL_LABELS:-0}" = 1 ]; then run_sim all-labels random 8000 "$ALL_STEPS"; fi
fi
if [ "${TIME_ROUND:-0}" = 1 ]; then
  dir=$OUT/round; rm -rf "$dir"; mkdir -p "$dir"; ln -s "$(realpath "$SRC/images")" "$dir/images"; cp -r "$BASE/labels" "$dir/labels"
  /usr/bin/time -f "%e s one label round (10,000 images, $THREADS threads)" "$FACESYNTH" -q label round --data "$dir" ${STEPS:+--steps "$STEPS"} --size "$SIZE" --self-train-steps "$SELF_TRAIN" ${ROUND_ARGS:-} 2>&1 | tee "$OUT/round-time.txt"
fi
python3 scripts/bench-label-table.py "$OUT" > "$OUT/results.md"
cat "$OUT/results.md"
cargo run --release --quiet --example label_curves -- "$OUT" "$OUT/curves.png"
