#!/usr/bin/env bash
# The labeling loop with today's defaults on several draws (seeds), one at a time, and a
# table of each draw's accuracy and test ECE per point, the rounds' times and the
# temperatures the votes set (sessions 29-40 of BENCHMARKS.md, label, use this loop).
# Writes bench-out/label-draws/ (git-ignored).
#
#   scripts/bench-label-draws.sh anime64 8 2 4 0            # 200 random answers, then 300 by margin
#   SCHED=200 scripts/bench-label-draws.sh anime64 3 5      # the 200-answer point only
#   scripts/bench-label-draws.sh raw96 0 -- --vote-calibration false
#
# SET: anime64 (../shared/data/anime-faces-64, tags.csv, labels/anime.toml, the default
# test split) or raw96 (anime-faces-96-raw, its labels.csv read right by
# scripts/raw96-truth.py, labels/anime-mlds.toml, half the labeled images as the test
# split). Env: SCHED (default 200,500), STRATEGY (default margin), FACESYNTH (binary;
# default: built here), OUT, THREADS (default 2). Arguments after `--` go to `label
# simulate`. A draw takes about 12 minutes on 2 cores (three rounds of 220-280 s).
set -euo pipefail
cd "$(dirname "$0")/.."
set_=${1:?SET: anime64 or raw96}; shift
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#seeds[@]} -gt 0 ] || { echo "no SEED given" >&2; exit 2; }
. scripts/label-set.sh
OUT=${OUT:-bench-out/label-draws}
export RAYON_NUM_THREADS=${THREADS:-2}
if [ -z "${FACESYNTH:-}" ]; then
  cargo build --release --bin facesynth
  FACESYNTH=${CARGO_TARGET_DIR:-target}/release/facesynth
fi
mkdir -p "$OUT"
base=$OUT/base-$set_
if [ ! -f "$base/labels/labels.csv" ]; then
  rm -rf "$base"; mkdir -p "$base"; ln -s "$(realpath "$SRC/images")" "$base/images"
  "$FACESYNTH" -q label init --schema "$SCHEMA" --data "$base"
fi
runs=()
for seed in "${seeds[@]}"; do
  run=$OUT/$set_-s$seed
  rm -rf "$run"; mkdir -p "$run"; ln -s "$(realpath "$SRC/images")" "$run/images"
  cp -r "$base/labels" "$run/labels"
  "$FACESYNTH" -q label simulate --data "$run" --oracle "$TRUTH" --schedule "${SCHED:-200,500}" \
    --strategy "${STRATEGY:-margin}" --seed "$seed" --holdout "$HOLDOUT" "$@"
  runs+=("$run")
done
python3 - "${runs[@]}" <<'PY' | tee "$OUT/draws-$set_.md"
import json, sys
print("| run | answers | accuracy (per attribute) | test ECE | unasked ECE (confidence - accuracy) | round | temperatures (refit; votes' ratio) |")
print("|---|---|---|---|---|---|---|")
for run in sys.argv[1:]:
    curve = json.load(open(f"{run}/labels/simulate.json"))["curve"]
    rounds = json.load(open(f"{run}/labels/rounds.json"))
    for point, r in zip(curve, rounds):
        if point["labels"] == 0:
            continue
        acc = " / ".join(f"{a} {v:.3f}" for a, v in sorted(point["accuracy"].items()))
        ece = " / ".join(f"{v:.3f}" for _, v in sorted(point["ece"].items()))
        un = point.get("unasked", {})
        unasked = " / ".join(f"{c['ece']:.3f} ({c['confidence'] - c['accuracy']:+.3f})" for _, c in sorted(un.items())) or "-"
        temps = " / ".join(f"{v:.2f}" for _, v in sorted(r.get("refit_temperature", r["temperature"]).items()))
        ratio = r.get("refit_vote_ratio")
        temps += f"; {ratio:.2f}" if ratio else ""
        print(f"| {run.split('/')[-1]} | {point['labels']} | {acc} | {ece} | {unasked} | {r['seconds']:.0f} s | {temps} |")
PY
