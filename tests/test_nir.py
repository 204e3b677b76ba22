"""NIR interchange: physnn.to_nir / from_nir against snntorch's own NIR exporter and
importer (identical spikes), round trips (in memory and through nir.write / nir.read), the
float32 beta <-> tau mapping, and the errors for what either side cannot express.

Weights and inputs are dyadic rationals with few bits, so every dot product is exact in
float32 whatever the summation order: NumPy's and torch's matrix products then give
bit-identical currents, and the spikes must be identical, not merely close.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import physnn as pn
from physnn.interop_nir import NIRUnsupportedError, _decay_from_tau, _tau_r
from physnn.snn import Conv2d, Dense, LayerParams, SpikingNetwork

nir = pytest.importorskip("nir")

DT = 1e-4


def _dyadic(rng: np.random.Generator, shape, limit: float, bits: int) -> np.ndarray:
    """Uniform multiples of 2**-bits in [-limit, limit], as float32."""
    m = int(limit * 2 ** bits)
    return (rng.integers(-m, m + 1, size=shape) / 2 ** bits).astype(np.float32)


def _dyadic_params(net: SpikingNetwork, seed: int) -> SpikingNetwork:
    rng = np.random.default_rng(seed)
    net.params = [LayerParams(_dyadic(rng, p.weight.shape, 1, 6), _dyadic(rng, p.bias.shape, 1, 6))
                  for p in net.params]
    return net


# ----------------------------------------------------------------------------- snntorch


@pytest.fixture(scope="module")
def st():
    """torch, snntorch and its NIR exporter / importer (which need nirtorch)."""
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir
    from snntorch.import_nir import import_from_nir

    class NS:
        pass

    ns = NS()
    ns.torch, ns.snn, ns.export, ns.import_ = torch, snn, export_to_nir, import_from_nir
    return ns


def _leaky(st, shape, beta, thr, **kw):
    # per-neuron tensors: snntorch's exporter writes scalar-shaped LIF fields otherwise, which
    # NIR's type check rejects
    return st.snn.Leaky(beta=st.torch.full(shape, beta), threshold=st.torch.full(shape, thr),
                        init_hidden=True, **kw)


def _set_dyadic(st, module, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with st.torch.no_grad():
        for m in module.modules():
            if isinstance(m, st.torch.nn.Linear | st.torch.nn.Conv2d):
                m.weight.copy_(st.torch.from_numpy(_dyadic(rng, tuple(m.weight.shape), 1, 6)))
                m.bias.copy_(st.torch.from_numpy(_dyadic(rng, tuple(m.bias.shape), 1, 6)))


def _run_torch(st, module, x: np.ndarray) -> np.ndarray:
    """Step a snntorch network (or snntorch's imported GraphModule) from rest over
    ``x[T, ...]``; returns the outputs per step."""
    for m in module.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    outs = []
    with st.torch.no_grad():
        for t in range(len(x)):
            o = module(st.torch.from_numpy(np.ascontiguousarray(x[t])))
            outs.append((o[0] if isinstance(o, tuple) else o).numpy())
    return np.stack(outs)


def _run_imported_per_sample(st, module, x: np.ndarray) -> np.ndarray:
    """snntorch's importer turns NIR's Flatten(0, -1) into torch.nn.Flatten(0, -1), which
    flattens the batch too: run its conv networks one sample at a time."""
    return np.stack([_run_torch(st, module, x[:, b]) for b in range(x.shape[1])], axis=1)


def _export(st, module, in_shape):
    with warnings.catch_warnings():  # snntorch 1.0 still calls nirtorch's deprecated extractor
        warnings.filterwarnings("ignore", "nirtorch.extract_nir_graph is being deprecated",
                                DeprecationWarning)
        return st.export(module, st.torch.zeros(1, *in_shape), ignore_dims=[0])


def _dense_snntorch(st, beta=0.9, thr=0.75, readout="spike_count", **leaky_kw):
    nn = st.torch.nn
    mods = [nn.Linear(12, 10), _leaky(st, (10,), beta, thr, **leaky_kw), nn.Linear(10, 4)]
    if readout == "spike_count":
        mods.append(_leaky(st, (4,), beta, thr, **leaky_kw))
    return nn.Sequential(*mods)


@pytest.mark.parametrize("beta,thr", [(0.9, 0.75), (0.5, 1.0), (0.95, 0.5), (0.0, 0.25)])
@pytest.mark.parametrize("reset_delay", [True, False])
def test_snntorch_dense_export_gives_identical_spikes(st, beta, thr, reset_delay):
    module = _dense_snntorch(st, beta, thr, reset_mechanism="zero", reset_delay=reset_delay)
    _set_dyadic(st, module, seed=1)
    graph = _export(st, module, (12,))
    net = pn.from_nir(graph, dt=DT)
    assert (net.readout, net.convention, net.reset) == ("spike_count", "snntorch", "zero")
    assert np.float32(net.beta) == np.float32(beta) and net.threshold == thr
    x = _dyadic(np.random.default_rng(2), (25, 8, 12), 2, 4)
    ours = net.run(x)
    assert 0.05 < ours.mean() < 0.95
    np.testing.assert_array_equal(ours, _run_torch(st, module, x))
    np.testing.assert_array_equal(ours, _run_torch(st, st.import_(graph), x))


def test_snntorch_membrane_readout(st):
    module = _dense_snntorch(st, readout="membrane", reset_mechanism="zero")
    _set_dyadic(st, module, seed=3)
    graph = _export(st, module, (12,))
    net = pn.from_nir(graph)
    assert net.readout == "membrane"
    x = _dyadic(np.random.default_rng(4), (20, 5, 12), 2, 4)
    ours = net.run(x)
    np.testing.assert_array_equal(ours, _run_torch(st, module, x))
    np.testing.assert_array_equal(ours, _run_torch(st, st.import_(graph), x))


def test_snntorch_conv_export_gives_identical_spikes(st):
    nn = st.torch.nn
    module = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1),
                           _leaky(st, (4, 3, 3), 0.9, 0.75, reset_mechanism="zero"),
                           nn.Flatten(), nn.Linear(36, 5),
                           _leaky(st, (5,), 0.9, 0.75, reset_mechanism="zero"))
    _set_dyadic(st, module, seed=5)
    graph = _export(st, module, (2, 6, 6))
    net = pn.from_nir(graph)
    assert isinstance(net.layers[0], Conv2d) and net.layers[0].stride == 2
    x = _dyadic(np.random.default_rng(6), (15, 3, 2, 6, 6), 2, 4)
    ours = net.run(x)
    assert 0.05 < ours.mean() < 0.95
    np.testing.assert_array_equal(ours, _run_torch(st, module, x))
    np.testing.assert_array_equal(ours, _run_imported_per_sample(st, st.import_(graph), x))


def test_snntorch_synaptic_without_current_memory_is_lif(st):
    nn = st.torch.nn

    def syn(n):
        return st.snn.Synaptic(alpha=st.torch.zeros(n), beta=st.torch.full((n,), 0.8),
                               threshold=st.torch.ones(n), init_hidden=True,
                               reset_mechanism="zero", reset_delay=False)

    module = nn.Sequential(nn.Linear(12, 10), syn(10), nn.Linear(10, 4), syn(4))
    _set_dyadic(st, module, seed=7)
    graph = _export(st, module, (12,))
    assert type(graph.nodes["1"]).__name__ == "CubaLIF"
    net = pn.from_nir(graph)
    x = _dyadic(np.random.default_rng(8), (20, 8, 12), 2, 4)
    ours = net.run(x)
    assert 0.02 < ours.mean() < 0.95
    np.testing.assert_array_equal(ours, _run_torch(st, module, x))
    np.testing.assert_array_equal(ours, _run_torch(st, st.import_(graph), x))


def test_snntorch_subtract_reset_needs_the_explicit_reinterpretation(st):
    # snntorch's default Leaky (subtract, delayed reset) exports as NIR's reset-to-zero LIF:
    # NIR cannot record the subtraction, and snntorch's importer builds zero-reset neurons
    module = _dense_snntorch(st)
    _set_dyadic(st, module, seed=9)
    graph = _export(st, module, (12,))
    x = _dyadic(np.random.default_rng(10), (25, 8, 12), 2, 4)
    original = _run_torch(st, module, x)
    as_nir = pn.from_nir(graph).run(x)
    np.testing.assert_array_equal(as_nir, _run_torch(st, st.import_(graph), x))
    assert not np.array_equal(as_nir, original)
    np.testing.assert_array_equal(pn.from_nir(graph, reset="subtract").run(x), original)


def _physnn_net(kind: str, readout: str = "spike_count", beta: float = 0.9,
                thr: float = 0.75) -> SpikingNetwork:
    layers = ([Dense(12, 10), Dense(10, 4)] if kind == "dense" else
              [Conv2d(2, 4, 3, in_hw=(6, 6), stride=2, padding=1), Dense(36, 5)])
    # physnn computes in float32; NIR carries (and from_nir returns) the float32 values
    net = SpikingNetwork(layers, beta=float(np.float32(beta)), threshold=float(np.float32(thr)),
                         readout=readout,
                         convention="snntorch", reset="zero", surrogate="atan")
    return _dyadic_params(net, seed=11)


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
def test_physnn_export_imported_by_snntorch_gives_identical_output(st, kind, readout):
    net = _physnn_net(kind, readout)
    in_shape = net.in_shape
    x = _dyadic(np.random.default_rng(12), (20, 4, *in_shape), 2, 4)
    ours = net.run(x)
    if readout == "spike_count":
        assert 0.05 < ours.mean() < 0.95
    theirs = st.import_(pn.to_nir(net, dt=DT))
    if kind == "conv":
        np.testing.assert_array_equal(ours, _run_imported_per_sample(st, theirs, x))
    else:
        np.testing.assert_array_equal(ours, _run_torch(st, theirs, x))


# ----------------------------------------------------------------------------- round trips


def _assert_same_net(a: SpikingNetwork, b: SpikingNetwork) -> None:
    assert a.layers == b.layers
    for p, q in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(p.weight, q.weight)
        np.testing.assert_array_equal(p.bias, q.bias)
        assert q.weight.dtype == q.bias.dtype == np.float32
    assert (a.beta, a.threshold, a.readout, a.convention, a.reset, a.surrogate) == (
        b.beta, b.threshold, b.readout, b.convention, b.reset, b.surrogate)


@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
@pytest.mark.parametrize("beta", [0.9, 0.0, 0.1, 0.3, 0.987654321, 0.5])
def test_round_trip_is_identical(kind, readout, beta):
    net = _physnn_net(kind, readout, beta=beta)
    graph = pn.to_nir(net, dt=DT)
    back = pn.from_nir(graph, dt=DT)
    _assert_same_net(net, back)
    x = np.random.default_rng(13).normal(size=(12, 3, *net.in_shape)).astype(np.float32)
    np.testing.assert_array_equal(back.run(x), net.run(x))


def test_round_trip_through_a_file(tmp_path):
    net = _physnn_net("conv", beta=0.3)  # beta < 0.5: tau written in float64
    path = tmp_path / "net.nir"
    nir.write(path, pn.to_nir(net))
    back = pn.from_nir(nir.read(path))
    _assert_same_net(net, back)
    x = np.random.default_rng(14).normal(size=(10, 2, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(back.run(x), net.run(x))


def test_graph_layout():
    graph = pn.to_nir(_physnn_net("conv"), dt=1e-3)
    assert [type(graph.nodes[k]).__name__ for k in
            ("input", "conv0", "lif0", "flatten1", "dense1", "lif1", "output")] == [
        "Input", "Conv2d", "LIF", "Flatten", "Affine", "LIF", "Output"]
    lif = graph.nodes["lif0"]
    assert lif.tau.shape == (4, 3, 3) and lif.tau.dtype == np.float32
    np.testing.assert_allclose(lif.tau, 1e-3 / (1 - 0.9), rtol=1e-6)  # tau = dt / (1 - beta)
    np.testing.assert_allclose(lif.r, lif.tau / 1e-3, rtol=1e-6)  # r = tau / dt
    assert not lif.v_leak.any() and not lif.v_reset.any() and (lif.v_threshold == 0.75).all()
    assert graph.metadata["physnn_surrogate"] == "atan"
    # the surrogate is not part of NIR: an explicit choice overrides the recorded one
    assert pn.from_nir(graph, dt=1e-3, surrogate="triangle").surrogate.name == "triangle"


def test_tau_reads_back_to_the_same_float32_beta():
    rng = np.random.default_rng(15)
    snntorch_exact = 0
    betas = np.concatenate([rng.uniform(0, 1, 400), [0.0, 0.5, 0.8, 0.9, 0.95, 0.99]])
    for b in betas.astype(np.float32):
        tau, r = _tau_r(float(b), DT)
        assert _decay_from_tau(np.asarray(tau), DT) == b
        assert abs(float(r) * DT / float(tau) - 1) < 1e-6
        if b >= 0.5 or b == 0:
            assert tau.dtype == np.float32
            snntorch_exact += np.float32(1) - np.float32(DT) / tau == b
    assert snntorch_exact >= 0.95 * np.sum((betas >= 0.5) | (betas == 0))
    for b in (0.0, 0.5, 0.8, 0.9, 0.95, 0.99):  # snntorch's float32 formula reads these exactly
        tau, _ = _tau_r(b, DT)
        assert np.float32(1) - np.float32(DT) / tau == np.float32(b)
    # a float32 exporter's tau = dt / (1 - beta) reads back exactly for beta in [0.5, 1)
    b = rng.uniform(0.5, 1, 20000).astype(np.float32)
    for dt in (1e-4, 1e-3, 1.0):
        np.testing.assert_array_equal(_decay_from_tau(dt / (1 - b), dt), b)


# ----------------------------------------------------------------------------- errors


def _lif(n, tau=DT / 0.1, thr=1.0, **kw):
    tau = np.full(n, tau, np.float32)
    fields = dict(tau=tau, r=tau / np.float32(DT), v_leak=np.zeros(n, np.float32),
                  v_threshold=np.full(n, thr, np.float32), v_reset=np.zeros(n, np.float32))
    fields.update(kw)
    return nir.LIF(**fields)


def _affine(n_in, n_out):
    return nir.Affine(weight=np.ones((n_out, n_in), np.float32), bias=np.zeros(n_out, np.float32))


def _seq(*nodes, type_check=True):
    return nir.NIRGraph.from_list(*nodes, type_check=type_check)


def test_sequential_graph_is_read():
    net = pn.from_nir(_seq(nir.Input(np.array([3])), _affine(3, 4), _lif(4), _affine(4, 2)))
    assert net.readout == "membrane" and [type(la) for la in net.layers] == [Dense, Dense]
    assert abs(net.beta - 0.9) < 1e-6  # tau = float32(1e-3): beta = 1 - 1e-4 / tau
    net = pn.from_nir(_seq(nir.Input(np.array([3])),
                           nir.Linear(weight=np.ones((2, 3), np.float32))))
    assert not net.params[0].bias.any()


def test_refuses_physnn_features_without_nir_equivalent():
    net = SpikingNetwork([Dense(3, 2), Dense(2, 2)], convention="spikingjelly", reset="zero")
    with pytest.raises(NIRUnsupportedError, match="convention='spikingjelly' has no NIR"):
        pn.to_nir(net)
    net = SpikingNetwork([Dense(3, 2), Dense(2, 2)], convention="snntorch")
    with pytest.raises(NIRUnsupportedError, match="reset='subtract' has no NIR equivalent"):
        pn.to_nir(net)
    net = SpikingNetwork([Dense(3, 2), Dense(2, 2)], convention="snntorch", reset="zero",
                         beta=1.0)
    with pytest.raises(NIRUnsupportedError, match=r"beta = 1 \(no leak\)"):
        pn.to_nir(net)
    with pytest.raises(ValueError, match="dt must be a finite number of seconds > 0"):
        pn.to_nir(net, dt=0.0)
    with pytest.raises(TypeError, match="must be a physnn.snn.SpikingNetwork"):
        pn.to_nir("net")
    # a single membrane-readout layer has no neurons: any convention / reset exports
    pn.from_nir(pn.to_nir(SpikingNetwork([Dense(3, 2)])))


@pytest.mark.parametrize("neuron,match", [
    (_lif(4, tau=np.array([1e-3, 1e-3, 2e-3, 1e-3], np.float32),
          r=np.array([10, 10, 20, 10], np.float32)),
     r"node 'lif' \(LIF\): beta = 1 - dt/tau differs between neurons"),
    (_lif(4, v_threshold=np.array([1, 1, 2, 1], np.float32)),
     r"'lif' \(LIF\): v_threshold differs between neurons"),
    (_lif(4, v_leak=np.full(4, 0.1, np.float32)), r"'lif' \(LIF\): v_leak != 0"),
    (_lif(4, v_reset=np.full(4, -0.5, np.float32)), r"'lif' \(LIF\): v_reset != 0"),
    (_lif(4, r=np.ones(4, np.float32)), r"'lif' \(LIF\): input scale dt \* r / tau"),
    (_lif(4, thr=-1.0), r"'lif' \(LIF\): v_threshold must be > 0"),
    (_lif(4, tau=DT / 2, r=np.full(4, 0.5, np.float32)), r"'lif' \(LIF\): tau < dt"),
    (nir.CubaLIF(tau_syn=np.full(4, 1e-3), tau_mem=np.full(4, 1e-3), r=np.full(4, 10.0),
                 v_leak=np.zeros(4), v_threshold=np.ones(4), w_in=np.full(4, 10.0)),
     r"'cubalif' \(CubaLIF\): a synaptic current that persists between steps"),
    (nir.IF(r=np.ones(4), v_threshold=np.ones(4)), r"'if' \(IF\): integrate-and-fire"),
    (nir.LI(tau=np.ones(4), r=np.ones(4), v_leak=np.zeros(4)), r"'li' \(LI\): non-spiking"),
    (nir.Delay(delay=np.ones(4)), r"'delay' \(Delay\): synaptic delays"),
])
def test_refuses_neurons_it_cannot_represent(neuron, match):
    graph = _seq(nir.Input(np.array([3])), _affine(3, 4), neuron, _affine(4, 2))
    with pytest.raises(NIRUnsupportedError, match=match):
        pn.from_nir(graph)


def test_refuses_different_parameters_per_layer():
    graph = _seq(nir.Input(np.array([3])), _affine(3, 4), _lif(4), _affine(4, 2),
                 _lif(2, tau=DT / 0.2))
    with pytest.raises(NIRUnsupportedError, match=r"node 'lif_1' \(LIF\): beta = 0.8.*differ "
                                                   r"from node 'lif' .*one beta and one "
                                                   r"threshold for all layers"):
        pn.from_nir(graph)
    graph = _seq(nir.Input(np.array([3])), _affine(3, 4), _lif(4), _affine(4, 2),
                 _lif(2, thr=0.5))
    with pytest.raises(NIRUnsupportedError, match="one beta and one threshold"):
        pn.from_nir(graph)


def test_wrong_dt_is_caught():
    graph = pn.to_nir(_physnn_net("dense"), dt=1e-3)
    with pytest.raises(NIRUnsupportedError, match=r"input scale .* is dt = 0.0001 s the step"):
        pn.from_nir(graph, dt=1e-4)


def test_refuses_recurrence_and_branches():
    # snntorch's RLeaky exports as a nested graph LIF <-> Affine
    inner = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "lif": _lif(4),
                                "w_rec": _affine(4, 4), "output": nir.Output(np.array([4]))},
                         edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"),
                                ("lif", "output")])
    graph = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "fc": _affine(3, 4),
                                "rleaky": inner, "output": nir.Output(np.array([4]))},
                         edges=[("input", "fc"), ("fc", "rleaky"), ("rleaky", "output")])
    with pytest.raises(NIRUnsupportedError, match=r"node 'rleaky' \(NIRGraph\): nested graphs"):
        pn.from_nir(graph)
    flat = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "fc": _affine(3, 4),
                               "lif": _lif(4), "w_rec": _affine(4, 4),
                               "output": nir.Output(np.array([4]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "w_rec"),
                               ("w_rec", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(NIRUnsupportedError, match=r"recurrent edges .*\('w_rec', 'lif'\)"):
        pn.from_nir(flat)
    branch = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "a": _affine(3, 4),
                                 "b": _affine(3, 4), "output": nir.Output(np.array([4]))},
                          edges=[("input", "a"), ("input", "b"), ("a", "output"),
                                 ("b", "output")], type_check=False)
    with pytest.raises(NIRUnsupportedError, match="SpikingNetwork is a chain"):
        pn.from_nir(branch)


def test_refuses_layer_layouts_it_cannot_represent():
    with pytest.raises(NIRUnsupportedError, match=r"'affine_1' \(Affine\) follows node "
                                                   r"'affine' \(Affine\) without LIF neurons"):
        pn.from_nir(_seq(nir.Input(np.array([3])), _affine(3, 4), _affine(4, 2)))
    with pytest.raises(NIRUnsupportedError, match=r"'lif_1' \(LIF\) must follow an Affine"):
        pn.from_nir(_seq(nir.Input(np.array([3])), _affine(3, 4), _lif(4), _lif(4)))
    pool = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                         padding=np.array([0, 0]))
    with pytest.raises(NIRUnsupportedError, match=r"'avgpool2d' \(AvgPool2d\): pooling"):
        pn.from_nir(_seq(nir.Input(np.array([1, 4, 4])), pool))
    with pytest.raises(NIRUnsupportedError, match="no Affine, Linear or Conv2d layer"):
        pn.from_nir(_seq(nir.Input(np.array([3])), nir.Flatten(np.array([3]))))
    partial = nir.Flatten(np.array([2, 3, 3]), start_dim=1)
    with pytest.raises(NIRUnsupportedError, match=r"'flatten' \(Flatten\): flattens dims 1..-1"):
        pn.from_nir(_seq(nir.Input(np.array([2, 3, 3])), partial, _affine(6, 2),
                         type_check=False))
    with pytest.raises(NIRUnsupportedError, match="a Flatten node must come first"):
        pn.from_nir(_seq(nir.Input(np.array([2, 3])), _affine(6, 2), type_check=False))


def _conv(**kw):
    args = dict(input_shape=(5, 5), weight=np.ones((2, 1, 3, 3), np.float32), stride=1,
                padding=1, dilation=1, groups=1, bias=np.zeros(2, np.float32))
    args.update(kw)
    return nir.Conv2d(**args)


@pytest.mark.parametrize("conv,match", [
    (dict(weight=np.ones((2, 1, 3, 2), np.float32)), r"kernel 3x2 is not square"),
    (dict(dilation=2), r"dilation .* is not supported"),
    (dict(stride=(1, 2)), r"stride .* is not supported"),
    (dict(padding=(0, 1)), r"padding .* is not supported"),
    (dict(groups=2, weight=np.ones((2, 1, 3, 3), np.float32)), r"groups = 2"),
])
def test_refuses_convolutions_it_cannot_represent(conv, match):
    graph = _seq(nir.Input(np.array([1, 5, 5])), _conv(**conv), type_check=False)
    with pytest.raises(NIRUnsupportedError, match=r"node 'conv2d' \(Conv2d\): " + match):
        pn.from_nir(graph)


def test_conv_padding_strings():
    for padding, out_hw in (("same", (5, 5)), ("valid", (3, 3))):
        net = pn.from_nir(_seq(nir.Input(np.array([1, 5, 5])), _conv(padding=padding)))
        assert net.layers[0].out_hw() == out_hw


def test_from_nir_checks_its_arguments():
    graph = pn.to_nir(_physnn_net("dense"))
    with pytest.raises(ValueError, match="reset must be 'zero' or 'subtract'"):
        pn.from_nir(graph, reset="none")
    with pytest.raises(ValueError, match="dt must be a finite number"):
        pn.from_nir(graph, dt=-1.0)
    with pytest.raises(TypeError, match="graph must be a nir.NIRGraph"):
        pn.from_nir({"nodes": {}})
