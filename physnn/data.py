"""Data set loaders: scikit-learn digits, the vowel formant and audio sets, and Fashion-MNIST
(the acoustic measurements are read by :mod:`hardware_models.acoustic`).

Files are read where they lie, never copied. The data folder is the first of:

1. the ``path`` argument of a loader;
2. the ``PHYSNN_DATA`` environment variable;
3. ``../shared/data`` beside the repository, only when physnn is imported from a source
   checkout (an installed physnn has no default folder).

The first one given is used: a ``PHYSNN_DATA`` that lacks a file is an error, not a reason
to read another copy. A missing file or folder raises :class:`DataNotFoundError` (a
:class:`FileNotFoundError`) naming ``PHYSNN_DATA``, the folder looked in and the files it
should hold (:data:`DATA_FILES`). Fashion-MNIST comes from the distribution package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``) instead.
"""

from __future__ import annotations

import csv
import gzip
import os
import tomllib
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "DATA_ENV",
    "DATA_FILES",
    "FASHION_MNIST_DIR",
    "FORMANT_VOWELS",
    "DataNotFoundError",
    "Split",
    "VowelAudio",
    "data_dir",
    "data_file",
    "load_digits",
    "load_fashion_mnist",
    "load_formants",
    "load_vowel_audio",
    "require_data",
    "source_checkout",
    "stratified_split",
    "vowel_windows",
]

#: The environment variable naming the data folder.
DATA_ENV = "PHYSNN_DATA"
#: What the data folder holds: path inside it -> what it is and what reads it.
DATA_FILES = {
    "hillenbrand_formants_women7.csv":
        "258 vowel tokens x 12 formants, women, 7 vowels (load_formants; phyll_vowels, "
        "phyll_microwave_vowels, phyll_vs_pat)",
    "hillenbrand_vowels_16k.npz":
        "1116 Hillenbrand vowel recordings, 16 kHz int16 (load_vowel_audio, vowel_windows; "
        "phyll_wave_audio)",
    "phyll_acoustic/x_data.csv":
        "10 001 x 20 inputs sent into the real acoustic cavity (AcousticCavity."
        "from_measurements; phyll_vowels, phyll_vs_pat, hardware_gallery)",
    "phyll_acoustic/y_data.csv": "10 001 x 20 outputs measured on it",
}
_SOURCES = ("Sources (MIT licence): the Hillenbrand et al. (1995) vowel database as "
            "redistributed with wavetorch (recordings) and tabulated in the PhyLL repository "
            "(formants); the PhyLL repository's 'Experimental Data/Acoustic' (x_data.csv, "
            "y_data.csv).")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Vowel classes of ``hillenbrand_formants_women7.csv``, in label order.
FORMANT_VOWELS = ("ae", "ah", "aw", "er", "ih", "iy", "uw")


class DataNotFoundError(FileNotFoundError):
    """A data file or the data folder is missing; the message says where to put what."""


class Split(NamedTuple):
    """A train / test split: ``(x_train, y_train, x_test, y_test)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def source_checkout() -> Path | None:
    """The repository root when physnn is imported from a source checkout, else ``None``.

    A checkout is recognised by a ``pyproject.toml`` naming the project ``physnn`` in the
    folder above the package (an editable install counts; a wheel install does not).
    """
    root = Path(__file__).resolve().parents[1]
    try:
        with open(root / "pyproject.toml", "rb") as fh:
            name = tomllib.load(fh).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if name == "physnn" else None


def _guidance() -> str:
    width = max(map(len, DATA_FILES))
    rows = "\n".join(f"  {name:<{width}}  {what}" for name, what in DATA_FILES.items())
    return (f"Set the {DATA_ENV} environment variable (or pass path=) to a folder holding:\n"
            f"{rows}\n{_SOURCES}")


def _resolve(path: str | os.PathLike | None) -> tuple[Path | None, str]:
    """The data folder and how it was chosen; ``(None, why)`` when nothing names one."""
    if path is not None:
        return Path(path).expanduser(), "the path argument"
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser(), f"from {DATA_ENV}"
    root = source_checkout()
    if root is not None:
        return (root.parent / "shared" / "data",
                f"the source checkout's ../shared/data; {DATA_ENV} is not set")
    here = Path(__file__).resolve().parent
    return None, (f"no path argument, {DATA_ENV} is not set, and physnn is imported from "
                  f"{here}, not a source checkout (whose default is its ../shared/data)")


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder: ``path``, else ``$PHYSNN_DATA``, else a source checkout's
    ``../shared/data``.

    The folder is not checked (:func:`data_file` and :func:`require_data` check files).

    Raises
    ------
    DataNotFoundError
        When none of the three applies (an installed physnn with ``PHYSNN_DATA`` unset).
    """
    folder, why = _resolve(path)
    if folder is None:
        raise DataNotFoundError(f"no physnn data folder: {why}.\n{_guidance()}")
    return folder


