"""Controls and baselines every training experiment reports beside its method.

A physical network's accuracy says little on its own: the digital layers on the skip paths,
or any fixed random projection, may do the work. Each PhyLL experiment therefore trains, on
the same split and seeds, and reports under ``metrics["baselines"]``:

``physics_silenced``
    the same network and learner with every physical layer returning zeros
    (:class:`Silenced`); the digital layers and the skip paths stay;
``random_linear``
    every physical layer replaced by a fixed random affine map of the same shape whose
    per-channel output mean and standard deviation match the physical layer's
    (:class:`RandomLinear`): separates "a random projection" from "nonlinear physics";
``digital_same_params``
    a one-hidden-layer ReLU network with as many trainable parameters as the method's digital
    layers, trained by backpropagation (:func:`digital_same_params`);
``logistic_regression``
    on the method's input features (:func:`logistic_regression`).

:func:`compare` turns the numbers into the sentence a claim quotes, and says plainly when a
control or baseline matches or beats the method; :func:`baseline_panel` draws them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..nets import Block, PhysicalNetwork
from ..physical import PhysicalLayer

__all__ = ["BASELINES", "BASELINE_LABELS", "RandomLinear", "Silenced", "baseline_panel",
           "compare", "control_network", "digital_params", "digital_same_params",
           "logistic_regression", "verdict"]

#: The keys of ``metrics["baselines"]``, in the order figures and claims show them.
BASELINES = ("physics_silenced", "random_linear", "digital_same_params", "logistic_regression")
#: How figures and claims name them.
BASELINE_LABELS = {
    "physics_silenced": "physics silenced (control)",
    "random_linear": "random linear map (control)",
    "digital_same_params": "digital MLP, same parameters (backprop)",
    "logistic_regression": "logistic regression",
}


class Silenced(PhysicalLayer):
    """A control that measures nothing: zeros of the replaced layer's output width.

    Parameters
    ----------
    like : PhysicalLayer
        The layer it stands in for (only its widths are kept).
    """

    def __init__(self, like: PhysicalLayer) -> None:
        if not isinstance(like, PhysicalLayer):
            raise TypeError(f"like must be a physnn.PhysicalLayer, got {type(like).__name__}")
        super().__init__()
        self.in_features, self.out_features = like.in_features, like.out_features

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        return np.zeros((x.shape[0], self.out_features), np.float32)


class RandomLinear(PhysicalLayer):
    r"""A control that replaces a physical layer by a fixed random affine map of its shape.

    .. math:: z = x W + b, \qquad W_{ij} \sim \mathcal N(0, 1/n_\mathrm{in})

    then, on the first batch it receives, ``W`` and ``b`` are rescaled once so that every
    output channel has the mean and standard deviation the replaced layer ``like`` produces
    on that batch (``like`` is queried once for this and then dropped). From then on the map
    is fixed: the same output scale as the physics, none of its nonlinearity.

    Parameters
    ----------
    like : PhysicalLayer
        The layer it stands in for.
    seed : int
        Seed of ``W``.
    """

    def __init__(self, like: PhysicalLayer, seed: int) -> None:
        if not isinstance(like, PhysicalLayer):
            raise TypeError(f"like must be a physnn.PhysicalLayer, got {type(like).__name__}")
        super().__init__()
        self.in_features, self.out_features = like.in_features, like.out_features
        rng = np.random.default_rng([int(seed), 0x11AE])
        self.weight = rng.standard_normal((self.in_features, self.out_features)) / np.sqrt(
            self.in_features)
        self.bias = np.zeros(self.out_features)
        self._like: PhysicalLayer | None = like

    @property
    def calibrated(self) -> bool:
        """Whether the output scale has been matched (after the first batch)."""
        return self._like is None

    def _forward(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if self._like is not None:
            ref = np.asarray(self._like.forward(x, rng=rng), dtype=np.float64)
            z = x.astype(np.float64) @ self.weight
            sz, sr = z.std(0), ref.std(0)
            gain = np.where(sz > 0, sr / np.where(sz > 0, sz, 1.0), 0.0)
            self.weight = self.weight * gain
            self.bias = ref.mean(0) - z.mean(0) * gain
            self._like = None
        return (x.astype(np.float64) @ self.weight + self.bias).astype(np.float32)


def control_network(net: PhysicalNetwork, kind: str, seed: int) -> PhysicalNetwork:
    """A copy of an untrained ``net`` with every physical layer replaced by a control.

    Parameters
    ----------
    net : PhysicalNetwork
        The method's network before training (it is not changed).
    kind : {"physics_silenced", "random_linear"}
        :class:`Silenced` or :class:`RandomLinear` layers.
    seed : int
        Seed of the random maps (block ``i`` uses ``seed * 1000 + i``).

    Returns
    -------
    PhysicalNetwork
        Same digital layers (copies), skip paths and input encodings.
    """
    if not isinstance(net, PhysicalNetwork):
        raise TypeError(f"net must be a physnn.PhysicalNetwork, got {type(net).__name__}")
    if kind not in ("physics_silenced", "random_linear"):
        raise ValueError(f"kind must be 'physics_silenced' or 'random_linear', got {kind!r}")
    blocks = []
    for i, blk in enumerate(net.blocks):
        phys = (Silenced(blk.physical) if kind == "physics_silenced"
                else RandomLinear(copy.deepcopy(blk.physical), seed=int(seed) * 1000 + i))
        blocks.append(Block(phys, copy.deepcopy(blk.digital), skip=blk.skip, encode=blk.encode))
    return PhysicalNetwork(blocks)


def digital_params(net: PhysicalNetwork) -> int:
    """Trainable digital parameters of ``net``: every block's weights and biases."""
    return int(sum(b.digital.in_features * b.digital.out_features
                   + (b.digital.out_features if b.digital.use_bias else 0) for b in net.blocks))


