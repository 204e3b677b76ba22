"""The PhysicalLayer protocol and the callable (instrument) wrapper."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from physnn.physical import CallableLayer, PhysicalLayer, PhysicalQueryError


@dataclass(frozen=True)
class _Params:
    gain: float = 1.0


class _Square(PhysicalLayer):
    in_features = 3
    out_features = 2

    def __init__(self, bad: str = "") -> None:
        super().__init__()
        self.bad = bad
        self.params = _Params()

    def _params_changed(self) -> None:
        if self.params.gain < 0:
            raise ValueError("gain must be >= 0")

    def _forward(self, x, rng):
        y = self.params.gain * x[:, :2] ** 2
        if self.bad == "shape":
            return y[:, :1]
        if self.bad == "nan":
            y[0, 0] = np.nan
        return y


def test_forward_validates_and_counts():
    layer = _Square()
    y = layer(np.ones((4, 3)))
    assert y.shape == (4, 2) and y.dtype == np.float32
    assert layer.queries == 4
    layer(np.ones(3))  # a single sample
    assert layer.queries == 5
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\)"):
        layer(np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        layer(np.full((1, 3), np.inf))
    with pytest.raises(TypeError, match="real numeric"):
        layer(np.ones((1, 3), dtype=complex))
    with pytest.raises(TypeError, match="rng must be"):
        layer(np.ones((1, 3)), rng=0)
    assert layer.queries == 5
    layer.reset_queries()
    assert layer.queries == 0


@pytest.mark.parametrize("bad, match", [("shape", "returned shape"), ("nan", "NaN")])
def test_bad_physics_output_is_an_error_and_not_counted(bad, match):
    layer = _Square(bad)
    with pytest.raises(PhysicalQueryError, match=match):
        layer(np.ones((2, 3)))
    assert layer.queries == 0


def test_set_params():
    layer = _Square()
    layer.set_params(gain=2.0)
    np.testing.assert_allclose(layer(np.ones((1, 3))), [[2.0, 2.0]])
    with pytest.raises(KeyError, match="valid names are"):
        layer.set_params(gian=1.0)
    with pytest.raises(ValueError, match="gain"):
        layer.set_params(gain=-1.0)
    assert layer.params.gain == 2.0  # rolled back

    class _NoParams(_Square):
        params = None

        def __init__(self):
            PhysicalLayer.__init__(self)
            self.bad = ""

    with pytest.raises(TypeError, match="no physical parameters"):
        _NoParams().set_params(gain=1.0)


def test_callable_layer_batches_and_passes_rng():
    sizes = []

    def instrument(x, rng):
        sizes.append(len(x))
        return np.tanh(x) + 0 * rng.standard_normal(x.shape)

    layer = CallableLayer(instrument, 4, 4, max_batch=3)
    x = np.linspace(-1, 1, 40).reshape(10, 4)
    np.testing.assert_allclose(layer(x), np.tanh(x), rtol=1e-6)
    assert sizes == [3, 3, 3, 1]
    assert layer.queries == 10


def test_callable_layer_retries_transient_failures():
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TimeoutError("instrument busy")
        if calls["n"] == 2:
            return np.full((len(x), 2), np.nan)
        return x[:, :2] * 2

    layer = CallableLayer(flaky, 3, 2, retries=2)
    np.testing.assert_allclose(layer(np.ones((2, 3))), 2.0)
    assert calls["n"] == 3


def test_callable_layer_gives_up_with_clear_error():
    calls = {"n": 0}

    def broken(x):
        calls["n"] += 1
        raise OSError("link down")

    layer = CallableLayer(broken, 3, 2, retries=1, name="scope")
    with pytest.raises(PhysicalQueryError, match=r"'scope' failed .* after 2 attempt.*link down"):
        layer(np.ones((5, 3)))
    assert calls["n"] == 2
    assert layer.queries == 0


@pytest.mark.parametrize("answer, match", [
    (lambda x: x[:, :1], r"shape \(4, 1\); expected \(4, 2\)"),
    (lambda x: np.where(x[:, :2] > 0, np.nan, 0.0), "NaN or infinite"),
    (lambda x: [["a", "b"]] * len(x), "expected real numbers"),
    (lambda x: None, "expected real numbers"),
])
def test_callable_layer_rejects_wrong_answers(answer, match):
    layer = CallableLayer(answer, 3, 2)
    with pytest.raises(PhysicalQueryError, match=match):
        layer(np.ones((4, 3)))
    assert layer.queries == 0


def test_callable_layer_does_not_retry_other_exceptions():
    calls = {"n": 0}

    def wrong(x):
        calls["n"] += 1
        raise KeyError("bad")

    layer = CallableLayer(wrong, 3, 2, retries=3, retry_on=(TimeoutError,))
    with pytest.raises(PhysicalQueryError, match="not retried"):
        layer(np.ones((1, 3)))
    assert calls["n"] == 1


def test_callable_layer_constructor_errors():
    with pytest.raises(TypeError, match="fn must be callable"):
        CallableLayer(3, 1, 1)
    with pytest.raises(ValueError, match="in_features"):
        CallableLayer(np.tanh, 0, 1)
    with pytest.raises(ValueError, match="max_batch"):
        CallableLayer(np.tanh, 1, 1, max_batch=0)
    with pytest.raises(ValueError, match="retries"):
        CallableLayer(np.tanh, 1, 1, retries=-1)
    with pytest.raises(TypeError, match="retry_on"):
        CallableLayer(np.tanh, 1, 1, retry_on=("TimeoutError",))
