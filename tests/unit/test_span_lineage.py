"""The real validate step on daily Parquet spans records exactly which spans and files it read: a dataset
input per span, tags on the run, and the model card (and so the registered version) names the spans."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from components.data.sources import resolve_source
from components.push.model_card import build_card
from components.validate.task import run_validate_step
from pipelines.datasets import materialize_spans

DAYS = ["2013-12-27", "2013-12-28", "2013-12-29", "2013-12-30"]


@pytest.fixture(scope="module")
def spans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nycflights")
    materialize_spans("nycflights", root, spans=4, until=date(2013, 12, 30))
    return root


def test_validate_records_the_window_it_read_and_the_card_names_it(spans, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    pattern = f"{spans}/date={{YYYY-MM-DD}}/"
    (spans / "date=2013-12-28" / "part-0.parquet").rename(tmp_path / "aside.parquet")
    try:
        outcome = run_validate_step(
            pattern, "nycflights", uri, "spans", "job-1", tmp_path / "r.html", tmp_path / "s.json",
            window=3, at=date(2013, 12, 31), allow_missing_spans=True,
        )  # fmt: skip
    finally:
        (tmp_path / "aside.parquet").rename(spans / "date=2013-12-28" / "part-0.parquet")
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(outcome.mlflow_run_id)
    read = ["2013-12-29", "2013-12-30"]
    assert run.data.tags["data_spans"] == ",".join(read) and run.data.tags["data_missing_spans"] == "2013-12-28"
    assert run.data.tags["data_files"] == "2" and run.data.tags["data_files_sha256"] == outcome.data_sha256
    whole, *per_span = run.inputs.dataset_inputs
    assert json.loads(whole.dataset.source) == {"uri": pattern} and whole.dataset.digest == outcome.data_sha256[:12]
    assert json.loads(whole.dataset.profile)["num_rows"] == outcome.row_count > 0
    assert [entry.dataset.name for entry in per_span] == [f"nycflights@{day}" for day in read]
    assert [json.loads(entry.dataset.source)["uri"] for entry in per_span] == [f"{spans}/date={d}/" for d in read]
    assert [{t.key: t.value for t in entry.tags}["span"] for entry in per_span] == read
    card = build_card(client, outcome.mlflow_run_id, "nycflights-classifier")
    assert card.lineage_tags["data_spans"] == "2013-12-29,2013-12-30"
    assert card.lineage_tags["data_missing_spans"] == "2013-12-28"
    dataset = card.markdown("1")
    assert "| spans | 2, 2013-12-29 to 2013-12-30: 2013-12-29, 2013-12-30 |" in dataset
    assert "| missing spans (allowed) | 2013-12-28 |" in dataset


def test_a_window_with_a_missing_span_is_refused_at_validate_naming_it(spans, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (spans / "date=2013-12-29" / "part-0.parquet").rename(tmp_path / "aside.parquet")
    try:
        with pytest.raises(Exception, match=r"span 2013-12-29 is missing .*ALLOW_MISSING_SPANS=1"):
            run_validate_step(
                f"{spans}/date={{YYYY-MM-DD}}/", "nycflights", uri, "spans", "job-2", tmp_path / "r.html",
                tmp_path / "s.json", window=3, at=date(2013, 12, 31),
            )  # fmt: skip
    finally:
        (tmp_path / "aside.parquet").rename(spans / "date=2013-12-29" / "part-0.parquet")
    whole = resolve_source(f"{spans}/date={{YYYY-MM-DD}}/", window=3, at=date(2013, 12, 31))
    assert whole.spans == ("2013-12-28", "2013-12-29", "2013-12-30") and len(whole.files) == 3