def _standardize(x_tr: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = x_tr.mean(0), x_tr.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return [(a - mu) / sd for a in (x_tr, *others)]


def _check_xy(x_tr, y_tr, x_te, y_te) -> tuple[np.ndarray, ...]:
    x_tr, x_te = np.asarray(x_tr, float), np.asarray(x_te, float)
    y_tr, y_te = np.asarray(y_tr), np.asarray(y_te)
    if x_tr.ndim != 2 or x_te.ndim != 2 or x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(f"x_tr and x_te must be 2-D with the same width, got {x_tr.shape} and "
                         f"{x_te.shape}")
    if len(y_tr) != len(x_tr) or len(y_te) != len(x_te):
        raise ValueError("y_tr / y_te must have one label per row of x_tr / x_te")
    return x_tr, y_tr, x_te, y_te


def digital_same_params(n_params: int, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray,
                        y_te: np.ndarray, *, seed: int, max_epochs: int = 200,
                        patience: int = 30, validation: float = 0.2) -> dict:
    r"""A digital MLP with about ``n_params`` trainable parameters, trained by backprop.

    One ReLU hidden layer of width :math:`h = \max(1, \mathrm{round}((P - k) / (d + 1 + k)))`
    for ``P = n_params``, ``d`` input features and ``k`` classes, so that
    :math:`(d + 1) h + (h + 1) k \approx P`. Inputs are standardised on the training set;
    scikit-learn's ``MLPClassifier`` trains with Adam on mini-batches of 16..64 samples (so a
    small training set still gets several steps per epoch).

    The number of epochs is chosen on validation: the network is trained on the training data
    less a stratified ``validation`` fraction (drawn with ``seed``), scored there after every
    epoch until ``patience`` epochs bring no improvement (at most ``max_epochs``); a fresh
    network is then trained on all of the training data for the best epoch count and tested.

    Returns
    -------
    dict
        ``accuracy`` (test), ``hidden``, ``params`` (actual count), ``macs_per_sample``
        (:math:`d h + h k`), ``epochs`` (chosen on validation), ``validation_accuracy``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    from ._base import validation_split

    x_tr, y_tr, x_te, y_te = _check_xy(x_tr, y_tr, x_te, y_te)
    if int(n_params) < 1:
        raise ValueError(f"n_params must be >= 1, got {n_params}")
    if int(max_epochs) < 1 or int(patience) < 1:
        raise ValueError(f"max_epochs and patience must be >= 1, got {max_epochs}, {patience}")
    classes = np.unique(y_tr)
    d, k = x_tr.shape[1], len(classes)
    h = max(1, int(round((int(n_params) - k) / (d + 1 + k))))

    def model(n: int) -> MLPClassifier:
        return MLPClassifier(hidden_layer_sizes=(h,), random_state=int(seed),
                             batch_size=min(64, max(16, n // 8)))

    fit, val = validation_split(y_tr, validation, int(seed))
    a, b = _standardize(x_tr[fit], x_tr[val])
    best, best_epoch, m = -1.0, 1, model(len(fit))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(1, int(max_epochs) + 1):
            m.partial_fit(a, y_tr[fit], classes=classes)
            score = float(m.score(b, y_tr[val]))
            if score >= best:  # on a tie, the longer training
                best, best_epoch = score, epoch
            elif epoch - best_epoch >= int(patience):
                break
        a, b = _standardize(x_tr, x_te)
        m = model(len(x_tr))
        for _ in range(best_epoch):
            m.partial_fit(a, y_tr, classes=classes)
    return {"accuracy": float(m.score(b, y_te)), "hidden": h,
            "params": int((d + 1) * h + (h + 1) * k), "macs_per_sample": int(d * h + h * k),
            "epochs": int(best_epoch), "validation_accuracy": best}


def logistic_regression(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray,
                        *, seed: int, Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0),  # noqa: N803
                        validation: float = 0.2, max_iter: int = 2000) -> dict:
    """Multinomial logistic regression on standardised inputs, ``C`` chosen on validation.

    Each ``C`` in ``Cs`` is fitted on the training data less a stratified ``validation``
    fraction (drawn with ``seed``) and scored there; the best is refitted on all of the
    training data and tested. One ``C`` skips the search.

    Returns
    -------
    dict
        ``accuracy`` (test), ``C``, ``validation_accuracy`` per ``C``, ``macs_per_sample``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from ._base import validation_split

    x_tr, y_tr, x_te, y_te = _check_xy(x_tr, y_tr, x_te, y_te)
    Cs = [float(c) for c in Cs]  # noqa: N806
    if not Cs or min(Cs) <= 0:
        raise ValueError(f"Cs must be positive numbers, got {Cs}")
    scores: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if len(Cs) > 1:
            fit, val = validation_split(y_tr, validation, int(seed))
            a, b = _standardize(x_tr[fit], x_tr[val])
            for c in Cs:
                m = LogisticRegression(C=c, max_iter=max_iter).fit(a, y_tr[fit])
                scores[repr(c)] = float(m.score(b, y_tr[val]))
        best = max(Cs, key=lambda c: scores.get(repr(c), 0.0))
        a, b = _standardize(x_tr, x_te)
        model = LogisticRegression(C=best, max_iter=max_iter).fit(a, y_tr)
    k = len(model.classes_)
    return {"accuracy": float(model.score(b, y_te)), "C": best, "validation_accuracy": scores,
            "macs_per_sample": int(x_tr.shape[1] * k)}


def verdict(method: Mapping[str, Any], baseline: Mapping[str, Any],
            floor: float = 0.005) -> tuple[str, float]:
    r"""``("above" | "matches" | "below", difference)`` of a method against a baseline.

    Both are :func:`~physnn.experiments.mean_std` records of accuracies over the same seeds.
    With :math:`\Delta` the difference of the means and
    :math:`s = \sqrt{(\sigma_m^2 + \sigma_b^2) / n}` its standard error over ``n`` seeds, the
    method is *above* when :math:`\Delta > \max(2 s, \text{floor})`, *below* when
    :math:`\Delta < -\max(2 s, \text{floor})`, and otherwise *matches*.
    """
    d = float(method["mean"]) - float(baseline["mean"])
    n = max(1, min(len(method.get("values", [0])), len(baseline.get("values", [0]))))
    se = float(np.sqrt((float(method["std"]) ** 2 + float(baseline["std"]) ** 2) / n))
    tol = max(2 * se, float(floor))
    return ("above" if d > tol else "below" if d < -tol else "matches"), d


def _pct(s: Mapping[str, Any]) -> str:
    if len(s.get("values", ())) > 1:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f} %"
    return f"{100 * s['mean']:.1f} %"


