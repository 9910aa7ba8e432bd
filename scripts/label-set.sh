# Sourced by the label benchmarks (bench-label-crossfit.sh, bench-label-draws.sh) from the
# repository root: SRC, TRUTH, SCHEMA and HOLDOUT for the set named in $set_, anime64
# (../shared/data/anime-faces-64, tags.csv, labels/anime.toml, the default test split) or
# raw96 (anime-faces-96-raw, labels.csv, labels/anime-mlds.toml, half the labeled images
# as the test split); exits 0 with a note where the shared data is missing.
case $set_ in
  anime64) SRC=../shared/data/anime-faces-64; TRUTH=$SRC/tags.csv; SCHEMA=labels/anime.toml; HOLDOUT=0.2 ;;
  raw96) SRC=../shared/data/anime-faces-96-raw; TRUTH=$SRC/labels.csv; SCHEMA=labels/anime-mlds.toml; HOLDOUT=0.5 ;;
  *) echo "unknown set $set_ (anime64 or raw96)" >&2; exit 2 ;;
esac
if [ ! -f "$TRUTH" ]; then echo "skip: $TRUTH not found"; exit 0; fi
