"""ChangeDetector: a known reference watches from the first batch; ``rebase=False`` keeps
comparing with it after an alarm, so a drift cannot become the new normal."""

from __future__ import annotations

import numpy as np
import pytest

from physnn.robustness import ChangeDetector

B = 32


def _batch(errors: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.zeros(B, dtype=np.int64)
    pred = y.copy()
    pred[:errors] = 1
    return pred, y


def _feed(det: ChangeDetector, errors: int, n: int) -> list[bool]:
    return [det.update(*_batch(errors)) for _ in range(n)]


def test_a_learned_reference_is_blind_during_its_warmup():
    det = ChangeDetector(warmup=8)
    assert not any(_feed(det, 16, 8))  # half wrong from the start: learned as normal
    assert not any(_feed(det, 16, 20))
    assert det.alarms == 0


def test_a_given_reference_watches_from_the_first_batch():
    det = ChangeDetector(reference=0.05)
    alarms = _feed(det, 16, 8)
    assert alarms.index(True) <= 2 and det.alarms == 1


def test_without_rebase_a_change_left_over_raises_the_alarm_again():
    def run(rebase: bool) -> int:
        det = ChangeDetector(reference=0.05, hold_steps=2, rebase=rebase)
        assert any(_feed(det, 16, 6))  # a change: alarm
        for _ in range(200):  # adapted: the CUSUM drains and the alarm clears
            if not det.update(*_batch(0)):
                break
        assert not det.alarmed
        _feed(det, 8, 30)  # a quarter wrong: only partly absorbed
        return det.alarms

    assert run(rebase=False) >= 2  # compared with the deployment's 5 %: alarm again
    assert run(rebase=True) == 1  # the new reference learned the 25 % error


def test_settings_are_checked_with_their_names():
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="reference"):
            ChangeDetector(reference=bad)
    with pytest.raises(TypeError, match="reference"):
        ChangeDetector(reference="5 %")
    with pytest.raises(TypeError, match="rebase"):
        ChangeDetector(rebase="no")
    det = ChangeDetector(reference=0.0)  # floored: a perfect network still has a spread
    _feed(det, 1, 3)
    det.reset()
    assert det.alarms == 0 and not det.alarmed
