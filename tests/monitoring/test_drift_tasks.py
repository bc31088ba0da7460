"""The drift check for every task: the label is compared like a feature, whatever the task makes of it.

A multiclass label (penguins' species) is categorical, a regression target (ames' sale price) numeric,
and a multiclass label written as numbers (TensorFlow Extended's species codes) still categorical; a
free-text feature, whose every value may be new, is compared by its words per value. The datasets are
the bundled specs' own, as `make data` writes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from monitoring_support import scrape, wipe

from components.common import tracking
from components.common.specs import get_spec
from components.common.specs.base import Column, DatasetSpec, Label, Multiclass, Numeric, Text
from components.data.baseline import Baseline, baseline_from_csv, build_baseline, spec_kinds
from components.monitor.drift import DriftThresholds, compare
from components.monitor.task import read_new_data, run_monitor_step
from components.runs import run_metrics
from pipelines.datasets import materialize_dataset

pytestmark = pytest.mark.monitoring


def _unseen_species(frame: pd.DataFrame) -> pd.DataFrame:
    """Every 20th bird (5%) of a species the spec does not know."""
    shifted = frame.copy()
    shifted.loc[::20, "species"] = "Emperor"
    return shifted


def _dearer_houses(frame: pd.DataFrame) -> pd.DataFrame:
    """The same houses, sold for a quarter more."""
    return frame.assign(Sale_Price=frame["Sale_Price"] * 1.25)


@dataclass(frozen=True)
class LabelShift:
    """A bundled dataset, its label column, and a shift of the label alone."""

    dataset: str
    label: str
    kind: str
    statistic: str
    shift: Callable[[pd.DataFrame], pd.DataFrame]
    reason: str


SHIFTS = {
    "multiclass": LabelShift("penguins", "species", "categorical", "jensen_shannon", _unseen_species, "'Emperor'"),
    "regression": LabelShift("ames", "Sale_Price", "numeric", "ks", _dearer_houses, "distribution shifted"),
}


@dataclass(frozen=True)
class Case:
    shift: LabelShift
    path: Path
    baseline: Baseline


@pytest.fixture(scope="module", params=list(SHIFTS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    """The dataset's file and the baseline the validate step saves of it (with the spec's kinds and roles)."""
    shift = SHIFTS[request.param]
    path = materialize_dataset(shift.dataset, tmp_path_factory.mktemp(shift.dataset) / f"{shift.dataset}.csv")
    return Case(shift, path, baseline_from_csv(path, shift.dataset, path.name, get_spec(shift.dataset)))


def test_the_label_is_in_the_baseline_as_the_task_makes_it(case):
    label = case.baseline.column(case.shift.label)
    assert (label.role, label.kind) == ("label", case.shift.kind)
    if label.kind == "categorical":
        assert label.categories == {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    else:
        assert (label.numeric.min, label.numeric.max) == (12_789.0, 755_000.0)


def test_a_shifted_label_drifts_and_the_unchanged_features_do_not(case):
    frame = read_new_data(case.path, case.baseline, str(case.path))
    same = compare(case.baseline, frame, "same rows", DriftThresholds())
    assert not same.drifted, same.verdict()

    report = compare(case.baseline, case.shift.shift(frame), "shifted label", DriftThresholds())
    assert report.drifted_features == [case.shift.label], report.verdict()
    label = next(feature for feature in report.features if feature.name == case.shift.label)
    assert (label.role, label.statistic) == ("label", case.shift.statistic)
    assert case.shift.reason in "; ".join(label.reasons)
    compared = {feature.role for feature in report.features}
    assert compared == {"feature", "label"} and len(report.features) > 5


def test_label_drift_reaches_mlflow_and_the_pushgateway(case, tmp_path, tmp_mlflow_uri, pushgateway, monkeypatch):
    wipe(pushgateway)
    monkeypatch.setenv(run_metrics.GATEWAY_VARIABLE, pushgateway)
    baseline_json = tmp_path / "baseline.json"
    baseline_json.write_text(case.baseline.to_json())
    new_data = tmp_path / "new.csv"
    case.shift.shift(pd.read_csv(case.path)).to_csv(new_data, index=False)
    result = run_monitor_step(
        data_uri=str(new_data),
        baseline_uri=str(baseline_json),
        tracking_uri=tmp_mlflow_uri,
        model_name="unused",
        experiment="",
        pipeline_job_name="label-drift",
        retrain_on_drift=True,
        report_path=tmp_path / "report.html",
        summary_path=tmp_path / "summary.json",
    )
    label = case.shift.label
    assert result.trigger_training and result.report.drifted_features == [label]
    client = tracking.client(tmp_mlflow_uri)
    [step] = client.search_runs(
        [client.get_experiment_by_name(f"{case.shift.dataset}-monitoring").experiment_id],
        f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'",
    )
    assert step.data.metrics[f"drift.{label}.drifted"] == 1.0
    detected = {
        labels["feature"]: value
        for name, labels, value in scrape(pushgateway)
        if name == "tabular_mlops_drift_feature_detected" and labels["dataset"] == case.shift.dataset
    }
    assert detected[label] == 1.0 and sum(detected.values()) == 1.0


def test_a_multiclass_label_written_as_numbers_is_categorical(installed_penguins):
    """Species coded 0-2 (the reference file): the classes are the column's allowed values, so it is categorical."""
    measurements = installed_penguins.measurements
    codes = ("0", "1", "2")
    coded = dataclasses.replace(
        get_spec("penguins"),
        name="penguins_coded",
        columns=(Column("species", "int", allowed_values=codes), *(Column(name, "float") for name in measurements)),
        features=tuple(Numeric(name) for name in measurements),
        task=Multiclass(classes=codes),
        slice_columns=(),
    )
    baseline = baseline_from_csv(installed_penguins.reference, coded.name, "reference", coded)
    species = baseline.column("species")
    assert (species.role, species.kind, species.categories) == ("label", "categorical", installed_penguins.species)
    frame = pd.read_csv(installed_penguins.reference)
    more_chinstraps = pd.concat([frame] + [frame[frame["species"] == 1]] * 3, ignore_index=True)
    report = compare(baseline, more_chinstraps, "more chinstraps", DriftThresholds())
    drift = next(feature for feature in report.features if feature.name == "species")
    assert drift.drifted and drift.statistic == "jensen_shannon" and "Jensen-Shannon" in drift.reasons[0]


