#!/bin/bash
# The training smoke run on this machine's accelerator and on its CPU, side by side: does
# `yantra-train` pick the GPU by itself, take it by name, resume on it (and refuse a resume with
# another learning rate before building data), and run under torchrun (nccl on a GPU), and how long
# does an epoch take on each? Prints a summary; the logs, the metrics and the
# GPU run's checkpoint land in OUT. Needs the `train` extras importable (`pip install -e .[train]`).
#
#   bash training/benchmarks/devices.sh [OUT]     (OUT defaults to runs/devices)
#
# Two sizes: the smoke data (40 stdlib files), then 800 files with 2 epochs of up to 500 steps,
# the shipped run's batch size, and no bug-site scorers (they train on the CPU either way). The
# time limits are sized for a 16-core GPU machine: on 2 cores the larger runs stop while building
# their data (exit status 124), and their lines in the summary then say so.
set -u
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
OUT=${1:-${OUT:-runs/devices}}
mkdir -p "$OUT"
step() {  # name, time limit in seconds, command...
  local name=$1 limit=$2 t0
  shift 2
  echo "=== $name ($(date +%T))"
  t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "=== $name rc=$? wall=$(( $(date +%s) - t0 )) s"
  grep -E "^device|^data|resumed|best checkpoint|early stop|Error|error:" "$OUT/$name.log" | cut -c1-400 | head -8
}
epochs() {  # the median seconds per epoch (training steps and validation) of a run's metrics log
  $PY -c "import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f'{sys.argv[2]}: {len(rows)} epochs, median epoch {statistics.median(r[\"seconds\"] for r in rows):.3f} s')" \
    "$1/metrics.jsonl" "$2" 2>&1
}
{
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  echo "$(nproc) cores; $($PY -c 'import sys, torch; print("Python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())')"
  work=$(mktemp -d)
  smoke="--smoke --cache-dir $work/cache --no-progress --featurize-workers 8"
  step auto 240 $PY -m training.train $smoke --out-dir "$work/auto"
  cp "$work/auto/best.safetensors" "$OUT/auto_best.safetensors"
  step cpu 180 $PY -m training.train $smoke --out-dir "$work/cpu" --device cpu --threads 2
  step torchrun 180 $PY -m torch.distributed.run --standalone --nproc-per-node 1 -m training.train $smoke \
    --out-dir "$work/torchrun"
  cp -r "$work/auto" "$work/resume"  # resumed epochs land in a copy: the auto run's log stays its own
  step resume 120 $PY -m training.train $smoke --out-dir "$work/resume" --resume "$work/resume/state.pt" --epochs 40
  step named 90 $PY -m training.train $smoke --out-dir "$work/named" --device cuda:0 --epochs 2
  step refused 60 $PY -m training.train $smoke --out-dir "$work/resume" --resume "$work/resume/state.pt" --lr 0.5
  larger="--max-files 800 --max-units-per-package 200 --humaneval-limit 5 --cache-dir $work/cache2 --no-progress
    --featurize-workers 12 --epochs 2 --max-steps-per-epoch 500 --batch-size 64 --site-epochs 0"
  step larger_auto 200 $PY -m training.train $larger --out-dir "$work/larger_auto"
  step larger_cpu 130 $PY -m training.train $larger --out-dir "$work/larger_cpu" --device cpu --threads 2
  for run in auto cpu torchrun larger_auto larger_cpu; do epochs "$work/$run" "$run"; done
} 2>&1 | tee "$OUT/summary.txt"