def require_data(*names: str, path: str | os.PathLike | None = None) -> Path:
    """Check that the data folder holds every file in ``names``; return the folder.

    ``names`` are paths inside the folder (``"phyll_acoustic/x_data.csv"``). Scripts call
    this before any work so that a missing file stops them at once.

    Raises
    ------
    DataNotFoundError
        Naming every missing file, the folder looked in, ``PHYSNN_DATA`` and what the folder
        should hold.
    """
    folder, why = _resolve(path)
    if folder is None:
        raise DataNotFoundError(f"{', '.join(names) or 'data'} needed but there is no physnn "
                                f"data folder: {why}.\n{_guidance()}")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        state = "" if folder.is_dir() else " (no such folder)"
        raise DataNotFoundError(
            f"{', '.join(missing)} not found in {folder}{state} ({why}).\n{_guidance()}")
    return folder


def data_file(name: str, path: str | os.PathLike | None = None) -> Path:
    """The path of ``name`` inside the data folder, checked (see :func:`require_data`)."""
    return require_data(name, path=path) / name


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 8x8 handwritten digits (bundled, no download).

    Returns
    -------
    x : ndarray, shape (1797, 64), float32
        Pixel intensities scaled to [0, 1] (raw values 0..16 divided by 16).
    y : ndarray, shape (1797,), int64
        Digit 0..9.
    """
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("load_digits needs scikit-learn: pip install scikit-learn "
                          "(or the physnn 'test' extra)") from exc
    d = _sk_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


def load_formants(path: str | os.PathLike | None = None
                  ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The 7-vowel, 12-formant task (``hillenbrand_formants_women7.csv``).

    Returns
    -------
    x : ndarray, shape (258, 12), float64
        F1..F3 at steady state and at 20 / 50 / 80 % of the vowel, in Hz.
    y : ndarray, shape (258,), int64
        Index into :data:`FORMANT_VOWELS`.
    speakers : tuple of str
        Speaker id of each token.
    """
    f = data_file("hillenbrand_formants_women7.csv", path)
    with open(f, newline="") as fh:
        rows = list(csv.reader(fh))
    header, rows = rows[0], rows[1:]
    if header[:3] != ["token", "speaker", "vowel"] or len(header) != 15:
        raise ValueError(f"{f} does not have the expected columns token, speaker, vowel + 12")
    x = np.array([[float(v) for v in r[3:]] for r in rows])
    y = np.array([FORMANT_VOWELS.index(r[2]) for r in rows], dtype=np.int64)
    return x, y, tuple(r[1] for r in rows)


class VowelAudio(NamedTuple):
    """Hillenbrand vowel recordings: a list of int16 waveforms and their labels."""

    audio: list
    speaker: np.ndarray
    gender: np.ndarray
    vowel: np.ndarray
    sample_rate: int


def load_vowel_audio(path: str | os.PathLike | None = None) -> VowelAudio:
    """The 1116 Hillenbrand recordings (``hillenbrand_vowels_16k.npz``), 16 kHz int16."""
    f = data_file("hillenbrand_vowels_16k.npz", path)
    with np.load(f) as z:
        audio, off = z["audio"], z["offsets"]
        rec = VowelAudio([audio[off[i]:off[i + 1]] for i in range(len(off) - 1)],
                         z["speaker"], z["gender"], z["vowel"], int(z["sample_rate"]))
    return rec


