"""The spiking demo's claim is computed from the rates it measures."""

from __future__ import annotations


def test_spiking_demo_claim_follows_the_rates():
    from physnn.experiments.spiking_demo import claim

    def said(pause, burst):
        return claim({"spikes": 10, "population_rate": {"tonic": 0.1, "pause": pause,
                                                        "burst": burst},
                      "input_rate": {"tonic": 0.3, "pause": 0.0, "burst": 0.5}}, 8, 60)

    assert "10 spikes from 8 neurons over 60 steps" in said(0.0, 0.2)
    assert "falls to 0.000 in the pause" in said(0.0, 0.2)
    assert "rises to 0.200 in the burst" in said(0.0, 0.2)
    assert "falls against the input to 0.050 in the burst" in said(0.0, 0.05)
    assert "stays at 0.100 in the pause" in said(0.1, 0.2)


def test_spiking_demo_records_the_rates_its_claim_quotes():
    import logging

    from physnn.experiments import spiking_demo
    from physnn.experiments._base import RunContext

    cfg = spiking_demo.Config(steps=60, neurons=8)
    res = spiking_demo.run(cfg, RunContext(log=logging.getLogger("test")))
    spiking_demo.pyplot().close(res.figure)
    m = res.metrics
    assert res.claim == spiking_demo.claim(m, 8, 60)
    assert m["input_rate"]["pause"] == 0 and m["population_rate"]["pause"] < m[
        "population_rate"]["tonic"] < m["population_rate"]["burst"]
    assert f"{m['population_rate']['burst']:.3f} in the burst" in res.claim