def compare(method_label: str, method: Mapping[str, Any],
            baselines: Mapping[str, Mapping[str, Any]]) -> tuple[str, dict]:
    """The claim's sentence on a method against its controls and baselines.

    Parameters
    ----------
    method_label : str
        How the sentence names the method.
    method : mapping
        The method's accuracy record (``mean``, ``std``, ``values``).
    baselines : mapping
        ``{key: record}``, keys from :data:`BASELINES` (others are named by their key).

    Returns
    -------
    sentence : str
    verdicts : dict
        ``{key: {"verdict": "above" | "matches" | "below", "difference": float}}`` (the
        method's mean minus the baseline's, as a fraction).
    """
    verdicts: dict[str, dict] = {}
    parts = []
    for key, rec in baselines.items():
        v, d = verdict(method, rec)
        verdicts[key] = {"verdict": v, "difference": d}
        parts.append(f"{BASELINE_LABELS.get(key, key)} {_pct(rec)}")
    text = f"{method_label} reaches {_pct(method)}; " + ", ".join(parts) + "."
    beat = [BASELINE_LABELS.get(k, k) for k, r in verdicts.items() if r["verdict"] == "below"]
    tie = [BASELINE_LABELS.get(k, k) for k, r in verdicts.items() if r["verdict"] == "matches"]
    if beat:
        text += " Beating the method: " + ", ".join(beat) + "."
    if tie:
        text += " Indistinguishable from the method: " + ", ".join(tie) + "."
    if not beat and not tie and verdicts:
        text += " The method is above every control and baseline."
    for key in ("physics_silenced", "random_linear"):
        if key in verdicts:
            d = 100 * verdicts[key]["difference"]
            what = "silencing the physics" if key == "physics_silenced" else (
                "replacing it by a random linear map")
            text += (f" {what.capitalize()} " + (f"costs {d:.1f} points." if d >= 0 else
                                                  f"gains {-d:.1f} points."))
    return text, verdicts


