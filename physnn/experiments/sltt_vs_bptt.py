"""SLTT vs BPTT on Fashion-MNIST (Meng et al., ICCV 2023): accuracy, peak activation memory
and time per batch as the number of time steps T grows, and why dropping the temporal term
is harmless (cosine similarity of SLTT and BPTT gradients as beta varies).

Writes ``sltt_vs_bptt.png`` and ``sltt_vs_bptt.json`` into ``--out``. ``--quick`` runs a
small version in well under a minute (used by the tests).

    physnn run sltt_vs_bptt --out out                       # the reported numbers
    physnn run sltt_vs_bptt --out out --quick               # a smoke run
    physnn run sltt_vs_bptt --device cuda --out out_gpu     # the same on a GPU
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import physnn as pn
from physnn._threads import one_blas_thread
from physnn.learning.sltt import bptt_gradients, peak_memory, sltt_gradients
from physnn.snn import Conv2d, Dense, SpikingNetwork

from ._base import Device, Result, RunContext, help_field, pyplot

NAME = "sltt_vs_bptt"
SWEEP_METRICS = ("accuracy.mlp.SLTT.mean", "accuracy.mlp.BPTT.mean",
                 "summary.mlp.memory_ratio_bptt_over_sltt", "summary.mlp.time_ratio_sltt_over_bptt")

CLAIM = ("SLTT trains spiking networks as accurately as BPTT while its activation memory "
         "stays flat in the number of time steps T and its time per batch is lower; SLTT-K "
         "(K=2) is cheaper still; SLTT and BPTT gradients stay aligned for small beta.")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of the SLTT vs BPTT study (defaults: the reported run)."""

    seed: int = help_field(0, "first seed of the accuracy runs")
    n_seeds: int = help_field(3, "seeds of the accuracy runs, seed .. seed + n - 1")
    device: Device = help_field("cpu", "where physnn and snntorch run (cuda: memory is "
                                       "device memory)")
    steps: tuple[int, ...] = help_field((4, 8, 16, 32, 64), "time steps T of the memory and "
                                                             "time measurements")
    acc_steps: int = help_field(4, "time steps T of the accuracy runs")
    epochs: int = help_field(3, "epochs of the accuracy runs")
    train_size: int = help_field(60000, "training images of the MLP")
    cnn_train_size: int = help_field(10000, "training images of the CNN")
    test_size: int = help_field(10000, "test images")
    batch: int = help_field(128, "batch of the memory / time measurements")
    hidden: int = help_field(256, "hidden width of the MLP")
    betas: tuple[float, ...] = help_field((0.0, 0.25, 0.5, 0.75, 0.9, 0.99),
                                          "membrane decays of the gradient-alignment study")
    cos_steps: int = help_field(16, "time steps T of the gradient-alignment study")
    lr: float = help_field(2e-3, "Adam learning rate")
    reps: int = help_field(3, "timed repeats (median)")
    snntorch: bool = help_field(True, "include the snntorch BPTT peer (when installed)")
    quick: bool = help_field(False, "a smoke run (set by --quick)")

    def __post_init__(self) -> None:
        for key in ("n_seeds", "acc_steps", "epochs", "train_size", "cnn_train_size",
                    "test_size", "batch", "hidden", "cos_steps", "reps"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not self.steps or min(self.steps) < 1 or not self.betas:
            raise ValueError("steps must be positive and betas not empty")


QUICK = {"quick": True, "steps": (2, 4), "acc_steps": 2, "n_seeds": 1, "epochs": 1,
         "train_size": 600, "cnn_train_size": 300, "test_size": 300, "batch": 32, "hidden": 64,
         "betas": (0.0, 0.5, 0.9), "cos_steps": 4, "reps": 1}


def check(cfg: Config) -> None:
    """Fashion-MNIST is installed (before any work)."""
    pn.data.load_fashion_mnist()


def make_net(kind: str, beta: float, seed: int, hidden: int) -> SpikingNetwork:
    if kind == "mlp":
        layers = [Dense(784, hidden), Dense(hidden, hidden), Dense(hidden, 10)]
    else:
        layers = [Conv2d(1, 8, 3, in_hw=(28, 28), stride=2, padding=1),
                  Conv2d(8, 16, 3, in_hw=(14, 14), stride=2, padding=1),
                  Dense(16 * 7 * 7, 10)]
    return SpikingNetwork(layers, beta=beta, threshold=1.0, surrogate="triangle", seed=seed)


def shaped(x: np.ndarray, kind: str) -> np.ndarray:
    return x.reshape(len(x), 784) if kind == "mlp" else x.reshape(len(x), 1, 28, 28)


def learners(T: int, lr: float, backend: str = "cpu") -> dict:
    return {
        "BPTT": pn.learning.BPTT(num_steps=T, optimizer=pn.optim.Adam(lr), backend=backend),
        "SLTT": pn.learning.SLTT(num_steps=T, optimizer=pn.optim.Adam(lr), backend=backend),
        "SLTT-2": pn.learning.SLTT(num_steps=T, k=2, optimizer=pn.optim.Adam(lr),
                                   backend=backend),
    }


# ---------------------------------------------------------------------------- snntorch peer


def snntorch_net(net: SpikingNetwork, device: str = "cpu"):
    """The same architecture and initial weights in PyTorch + snntorch (BPTT by autograd),
    on ``device`` (``"cpu"`` or ``"cuda"``)."""
    import snntorch as snn
    import torch
    from snntorch import surrogate

    mods = []
    for layer, p in zip(net.layers, net.params, strict=True):
        if isinstance(layer, Dense):
            m = torch.nn.Linear(layer.in_features, layer.out_features)
        else:
            m = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                stride=layer.stride, padding=layer.padding)
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(p.weight))
            m.bias.copy_(torch.from_numpy(p.bias))
        mods.append(m)
    lifs = [snn.Leaky(beta=net.beta, threshold=net.threshold,
                      spike_grad=surrogate.fast_sigmoid(slope=25)) for _ in mods[:-1]]
    return torch.nn.ModuleList(mods).to(device), lifs


