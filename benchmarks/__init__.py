"""Benchmark scripts and their helper modules (importable as ``benchmarks.*`` from the
repository root, e.g. by the tests; never installed)."""