def vowel_windows(vowels: tuple[str, ...] = ("ae", "ei", "iy"), *, sample_rate: int = 10_000,
                  length: int = 1000, path: str | os.PathLike | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred, peak-normalised windows of the Hillenbrand recordings of some vowels.

    Each recording is resampled from 16 kHz to ``sample_rate`` (polyphase, anti-aliased),
    the ``length`` samples around its centre are kept and divided by their peak :math:`|x|`.
    The defaults are the three-vowel task of the wave-physics literature (ae / ei / iy,
    10 kHz, 1000 samples = 100 ms).

    Returns
    -------
    x : ndarray, shape (n, length), float32
        Waveforms in [-1, 1].
    y : ndarray, shape (n,), int64
        Index of the vowel in ``vowels``.
    speaker : ndarray, shape (n,), str
        Speaker of each recording (``m01`` .. / ``w01`` ..), for speaker-disjoint folds.
    """
    from math import gcd

    from scipy.signal import resample_poly

    rec = load_vowel_audio(path)
    vowels = tuple(vowels)
    unknown = sorted(set(vowels) - set(np.unique(rec.vowel).tolist()))
    if not vowels or unknown:
        raise ValueError(f"vowels must be a non-empty subset of {sorted(set(rec.vowel))}, "
                         f"got unknown {unknown}")
    if not (isinstance(sample_rate, int | np.integer) and 0 < sample_rate <= rec.sample_rate):
        raise ValueError(f"sample_rate must be an int in 1..{rec.sample_rate}, got {sample_rate!r}")
    g = gcd(int(sample_rate), rec.sample_rate)
    up, down = int(sample_rate) // g, rec.sample_rate // g
    shortest = min(len(a) for a in rec.audio) * up // down
    if not (isinstance(length, int | np.integer) and 1 <= length <= shortest):
        raise ValueError(f"length must be an int in 1..{shortest} (the shortest recording at "
                         f"{sample_rate} Hz), got {length!r}")
    sel = [i for i, v in enumerate(rec.vowel) if v in vowels]
    x = np.empty((len(sel), int(length)), np.float32)
    for row, i in enumerate(sel):
        a = resample_poly(rec.audio[i].astype(np.float64), up, down)
        c = (len(a) - int(length)) // 2
        w = a[c:c + int(length)]
        x[row] = w / max(np.abs(w).max(), 1e-12)
    y = np.array([vowels.index(rec.vowel[i]) for i in sel], np.int64)
    return x, y, np.asarray(rec.speaker)[sel]


def _read_idx(f: Path) -> np.ndarray:
    with gzip.open(f, "rb") as fh:
        raw = fh.read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f"{f} is not an unsigned-byte IDX file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{f} is truncated: expected {np.prod(shape)} values, got {data.size}")
    return data.reshape(shape)


def load_fashion_mnist(path: str | os.PathLike | None = None, *, flatten: bool = False) -> Split:
    """Fashion-MNIST from the IDX ``.gz`` files of the package ``dataset-fashion-mnist``.

    Parameters
    ----------
    path : path, optional
        Folder with the four IDX files; default ``/usr/share/datasets/fashion-mnist``.
    flatten : bool, default False
        Return images as (n, 784) instead of (n, 28, 28).

    Returns
    -------
    Split
        ``x_train`` (60000, 28, 28) and ``x_test`` (10000, 28, 28) float32 in [0, 1],
        ``y_train``, ``y_test`` int64 class 0..9.

    Raises
    ------
    DataNotFoundError
        When the files are missing; the message names the package to install.
    """
    folder = Path(path) if path is not None else FASHION_MNIST_DIR
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataNotFoundError(
            f"Fashion-MNIST files {missing} not found in {folder}; install them with "
            "`apt-get install dataset-fashion-mnist` (files land in "
            f"{FASHION_MNIST_DIR}) or pass path=<folder with the IDX .gz files>")
    xtr, ytr, xte, yte = (_read_idx(folder / n) for n in names)
    xtr = xtr.astype(np.float32) / 255.0
    xte = xte.astype(np.float32) / 255.0
    if flatten:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    return Split(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))


def stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified random train / test split.

    Each class contributes ``round(test_fraction * n_class)`` test samples.
    Returns ``(train_idx, test_idx)``, each sorted.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    y = np.asarray(y)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = int(round(test_fraction * idx.size))
        test.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(y.size), test_idx)
    return train_idx, test_idx