def snntorch_outputs(model, lifs, x, T):
    """Readout of every step of the snntorch network (a list of ``T`` tensors)."""
    import torch

    xt = torch.from_numpy(x).to(next(model.parameters()).device)
    mems = [None] * len(lifs)
    outs = []
    for _ in range(T):
        a = xt
        for i, m in enumerate(model):
            z = m(a)
            if i < len(lifs):
                if mems[i] is None:
                    mems[i] = torch.zeros_like(z)
                a, mems[i] = lifs[i](z, mems[i])
                if isinstance(model[i + 1], torch.nn.Linear) and a.dim() > 2:
                    a = a.flatten(1)
            else:
                a = z
        outs.append(a)
    return outs


def snntorch_step(model, lifs, opt, x, y, T):
    """One BPTT step by autograd on the mean per-step cross-entropy."""
    import torch

    yt = torch.from_numpy(y).to(next(model.parameters()).device)
    outs = snntorch_outputs(model, lifs, x, T)
    loss = sum(torch.nn.functional.cross_entropy(o, yt) for o in outs) / T
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


# ---------------------------------------------------------------------------- measurements


def time_and_memory(kind, T, batch, hidden, reps, include_snntorch, rng, backend="cpu"):
    x = rng.uniform(0, 1, size=(batch, 784)).astype(np.float32)
    x = shaped(x, kind)
    y = rng.integers(0, 10, size=batch)
    out = {}
    for name, lr in learners(T, 1e-3, backend).items():
        net = make_net(kind, 0.5, 0, hidden)
        lr.update(net, x, y, rng=np.random.default_rng(0))  # warm-up (compilation)
        _, mem = peak_memory(lambda lr=lr, net=net: lr.update(net, x, y,
                                                              rng=np.random.default_rng(0)),
                             backend=backend)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            lr.update(net, x, y, rng=np.random.default_rng(0))
            ts.append(time.perf_counter() - t0)
        out[name] = {"peak_bytes": int(mem), "seconds_per_batch": float(np.median(ts))}
    if include_snntorch:
        import torch

        net = make_net(kind, 0.5, 0, hidden)
        model, lifs = snntorch_net(net, backend)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        snntorch_step(model, lifs, opt, x, y, T)
        gpu = backend == "cuda"
        peak = None
        if gpu:  # torch's allocator knows its peak: activations + autograd graph
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            snntorch_step(model, lifs, opt, x, y, T)
            torch.cuda.synchronize()
            peak = int(torch.cuda.max_memory_allocated() - base)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            snntorch_step(model, lifs, opt, x, y, T)  # float(loss) synchronises the device
            ts.append(time.perf_counter() - t0)
        out["snntorch-BPTT"] = {"peak_bytes": peak, "seconds_per_batch": float(np.median(ts))}
    return out


