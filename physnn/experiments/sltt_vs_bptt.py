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

from ._base import Device, Result, RunContext, at_least_one, help_field, pyplot

NAME = "sltt_vs_bptt"
SWEEP_METRICS = ("accuracy.mlp.SLTT.mean", "accuracy.mlp.BPTT.mean",
                 "summary.mlp.memory_ratio_bptt_over_sltt", "summary.mlp.time_ratio_sltt_over_bptt")

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
        at_least_one(self, "n_seeds", "acc_steps", "epochs", "train_size", "cnn_train_size",
                           "test_size", "batch", "hidden", "cos_steps", "reps")
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
    # one update each on a throwaway network first: the epoch times then leave out the
    # kernels' compilation, which would otherwise fall on whichever method runs first
    for learner in learners(T, lr, backend).values():
        learner.update(make_net(kind, 0.5, seeds[0], hidden), shaped(xtr[:128], kind),
                       ytr[:128], rng=np.random.default_rng(0))
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


STYLE = {"BPTT": ("tab:red", "o", "-"), "SLTT": ("tab:blue", "s", "--"),
         "SLTT-2": ("tab:green", "^", ":"), "snntorch-BPTT": ("tab:gray", "D", "-.")}


def figure(metrics, config):
    """The study's figure (memory, time, accuracy, gradient alignment for MLP and CNN)."""
    import matplotlib.ticker as mticker

    plt = pyplot()

    kinds = list(metrics["scaling"])
    fig, axes = plt.subplots(len(kinds), 4, figsize=(19, 4.4 * len(kinds) + 0.8), squeeze=False)
    n_seeds = len(config["seeds"])
    plain = mticker.FuncFormatter(lambda v, _: f"{v:g}")
    for r, kind in enumerate(kinds):
        sc = metrics["scaling"][kind]
        Ts = [int(t) for t in sc]
        # distinct markers and line styles: lines that coincide (equal memory) stay visible
        for name, (color, marker, ls) in STYLE.items():
            mem = [sc[str(t)].get(name, {}).get("peak_bytes") for t in Ts]
            if any(m is not None for m in mem):
                axes[r, 0].plot(Ts, [m / 2**20 if m else np.nan for m in mem], marker=marker,
                                ls=ls, color=color, label=name, ms=8 if name == "BPTT" else 6,
                                mfc="none" if name == "BPTT" else color)
            sec = [sc[str(t)].get(name, {}).get("seconds_per_batch") for t in Ts]
            if any(s is not None for s in sec):
                axes[r, 1].plot(Ts, [s * 1e3 if s else np.nan for s in sec], marker=marker,
                                ls=ls, color=color, label=name)
        top = max((np.nanmax(line.get_ydata()) for line in axes[r, 0].get_lines()),
                  default=1.0)
        axes[r, 0].set(xscale="log", xlabel="time steps T", ylim=(0, 1.35 * max(top, 1e-3)),
                       ylabel="peak activation memory [MiB]", title=f"{kind.upper()}: memory")
        axes[r, 1].set(xscale="log", yscale="log", xlabel="time steps T",
                       ylabel="time per batch [ms]",
                       title=f"{kind.upper()}: time per batch of {config['batch']} "
                             f"(median of {_plural(config['reps'], 'repeat')})")
        axes[r, 1].yaxis.set_major_formatter(plain)
        axes[r, 1].yaxis.set_minor_formatter(mticker.NullFormatter())
        lo, hi = axes[r, 1].get_ylim()
        axes[r, 1].set_ylim(lo, hi * 3)  # room for the legend above the lines
        for ax in axes[r, :2]:
            ax.xaxis.set_minor_locator(mticker.NullLocator())
            ax.set_xticks(Ts, [str(t) for t in Ts])
            ax.legend(fontsize=9, loc="upper left", ncol=2)
        acc = metrics["accuracy"].get(kind, {})
        names = [n for n in STYLE if n in acc]
        means = [acc[n]["mean"] * 100 for n in names]
        stds = [acc[n]["std"] * 100 for n in names]
        ax = axes[r, 2]
        ax.bar(range(len(names)), means, yerr=stds if n_seeds > 1 else None,
               color=[STYLE[n][0] for n in names], capsize=4, alpha=0.85)
        tops = []
        for i, n in enumerate(names):
            vals = [100 * run["accuracy"] for run in acc[n]["runs"]]
            if n_seeds > 1:  # the seeds themselves
                ax.plot(np.full(len(vals), i) + np.linspace(-0.25, 0.25, len(vals)), vals, "k.",
                        ms=5, label="one seed" if i == 0 else None)
            tops.append(max(vals + [means[i] + stds[i]]))
        ax.axhline(10, color="k", ls=":", lw=1, label="chance (10 %)")
        for i, (m, sd) in enumerate(zip(means, stds, strict=True)):
            label = f"{m:.1f} ± {sd:.1f}" if n_seeds > 1 else f"{m:.1f}"
            ax.text(i, tops[i] + 1, label, ha="center", va="bottom", fontsize=9)
        # headroom above the bars, error bars and labels for the legend
        ax.set_ylim(0, max(tops + [10]) * 1.3 + 2)
        ax.set_xticks(range(len(names)), names)
        ax.legend(fontsize=9, loc="upper left")
        spread = f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "1 seed"
        n_train = config["train_size"] if kind == "mlp" else config["cnn_train_size"]
        ax.set(ylabel=f"test accuracy [%] ({spread})",
               title=f"{kind.upper()}: Fashion-MNIST, T={config['acc_steps']}, "
                     f"{_plural(config['epochs'], 'epoch')}, {n_train} train images")
        cos = metrics["cosine"][kind]
        betas = [float(b) for b in cos]
        n_layers = len(next(iter(cos.values())))
        for li in range(n_layers):
            axes[r, 3].plot(betas, [cs[li] for cs in cos.values()], marker="os^Dv"[li % 5],
                            ls="-", label=f"layer {li + 1}" + (" (readout)" if li == n_layers - 1
                                                               else ""))
        low = min(min(c) for c in cos.values())
        axes[r, 3].set_ylim(min(0.95, low - 0.1 * (1 - low)), 1.005)
        axes[r, 3].set_xticks(betas, [f"{b:g}" for b in betas])
        axes[r, 3].set(xlabel="beta (membrane decay)", ylabel="cosine(SLTT grad, BPTT grad)",
                       title=f"{kind.upper()}: gradient alignment, T={config['cos_steps']}")
        axes[r, 3].legend(fontsize=9, loc="lower left")
    where = ("CPU, one thread per method" if config["device"] == "cpu"
             else f"{config['device'].upper()}")
    fig.suptitle(f"SLTT vs BPTT on Fashion-MNIST (physnn, {where})")
    fig.tight_layout()
    return fig


