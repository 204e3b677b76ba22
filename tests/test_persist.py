"""physnn.save / physnn.load: a trained network is data that another process can use.

Every learner on every hardware model is trained, saved, loaded in a *fresh process*, and
must give the same predictions and, after one more update, the same parameters."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from phyll_toys import SaturatingProjection

import physnn as pn
from physnn.perturb import AdditiveNoise, DeadChannels, Drift, ParameterDrift
from physnn.snn import Conv2d, Dense, SpikingNetwork

REPO = Path(__file__).resolve().parents[1]
K = 3


def blobs(n_per=8, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.eye(K, d) * 0.8 + 0.1
    x = np.concatenate([c + 0.05 * rng.standard_normal((n_per, d)) for c in centres])
    return x.clip(0, 1).astype(np.float32), np.repeat(np.arange(K), n_per)


def _hardware(name, n_in, data_dir=None):
    import hardware_models as hm

    if name == "optical":
        return pn.Perturbed(hm.OpticalSpeckle(in_features=n_in, camera_shape=(4, 4), seed=1),
                            AdditiveNoise(0.01), DeadChannels((1,)),
                            ParameterDrift("exposure", rate=1e-4), seed=2)
    if name == "microwave":
        return hm.MicrowaveCavity(in_features=n_in, n_elements=2 * n_in, n_scatterers=4, seed=2)
    if name == "spiking":
        return hm.SpikingSubstrate(n_in, 12, steps=10, seed=3)
    if name == "wave":
        geo = hm.CavityGeometry.example((24, 32), n_scatterers=3, nonlinear=True, seed=3)
        return pn.Perturbed(hm.WaveCavity(geo, n_in, n_steps=80, n_windows=2, noise=0.01),
                            Drift(rate=1e-3, walk_std=1e-3), seed=4)
    if name == "acoustic":
        folder = data_dir / "phyll_acoustic"
        if not folder.is_dir():
            pytest.skip(f"{folder} not found")
        return hm.AcousticCavity.from_measurements(folder, seed=0, epochs=2)
    if name == "callable":
        return pn.CallableLayer(_driver, n_in, 7, name="scope", max_batch=16, retries=1)
    raise AssertionError(name)


_W = np.random.default_rng(7).standard_normal((20, 7)).astype(np.float32)


def _driver(x):
    return np.tanh(x @ _W[: x.shape[1]]) ** 2


LEARNERS = {
    "phyll": lambda: pn.learning.PhyLL(inner_steps=2, optimizer=pn.optim.Adam(1e-2)),
    "ff": lambda: pn.learning.ForwardForward(theta=0.5, inner_steps=2, negatives=2,
                                             optimizer=pn.optim.SGD(1e-2, momentum=0.9)),
    "readout": lambda: pn.learning.LocalReadout(inner_steps=2, optimizer=pn.optim.Adam(1e-2)),
}
HARDWARE = ["optical", "microwave", "spiking", "wave", "acoustic", "callable"]


def _trained(learner_name, hw, data_dir):
    learner = LEARNERS[learner_name]()
    x, y = blobs()
    if hw == "acoustic":  # 20 inputs in [0, 1]
        x = np.concatenate([x, x, x, x[:, :2]], axis=1)[:, : 20 - (K if learner_name != "readout"
                                                                  else 0)]
    n0 = learner.input_width(x.shape[1], K)
    phys = _hardware(hw, n0, data_dir)
    net = pn.PhysicalNetwork([
        pn.Block(phys, pn.Linear(phys.out_features + n0, 8),
                 encode=pn.nets.abs_max_scale if hw in ("microwave", "acoustic") else None),
        pn.Block(SaturatingProjection(8, 5, seed=4), pn.Linear(13, 6)),
    ])
    learner.fit(net, x, y, epochs=2, batch_size=12, rng=np.random.default_rng(0), progress=False)
    return net, learner, x, y


_FRESH = r"""
import sys, numpy as np, physnn as pn
sys.path.insert(0, sys.argv[1])
import phyll_toys  # registers the test layers
from test_persist import _driver
out = {}
for i, path in enumerate(sys.argv[3:]):
    drivers = {"scope": _driver} if "callable" in path else None
    net, learner = pn.load(path, drivers=drivers)
    data = np.load(path + ".data.npz")
    x, y = data["x"], data["y"]
    if hasattr(net, "blocks"):
        out[f"pred{i}"] = net.predict(x)
    out[f"lpred{i}"] = learner.predict(net, x, rng=np.random.default_rng(3))
    learner.update(net, x, y, rng=np.random.default_rng(5))
    params = net.get_params() if hasattr(net, "blocks") else net.params
    for j, p in enumerate(params):
        out[f"w{i}_{j}"], out[f"b{i}_{j}"] = p.weight, p.bias
