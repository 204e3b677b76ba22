"""A real (non-editable) install: py.typed and LICENSE ship, and the data lookup works there.

The sources are copied to a temporary folder (the build writes ``build/`` beside them) and
installed with ``pip install --no-deps --no-build-isolation --target``; a subprocess then
imports physnn from that folder only, where no source checkout lies above the package.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _setuptools_ok() -> bool:
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return False
    return major >= 77  # PEP 639 license-files (pyproject's build requirement)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    if not _setuptools_ok():
        pytest.skip("needs setuptools >= 77 in this environment (no build isolation)")
    root = tmp_path_factory.mktemp("install")
    src, site = root / "src", root / "site"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for pkg in ("physnn", "hardware_models"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=ignore)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps",
                           "--no-build-isolation", "--no-compile", "--no-input", "--quiet",
                           "--disable-pip-version-check", "--target", str(site), str(src)],
                          capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return site


def test_wheel_ships_py_typed_and_license(installed):
    assert (installed / "physnn" / "py.typed").is_file()
    (dist,) = installed.glob("physnn-*.dist-info")
    assert (dist / "licenses" / "LICENSE").read_text() == (REPO / "LICENSE").read_text()
    record = (dist / "RECORD").read_text()
    assert "physnn/py.typed," in record and "licenses/LICENSE," in record
    meta = (dist / "METADATA").read_text()
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta


_PROBE = """
import sys
import physnn, physnn.data as d
from hardware_models import AcousticCavity
assert physnn.__file__.startswith(sys.argv[1]), physnn.__file__
assert d.source_checkout() is None
for load in (d.load_formants, AcousticCavity.from_measurements):
    try:
        load()
    except d.DataNotFoundError as exc:
        print(exc)
        print("----")
    else:
        raise SystemExit("no error")
"""


def test_installed_data_lookup(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PHYSNN_DATA"}
    env["PYTHONPATH"] = str(installed)
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(installed)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    formants, acoustic, _ = proc.stdout.split("----\n")
    assert formants.startswith("hillenbrand_formants_women7.csv needed but there is no physnn "
                               "data folder: no path argument, PHYSNN_DATA is not set")
    assert f"imported from {installed / 'physnn'}, not a source checkout" in formants
    assert "phyll_acoustic/x_data.csv, phyll_acoustic/y_data.csv needed" in acoustic
    for msg in (formants, acoustic):
        assert "Set the PHYSNN_DATA environment variable" in msg
        assert "hillenbrand_vowels_16k.npz" in msg and "phyll_acoustic/y_data.csv" in msg

    # with PHYSNN_DATA set, the installed package reads from there
    head = ",".join(["token", "speaker", "vowel"] + [f"f{i}" for i in range(12)])
    (tmp_path / "hillenbrand_formants_women7.csv").write_text(
        head + "\n" + ",".join(["t0", "w02", "ae"] + ["700"] * 12) + "\n")
    env["PHYSNN_DATA"] = str(tmp_path)
    code = "import physnn.data as d; x, y, s = d.load_formants(); print(x.shape, y[0], s[0])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["(1,", "12)", "0", "w02"]


def test_experiments_install_inside_physnn(installed, tmp_path):
    """``pip install physnn`` gives ``physnn run NAME``: the experiments ship as
    ``physnn.experiments`` (no top-level ``experiments`` package in site-packages)."""
    assert (installed / "physnn" / "experiments" / "phyll_digits_demo.py").is_file()
    assert (installed / "physnn" / "sweep" / "__init__.py").is_file()
    assert not (installed / "experiments").exists()
    env = dict(os.environ, PYTHONPATH=str(installed))
    proc = subprocess.run([sys.executable, "-c", "import sys, physnn.cli, physnn.experiments as e;"
                           "assert e.__file__.startswith(sys.argv[1]);"
                           "sys.exit(physnn.cli.main(['list', 'phyll_vowels']))",
                           str(installed)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("phyll_vowels: ") and "n_seeds" in proc.stdout
