#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: makes .venv, installs everything, runs
# ruff, the main pytest suite, and the CUDA kernels under the CUDA simulator (own process).
# Extra arguments go to the main pytest run (e.g. `scripts/test.sh -x -k lif`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of torch first: an unpinned torch would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
# numba-cuda with the CUDA 13 toolkit wheels lets tests type-check kernels with compile_ptx;
# the sweep extra (Ray, Optuna) runs `physnn sweep` on a local Ray and a two-node test cluster.
python -m pip install -q -e ".[ref,test,sweep]" "numba-cuda[cu13]>=0.30"
# Fashion-MNIST comes from the distribution's package (used by the SLTT experiment tests).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
        || echo "warning: could not install dataset-fashion-mnist; tests that need it will skip" >&2
fi
ruff check .
python -m pytest -W error -m "not cudasim and not slow" "$@"
NUMBA_ENABLE_CUDASIM=1 python -m pytest -W error -m cudasim tests/cuda
