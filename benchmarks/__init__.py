"""Benchmark harness (`python -m benchmarks.run`) and the reference engines it compares."""
