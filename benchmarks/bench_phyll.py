"""Time per training batch of PhyLL with the digital layers on the CPU and on CUDA.

    python benchmarks/bench_phyll.py [--batches 10] [--hidden 256] [--camera 40]
                                     [--negatives 1] [--backends cpu,cuda] [--json out.json]
                                     [--inputs 784]

The network is that of the ``phyll_fashion_optics`` experiment
(:func:`physnn.experiments.phyll_fashion_optics.build_network`): two optical speckle blocks
(NumPy, 794 SLM pixels -> camera C x C) with digital ``Linear([camera; input] -> H)`` layers,
PhyLL with 5 inner Adam steps per batch of 128, on random Fashion-sized inputs (the times do
not depend on the pixel values). For each backend: the median time of ``--batches`` updates
after one warm-up update, and the part of it spent in the physical layers (the same NumPy
optics for every backend), so ``digital = total - physical``. Prints one row per backend and
the CPU / CUDA ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--camera", type=int, default=40)
    ap.add_argument("--negatives", type=int, default=1)
    ap.add_argument("--inputs", type=int, default=784, help="data features (784: Fashion-MNIST)")
    ap.add_argument("--backends", default="cpu,cuda",
                    help="comma-separated; backends that cannot run here are skipped")
    ap.add_argument("--json", default=None, help="write the record here")
    args = ap.parse_args(argv)
    if args.batches < 1:
        ap.error(f"--batches must be >= 1, got {args.batches}")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if str(REPO) not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, str(REPO))

    import numpy as np

    import physnn as pn
    from physnn.backends import available_backends
    from physnn.bench._common import gpu_name, write_record
    from physnn.experiments.phyll_fashion_optics import build_network

    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.batch_size, args.inputs)).astype(np.float32)
    y = rng.integers(0, 10, size=args.batch_size)
    results, device = {}, "cpu"
    print(f"{'backend':<8}{'batch ms':>10}{'physical ms':>13}{'digital ms':>12}")
    for backend in wanted:
        if backend not in available_backends():
            print(f"{backend:<8} skipped: not available here")
            continue
        learner = pn.learning.PhyLL(alpha=4.0, inner_steps=5, optimizer=pn.optim.Adam(1e-3),
                                    negatives=args.negatives, num_classes=10, backend=backend)
        net = build_network(args.camera, args.hidden, learner.input_width(args.inputs, 10))
        spent = [0.0]
        for blk in net.blocks:  # time the physical queries without touching the physics
            blk.physical.forward = _timed(blk.physical.forward, spent)
        fit_rng = np.random.default_rng(1)
        learner.fit(net, x, y, epochs=1, batch_size=args.batch_size, rng=fit_rng,
                    progress=False)  # binds, compiles, warms up
        totals, phys = [], []
        for _ in range(args.batches):
            spent[0] = 0.0
            t0 = time.perf_counter()
            learner.update(net, x, y, rng=fit_rng)
            totals.append(time.perf_counter() - t0)
            phys.append(spent[0])
        t, ph = float(np.median(totals)), float(np.median(phys))
        results[backend] = {"seconds_per_batch": t, "physical_seconds_per_batch": ph,
                            "digital_seconds_per_batch": t - ph}
        if backend == "cuda":
            device = gpu_name()
        print(f"{backend:<8}{1e3 * t:>10.2f}{1e3 * ph:>13.2f}{1e3 * (t - ph):>12.2f}")
    if "cpu" in results and "cuda" in results:
        for part in ("seconds_per_batch", "digital_seconds_per_batch"):
            r = results["cpu"][part] / results["cuda"][part]
            results[f"cpu/cuda {part}"] = r
            print(f"cpu / cuda, {part.replace('_', ' ')}: {r:.2f}x")
    workload = {"inputs": args.inputs, "batch_size": args.batch_size, "hidden": args.hidden,
                "camera": args.camera, "inner_steps": 5, "negatives": args.negatives,
                "batches": args.batches}
    return write_record(args.json, workload, device, results)


def _timed(fn, spent: list):
    def wrapper(*a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            spent[0] += time.perf_counter() - t0

    return wrapper


if __name__ == "__main__":
    main()