def cosine_per_layer(kind, betas, T, batch, hidden, rng, backend="cpu"):
    x = shaped(rng.uniform(0, 1, size=(batch, 784)).astype(np.float32), kind)
    y = rng.integers(0, 10, size=batch)
    res = {}
    for beta in betas:
        net = make_net(kind, beta, 1, hidden)
        _, gb = bptt_gradients(net, x, y, T, backend=backend)
        _, gs = sltt_gradients(net, x, y, T, backend=backend)
        cos = []
        for a, b in zip(gb, gs, strict=True):
            va, vb = a.weight.ravel(), b.weight.ravel()
            cos.append(float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb) + 1e-30)))
        res[str(beta)] = cos
    return res


def accuracy_runs(kind, data, T, epochs, seeds, hidden, include_snntorch, lr, backend="cpu",
                  log=None):
    xtr, ytr, xte, yte = data
    res = {}
    for seed in seeds:
        for name, learner in learners(T, lr, backend).items():
            net = make_net(kind, 0.5, seed, hidden)
            rng = np.random.default_rng(seed)
            hist = learner.fit(net, shaped(xtr, kind), ytr, epochs=epochs, rng=rng,
                               batch_size=128, progress=None)
            acc = learner.evaluate(net, shaped(xte, kind), yte)["accuracy"]
            res.setdefault(name, []).append({"seed": seed, "accuracy": acc,
                                             "loss": hist.loss, "train_s": hist.wall_s[-1]})
            if log is not None:
                log.info("  %s %s seed %d: test accuracy %.4f", kind, name, seed, acc)
        if include_snntorch:
            import torch

            torch.manual_seed(seed)
            net = make_net(kind, 0.5, seed, hidden)
            model, lifs = snntorch_net(net, backend)
            opt = torch.optim.Adam(model.parameters(), lr)
            rng = np.random.default_rng(seed)
            t0 = time.perf_counter()
            for _ in range(epochs):
                order = rng.permutation(len(xtr))
                for i in range(0, len(xtr), 128):
                    idx = order[i:i + 128]
                    snntorch_step(model, lifs, opt, shaped(xtr[idx], kind), ytr[idx], T)
            train_s = time.perf_counter() - t0
            acc = snntorch_accuracy(model, lifs, shaped(xte, kind), yte, T)
            res.setdefault("snntorch-BPTT", []).append({"seed": seed, "accuracy": acc,
                                                        "train_s": train_s})
            if log is not None:
                log.info("  %s snntorch-BPTT seed %d: test accuracy %.4f", kind, seed, acc)
    return res


def snntorch_accuracy(model, lifs, x, y, T):
    import torch

    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            summed = sum(snntorch_outputs(model, lifs, x[i:i + 1000], T))
            correct += int((summed.argmax(1).cpu().numpy() == y[i:i + 1000]).sum())
    return correct / len(x)


# ---------------------------------------------------------------------------- figure


