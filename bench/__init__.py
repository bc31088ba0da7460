"""Benchmarks of the pipeline: per-stage cost, scaling with rows, input pipeline, serving latency.

`make bench` (or `python -m bench all`) measures and writes BENCHMARKS.md; see bench/__main__.py.
"""
