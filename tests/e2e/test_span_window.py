"""`DATA_URI=<folder of 7 daily Parquet partitions> TRAIN_WINDOW=3`: the run trains on exactly the newest 3
(the MLflow run lists them); with one of those 3 removed, the next run refuses at validate, naming it."""

from __future__ import annotations

from datetime import date

import pytest

from components.common import tracking
from components.runs.settings import Settings
from pipelines.arguments import Overrides
from pipelines.datasets import materialize_spans
from pipelines.local_runner import PipelineFailed, run_locally

pytestmark = pytest.mark.e2e

DAYS = [f"2013-12-{day}" for day in range(24, 31)]
# The run is about what it read: a bound no 2-epoch model meets keeps it short of push and the registry.
QUICK = Overrides(epochs=2, thresholds={"roc_auc": 0.99})


def _settings(root, **more: str) -> Settings:
    return Settings.from_env(
        {
            "DATASET": "nycflights",
            "DATA_URI": f"{root}/flights/date={{YYYY-MM-DD}}/",
            "TRAIN_WINDOW": "3",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
            "MODEL_STORE_URI": str(root / "model-store"),
            "VARIANTS": "none",
            "PIPELINE_ROOT": str(root / "kfp"),
            **more,
        }
    )


def test_a_window_of_three_reads_the_newest_three_and_a_removed_one_is_refused_by_name(tmp_path):
    written = materialize_spans("nycflights", tmp_path / "flights", spans=7, until=date(2013, 12, 30))
    assert [path.parent.name for path in written] == [f"date={day}" for day in DAYS]
    settings = _settings(tmp_path)
    summary = run_locally(settings, QUICK)
    run = tracking.client(settings.mlflow_tracking_uri).get_run(summary.mlflow_run_id)
    assert run.data.tags["data_spans"] == "2013-12-28,2013-12-29,2013-12-30"
    assert run.data.tags["data_files"] == "3" and "data_missing_spans" not in run.data.tags
    assert "spans read      3: 2013-12-28, 2013-12-29, 2013-12-30" in summary.render()
    spans = [entry.dataset.name for entry in run.inputs.dataset_inputs][1:]
    assert spans == ["nycflights@2013-12-28", "nycflights@2013-12-29", "nycflights@2013-12-30"]

    (tmp_path / "flights" / "date=2013-12-29" / "part-0.parquet").unlink()
    with pytest.raises(PipelineFailed) as refused:
        run_locally(settings, QUICK)
    message = str(refused.value)
    assert "span 2013-12-29 is missing" in message and "ALLOW_MISSING_SPANS=1" in message, message
    assert refused.value.summary is None or "validate" in refused.value.summary.render()
