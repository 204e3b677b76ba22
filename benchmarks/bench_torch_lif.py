"""Time forward + backward of physnn.torch_ops.LIF against snntorch Leaky in PyTorch.

    python benchmarks/bench_torch_lif.py [--steps 100] [--batch 128] [--neurons 1024]
                                         [--repeats 5] [--threads 1] [--device cpu|cuda]
                                         [--dtype float32|float64] [--no-snntorch]
                                         [--json out/bench_torch_lif.json]

One training step of a LIF layer alone: input currents ``x[T, batch, neurons]`` (requiring
grad) -> spikes -> ``(spikes * w).sum()`` -> backward, for both implementations with the same
neuron (beta = 0.9, threshold = 1, reset by subtraction, atan surrogate with alpha = 2),
once with fixed and once with learnable beta and threshold (per neuron). snntorch Leaky is
unrolled over time in Python, the way it is used. Prints the median of ``--repeats`` steps
after a warm-up, with each time divided by physnn's; ``--json`` writes the record
``{"workload", "device", "results": {impl: median_seconds}}``. ``--threads 1`` (the default)
runs numba and torch on one thread each, the same footing for both and steady on a busy
machine; ``0`` leaves each library its default.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BETA, THRESHOLD, ALPHA = 0.9, 1.0, 2.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--neurons", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="threads per library; 0: defaults")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--no-snntorch", action="store_true")
    ap.add_argument("--json", default=None, help="write the record here")
    args = ap.parse_args(argv)
    if args.threads > 0:  # before numba starts its pool
        os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

    import torch

    from physnn.bench._common import cpu_name, print_table, time_median, write_record
    from physnn.torch_ops import LIF

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    T, B, N = args.steps, args.batch, args.neurons
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 0.6 + 0.3).to(dev, dtype)
    w = torch.randn(T, B, N, generator=gen, dtype=torch.float64).to(dev, dtype)

    def make_physnn(learn: bool):
        beta = torch.full((N,), BETA) if learn else BETA
        thr = torch.full((N,), THRESHOLD) if learn else THRESHOLD
        neuron = LIF(beta, thr, learn_beta=learn, learn_threshold=learn,
                     surrogate="atan").to(dev, dtype)

        def run():
            x = x0.detach().requires_grad_(True)
            spikes, _ = neuron(x)
            (spikes * w).sum().backward()
            return spikes

        return run

    def make_snntorch(learn: bool):
        import snntorch as snn
        from snntorch import surrogate

        beta = torch.full((N,), BETA) if learn else BETA
        thr = torch.full((N,), THRESHOLD) if learn else THRESHOLD
        neuron = snn.Leaky(beta=beta, threshold=thr, learn_beta=learn, learn_threshold=learn,
                           spike_grad=surrogate.atan(alpha=ALPHA)).to(dev, dtype)

        def run():
            x = x0.detach().requires_grad_(True)
            mem = torch.zeros(B, N, device=dev, dtype=dtype)
            out = []
            for t in range(T):
                s, mem = neuron(x[t], mem)
                out.append(s)
            spikes = torch.stack(out)
            (spikes * w).sum().backward()
            return spikes

        return run

    runners: dict = {}
    notes: dict[str, str] = {}
    for learn in (False, True):
        tag = " (learn beta, thr)" if learn else ""
        runners[f"physnn.torch_ops.LIF{tag}"] = make_physnn(learn)
        if args.no_snntorch:
            continue
        try:
            runners[f"snntorch.Leaky{tag}"] = make_snntorch(learn)
        except ImportError as exc:
            runners[f"snntorch.Leaky{tag}"] = None
            notes[f"snntorch.Leaky{tag}"] = f"not installed ({exc.name})"
    # one call of each before any timing (compiles the kernels, grows the allocator's pools),
    # which also checks that both give the same spikes
    first = {name: run().detach().float() for name, run in runners.items() if run is not None}
    same_spikes = {f"learn={learn}": bool(torch.equal(first[f"physnn.torch_ops.LIF{tag}"],
                                                      first[f"snntorch.Leaky{tag}"]))
                   for learn, tag in ((False, ""), (True, " (learn beta, thr)"))
                   if f"snntorch.Leaky{tag}" in first}
    del first
    results: dict[str, float | None] = {
        name: None if run is None else time_median(run, repeats=args.repeats, sync=sync)
        for name, run in runners.items()}

    print(f"LIF forward + backward, T={T}, batch={B}, neurons={N}, {args.dtype}, "
          f"{args.device}, threads={args.threads or 'library defaults'}")
    print_table(results, reference="physnn.torch_ops.LIF", notes=notes)
    for learn in (False, True):
        tag = " (learn beta, thr)" if learn else ""
        ref, peer = results.get(f"physnn.torch_ops.LIF{tag}"), results.get(f"snntorch.Leaky{tag}")
        if ref and peer:
            print(f"snntorch / physnn{tag or ' (fixed beta, thr)'}: {peer / ref:.1f}x")
    if same_spikes:
        print(f"identical spikes: {same_spikes}")
    if dev.type == "cuda":
        from physnn.bench._common import gpu_name

        device = gpu_name()
    else:
        device = cpu_name()
    workload = {"steps": T, "batch": B, "neurons": N, "dtype": args.dtype,
                "repeats": args.repeats, "threads": args.threads or "library defaults",
                "beta": BETA, "threshold": THRESHOLD, "surrogate": f"atan(alpha={ALPHA})",
                "reset": "subtract", "loss": "(spikes * w).sum()", "same_spikes": same_spikes}
    return write_record(args.json, workload, device, results, notes or None)


if __name__ == "__main__":
    main()