def baseline_panel(ax: Any, methods: Mapping[str, Sequence[float]],
                   baselines: Mapping[str, Sequence[float]], *,
                   ylabel: str = "test accuracy [%]") -> None:
    """Per-seed dots and mean ± std of methods and baselines side by side (in %).

    Accuracies are fractions; the y-axis spans every dot and error bar with a margin, so
    nothing is clipped. Methods are drawn in colour, baselines in grey.
    """
    names = [*methods, *(BASELINE_LABELS.get(k, k) for k in baselines)]
    vals = [100 * np.asarray(v, float) for v in (*methods.values(), *baselines.values())]
    lo, hi = [], []
    for i, v in enumerate(vals):
        colour = f"C{i}" if i < len(methods) else "0.45"
        jitter = np.random.default_rng(i).uniform(-0.15, 0.15, len(v))
        ax.scatter(i + jitter, v, s=16, alpha=0.7, color=colour, zorder=2)
        ax.errorbar(i, v.mean(), yerr=v.std(), fmt="s", color="k", capsize=5, ms=5, zorder=3)
        lo.append(min(v.min(), v.mean() - v.std()))
        hi.append(max(v.max(), v.mean() + v.std()))
    if len(methods) and len(baselines):
        ax.axvline(len(methods) - 0.5, color="0.8", lw=1)
    span = max(max(hi) - min(lo), 1.0)
    ax.set_ylim(max(0.0, min(lo) - 0.15 * span), max(hi) + 0.15 * span)  # error bars may pass 100
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xticks(range(len(names)), [_wrap(n) for n in names], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def _wrap(name: str, width: int = 16) -> str:
    words, lines, cur = name.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return "\n".join([*lines, cur])
