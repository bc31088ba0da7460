"""The DirectRunner on every core, once the input is big enough to pay for the workers' start.

Beam's DirectRunner runs one worker unless told otherwise. Measured on two shared cores (flights 10k
to 1M rows, Chicago taxi 15k rows), threads pay and processes do not: a worker process imports
TensorFlow and loads the transform graph again (17 s more at 10k rows, slower than one worker even at
100k), while TensorFlow's kernels, Arrow and zlib run outside the GIL (two threads: 1M flights rows
44 s -> 37 s, 100k 17 s -> 12 s). A second thread also holds a second copy of the graph (+120 to
200 MB), and gained nothing measurable below 2 MB of CSV (flights 10k, taxi 15k at 1.9 MB), so a
smaller input keeps one worker. Flags the user gave win; other runners are left as they are.
"""

from __future__ import annotations

import os
from typing import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

PARALLEL_FROM_BYTES = 2 * 1024 * 1024
RUNNING_MODE = "multi_threading"
_DIRECT_FLAGS = ("--direct_num_workers", "--direct_running_mode")


def direct_worker_flags(beam_options: Sequence[str], size: int, cores: int) -> list[str]:
    """Flags to add for the DirectRunner: none if the user set either flag, the input is small or one core."""
    if any(flag.split("=", 1)[0] in _DIRECT_FLAGS for flag in beam_options):
        return []
    if size < PARALLEL_FROM_BYTES or cores < 2:
        return []
    return [f"--direct_num_workers={cores}", f"--direct_running_mode={RUNNING_MODE}"]


def with_direct_workers(beam_options: Sequence[str], beam_runner: str, size: int) -> PipelineOptions:
    """The pipeline's options: the user's flags, plus the DirectRunner's workers where `size` bytes pay for them."""
    flags = list(beam_options)
    if beam_runner == "DirectRunner":
        flags += direct_worker_flags(flags, size, len(os.sched_getaffinity(0)))
    return PipelineOptions(flags, runner=beam_runner)
