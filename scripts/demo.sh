#!/usr/bin/env bash
# The main job: installs physnn into .venv and runs the demo, which writes its figure to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
python -m pip install -q -e .
python experiments/spiking_demo.py --out out "$@"
