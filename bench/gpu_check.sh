#!/usr/bin/env bash
# One run on a GPU machine (issue 14): install nasgraph from this tree, check the CUDA code paths,
# measure trainer throughput and MFU, packing, and airbench94; JSON results and the log under $OUT.
#
#   bash bench/gpu_check.sh                                   # on the GPU machine (~9 minutes)
#   AIRBENCH=1 bash bench/gpu_check.sh                        # also airbench94 against our trainer (+40 s)
#   PYTHON=/path/to/python OUT=/tmp/dry bash bench/gpu_check.sh --dry-run   # rehearsal on a CPU
#
# The GPU machine has no network: what its Python image lacks (Ray, Optuna and their needs,
# airbench) travels in .whl/ as wheels, Ray as a slimmed tarball (its wheel is over the transfer
# limit: Java jars, RLlib, Serve and the dashboard's source maps removed). See BENCHMARKS.md's GPU
# section for how .whl/ is made. Each step has its own time limit, so one that hangs costs only itself.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/bench/results/gpu}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
DRY=""
[ "${1:-}" = "--dry-run" ] && DRY="--dry-run"
export PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/log.txt") 2>&1
step() { echo "=== $(date +%T) +$(($(date +%s) - T0))s $*"; }
T0=$(date +%s)
SUMMARY=""
note() { SUMMARY="$SUMMARY $1=$2"; }  # each step's exit status, printed last (124: its time limit)

step install
if [ -d .whl ]; then
  SITE=/tmp/nasgraph-site
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  for t in .whl/*.tar.xz; do [ -f "$t" ] && tar -xJf "$t" -C "$SITE"; done
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . ; then
  echo "pip install -e . failed; running from the tree through PYTHONPATH"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" - <<'EOF'
import importlib.metadata as md, sys
import torch, ray, optuna, nas
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "ray", ray.__version__, "optuna", optuna.__version__, "nasgraph", md.version("nasgraph"))
print("gpus", torch.cuda.device_count(), [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
EOF
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
nproc

step "CUDA code paths (bench/gpu_check.py)"
timeout 270 "$PY" bench/gpu_check.py --out "$OUT" $DRY; note gpu_check $?

step "trainer throughput and MFU (bench/bench_trainer.py)"
if [ -n "$DRY" ]; then
  timeout 200 "$PY" bench/bench_trainer.py --quick --no-profile --out "$OUT/bench_trainer_dry.json"; note trainer $?
else
  timeout 130 "$PY" bench/bench_trainer.py --device cuda --set gpu --epochs 2 --repeats 1 --workers 0,8 \
    --no-profile --peak-tflops 989 --out "$OUT/bench_trainer_cuda.json"; note trainer $?
fi

step "a trial's phases, new and repeat, cuDNN autotuning on and off (bench/gpu_phases.py)"
timeout 150 "$PY" bench/gpu_phases.py --out "$OUT" $DRY; note phases $?

step "packing (bench/bench_packing.py)"
timeout 160 "$PY" bench/bench_packing.py --trials 8 --epochs 2 --out "$OUT/bench_packing.json" $DRY; note packing $?

if [ -z "$DRY" ] && [ -n "${AIRBENCH:-}" ]; then
  step "airbench94 (bench/bench_airbench.py)"
  timeout 60 "$PY" bench/bench_airbench.py --out "$OUT"; note airbench $?
fi
step "done; exit statuses:$SUMMARY"
