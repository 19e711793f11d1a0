"""Benchmarks against same-run baselines: `python -m bench` (make bench) writes RESULTS.md."""
