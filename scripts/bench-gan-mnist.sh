#!/usr/bin/env bash
# MNIST quality benchmark of `facesynth train`: trains class-conditional MNIST GANs on the
# CPU (pipelines/mnist-<model>.toml: 28 px, narrow networks, 3,000 steps of batch 64), then
# a judge that did not train the GAN (examples/mnist_judge.rs: the labels classifier's CNN
# trained on the first 8,000 real MNIST images, its accuracy measured on the other 2,000)
# classifies `facesynth generate --per-class` output:
#   - acgan, cgan: share of generated digits classified as the digit asked for (goal >= 97%)
#   - infogan: agreement of the 10-way categorical code with the judge's digits under the
#     best one-to-one matching (goal >= 80%)
#   - dcgan: how the judge's digits spread over unconditional samples; dcgan-split:
#     `--split-by digit` (one model per digit), judged as a conditional model.
#
#   scripts/bench-gan-mnist.sh                              # acgan cgan infogan, 3,000 steps
#   MODELS="dcgan dcgan-split" STEPS=1000 scripts/bench-gan-mnist.sh
#   RUNS=/work/runs scripts/bench-gan-mnist.sh              # run folders RUNS/mnist-<model>
#
# A run folder that already has a checkpoint is resumed (and left alone when it is done), so
# the script can be stopped and started again. Step times: RUNS/mnist-<model>.time.
# EVAL=1: afterwards `facesynth eval` on every run folder RUNS/mnist-* (EVAL_N generated
# images, default 10,000; timed) and `facesynth eval compare` over them all: the MNIST
# comparison table in RUNS/compare/compare.{md,csv,html}.
#   EVAL=1 MODELS= RUNS=/work/runs scripts/bench-gan-mnist.sh     # only the eval stage
# Results: RUNS/judge-<models>.json (so two invocations with different MODELS can run side
# by side: this tiny model keeps about one core busy) and the lines printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MNIST=${MNIST:-../shared/data/mnist}
RUNS=${RUNS:-bench-out/gan-mnist}
MODELS=${MODELS:-"acgan cgan infogan"}
STEPS=${STEPS:-3000}
PER=${PER:-100}
EXTRA=${EXTRA:-}
EVAL=${EVAL:-0}
EVAL_N=${EVAL_N:-10000}
mkdir -p "$RUNS"

cargo build --release --quiet --bin facesynth --example mnist_judge
T=${CARGO_TARGET_DIR:-target}/release
BIN=$T/facesynth
JUDGE=$T/examples/mnist_judge

judge_args=()
for m in $MODELS; do
  run=$RUNS/mnist-$m
  pipe=pipelines/mnist-${m%-split}.toml
  split=()
  [ "$m" = dcgan-split ] && split=(--split-by digit)
  if [ -f "$run/latest.json" ] || [ -f "$run/summary.csv" ]; then
    args=(--resume)
  else
    args=(--mnist "$MNIST" --pipeline "$pipe" "${split[@]}")
  fi
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$BIN" train "${args[@]}" --steps "$STEPS" --out "$run" --quiet $EXTRA
  end=$(date +%s.%N)
  echo "$m: $STEPS steps, $(echo "$end - $start" | bc) s this invocation" | tee -a "$RUNS/mnist-$m.time"
  gen=$RUNS/gen-$m
  rm -rf "$gen"
  case $m in
    dcgan)
      "$BIN" generate --checkpoint "$run" --n $((PER * 10)) --out "$gen" --quiet
      judge_args+=(--uncond "$m=$gen") ;;
    infogan)
      "$BIN" generate --checkpoint "$run" --per-class "$PER" --out "$gen" --quiet
      judge_args+=(--info "$m=$gen") ;;
    *)
      "$BIN" generate --checkpoint "$run" --per-class "$PER" --out "$gen" --quiet
      judge_args+=(--cond "$m=$gen") ;;
  esac
done
if [ ${#judge_args[@]} -gt 0 ]; then
  "$JUDGE" --mnist "$MNIST" --cache "$RUNS/judge" --out "$RUNS/judge-${MODELS// /-}.json" "${judge_args[@]}"
fi
if [ "$EVAL" = 1 ]; then
  runs=()
  for run in "$RUNS"/mnist-*/; do
    run=${run%/}
    [ -f "$run/settings.json" ] || continue
    runs+=("$run")
    start=$(date +%s.%N)
    "$BIN" eval --run "$run" --data "$MNIST" --n "$EVAL_N" --quiet
    end=$(date +%s.%N)
    echo "eval $(basename "$run"): $EVAL_N images, $(echo "$end - $start" | bc) s" | tee -a "$RUNS/eval.time"
  done
  "$BIN" eval compare "${runs[@]}" --out "$RUNS/compare"
fi