def figure(metrics, config):
    """The study's figure (memory, time, accuracy, gradient alignment for MLP and CNN)."""
    import matplotlib.ticker

    plt = pyplot()

    kinds = list(metrics["scaling"])
    fig, axes = plt.subplots(2, 4, figsize=(18, 8))
    colors = {"BPTT": "tab:red", "SLTT": "tab:blue", "SLTT-2": "tab:green",
              "snntorch-BPTT": "tab:gray"}
    for r, kind in enumerate(kinds):
        sc = metrics["scaling"][kind]
        Ts = [int(t) for t in sc]
        for name in colors:
            mem = [sc[str(t)].get(name, {}).get("peak_bytes") for t in Ts]
            if any(m is not None for m in mem):
                axes[r, 0].plot(Ts, [m / 2**20 if m else np.nan for m in mem], "o-",
                                color=colors[name], label=name)
            sec = [sc[str(t)].get(name, {}).get("seconds_per_batch") for t in Ts]
            if any(s is not None for s in sec):
                axes[r, 1].plot(Ts, [s * 1e3 if s else np.nan for s in sec], "o-",
                                color=colors[name], label=name)
        axes[r, 0].set(xscale="log", xlabel="time steps T", ylim=(0, None),
                       ylabel="peak activation memory [MiB]", title=f"{kind}: memory")
        axes[r, 1].set(xscale="log", yscale="log", xlabel="time steps T",
                       ylabel="time per batch [ms]", title=f"{kind}: time (batch "
                       f"{config['batch']})")
        for ax in axes[r, :2]:
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xticks(Ts, [str(t) for t in Ts])
            ax.legend(fontsize=8)
        acc = metrics["accuracy"].get(kind, {})
        names = [n for n in colors if n in acc]
        means = [acc[n]["mean"] * 100 for n in names]
        stds = [acc[n]["std"] * 100 for n in names]
        axes[r, 2].bar(names, means, yerr=stds, color=[colors[n] for n in names], capsize=4)
        lo = min(means) if means else 0
        axes[r, 2].set_ylim(max(0, lo - 8), min(100, max(means + [0]) + 3))
        for i, (m, sd) in enumerate(zip(means, stds, strict=True)):
            axes[r, 2].text(i, m + sd + 0.3, f"{m:.1f}±{sd:.1f}", ha="center", fontsize=8)
        axes[r, 2].set(ylabel="test accuracy [%]", title=f"{kind}: Fashion-MNIST, "
                       f"T={config['acc_steps']}, {config['epochs']} epoch(s)")
        cos = metrics["cosine"][kind]
        betas = [float(b) for b in cos]
        for li in range(len(next(iter(cos.values())))):
            axes[r, 3].plot(betas, [cs[li] for cs in cos.values()], "o-", label=f"layer {li + 1}")
        axes[r, 3].set(xlabel="beta (membrane decay)", ylabel="cosine(SLTT grad, BPTT grad)",
                       title=f"{kind}: gradient alignment, T={config['cos_steps']}")
        axes[r, 3].legend(fontsize=8)
    fig.suptitle("SLTT vs BPTT on Fashion-MNIST (physnn, CPU, one thread per method)")
    fig.tight_layout()
    return fig


def summarize(runs):
    out = {}
    for name, rs in runs.items():
        accs = np.array([r["accuracy"] for r in rs])
        out[name] = {"mean": float(accs.mean()), "std": float(accs.std(ddof=1)) if len(accs) > 1
                     else 0.0, "runs": rs}
    return out


def device_name(device: str) -> str:
    """The CPU model, or the GPU's name."""
    from physnn.bench._common import cpu_name, gpu_name

    return gpu_name() if device == "cuda" else cpu_name()


