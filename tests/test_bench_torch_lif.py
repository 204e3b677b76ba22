"""benchmarks/bench_torch_lif.py runs at a tiny size and writes its record (timings are not
asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_torch_lif.py"


def test_bench_torch_lif_writes_record(tmp_path):
    pytest.importorskip("snntorch")
    spec = importlib.util.spec_from_file_location("bench_torch_lif", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench_torch_lif.json"
    record = bench.main(["--steps", "4", "--batch", "2", "--neurons", "8", "--repeats", "1",
                         "--threads", "0", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    assert set(record) >= {"workload", "device", "results"}
    assert set(record["results"]) == {
        "physnn.torch_ops.LIF", "snntorch.Leaky", "physnn.torch_ops.LIF (learn beta, thr)",
        "snntorch.Leaky (learn beta, thr)"}
    assert all(v > 0 for v in record["results"].values())
    assert record["workload"]["same_spikes"] == {"learn=False": True, "learn=True": True}
    assert record["workload"]["steps"] == 4 and record["workload"]["neurons"] == 8
