#!/bin/sh
# A default search on real photos at 64 px on this machine, as a user runs it (BENCHMARKS section 18):
#   1. the issue's case: 5,000 JPEGs of 96 px, --dataset imagefolder:DIR --image-size 64 --trials 1 --epochs 1
#      --engine local (decoded in memory), with the wall time and the process's peak RSS;
#   2. the default 8-trial, 1-epoch search (Ray, 2 at a time) from shards prepared at 64 px.
# usage: sh bench/bench_search64.sh PHOTOS_DIR (a folder of class folders of JPEGs; bench_shards.py prepare makes one)
set -e
PHOTOS=$1
OUT=$(mktemp -d /tmp/bench_search64.XXXXXX)
python - "$PHOTOS" "$OUT/p96" <<'PY'
import sys, pathlib
from PIL import Image
src, dst = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = sorted(src.rglob("*.jpg"))[:5000]
for f in files:
    (dst / f.parent.name).mkdir(parents=True, exist_ok=True)
    Image.open(f).convert("RGB").resize((96, 96)).save(dst / f.parent.name / f.name, quality=90)
PY
/usr/bin/time -f "imagefolder 1 trial: %e s wall, %M KB peak RSS" python launch.py search --dataset "imagefolder:$OUT/p96" \
  --image-size 64 --trials 1 --epochs 1 --engine local --results-dir "$OUT/results" --name folder1 2>&1 | tail -4
python launch.py prepare "$PHOTOS" --image-size 64 --out "$OUT/shards" 2>&1 | tail -2
/usr/bin/time -f "shards 8 trials: %e s wall, %M KB peak RSS (driver)" python launch.py search --dataset "shards:$OUT/shards" \
  --trials 8 --epochs 1 --results-dir "$OUT/results" --name shards8 2>&1 | tail -16
