"""Benchmark programs over the library (not part of it), each run from the repository root
as ``python -m benchmarks.NAME``; ``python -m benchmarks.run_all`` runs them all. Their
figures are in ``docs/RESULTS.md``."""
