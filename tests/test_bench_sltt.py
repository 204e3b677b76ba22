"""benchmarks/bench_sltt.py runs and writes its record (timings are not asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sltt.py"


def test_bench_sltt_writes_record(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_sltt", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench_sltt.json"
    record = bench.main(["--steps", "2", "--repeats", "1", "--nets", "mlp", "--no-snntorch",
                         "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    row = record["results"]["mlp-T2"]
    assert set(row) == {"BPTT", "SLTT", "SLTT-2"}
    assert all(v["seconds_per_batch"] > 0 and v["peak_bytes"] > 0 for v in row.values())
