"""``physnn sweep --address``: a two-node Ray cluster started in the test, trials on both nodes.

``ray.cluster_utils.Cluster`` runs a head node and a second node (one CPU each) as separate
raylets on this machine; the sweep joins it by address, as it would join a real cluster.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from physnn import experiments
from physnn.cli import main

TESTS = Path(__file__).resolve().parent
experiments.register("sweep_toy", "sweep_toy", "a toy for the sweep tests")


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), old) if p)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                      "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    try:
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_sweep_on_a_two_node_cluster_uses_both_nodes(cluster, tmp_path, capsys):
    import ray

    out = tmp_path / "sw"
    # four trials of ~1 s on two one-CPU nodes: two run at once, one on each node
    code = main(["sweep", "sweep_toy", "--address", cluster.address, "--seeds", "4",
                 "--set", "sleep=0.4", "--set", "fail_seeds=3", "--cpus-per-trial", "1",
                 "--out", str(out), "--no-progress"])
    assert code == 1  # seed 3 fails; the others finish
    rec = json.loads((out / "sweep.json").read_text())
    assert rec["cluster"]["nodes"] == 2 and rec["cluster"]["cluster_cpus"] == 2
    assert rec["cluster"]["address"] == cluster.address
    assert [t["status"] for t in rec["trials"]] == ["ok", "ok", "ok", "failed"]
    nodes = {t["node"] for t in rec["trials"][:3]} | {rec["trials"][3]["errors"][0]["node"]}
    assert len(nodes) == 2, nodes
    assert "toy failure for seed 3" in rec["trials"][3]["errors"][0]["traceback"]
    for t in rec["trials"][:3]:  # logs of trials on either node come back to the driver
        assert f"stdout of seed {t['seed']}" in (
            out / "trials" / f"{t['id']:04d}" / "attempt1.log").read_text()
    assert "toy failure for seed 3" in capsys.readouterr().err
    assert not ray.is_initialized()  # the sweep disconnected; the cluster keeps running
