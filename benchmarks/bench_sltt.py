"""Time and peak memory per training batch of BPTT, SLTT, SLTT-2 and snntorch BPTT, over T.

    python benchmarks/bench_sltt.py [--steps 4,8,16,32,64] [--repeats 7] [--threads 1]
                                    [--device cpu|cuda] [--json out/bench_sltt.json]

The networks, batch (128), width (256) and measurement are those of the ``sltt_vs_bptt``
experiment (:func:`physnn.experiments.sltt_vs_bptt.time_and_memory`): the spiking MLP
784-256-256-10 and the small spiking CNN, the same initial weights for every method, the median of
``--repeats`` batches after a warm-up. ``--threads 1`` (the default) runs numba, BLAS and
torch on one thread each, the same footing for all, and steady on a busy machine; ``0``
leaves every library its default. Prints one row per (network, T) with the ratios the SLTT
issue sets targets for.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="4,8,16,32,64", help="comma-separated T values")
    ap.add_argument("--nets", default="mlp,cnn", help="comma-separated subset of mlp, cnn")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="threads per library; 0: defaults")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--no-snntorch", action="store_true")
    ap.add_argument("--json", default=None, help="write the record here")
    args = ap.parse_args(argv)
    restore_threads = None
    if args.threads > 0:
        if "numba" in sys.modules:  # called in a process that runs numba already (the tests)
            import numba

            restore_threads = numba.get_num_threads()
            numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
        else:  # before numba starts its pool (setting it later is an error in numba)
            os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    if str(REPO) not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, str(REPO))
    try:
        return _run(args)
    finally:
        if restore_threads is not None:
            import numba

            numba.set_num_threads(restore_threads)


def _run(args: argparse.Namespace) -> dict:
    import numpy as np

    from physnn._threads import one_blas_thread
    from physnn.bench._common import write_record
    from physnn.experiments.sltt_vs_bptt import device_name, time_and_memory

    snn = not args.no_snntorch
    if snn:
        try:
            import torch
        except ImportError:
            snn = False
        else:
            if args.threads > 0:
                torch.set_num_threads(args.threads)
    steps = [int(t) for t in args.steps.split(",")]
    results: dict = {}
    print(f"{'net':<5}{'T':>4}{'BPTT ms':>10}{'SLTT/BPTT':>11}{'SLTT-2/BPTT':>13}"
          f"{'snntorch/BPTT':>15}{'mem BPTT/SLTT':>15}{'SLTT MiB':>10}")
    with one_blas_thread() if args.threads > 0 else contextlib.nullcontext():
        for kind in args.nets.split(","):
            for T in steps:
                r = time_and_memory(kind, T, 128, 256, args.repeats, snn,
                                    np.random.default_rng(T), args.device)
                results[f"{kind}-T{T}"] = r
                b = r["BPTT"]["seconds_per_batch"]
                snn_ratio = (f"{r['snntorch-BPTT']['seconds_per_batch'] / b:.2f}"
                             if "snntorch-BPTT" in r else "-")
                print(f"{kind:<5}{T:>4}{1e3 * b:>10.1f}"
                      f"{r['SLTT']['seconds_per_batch'] / b:>11.2f}"
                      f"{r['SLTT-2']['seconds_per_batch'] / b:>13.2f}{snn_ratio:>15}"
                      f"{r['BPTT']['peak_bytes'] / max(1, r['SLTT']['peak_bytes']):>15.1f}"
                      f"{r['SLTT']['peak_bytes'] / 2 ** 20:>10.2f}", flush=True)
    workload = {"batch": 128, "hidden": 256, "steps": steps, "repeats": args.repeats,
                "threads": args.threads or "library defaults", "snntorch": snn}
    return write_record(args.json, workload, device_name(args.device), results)


if __name__ == "__main__":
    main()