def summarize(runs):
    out = {}
    for name, rs in runs.items():
        accs = np.array([r["accuracy"] for r in rs])
        out[name] = {"mean": float(accs.mean()), "std": float(accs.std(ddof=1)) if len(accs) > 1
                     else 0.0, "runs": rs}
    return out


# ---------------------------------------------------------------------------- the claim

#: Relative differences below these read as "the same" in the claim.
SAME_TIME = 0.05     # time ratios within 5 % of 1
SAME_MEMORY = 0.05   # memory ratios within 5 % of 1
SAME_ACCURACY_PP = 0.5  # accuracy gaps below 0.5 points (or below the seeds' spread)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _pct(acc: dict, n_seeds: int) -> str:
    """``41.3 %`` for one seed, ``41.3 ± 0.4 %`` for several."""
    if n_seeds > 1:
        return f"{100 * acc['mean']:.1f} ± {100 * acc['std']:.1f} %"
    return f"{100 * acc['mean']:.1f} %"


def _speed(ratio: float, what: str) -> str:
    """``ratio`` = SLTT's time / BPTT's time, in words."""
    if abs(ratio - 1) <= SAME_TIME:
        return f"SLTT is as fast as BPTT {what} (time ratio {ratio:.2f})"
    if ratio < 1:
        return f"SLTT is {1 / ratio:.2f}x faster than BPTT {what}"
    return f"SLTT is {ratio:.2f}x slower than BPTT {what}"


def _memory(ratio: float, at_t: int) -> str:
    """``ratio`` = BPTT's peak memory / SLTT's, in words."""
    if abs(ratio - 1) <= SAME_MEMORY:
        return (f"at T={at_t} SLTT uses as much peak activation memory as BPTT "
                f"(ratio {ratio:.2f})")
    if ratio > 1:
        return f"at T={at_t} SLTT uses {ratio:.2f}x less peak activation memory than BPTT"
    return f"at T={at_t} SLTT uses {1 / ratio:.2f}x more peak activation memory than BPTT"


