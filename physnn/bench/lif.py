"""``physnn bench lif``: the LIF time loop side by side with its peers, on the same input.

CPU (T=100, batch=128, N=1024): physnn-cpu, a NumPy time loop, snntorch ``Leaky``,
SpikingJelly multi-step ``LIFNode``, and a memcpy of the input (the bandwidth limit; timed in
turn with physnn-cpu, so that their ratio holds on a busy machine); then
forward + backward (surrogate gradient of ``sum(spikes)`` with respect to the input, atan
surrogate with alpha = 2 for all three): physnn (:func:`~physnn.spiking.lif` with the
membrane record, then :func:`~physnn.spiking.lif_backward`) against autograd through
snntorch and SpikingJelly.
CUDA (T=100, batch=256, N=16384): physnn-cuda, snntorch, SpikingJelly, a device copy of the
input; plus the Open Neuromorphic shape (Linear(N, N) + LIF, T=500, batch=16, N=4096 and
16384, forward + backward of ``sum(output)``) against snntorch, SpikingJelly and Linear alone.
Small calls (CPU): one step at a time, as online learning, closed-loop control and SLTT call
the kernels: ``T=1, batch=1, N=100``, the state carried from call to call. physnn's
:func:`~physnn.spiking.lif` (``physnn-cpu-step``) against one snntorch ``Leaky`` step on the
same input (``snntorch-cpu-step``) and a call of a trivial ``numba.njit`` function
(``njit-call``, the dispatch floor); the three are timed interleaved, each row the median time
of one call.
Times are medians of repeats after warm-up. Peers that are not installed are skipped.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from numba import njit

from ..spiking import lif, lif_backward
from ..surrogate import atan
from ._common import cpu_name, print_table, time_interleaved, time_median, write_record

BETA, THRESHOLD = 0.9, 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per implementation")


def _torch():
    try:
        import torch

        return torch
    except ImportError:
        return None


def _peer_snntorch(torch, x_t, reset_delay=True):
    import snntorch as snn

    neuron = snn.Leaky(beta=BETA, threshold=THRESHOLD).to(x_t.device)

    def run():
        with torch.no_grad():
            mem = torch.zeros_like(x_t[0])
            out = []
            for t in range(x_t.shape[0]):
                spk, mem = neuron(x_t[t], mem)
                out.append(spk)
            return torch.stack(out)

    return run


def _peer_spikingjelly(torch, x_t):
    from spikingjelly.activation_based import functional, neuron

    node = neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_reset=None,
                          v_threshold=THRESHOLD, step_mode="m").to(x_t.device)

    def run():
        with torch.no_grad():
            functional.reset_net(node)
            return node(x_t)

    return run


def _physnn_grad(x):
    ones = np.ones_like(x)

    def run():
        spikes, _, mem = lif(x, beta=BETA, threshold=THRESHOLD, record_membrane=True,
                             backend="cpu")
        return lif_backward(ones, mem, spikes, beta=BETA, threshold=THRESHOLD,
                            surrogate=atan(2.0), backend="cpu")[0]

    return run


def _peer_snntorch_grad(torch, x_t):
    import snntorch as snn
    from snntorch import surrogate

    neuron = snn.Leaky(beta=BETA, threshold=THRESHOLD, spike_grad=surrogate.atan(alpha=2.0))

    def run():
        x = x_t.detach().requires_grad_(True)
        mem = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            spk, mem = neuron(x[t], mem)
            out.append(spk)
        torch.stack(out).sum().backward()
        return x.grad

    return run


def _peer_spikingjelly_grad(torch, x_t):
    from spikingjelly.activation_based import functional, neuron, surrogate

    node = neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_reset=None,
                          v_threshold=THRESHOLD, surrogate_function=surrogate.ATan(alpha=2.0),
                          step_mode="m")

    def run():
        functional.reset_net(node)
        x = x_t.detach().requires_grad_(True)
        node(x).sum().backward()
        return x.grad

    return run


def _numpy_loop(x):
    beta, thr = np.float32(BETA), np.float32(THRESHOLD)

    def run():
        u = np.zeros(x.shape[1:], np.float32)
        out = np.empty(x.shape, np.uint8)
        for t in range(x.shape[0]):
            r = u > thr
            u = beta * u + x[t]
            u -= r * thr
            out[t] = u > thr
        return out

    return run


SMALL_N = 100  # neurons of the small-call rows (T=1, batch=1)


@njit(cache=True)
def _trivial(a):
    return a[0]


def small_calls(repeats: int = 7, calls: int = 2000) -> tuple[dict, dict]:
    """Seconds per call of one step (``T=1, batch=1, N=100``, state carried): physnn,
    snntorch ``Leaky`` (no grad) and a trivial ``njit`` call, timed interleaved.

    Returns ``(results, notes)``.
    """
    x = np.random.default_rng(1).normal(0.3, 0.6, size=(1, 1, SMALL_N)).astype(np.float32)
    state = [None]

    def physnn_step():
        for _ in range(calls):
            _, state[0] = lif(x, beta=BETA, threshold=THRESHOLD, state=state[0], backend="cpu")

    def njit_call():
        for _ in range(calls):
            _trivial(x)

    impls = {"physnn-cpu-step": physnn_step, "njit-call": njit_call}
    notes: dict[str, str] = {}
    torch = _torch()
    try:
        if torch is None:
            raise ImportError(name="torch")
        import snntorch as snn
    except ImportError as exc:
        notes["snntorch-cpu-step"] = f"not installed ({exc.name})"
    else:
        neuron = snn.Leaky(beta=BETA, threshold=THRESHOLD)
        x_t = torch.from_numpy(x[0])
        mem = [torch.zeros_like(x_t)]

        def snntorch_step():
            with torch.no_grad():
                for _ in range(calls):
                    _, mem[0] = neuron(x_t, mem[0])

        impls["snntorch-cpu-step"] = snntorch_step
    times: dict[str, list[float]] = {name: [] for name in impls}
    for fn in impls.values():  # warm-up (compilation, caches)
        fn()
    for _ in range(repeats):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / calls)
    results: dict[str, float | None] = {name: statistics.median(t) for name, t in times.items()}
    results.setdefault("snntorch-cpu-step", None)
    return results, notes


def run_cpu(quick: bool, repeats: int | None) -> dict:
    T, B, N = (20, 32, 512) if quick else (100, 128, 1024)
    reps = repeats or (3 if quick else 7)
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.6, size=(T, B, N)).astype(np.float32)
    results: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    # the small calls first, before the threaded peers leave their worker threads spinning
    small, notes = small_calls(repeats=reps, calls=500 if quick else 2000)
    dst = np.empty_like(x)
    # physnn and the copy timed in turn: their ratio holds on a busy machine
    timed = time_interleaved({
        "physnn-cpu": lambda: lif(x, beta=BETA, threshold=THRESHOLD, backend="cpu"),
        "memcpy-limit": lambda: np.copyto(dst, x)}, repeats=2 * reps)
    results["physnn-cpu"] = timed["physnn-cpu"]
    results["numpy-loop"] = time_median(_numpy_loop(x), repeats=reps)
    torch = _torch()
    peer_reps = max(1, reps // 2 if not quick else reps)

    def peers(*pairs):
        for name, make in pairs:
            if torch is None:
                results[name], notes[name] = None, "torch not installed"
                continue
            try:
                fn = make(torch, torch.from_numpy(x))
            except ImportError as exc:
                results[name], notes[name] = None, f"not installed ({exc.name})"
                continue
            results[name] = time_median(fn, repeats=peer_reps)

    peers(("snntorch-cpu", _peer_snntorch), ("spikingjelly-cpu", _peer_spikingjelly))
    results["memcpy-limit"] = timed["memcpy-limit"]
    results.update(small)
    results["physnn-cpu-fwd+bwd"] = time_median(_physnn_grad(x), repeats=reps)
    peers(("snntorch-cpu-fwd+bwd", _peer_snntorch_grad),
          ("spikingjelly-cpu-fwd+bwd", _peer_spikingjelly_grad))
    workload = {"model": "LIF (snntorch convention, subtract reset)", "T": T, "batch": B,
                "N": N, "dtype": "float32", "spikes": "uint8", "beta": BETA,
                "threshold": THRESHOLD, "quick": quick,
                "small_call": {"T": 1, "batch": 1, "N": SMALL_N, "state": "carried",
                               "rows": "seconds per call"}}
    if torch is not None:
        workload["torch_threads"] = torch.get_num_threads()
    return {"workload": workload, "device": cpu_name(), "results": results, "notes": notes,
            "reference": "physnn-cpu"}


def run_cuda(quick: bool, repeats: int | None) -> dict:
    from ..backends import resolve_backend

    resolve_backend("cuda")
    torch = _torch()
    if torch is None or not torch.cuda.is_available():
        raise SystemExit("physnn bench lif --device cuda needs PyTorch with CUDA for the peers")
    from numba import cuda

    from ..torch_ops import lif_spikes

    sync = torch.cuda.synchronize
    T, B, N = (20, 16, 4096) if quick else (100, 256, 16384)
    reps = repeats or (3 if quick else 10)
    x_t = torch.randn(T, B, N, device="cuda") * 0.6 + 0.3
    x_d = cuda.as_cuda_array(x_t)
    results: dict[str, Any] = {}
    notes: dict[str, str] = {}
    results["physnn-cuda"] = time_median(
        lambda: lif(x_d, beta=BETA, threshold=THRESHOLD, backend="cuda"), repeats=reps, sync=sync)
    for name, make in (("snntorch-cuda", _peer_snntorch),
                       ("spikingjelly-cuda", _peer_spikingjelly)):
        try:
            results[name] = time_median(make(torch, x_t), repeats=reps, sync=sync)
        except ImportError as exc:
            results[name], notes[name] = None, f"not installed ({exc.name})"
        except Exception as exc:  # a peer failing on this device must not hide our numbers
            results[name], notes[name] = None, f"failed: {type(exc).__name__}: {exc}"
    dst = torch.empty_like(x_t)
    results["copy-limit"] = time_median(lambda: dst.copy_(x_t), repeats=reps, sync=sync)
    # memory-traffic floor of the forward: read float32 input, write uint8 spikes
    bytes_moved = x_t.numel() * (4 + 1)
    copy_bw = 2 * x_t.numel() * 4 / results["copy-limit"]
    results["traffic-floor"] = bytes_moved / copy_bw
    # Open Neuromorphic shape: Linear(N, N) + LIF, forward + backward of sum(output)
    on_T, on_B = (50, 16) if quick else (500, 16)
    for n in ((1024,) if quick else (4096, 16384)):
        lin = torch.nn.Linear(n, n, device="cuda")
        inp = torch.randn(on_T, on_B, n, device="cuda")

        def step(neuron_fn, lin=lin, inp=inp):
            lin.zero_grad(set_to_none=True)
            out = neuron_fn(lin(inp))
            out.sum().backward()

        results[f"linear-only-N{n}"] = time_median(lambda: step(lambda z: z), repeats=reps,
                                                   sync=sync)
        results[f"physnn-cuda-linear+lif-N{n}"] = time_median(
            lambda: step(lambda z: lif_spikes(z, beta=BETA, threshold=THRESHOLD)),
            repeats=reps, sync=sync)
        try:
            import snntorch as snn

            leaky = snn.Leaky(beta=BETA, threshold=THRESHOLD).to("cuda")

            def snn_seq(z, leaky=leaky):
                mem = torch.zeros_like(z[0])
                out = []
                for t in range(z.shape[0]):
                    s, mem = leaky(z[t], mem)
                    out.append(s)
                return torch.stack(out)

            results[f"snntorch-cuda-linear+lif-N{n}"] = time_median(
                lambda: step(snn_seq), repeats=max(1, reps // 3), sync=sync)
        except ImportError:
            notes[f"snntorch-cuda-linear+lif-N{n}"] = "snntorch not installed"
        except Exception as exc:
            notes[f"snntorch-cuda-linear+lif-N{n}"] = f"failed: {type(exc).__name__}: {exc}"
        try:
            from spikingjelly.activation_based import functional, neuron

            node = neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_reset=None,
                                  step_mode="m").to("cuda")

            def sj_seq(z, node=node, functional=functional):
                functional.reset_net(node)
                return node(z)

            results[f"spikingjelly-cuda-linear+lif-N{n}"] = time_median(
                lambda: step(sj_seq), repeats=reps, sync=sync)
        except ImportError:
            notes[f"spikingjelly-cuda-linear+lif-N{n}"] = "spikingjelly not installed"
        except Exception as exc:
            notes[f"spikingjelly-cuda-linear+lif-N{n}"] = f"failed: {type(exc).__name__}: {exc}"
    workload = {"model": "LIF (snntorch convention, subtract reset)", "T": T, "batch": B,
                "N": N, "dtype": "float32", "spikes": "uint8", "open_neuromorphic":
                {"T": on_T, "batch": on_B, "N": [1024] if quick else [4096, 16384]},
                "quick": quick}
    return {"workload": workload, "device": torch.cuda.get_device_name(),
            "results": results, "notes": notes, "reference": "physnn-cuda"}


def ratios(results: dict) -> dict[str, float]:
    """The ratios the README's table quotes (those whose rows were measured)."""
    pairs = {"physnn-cpu / memcpy-limit": ("physnn-cpu", "memcpy-limit"),
             "physnn-cpu-step / snntorch-cpu-step": ("physnn-cpu-step", "snntorch-cpu-step"),
             "physnn-cpu-step / njit-call": ("physnn-cpu-step", "njit-call"),
             "snntorch-cpu / physnn-cpu": ("snntorch-cpu", "physnn-cpu"),
             "snntorch-cpu-fwd+bwd / physnn-cpu-fwd+bwd": ("snntorch-cpu-fwd+bwd",
                                                           "physnn-cpu-fwd+bwd")}
    return {label: results[a] / results[b] for label, (a, b) in pairs.items()
            if results.get(a) and results.get(b)}


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark chosen by ``args`` (see :func:`add_arguments`), print, write JSON."""
    rec = run_cpu(args.quick, args.repeats) if args.device == "cpu" else run_cuda(
        args.quick, args.repeats)
    print(f"physnn bench lif on {rec['device']}: {rec['workload']}")
    print_table(rec["results"], reference=rec["reference"], notes=rec["notes"])
    summary = ratios(rec["results"])
    if summary:
        print()
        for label, value in summary.items():
            print(f"{label:<44}{value:>10.3f}")
    return write_record(args.json, rec["workload"], rec["device"], rec["results"],
                        rec["notes"], ratios=summary)