def run(cfg: Config, ctx: RunContext) -> Result:
    """Run the experiment with ``cfg`` (see the module docstring); nothing is written."""
    from physnn.backends import resolve_backend

    device = resolve_backend(cfg.device)
    config = {
        "steps": list(cfg.steps), "acc_steps": cfg.acc_steps, "epochs": cfg.epochs,
        "seeds": list(range(cfg.seed, cfg.seed + cfg.n_seeds)),
        "train_size": cfg.train_size, "cnn_train_size": cfg.cnn_train_size,
        "test_size": cfg.test_size, "batch": cfg.batch, "hidden": cfg.hidden,
        "betas": list(cfg.betas), "cos_steps": cfg.cos_steps, "lr": cfg.lr, "reps": cfg.reps,
        "device": device,
    }
    include_snn = cfg.snntorch
    if include_snn:
        try:
            import snntorch  # noqa: F401
        except ImportError:
            include_snn = False
    # every method on one BLAS / torch thread: the same footing, and no spinning threads
    # on a busy machine (physnn's SLTT already runs its small per-step products so)
    if include_snn:
        import torch

        torch.set_num_threads(1)
    with one_blas_thread():
        metrics = measure(config, include_snn, ctx)
    for kind, s in metrics["summary"].items():
        ctx.log.info("%s %s", kind, {k: round(v, 3) for k, v in s.items()})
    setup = {"beta": 0.5, "surrogate": "triangle (alpha=1)",
             "loss": "mean over steps of per-step cross-entropy on the readout membrane",
             "device": device, "device_name": device_name(device), "snntorch": include_snn,
             "threads": 1, "seeds": config["seeds"]}
    return Result(claim=CLAIM, metrics=metrics, figure=figure(metrics, config), setup=setup)


def measure(config: dict, include_snn: bool, ctx: RunContext) -> dict:
    """Accuracy, memory / time scaling and gradient alignment, for the MLP and the CNN."""
    data = pn.data.load_fashion_mnist(flatten=True)
    rng = np.random.default_rng(0)
    tr = rng.permutation(len(data.x_train))
    te = rng.permutation(len(data.x_test))[:config["test_size"]]
    metrics: dict = {"scaling": {}, "accuracy": {}, "cosine": {}}
    for kind in ("mlp", "cnn"):
        n = config["train_size"] if kind == "mlp" else config["cnn_train_size"]
        sub = (data.x_train[tr[:n]], data.y_train[tr[:n]], data.x_test[te], data.y_test[te])
        ctx.log.info("%s: accuracy runs on %d training images", kind, n)
        metrics["accuracy"][kind] = summarize(accuracy_runs(
            kind, sub, config["acc_steps"], config["epochs"], config["seeds"],
            config["hidden"], include_snn, config["lr"], config["device"], ctx.log))
        metrics["scaling"][kind] = {}
        for T in config["steps"]:
            ctx.log.info("%s: memory and time at T=%d", kind, T)
            metrics["scaling"][kind][str(T)] = time_and_memory(
                kind, T, config["batch"], config["hidden"], config["reps"], include_snn,
                np.random.default_rng(T), config["device"])
        metrics["cosine"][kind] = cosine_per_layer(kind, config["betas"], config["cos_steps"],
                                                   config["batch"], config["hidden"],
                                                   np.random.default_rng(1),
                                                   config["device"])
    # the claims, measured
    summary = {}
    for kind, sc in metrics["scaling"].items():
        Ts = [str(t) for t in config["steps"]]
        ref = "32" if "32" in sc else Ts[-1]
        b, s, k = sc[ref]["BPTT"], sc[ref]["SLTT"], sc[ref]["SLTT-2"]
        sm = [sc[t]["SLTT"]["peak_bytes"] for t in Ts]
        summary[kind] = {
            "at_T": int(ref),
            "memory_ratio_bptt_over_sltt": b["peak_bytes"] / max(1, s["peak_bytes"]),
            "time_ratio_sltt_over_bptt": s["seconds_per_batch"] / b["seconds_per_batch"],
            "time_ratio_sltt2_over_bptt": k["seconds_per_batch"] / b["seconds_per_batch"],
            "sltt_memory_spread": (max(sm) - min(sm)) / max(1, min(sm)),
            "accuracy_gap_pp_sltt_minus_bptt": 100 * (
                metrics["accuracy"][kind]["SLTT"]["mean"]
                - metrics["accuracy"][kind]["BPTT"]["mean"]),
        }
        if "snntorch-BPTT" in sc[ref]:
            summary[kind]["time_ratio_physnn_bptt_over_snntorch"] = (
                b["seconds_per_batch"] / sc[ref]["snntorch-BPTT"]["seconds_per_batch"])
    metrics["summary"] = summary
    return metrics
