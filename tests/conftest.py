"""Shared test fixtures: paths to the data beside the repository."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PHYSNN_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data folder not found at {DATA}")
    return DATA


@pytest.fixture
def reset_cli_logging():
    """Remove the log handler ``physnn.cli`` installs, after a test that runs the CLI."""
    yield
    pkg = logging.getLogger("physnn")
    for h in list(pkg.handlers):
        if getattr(h, "_physnn_cli", False):
            pkg.removeHandler(h)
    pkg.setLevel(logging.NOTSET)
