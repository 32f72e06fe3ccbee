"""Benchmarks (print figures; not tests), run from the repository root as modules: `python -m benchmarks.bench_x`."""
