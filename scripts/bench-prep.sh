#!/usr/bin/env bash
# prep figures (the prep issue): throughput against decode-only and against a Python peer
# (Pillow + imagehash) in the same run, dedup index growth, and peak memory at 10k/100k.
# usage: scripts/bench-prep.sh [JOBS]     results: bench-out/prep/*.json and stdout
#        PARTS="throughput" scripts/bench-prep.sh   # only some of: throughput index memory
set -euo pipefail
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
cd "$(dirname "$0")/.."
JOBS=${1:-2}
PARTS=${PARTS-"throughput index memory"}
part() { [[ " $PARTS " == *" $1 "* ]]; }
DATA=../shared/data/anime-faces-96-raw/images
OUT=bench-out/prep
mkdir -p "$OUT"
[ -d "$DATA" ] || { echo "no $DATA: the shared data must sit beside the checkout"; exit 1; }

cargo build --release --quiet --bin facesynth --example prep_bench --example dedup_index_bench
BIN=${CARGO_TARGET_DIR:-target}/release

# The venv is shared with the other benchmark scripts: each installs what it lacks.
if [ ! -x bench-out/venv/bin/python ] || ! bench-out/venv/bin/python -c 'import PIL, imagehash' 2>/dev/null; then
    [ -x bench-out/venv/bin/python ] || python3 -m venv bench-out/venv
    bench-out/venv/bin/pip install --quiet pillow imagehash
fi

# Outputs go to folders that never existed and are deleted only when everything is timed.
# ext4 allocates new inodes around recently freed ones (recently_deleted(), a window of
# 60-300 s): writing 8,000 files right after deleting 8,000 cost prep 4.5x its system
# time here (0.57 s -> 2.58 s), so a delete just before a timed run would charge the file
# system's clean-up to whichever program writes next. A run that starts within 5 minutes
# of the last clean-up waits for the window to pass.
if [ -f "$OUT/cleaned-at" ]; then
    wait_s=$(( $(cat "$OUT/cleaned-at") + 300 - $(date +%s) ))
    if [ "$wait_s" -gt 0 ]; then echo "waiting ${wait_s} s for the last clean-up to age"; sleep "$wait_s"; fi
fi
RUN=$OUT/run-$$ PEER=$OUT/peer-$$
if part throughput; then
echo "== throughput, $JOBS jobs, $(ls $DATA | wc -l) files (facesynth decode-only / full prep, then the Python peer)"
"$BIN/examples/prep_bench" "$DATA" "$JOBS" "$RUN" | tee "$OUT/throughput.json"
sync  # the peer, too, starts with nothing waiting to be written
bench-out/venv/bin/python scripts/prep_peer.py "$DATA" "$JOBS" "$PEER" | tee "$OUT/peer.json"
fi

if part index; then
echo "== dedup index growth"
"$BIN/examples/dedup_index_bench" 10000 100000 1000000 | tee "$OUT/dedup-index.json"
fi

part memory && echo "== peak memory (max RSS) of a full prep run"
part memory && for n in 10000 100000; do
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
    /usr/bin/time -f "{\"n\": $n, \"max_rss_kb\": %M, \"seconds\": %e}" \
        "$BIN/facesynth" prep "$dir" --out "$OUT/mem-$n-$$" --jobs "$JOBS" --quiet 2>&1 | tee "$OUT/mem-$n.json"
done
outputs=$(ls -d "$RUN" "$PEER" "$OUT"/mem-*-$$ 2>/dev/null || true)
if [ -n "$outputs" ]; then
    # shellcheck disable=SC2086
    rm -rf $outputs
    date +%s > "$OUT/cleaned-at"
fi