def _accuracy(acc: dict, n_seeds: int) -> str:
    """Which of SLTT and BPTT is more accurate, with every method's test accuracy."""
    b, s = acc["BPTT"], acc["SLTT"]
    gap = 100 * (s["mean"] - b["mean"])
    spread = 100 * float(np.hypot(s["std"], b["std"]))
    tol = max(SAME_ACCURACY_PP, spread)
    listed = ", ".join(f"{n} {_pct(acc[n], n_seeds)}" for n in ("BPTT", "SLTT", "SLTT-2")
                       if n in acc)
    if abs(gap) <= tol:
        verdict = (f"SLTT is as accurate as BPTT (gap {gap:+.1f} points, within the "
                   f"{tol:.1f}-point margin)")
    elif gap > 0:
        verdict = f"SLTT is more accurate than BPTT by {gap:.1f} points"
    else:
        verdict = f"BPTT is more accurate than SLTT by {-gap:.1f} points"
    return f"{verdict}; test accuracy {listed}"


def claim(metrics: dict, config: dict) -> str:
    """The sentence the numbers support: per network, which of SLTT and BPTT is more
    accurate, faster per training epoch and per batch, and lighter in memory, and how well
    their gradients align as beta grows. ``config`` is the run's config (as a dict)."""
    n_seeds, epochs = int(config["n_seeds"]), int(config["epochs"])
    parts = []
    for kind in metrics["summary"]:
        sm, acc = metrics["summary"][kind], metrics["accuracy"][kind]
        n_train = config["train_size"] if kind == "mlp" else config["cnn_train_size"]
        head = (f"{kind.upper()} (T={config['acc_steps']}, {_plural(epochs, 'epoch')} on "
                f"{n_train} images, {_plural(n_seeds, 'seed')})")
        sec = sm["seconds_per_epoch"]
        t_lo, t_hi = sm["memory_from_T"], sm["at_T"]
        if t_hi > t_lo:
            flat = (f"from T={t_lo} to T={t_hi} SLTT's memory changes by "
                    f"{round(100 * sm['sltt_memory_growth'] - 100):+d} % and BPTT's by "
                    f"{round(100 * sm['bptt_memory_growth'] - 100):+d} %")
        else:
            flat = ""
        parts.append(
            f"{head}: {_accuracy(acc, n_seeds)}. "
            f"{_speed(sm['epoch_time_ratio_sltt_over_bptt'], 'per training epoch')} "
            f"({sec['SLTT']:.2g} s vs {sec['BPTT']:.2g} s; SLTT-2 "
            f"{sm['epoch_time_ratio_sltt2_over_bptt']:.2f}x BPTT's time) and "
            f"{_speed(sm['time_ratio_sltt_over_bptt'], f'per batch at T={t_hi}')}; "
            f"{_memory(sm['memory_ratio_bptt_over_sltt'], t_hi)}"
            + (f"; {flat}." if flat else "."))
    cos = []
    for kind, by_beta in metrics["cosine"].items():
        low = ", ".join(f"{min(c):.3f} at beta={float(b):g}" for b, c in by_beta.items())
        cos.append(f"{kind.upper()} {low}")
    parts.append("Lowest cosine over layers between SLTT and BPTT gradients "
                 f"(T={config['cos_steps']}): " + "; ".join(cos) + ".")
    if config.get("quick"):
        parts.append(f"A --quick smoke run ({_plural(int(config['reps']), 'timed repeat')}, "
                     "tiny data): these numbers do not test the paper's claims.")
    return " ".join(parts)


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
        ctx.log.info("%s %s", kind, {k: round(v, 3) for k, v in s.items()
                                     if isinstance(v, int | float)})
    setup = {"beta": 0.5, "surrogate": "triangle (alpha=1)",
             "loss": "mean over steps of per-step cross-entropy on the readout membrane",
             "device": device, "device_name": device_name(device), "snntorch": include_snn,
             "threads": 1, "seeds": config["seeds"]}
    return Result(claim=claim(metrics, dataclasses.asdict(cfg)), metrics=metrics,
                  figure=figure(metrics, config), setup=setup)


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
        bm = [sc[t]["BPTT"]["peak_bytes"] for t in Ts]
        sec = {name: float(np.mean([r["train_s"] for r in rs])) / config["epochs"]
               for name, rs in ((n, a["runs"]) for n, a in metrics["accuracy"][kind].items())}
        summary[kind] = {
            "at_T": int(ref),
            "memory_from_T": int(Ts[0]),
            "seconds_per_epoch": sec,
            "epoch_time_ratio_sltt_over_bptt": sec["SLTT"] / sec["BPTT"],
            "epoch_time_ratio_sltt2_over_bptt": sec["SLTT-2"] / sec["BPTT"],
            "sltt_memory_growth": s["peak_bytes"] / max(1, sm[0]),
            "bptt_memory_growth": b["peak_bytes"] / max(1, bm[0]),
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