def _reviews(rows: int, words: tuple[int, int], seed: int) -> pd.DataFrame:
    """Made-up reviews: each of random words from a small vocabulary, so almost every review is new."""
    random = np.random.default_rng(seed)
    vocabulary = [f"word{index}" for index in range(300)]
    texts = [" ".join(random.choice(vocabulary, random.integers(*words))) for _ in range(rows)]
    return pd.DataFrame({"review": texts, "rating": random.choice(["good", "bad"], rows)})


def test_free_text_is_compared_by_its_words_per_value_not_as_categories():
    reviews = DatasetSpec(
        name="reviews",
        description="made-up reviews",
        columns=(Column("review", "string"), Column("rating", "string", allowed_values=("good", "bad"))),
        label=Label("good", ("rating",), ("rating",), derive=lambda raw: raw["rating"], description="rated good"),
        features=(Text("review"),),
        slice_columns=(),
        min_rows=10,
        thresholds={"roc_auc": 0.6},
    )
    kinds = spec_kinds(reviews)
    assert kinds["review"] == ("text", "text", "feature") and kinds["rating"] == ("categorical", "text", "label")
    baseline = build_baseline([_reviews(600, (5, 15), seed=0)], "reviews", "training", kinds)
    assert (baseline.column("review").numeric.min, baseline.column("review").numeric.max) == (5.0, 14.0)

    fresh = compare(baseline, _reviews(400, (5, 15), seed=1), "new reviews, as long", DriftThresholds())
    assert not fresh.drifted, fresh.verdict()
    longer = compare(baseline, _reviews(400, (12, 30), seed=2), "longer reviews", DriftThresholds())
    assert longer.drifted_features == ["review"], longer.verdict()
    review = longer.features[0]
    assert (review.kind, review.statistic) == ("text", "ks") and "words per value shifted" in review.reasons[0]
