"""benchmarks/bench_phyll.py runs and writes its record (timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_phyll.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_phyll", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_phyll_writes_record(tmp_path):
    out = tmp_path / "bench_phyll.json"
    record = load_bench().main(["--batches", "2", "--hidden", "8", "--camera", "4",
                                "--batch-size", "6", "--negatives", "2", "--backends", "cpu",
                                "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    row = record["results"]["cpu"]
    assert 0 < row["physical_seconds_per_batch"] < row["seconds_per_batch"]
    assert record["workload"]["negatives"] == 2
