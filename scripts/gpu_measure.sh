#!/usr/bin/env bash
# Every GPU check and measurement the project still owes, in one command, for a machine with
# an NVIDIA GPU, numba-cuda, a CUDA build of torch, snntorch and NumPy < 2.5.
#
#   OUT=out_gpu bash scripts/gpu_measure.sh          # everything
#   SLTT_ARGS="--set epochs=1 --set n_seeds=2" bash scripts/gpu_measure.sh   # shorter SLTT
#
# Writes into $OUT (default out_gpu): gpu.log (GPU name, the CUDA tests on the real device,
# both benchmarks' tables, the SLTT study's summary), lif_gpu.json, wave_gpu.json,
# sltt_vs_bptt.json, sltt_vs_bptt.png and bench_phyll.json (PhyLL batch time with the digital
# layers on the CPU and on the GPU). Each step runs even when one before it failed;
# the exit status is that of the last failure.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out_gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
status=0
step() { echo "== $*" | tee -a "$OUT/gpu.log"; "$@" 2>&1 | tee -a "$OUT/gpu.log" || status=$?; }
step nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step python -m pytest -q -m cudasim tests/cuda -p no:cacheprovider
step python -m physnn.cli bench lif --device cuda --json "$OUT/lif_gpu.json"
step python -m physnn.cli bench wave --device cuda --json "$OUT/wave_gpu.json"
# shellcheck disable=SC2086
step python experiments/sltt_vs_bptt.py --device cuda --out "$OUT" ${SLTT_ARGS:-}
# PhyLL's digital layers on the GPU vs the CPU (the optics are NumPy in both): time per batch
step python benchmarks/bench_phyll.py --json "$OUT/bench_phyll.json"
exit $status
