#!/usr/bin/env bash
# prep figures (the prep issue): throughput against decode-only and against a Python peer
# (Pillow + imagehash) in the same run, dedup index growth, and peak memory at 10k/100k.
# usage: scripts/bench-prep.sh [JOBS]     results: bench-out/prep/*.json and stdout
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-2}
DATA=../shared/data/anime-faces-96-raw/images
OUT=bench-out/prep
mkdir -p "$OUT"
[ -d "$DATA" ] || { echo "no $DATA: the shared data must sit beside the checkout"; exit 1; }

cargo build --release --quiet --bin facesynth --example prep_bench --example dedup_index_bench
BIN=${CARGO_TARGET_DIR:-target}/release

if [ ! -x bench-out/venv/bin/python ]; then
    python3 -m venv bench-out/venv
    bench-out/venv/bin/pip install --quiet pillow imagehash
fi

echo "== throughput, $JOBS jobs, $(ls $DATA | wc -l) files (facesynth decode-only / full prep, then the Python peer)"
"$BIN/examples/prep_bench" "$DATA" "$JOBS" "$OUT/run" | tee "$OUT/throughput.json"
rm -rf "$OUT/peer"
bench-out/venv/bin/python scripts/prep_peer.py "$DATA" "$JOBS" "$OUT/peer" | tee "$OUT/peer.json"

echo "== dedup index growth"
"$BIN/examples/dedup_index_bench" 10000 100000 1000000 | tee "$OUT/dedup-index.json"

echo "== peak memory (max RSS) of a full prep run"
for n in 10000 100000; do
    dir="$OUT/in-$n"
    if [ ! -d "$dir" ]; then
        # Symbolic links to the shared images, repeated in sub-folders up to n files.
        python3 - "$DATA" "$dir" "$n" <<'PY'
import os, sys
src, dst, n = os.path.realpath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
files = sorted(os.listdir(src))
for i in range(n):
    sub = os.path.join(dst, str(i // len(files)))
    os.makedirs(sub, exist_ok=True)
    f = files[i % len(files)]
    os.symlink(os.path.join(src, f), os.path.join(sub, f))
PY
    fi
    rm -rf "$OUT/mem-$n"
    /usr/bin/time -f "{\"n\": $n, \"max_rss_kb\": %M, \"seconds\": %e}" \
        "$BIN/facesynth" prep "$dir" --out "$OUT/mem-$n" --jobs "$JOBS" --quiet 2>&1 | tee "$OUT/mem-$n.json"
done
