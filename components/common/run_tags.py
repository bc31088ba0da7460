"""Names on the pipeline's MLflow runs that both the tracking helpers and the run metrics read.

The lowest of the two: components.common.tracking (which writes the runs and, as a step's run ends,
calls components.common.run_metrics) and run_metrics (which reads the runs back) both import these.
"""

from __future__ import annotations

DATASET_TAG = "dataset"
# Prefix of the evaluate step's params that record the gate's bounds: `threshold.<metric>` = bound.
THRESHOLD_PARAM = "threshold."
