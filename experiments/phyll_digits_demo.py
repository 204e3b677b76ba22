"""Handwritten digits through two optical speckle layers, trained without a model (PhyLL).

The experiment lives in :mod:`physnn.experiments.phyll_digits_demo` (installed with physnn);
this script is the same as ``physnn run phyll_digits_demo``: ``--quick``, ``--set KEY=VALUE``,
``--device``, ``--seed``, ``--config FILE``, ``--out DIR`` (``physnn list phyll_digits_demo``
shows the settings).
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
    return script_main("phyll_digits_demo", argv)


if __name__ == "__main__":
    sys.exit(main())
