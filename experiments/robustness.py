"""Perturbation robustness of deployed physical networks: frozen vs online PhyLL vs twin-based
training, under slow drift, a sudden shift, growing noise and channels dying mid-run.

The experiment lives in :mod:`physnn.experiments.robustness` (installed with physnn); this
script is the same as ``physnn run robustness``: ``--quick``, ``--set KEY=VALUE``,
``--device``, ``--seed``, ``--config FILE``, ``--out DIR`` (``physnn list robustness`` shows
the settings).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from physnn.cli import script_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the experiment with the command-line flags ``argv``; returns the exit status."""
    return script_main("robustness", argv)


if __name__ == "__main__":
    sys.exit(main())