np.savez(sys.argv[2], **out)
"""


def _in_fresh_process(paths, tmp_path):
    result = tmp_path / "fresh.npz"
    subprocess.run([sys.executable, "-c", _FRESH, str(REPO / "tests"), str(result),
                    *map(str, paths)], check=True, cwd=REPO, timeout=600)
    with np.load(result) as f:
        return {k: f[k] for k in f.files}


def _spiking(name):
    x, y = blobs(n_per=6, d=16)
    if name == "conv":
        net = SpikingNetwork([Conv2d(1, 2, 3, (4, 4), padding=1), Dense(32, K)], beta=0.6,
                             seed=1)
        learner = pn.learning.SLTT(num_steps=4, k=2, optimizer=pn.optim.Adam(1e-2))
        x = x.reshape(-1, 1, 4, 4)
    elif name == "bptt":
        net = SpikingNetwork([Dense(16, 10), Dense(10, K)], beta=0.5, readout="spike_count",
                             convention="snntorch", seed=2)
        learner = pn.learning.BPTT(num_steps=4, encoder="rate", optimizer=pn.optim.SGD(0.1))
    else:
        net = SpikingNetwork([Dense(16, 10), Dense(10, K)], beta=0.5, seed=3)
        learner = pn.learning.SLTT(num_steps=5, online=True)
    learner.fit(net, x, y, epochs=2, batch_size=6, rng=np.random.default_rng(0), progress=False)
    return net, learner, x, y


def test_every_learner_and_model_round_trips_through_a_fresh_process(tmp_path, data_dir):
    """Save, then load in a fresh process: identical predictions, and one more update gives
    identical parameters (PhyLL, FF, LocalReadout on every hardware model; BPTT, SLTT,
    SLTT-K on spiking networks)."""
    cases, paths = [], []
    for hw in HARDWARE:
        for name in LEARNERS:
            cases.append((name, hw, *_trained(name, hw, data_dir)))
    for name in ("bptt", "sltt", "conv"):
        cases.append((name, "snn", *_spiking(name)))
    for i, (name, hw, net, learner, x, y) in enumerate(cases):
        path = tmp_path / f"{i}_{name}_{hw}.physnn"
        pn.save(path, net, learner)
        np.savez(str(path) + ".data.npz", x=x, y=y)
        paths.append(path)
    fresh = _in_fresh_process(paths, tmp_path)
    for i, (name, hw, net, learner, x, y) in enumerate(cases):
        label = f"{name} on {hw}"
        if hw != "snn":
            np.testing.assert_array_equal(fresh[f"pred{i}"], net.predict(x), err_msg=label)
        np.testing.assert_array_equal(fresh[f"lpred{i}"],
                                      learner.predict(net, x, rng=np.random.default_rng(3)),
                                      err_msg=label)
        learner.update(net, x, y, rng=np.random.default_rng(5))
        params = net.get_params() if hw != "snn" else net.params
        for j, p in enumerate(params):
            np.testing.assert_array_equal(fresh[f"w{i}_{j}"], p.weight, err_msg=label)
            np.testing.assert_array_equal(fresh[f"b{i}_{j}"], p.bias, err_msg=label)


def test_trained_network_predicts_alone_after_copy_pickle_and_rebuild():
    """The readout lives in the network: copies, pickles and a network rebuilt around the
    trained layers predict without the learner, and a learner meeting a network it has not
    trained keeps its readout (fresh optimizer state, never re-drawn goodness vectors)."""
    net, learner, x, y = _trained("phyll", "callable", None)
    want = net.predict(x)
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other.predict(x), want)
    rebuilt = pn.PhysicalNetwork(list(net.blocks))
    with pytest.raises(RuntimeError, match="no readout"):
        rebuilt.predict(x)
    rebuilt.readout = net.readout
    np.testing.assert_array_equal(rebuilt.predict(x), want)
    xi = rebuilt.readout.xi
    fresh = LEARNERS["phyll"]()
    fresh.update(rebuilt, x, y, rng=np.random.default_rng(1))
    assert rebuilt.readout.xi is xi  # kept, not re-drawn
    assert fresh.state.opt_states[0].step == fresh.inner_steps  # its own moments, from zero
    with pytest.raises(ValueError, match="another readout"):
        LEARNERS["readout"]().update(rebuilt, x, y, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="another readout"):
        pn.learning.PhyLL(overlay="replace").update(rebuilt, x, y, rng=np.random.default_rng(1))


def test_learner_state_is_only_training_state():
    net, learner, x, y = _trained("readout", "callable", None)
    assert set(learner.state._fields) == {"opt_states", "head_opt_states"}
    assert learner._net_uid == net.uid
    assert not any(isinstance(v, int) and v == id(net) for v in vars(learner).values())


# -- resume ----------------------------------------------------------------------------------
def _resume_case(kind):
    x, y = blobs()
    if kind in LEARNERS:
        learner = LEARNERS[kind]()
        n0 = learner.input_width(x.shape[1], K)
        phys = _hardware("optical", n0)
        net = pn.PhysicalNetwork([pn.Block(phys, pn.Linear(phys.out_features + n0, 8))])
        return net, learner, x, y, {"eval_data": (x[:6], y[:6]), "lr_schedule": "cosine"}
    _, _, xs, ys = _spiking(kind)
    fresh = {"bptt": lambda: _spiking("bptt"), "sltt": lambda: _spiking("sltt"),
             "conv": lambda: _spiking("conv")}[kind]
    net, learner, _, _ = fresh()
    # start again from untrained parameters of the same architecture
    net.params = [layer.init(np.random.default_rng(9)) for layer in net.layers]
    learner._opt_states = None
    return net, learner, xs, ys, {"eval_data": (xs[:6], ys[:6])}


@pytest.mark.parametrize("kind", [*LEARNERS, "bptt", "sltt", "conv"])
def test_resume_is_bit_identical(kind, tmp_path):
    """Stop after epoch 2 of 4, resume from the checkpoint in new objects: the parameters,
    the history and the generator end exactly where the uninterrupted run ends."""
    net_a, learner_a, x, y, kw = _resume_case(kind)
    net_b, learner_b = copy.deepcopy((net_a, learner_a))
    net_c, learner_c = copy.deepcopy((net_a, learner_a))
    rng_a = np.random.default_rng(42)
    hist_a = learner_a.fit(net_a, x, y, epochs=4, batch_size=8, rng=rng_a, progress=False,
                           checkpoint=tmp_path / "a.physnn", **kw)

    ck = tmp_path / "b.physnn"

    class Stop(Exception):
        pass

    def stop_after_2(rec):
        if rec.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        learner_b.fit(net_b, x, y, epochs=4, batch_size=8, rng=np.random.default_rng(42),
                      progress=False, checkpoint=ck, callback=stop_after_2, **kw)
    rng_c = np.random.default_rng(42)  # a new process would build the same generator
    hist_c = learner_c.fit(net_c, x, y, epochs=4, batch_size=8, rng=rng_c, progress=False,
                           checkpoint=ck, resume=True, **kw)
    pa = net_a.get_params() if hasattr(net_a, "blocks") else net_a.params
    pc = net_c.get_params() if hasattr(net_c, "blocks") else net_c.params
    for a, c in zip(pa, pc, strict=True):
        np.testing.assert_array_equal(a.weight, c.weight)
        np.testing.assert_array_equal(a.bias, c.bias)
    assert [r.epoch for r in hist_c.records] == [1, 2, 3, 4]
    for key in ("loss", "eval_accuracy", "queries", "macs"):
        assert getattr(hist_c, key) == getattr(hist_a, key), key
    assert rng_c.bit_generator.state == rng_a.bit_generator.state
    if hasattr(net_a, "blocks"):
        np.testing.assert_array_equal(net_a.predict(x), net_c.predict(x))
        assert net_a.queries == net_c.queries


def test_resume_refuses_a_different_run(tmp_path):
    net, learner, x, y, _ = _resume_case("phyll")
    ck = tmp_path / "ck.physnn"
    learner.fit(net, x, y, epochs=2, batch_size=8, rng=np.random.default_rng(0),
                progress=False, checkpoint=ck)
    net2, learner2, *_ = _resume_case("phyll")
    with pytest.raises(pn.PersistError, match="epochs=2"):
        learner2.fit(net2, x, y, epochs=3, batch_size=8, rng=np.random.default_rng(0),
                     checkpoint=ck, resume=True, progress=False)
    with pytest.raises(pn.PersistError, match="other training data"):
        learner2.fit(net2, x[::-1].copy(), y, epochs=2, batch_size=8,
                     rng=np.random.default_rng(0), checkpoint=ck, resume=True, progress=False)
    other = LEARNERS["phyll"]()
    phys = _hardware("optical", other.input_width(x.shape[1], K))
    wider = pn.PhysicalNetwork([pn.Block(phys, pn.Linear(phys.out_features + 9, 9))])
    with pytest.raises(pn.PersistError, match="does not match the file"):
        other.fit(wider, x, y, epochs=2, batch_size=8, rng=np.random.default_rng(0),
                  checkpoint=ck, resume=True, progress=False)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint"):
        other.fit(wider, x, y, epochs=2, rng=np.random.default_rng(0), resume=True)


def test_unwritable_checkpoint_fails_before_training(tmp_path):
    net, learner, x, y, _ = _resume_case("readout")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    for bad in (blocked / "ck.physnn", tmp_path):
        with pytest.raises(pn.PersistError, match="checkpoint"):
            learner.fit(net, x, y, epochs=1, rng=np.random.default_rng(0), checkpoint=bad)
        assert net[0].digital.params is None  # nothing trained, nothing written
    snn, sl, xs, ys, _ = _resume_case("sltt")
    before = [p.weight.copy() for p in snn.params]
    with pytest.raises(pn.PersistError, match="checkpoint"):
        sl.fit(snn, xs, ys, epochs=1, rng=np.random.default_rng(0), checkpoint=tmp_path)
    np.testing.assert_array_equal(snn.params[0].weight, before[0])


# -- bad files -------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    net, learner, x, y = _trained("phyll", "optical", None)
    path = tmp_path / "m.physnn"
    pn.save(path, net, learner)
    return path, net, x


def _rewrite(src, dst, edit):
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(members["manifest.json"])
    edit(manifest, members)
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def test_truncated_corrupted_and_foreign_files_are_named(saved, tmp_path):
    path, _, _ = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.physnn"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(pn.PersistError, match=r"cut\.physnn is truncated, corrupted"):
        pn.load(cut)
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside an array member: the zip CRC catches it
    bad = tmp_path / "flip.physnn"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(pn.PersistError, match=r"flip\.physnn"):
        pn.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(pn.PersistError, match="not a physnn file"):
        pn.load(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(pn.PersistError, match="notes.txt"):
        pn.load(text)
    with pytest.raises(FileNotFoundError, match="no physnn file"):
        pn.load(tmp_path / "missing.physnn")


def test_newer_format_unknown_class_and_pickles_are_refused(saved, tmp_path):
    path, _, _ = saved
    newer = tmp_path / "newer.physnn"
    _rewrite(path, newer, lambda m, _: m.update(format_version=99))
    with pytest.raises(pn.PersistError, match="format version 99.*upgrade physnn"):
        pn.load(newer)

    def rename(m, _):
        m["model"]["config"]["__dict__"]["blocks"][0]["config"]["__dict__"]["physical"][
            "__object__"] = "os.system"

    unknown = tmp_path / "unknown.physnn"
    _rewrite(path, unknown, rename)
    with pytest.raises(pn.PersistError, match="unknown class 'os.system'.*register"):
        pn.load(unknown)

    def pickled(m, members):
        import io

        buf = io.BytesIO()
        np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
        members["arrays/a0.npy"] = buf.getvalue()

    evil = tmp_path / "evil.physnn"
    _rewrite(path, evil, pickled)
    with pytest.raises(pn.PersistError, match="not plain data"):
        pn.load(evil)


def test_shapes_that_do_not_match_the_configuration_are_named(saved, tmp_path):
    path, _, _ = saved

    def widen(m, _):
        m["model"]["config"]["__dict__"]["blocks"][0]["config"]["__dict__"]["digital"][
            "config"]["__dict__"]["out_features"] = 9

    wide = tmp_path / "wide.physnn"
    _rewrite(path, wide, widen)
    with pytest.raises(pn.PersistError, match=r"wide\.physnn.*Linear.*shape"):
        pn.load(wide)


def test_callable_layer_needs_its_driver(tmp_path):
    net, learner, x, _ = _trained("readout", "callable", None)
    path = tmp_path / "c.physnn"
    pn.save(path, net, learner)
    with pytest.raises(pn.PersistError, match=r"CallableLayer 'scope'.*drivers=\{'scope'"):
        pn.load(path)
    with pytest.raises(pn.PersistError, match="no CallableLayer of those names"):
        pn.load(path, drivers={"scope": _driver, "other": _driver})
    loaded, _ = pn.load(path, drivers={"scope": _driver})
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_saving_code_or_an_unregistered_class_fails_before_writing(tmp_path):
    net, learner, x, _ = _trained("readout", "callable", None)
    lam = pn.PhysicalNetwork([pn.Block(pn.CallableLayer(_driver, 6, 7), pn.Linear(13, 4),
                                       encode=lambda h: h)])
    with pytest.raises(pn.PersistError, match="encode.*register_function"):
        pn.save(tmp_path / "x.physnn", lam)

    class Mine(pn.PhysicalLayer):
        def __init__(self):
            super().__init__()
            self.in_features = self.out_features = 6

        def _forward(self, x, rng):
            return x

    mine = pn.PhysicalNetwork([pn.Block(Mine(), pn.Linear(12, 3))])
    with pytest.raises(pn.PersistError, match="Mine is not registered"):
        pn.save(tmp_path / "y.physnn", mine)
    assert not list(tmp_path.iterdir())
    with pytest.raises(pn.PersistError, match="is a folder"):
        pn.save(tmp_path, net)


def test_file_is_data_a_manifest_and_npy_arrays(saved):
    path, net, _ = saved
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
    assert names[0] == "manifest.json" and all(n.startswith("arrays/") for n in names[1:])
    assert manifest["format_version"] == pn.persist.FORMAT_VERSION
    assert manifest["physnn_version"] == pn.__version__
    phys = manifest["model"]["config"]["__dict__"]["blocks"][0]["config"]["__dict__"][
        "physical"]
    assert phys["__object__"] == "physnn.Perturbed"
    inner = phys["config"]["__dict__"]["args"][0]
    assert inner["__object__"] == "hardware_models.OpticalSpeckle"  # rebuilt from its seed
    assert inner["config"]["__dict__"]["kwargs"]["__dict__"]["seed"] == 1


def test_backend_override_at_load(saved, tmp_path):
    path, net, x = saved

    def to_cuda(m, _):
        m["learner"]["config"]["__dict__"]["backend"] = "cuda"

    gpu = tmp_path / "gpu.physnn"
    _rewrite(path, gpu, to_cuda)
    if "cuda" not in pn.available_backends():
        with pytest.raises(pn.PersistError, match=r"backend='cpu'"):
            pn.load(gpu)
    loaded, learner = pn.load(gpu, backend="cpu")
    assert learner.backend == "cpu"
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    with pytest.raises(ValueError, match="backend must be"):
        pn.load(gpu, backend="tpu")
