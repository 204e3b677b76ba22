"""SLTT vs BPTT on Fashion-MNIST (Meng et al., ICCV 2023): accuracy, memory, time over T.

The experiment lives in :mod:`physnn.experiments.sltt_vs_bptt` (installed with physnn); this
script is the same as ``physnn run sltt_vs_bptt``: ``--quick``, ``--set KEY=VALUE``,
``--device``, ``--seed``, ``--config FILE``, ``--out DIR`` (``physnn list sltt_vs_bptt`` shows
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
    return script_main("sltt_vs_bptt", argv)


if __name__ == "__main__":
    sys.exit(main())
