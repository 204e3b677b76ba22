#!/usr/bin/env bash
# The main job: installs physnn into .venv, trains a physical network (scikit-learn digits
# through two optical speckle blocks, PhyLL, no gradient through the optics), prints its test
# accuracy, then draws a spiking population and a nonlinear wave cavity. Figures go to out/.
# Arguments go to every step (`bash scripts/demo.sh --quick`, `--device cuda`, `--seed 1`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q -e ".[data]"
physnn run phyll_digits_demo --out out "$@"
physnn run spiking_demo --out out "$@"
physnn run wave_cavity_demo --out out "$@"
