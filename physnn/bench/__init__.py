"""Benchmarks behind ``physnn bench NAME``: each module exposes ``add_arguments(parser)``
and ``run(args) -> dict`` and writes ``{"workload", "device", "results"}`` JSON."""
