"""BENCHMARKS.md's input section (tf.data against the in-memory bound) and serving latency section."""

from __future__ import annotations

from typing import Any

from bench.measure import Spread
from bench.report_format import fmt, reproduce, table


def input_section(cpu: dict[str, Any] | None, gpu: dict[str, Any] | None) -> tuple[str, float | None]:
    """The table, and on the CPU the real path's fraction of the bound."""
    rows, cpu_ratio = [], None
    for data in (cpu, gpu):
        for run in data["runs"] if data else []:
            real = Spread.of(run["runs"]["tf.data"]["examples_per_s"])
            bound = Spread.of(run["runs"]["in-memory"]["examples_per_s"])
            ratio = real.median / bound.median
            if data is cpu:
                cpu_ratio = ratio
            precision = "mixed_float16" if run["mixed_precision"] else "float32"
            batch = run.get("batch_size", "?")
            rows.append([run["device"], precision, batch, fmt(real, 0), fmt(bound, 0), f"{ratio:.0%}"])
    if gpu is None:
        rows.append(["GPU", "float32 / mixed_float16", "—", "not measured: no GPU lent", "—", "—"])
    commands = [reproduce(section, data) for section, data in (("input", cpu), ("gpu", gpu)) if data]
    rows_note = f"{cpu['rows']:,}" if cpu else "?"
    header = ["device", "precision", "batch", "tf.data examples/s", "in-memory examples/s", "tf.data / bound"]
    text = f"""## 3. Training input pipeline: tf.data against in-memory tensors

The model of the train step fed by the real input path (gzipped TFRecords parsed once into columns, batches
gathered by a shuffled index permutation each epoch, `components/train/input.py`) against the same model fed
the same examples from NumPy arrays in memory with `model.fit` (the bound), on the flights transform output of
{rows_note} rows, no validation pass. Examples/s per epoch, first epoch (tracing) left out; median (min–max)
over the later epochs. On a GPU machine, `python -m bench gpu` adds the GPU rows with and without mixed precision.

{table(header, rows)}

{"  ".join(commands)}
"""
    return text, cpu_ratio


def serving_section(data: dict[str, Any]) -> str:
    rows = []
    for batch in ("1", "256"):
        p50 = Spread.of([run[batch]["p50_ms"] for run in data["runs"]])
        p99 = Spread.of([run[batch]["p99_ms"] for run in data["runs"]])
        rows.append([batch, fmt(p50, 2), fmt(p99, 2), f"{int(batch) * 1000 / p50.median:,.0f}"])
    calls = data["runs"][0]["1"]["calls"]
    return f"""## 4. Serving latency

The exported Chicago taxi SavedModel (`predict_csv`: raw CSV lines in, the tf.Transform graph inside), loaded in
one process, {calls} timed calls per batch size after a warm-up, {len(data["runs"])} processes; medians (min–max)
of each process's percentile.

{table(["batch", "p50 ms", "p99 ms", "rows/s at p50"], rows)}

{reproduce("serving", data)}
"""
