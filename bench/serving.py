"""Latency of the exported serving model: raw CSV rows in (`predict_csv`), probabilities out.

`python -m bench.serving --model DIR --rows CSV --result JSON` times single calls at
batch 1 and batch 256 after a warm-up, in this process, on real rows of the eval split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench.measure import write_json

WARM_UP = 10


def latencies_ms(predict, rows: list[str], batch: int, calls: int) -> list[float]:
    """Milliseconds per call, each on the next `batch` rows (wrapping around)."""
    batches = [
        tf.constant([rows[(start + i) % len(rows)] for i in range(batch)]) for start in range(0, calls * batch, batch)
    ]
    for warm in batches[:WARM_UP]:
        predict(csv_rows=warm)
    timings = []
    for rows_tensor in batches:
        started = time.perf_counter()
        predict(csv_rows=rows_tensor)["probability"].numpy()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    rows = [line for line in args.rows.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    predict = tf.saved_model.load(str(args.model)).signatures["predict_csv"]
    result = {}
    for batch in (1, 256):
        timings = latencies_ms(predict, rows, batch, args.calls)
        result[str(batch)] = {
            "p50_ms": float(np.percentile(timings, 50)),
            "p99_ms": float(np.percentile(timings, 99)),
            "calls": len(timings),
        }
    write_json(args.result, result)


if __name__ == "__main__":
    main()
