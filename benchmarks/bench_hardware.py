"""Time the hardware models at their target sizes on this machine.

    python benchmarks/bench_hardware.py [--repeats 5] [--out record.json]

Workloads: optical speckle layer on 1000 inputs of 28x28 -> 26x26 camera (with and without
the camera noise model); microwave cavity on 100 metasurface configurations x 20 frequencies;
acoustic surrogate on 1000 inputs (and its fit); acoustic cavity from physics on 100 inputs
(64x64 cells, 600 steps); spiking substrate on 1000 inputs, 100
neurons, 50 steps (CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from hardware_models import (  # noqa: E402
    AcousticCavity,
    MicrowaveCavity,
    OpticalSpeckle,
    SpikingSubstrate,
    acoustic_cavity_from_physics,
)
from physnn.bench._common import (  # noqa: E402
    cpu_name,
    print_table,
    time_median,
    write_record,
)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="write the record as JSON here")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    results: dict[str, float | None] = {}
    notes: dict[str, str] = {}

    x_img = rng.random((1000, 784), dtype=np.float32)
    optical = OpticalSpeckle(in_shape=(28, 28), camera_shape=(26, 26), seed=0)
    ideal = OpticalSpeckle(in_shape=(28, 28), camera_shape=(26, 26), camera=None, seed=0)
    results["optical_1000x784_camera"] = time_median(lambda: optical(x_img), repeats=args.repeats)
    results["optical_1000x784_ideal"] = time_median(lambda: ideal(x_img), repeats=args.repeats)

    micro = MicrowaveCavity(in_features=20, n_elements=40, seed=0)
    x_mw = rng.random((100, 20))
    results["microwave_100cfg_x20f"] = time_median(lambda: micro(x_mw), repeats=args.repeats)
    t0 = time.perf_counter()
    MicrowaveCavity(in_features=20, n_elements=40, seed=1)
    results["microwave_build"] = time.perf_counter() - t0

    try:
        from hardware_models import acoustic

        acoustic._CACHE.clear()
        t0 = time.perf_counter()
        cavity = AcousticCavity.from_measurements(seed=0)
        results["acoustic_fit"] = time.perf_counter() - t0
        x_ac = rng.random((1000, 20))
        results["acoustic_1000"] = time_median(lambda: cavity(x_ac), repeats=args.repeats)
        notes["acoustic_fit"] = f"held-out variance-weighted R2 = {cavity.fit.r2_test:.4f}"
    except FileNotFoundError as exc:
        results["acoustic_fit"] = results["acoustic_1000"] = None
        notes["acoustic_fit"] = notes["acoustic_1000"] = str(exc)

    wave = acoustic_cavity_from_physics(20, seed=0)
    x_wv = rng.random((100, 20))
    results["acoustic_physics_100"] = time_median(lambda: wave(x_wv), repeats=args.repeats)

    spiking = SpikingSubstrate(20, 100, steps=50, backend="cpu", seed=0)
    x_sp = rng.random((1000, 20))
    results["spiking_1000x100x50"] = time_median(lambda: spiking(x_sp), repeats=args.repeats)

    device = cpu_name()
    print(f"device: {device}")
    print_table(results, notes=notes)
    workload = {
        "optical": "batch 1000, SLM 28x28 phase, camera 26x26, 8-bit camera with shot/read noise"
                   " (camera) or noiseless intensity (ideal)",
        "microwave": "100 configurations (20 inputs -> 40 binary elements), 20 frequencies, "
                     f"{2 + len(micro.positions['environment'])} fixed dipoles",
        "acoustic": "fit: 9000 rows, MLP 20-64-64-20, 60 epochs; forward: batch 1000",
        "acoustic_physics": "batch 100, 64x64 cells, 600 steps, 4 speakers, 10 microphones, "
                            "CPU",
        "spiking": "batch 1000, 20 inputs, 100 LIF neurons, 50 steps, feed-forward, CPU",
        "repeats": args.repeats,
    }
    return write_record(args.out, workload, device, results, notes)


if __name__ == "__main__":
    main()
