# Sourced by the label benchmarks (bench-label-crossfit.sh, bench-label-draws.sh) from the
# repository root: SRC, TRUTH, SCHEMA and HOLDOUT for the set named in $set_, anime64
# (../shared/data/anime-faces-64, tags.csv, labels/anime.toml, the default test split) or
# raw96 (anime-faces-96-raw, labels/anime-mlds.toml, half the labeled images as the test
# split, and its labels.csv with the columns swapped back and the values renamed,
# scripts/raw96-truth.py: bench-out/raw96-truth.csv); exits 0 with a note where the shared
# data is missing.
case $set_ in
  anime64) SRC=../shared/data/anime-faces-64; TRUTH=$SRC/tags.csv; SCHEMA=labels/anime.toml; HOLDOUT=0.2 ;;
  raw96) SRC=../shared/data/anime-faces-96-raw; TRUTH=bench-out/raw96-truth.csv; SCHEMA=labels/anime-mlds.toml; HOLDOUT=0.5
    if [ -f "$SRC/labels.csv" ]; then python3 scripts/raw96-truth.py "$SRC/labels.csv" "$TRUTH" >/dev/null; fi ;;
  *) echo "unknown set $set_ (anime64 or raw96)" >&2; exit 2 ;;
esac
if [ ! -f "$TRUTH" ]; then echo "skip: $TRUTH not found"; exit 0; fi
