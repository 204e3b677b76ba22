"""Fashion-MNIST through two optical speckle blocks, trained model-free (PhyLL, local readout).

The experiment lives in :mod:`physnn.experiments.phyll_fashion_optics` (installed with physnn);
this script is the same as ``physnn run phyll_fashion_optics``: ``--quick``, ``--set
KEY=VALUE``, ``--device``, ``--seed``, ``--config FILE``, ``--out DIR`` (``physnn list
phyll_fashion_optics`` shows the settings).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from physnn.cli import script_main  # noqa: E402
from physnn.experiments.phyll_fashion_optics import build_network  # noqa: E402, F401 - benchmarks/bench_phyll.py


def main(argv: list[str] | None = None) -> int:
    """Run the experiment with the command-line flags ``argv``; returns the exit status."""
    return script_main("phyll_fashion_optics", argv)


if __name__ == "__main__":
    sys.exit(main())
