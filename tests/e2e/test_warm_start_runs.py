"""Issue 23's acceptance: a run on the next day's span starts from the champion the run before pushed.

Two kfp.local runs of the training pipeline on nycflights, each on a two-day window (`TRAIN_WINDOW=2`, about
1,700 flights), the second with `DATA_AS_OF` a day later. Destinations come and go between the windows: the
second run's summary names the version it started from and how many rows of each vocabulary were carried,
new and dropped. (A day's first few hundred flights are its early hours, too few late ones for the first
run to beat the base rate and be pushed: whole days it is.)
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from components.runs.settings import Settings
from pipelines.arguments import Overrides
from pipelines.datasets import materialize_spans
from pipelines.local_runner import run_locally

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.acceptance]

# The runs are about how training starts: a few epochs, and no bound but the spec's prior rule to bless the first.
QUICK = Overrides(epochs=5, thresholds={"roc_auc": None})


def _settings(root, day: str) -> Settings:
    return Settings.from_env(
        {
            "DATASET": "nycflights",
            "DATA_URI": f"{root}/flights/date={{YYYY-MM-DD}}/",
            "TRAIN_WINDOW": "2",
            "DATA_AS_OF": day,
            "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
            "MODEL_STORE_URI": str(root / "model-store"),
            "PIPELINE_ROOT": str(root / "kfp"),
        }
    )


def test_the_next_days_run_starts_from_the_champion_with_rows_remapped_by_token(tmp_path):
    materialize_spans("nycflights", tmp_path / "flights", spans=3, until=date(2013, 12, 31))

    first = run_locally(_settings(tmp_path, "2013-12-30"), QUICK)
    assert first.spans == ("2013-12-29", "2013-12-30")
    assert first.started_from == "trained from scratch: model 'nycflights-classifier' has no champion yet"
    assert first.blessed and first.model_version is not None, first.render()

    second = run_locally(_settings(tmp_path, "2013-12-31"), QUICK)
    assert second.spans == ("2013-12-30", "2013-12-31")
    line = f"warm-started from version {first.model_version}; embedding rows remapped by token: "
    assert second.started_from.startswith(line), second.started_from
    assert f"train           {line}" in second.render()
    carried = dict(re.findall(r"(\w+_id) (\d+ carried, \d+ new, \d+ dropped)", second.started_from))
    assert {"carrier_id", "origin_id", "dest_id"} <= carried.keys(), second.started_from
    assert any(not counts.endswith(" 0 new, 0 dropped") for counts in carried.values()), second.started_from
