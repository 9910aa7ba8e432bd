#!/usr/bin/env bash
# One draw of the labeling loop with `--cross-fit 5`, then every network of its last round
# on every image (examples/label_members) and the ways of pooling them on the test split
# (scripts/label-pool.py). Writes bench-out/label-crossfit/ (git-ignored).
#
#   scripts/bench-label-crossfit.sh anime64 3            # 200 random answers
#   SCHED=200,500 scripts/bench-label-crossfit.sh raw96 0   # then 300 by margin
#
# SET: anime64 (../shared/data/anime-faces-64, tags.csv, labels/anime.toml, the default
# test split) or raw96 (anime-faces-96-raw, its labels.csv read right by
# scripts/raw96-truth.py, labels/anime-mlds.toml, half the labeled images as the test split). Env: SCHED (default 200), FACESYNTH and MEMBERS (the
# binaries; default: built here), OUT, THREADS (default 2). More arguments go to
# `label simulate`. The accuracy and ECE per point are in RUN/labels/simulate.json.
set -euo pipefail
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
cd "$(dirname "$0")/.."
set_=${1:?SET: anime64 or raw96}; seed=${2:?SEED}; shift 2
. scripts/label-set.sh
OUT=${OUT:-bench-out/label-crossfit}
export RAYON_NUM_THREADS=${THREADS:-2}
if [ -z "${FACESYNTH:-}" ] || [ -z "${MEMBERS:-}" ]; then
  cargo build --release --bin facesynth --example label_members
  FACESYNTH=${CARGO_TARGET_DIR:-target}/release/facesynth
  MEMBERS=${CARGO_TARGET_DIR:-target}/release/examples/label_members
fi
mkdir -p "$OUT"
base=$OUT/base-$set_
if [ ! -f "$base/labels/labels.csv" ]; then
  rm -rf "$base"; mkdir -p "$base"; ln -s "$(realpath "$SRC/images")" "$base/images"
  "$FACESYNTH" -q label init --schema "$SCHEMA" --data "$base"
fi
run=$OUT/$set_-s$seed
rm -rf "$run"; mkdir -p "$run"; ln -s "$(realpath "$SRC/images")" "$run/images"
cp -r "$base/labels" "$run/labels"
/usr/bin/time -f "%e s simulate" "$FACESYNTH" -q label simulate --data "$run" --oracle "$TRUTH" \
  --schedule "${SCHED:-200}" --strategy margin --seed "$seed" --holdout "$HOLDOUT" --cross-fit 5 "$@"
HOLDOUT=$HOLDOUT "$MEMBERS" "$run" "$TRUTH" "$run/members.csv"
python3 scripts/label-pool.py "$run" | tee "$run/pool.txt"
