"""The evaluate step for multiclass (penguins) and regression (ames) on their bundled rows: real raw-in
SavedModels whose outputs are the task's own serving outputs, a real SQLite MLflow store, the KFP component,
the registry's champion and the model card."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from kfp import dsl

from components.common import tracking
from components.common.specs import get_spec
from components.data.raw_tensors import parse_csv_rows
from components.evaluate import component
from components.evaluate.importance import ImportanceSettings
from components.evaluate.scoring import load_scorer
from components.evaluate.task import EvaluationResult, GateSettings, run_evaluate_step
from components.push.model_card import build_card
from components.push.task import push_model
from components.tasks import task_of
from components.train.mlflow_model import make_mlflow_model, saved_model_inputs
from pipelines.datasets import materialize_dataset

PENGUINS, AMES = get_spec("penguins"), get_spec("ames")
SPECIES, PRICE = task_of(PENGUINS), task_of(AMES)
AMES_ROWS = 600
QUICK_IMPORTANCE = ImportanceSettings(repeats=2)
# Centroids of (bill length, bill depth) per species, in the spec's class order, and the spread within a species.
CENTROIDS = [[38.8, 18.3], [48.8, 18.4], [47.5, 15.0]]
SPREAD = [3.0, 1.1]
MEANS = [43.9, 17.2]


class SpeciesModel(tf.Module):
    """Nearest centroid of bill length and depth, as a softmax over the species; `sharpness` 0 knows nothing."""

    def __init__(self, sharpness: float) -> None:
        super().__init__()
        self.sharpness = tf.constant(sharpness, tf.float64)

    @tf.function(
        input_signature=[
            {
                "bill_length_mm": tf.TensorSpec([None], tf.float64, name="bill_length_mm"),
                "bill_depth_mm": tf.TensorSpec([None], tf.float64, name="bill_depth_mm"),
            }
        ]
    )
    def serve(self, dense):
        bill = tf.stack([dense["bill_length_mm"], dense["bill_depth_mm"]], axis=1)
        bill = tf.where(tf.math.is_nan(bill), tf.constant([MEANS], tf.float64), bill)
        distance = tf.reduce_sum(((bill[:, None, :] - CENTROIDS) / SPREAD) ** 2, axis=2)
        return SPECIES.serving_outputs(tf.nn.softmax(tf.cast(-0.5 * self.sharpness * distance, tf.float32)))


class TipModel(tf.Module):
    """A binary model: what a champion of another task answers."""

    @tf.function(input_signature=[{"bill_length_mm": tf.TensorSpec([None], tf.float64, name="bill_length_mm")}])
    def serve(self, dense):
        return {"probability": tf.cast(tf.sigmoid(dense["bill_length_mm"] - 45.0), tf.float32)}


class PriceModel(tf.Module):
    """log1p(price) linear in log1p(living area) and the year built; serving answers the price (expm1)."""

    def __init__(self, intercept: float, area: float, year: float) -> None:
        super().__init__()
        self.weights = tf.constant([intercept, area, year], tf.float64)

    @tf.function(
        input_signature=[
            {
                "Gr_Liv_Area": tf.TensorSpec([None], tf.float64, name="Gr_Liv_Area"),
                "Year_Built": tf.TensorSpec([None], tf.float64, name="Year_Built"),
            }
        ]
    )
    def serve(self, dense):
        log_price = (
            self.weights[0]
            + self.weights[1] * tf.math.log1p(dense["Gr_Liv_Area"])
            + self.weights[2] * (dense["Year_Built"] - 1970.0)
        )
        return PRICE.serving_outputs(tf.cast(log_price, tf.float32)[:, None])


def _save(module: tf.Module, directory: Path) -> Path:
    """The module as a SavedModel made an MLflow model, as train exports it (push publishes only those)."""
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    make_mlflow_model(directory, saved_model_inputs(directory), None)
    return directory


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    penguins = materialize_dataset("penguins", root / "penguins.csv")
    ames = materialize_dataset("ames", root / "ames-all.csv")
    (root / "ames.csv").write_text("\n".join(ames.read_text().splitlines()[: AMES_ROWS + 1]) + "\n")
    return {"penguins": penguins, "ames": root / "ames.csv"}


@pytest.fixture(scope="module")
def price_weights(data) -> tuple[float, float, float]:
    """Least squares of log1p(price) on the eval rows themselves: a fair, not perfect, model."""
    rows = pd.read_csv(data["ames"])
    design = np.c_[np.ones(len(rows)), np.log1p(rows["Gr_Liv_Area"]), rows["Year_Built"] - 1970.0]
    weights, *_ = np.linalg.lstsq(design, np.log1p(rows["Sale_Price"]), rcond=None)
    return tuple(float(w) for w in weights)


@pytest.fixture(scope="module")
def models(tmp_path_factory, price_weights) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    intercept, area, year = price_weights
    return {
        "species": _save(SpeciesModel(1.0), root / "species"),
        "species_blurred": _save(SpeciesModel(0.3), root / "species_blurred"),
        "species_knows_nothing": _save(SpeciesModel(0.0), root / "species_knows_nothing"),
        "tips": _save(TipModel(), root / "tips"),
        "price": _save(PriceModel(intercept, area, year), root / "price"),
        "price_worse": _save(PriceModel(intercept - 0.1, area, year), root / "price_worse"),
    }


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory, _empty_mlflow_db) -> str:
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    path.write_bytes(_empty_mlflow_db.read_bytes())
    return f"sqlite:///{path}"


def _run(uri: str, dataset: str, name: str) -> str:
    return tracking.start_pipeline_run(uri, "evaluate-tasks", name, params={"dataset": dataset})


def _evaluate(
    uri: str, model: Path, eval_csv: Path, dataset: str, model_name: str, thresholds, out: Path, **options
) -> tuple[str, EvaluationResult]:
    run_id = _run(uri, dataset, model_name)
    settings = GateSettings(thresholds, baseline_margin=get_spec(dataset).baseline_margin, **options)
    result = run_evaluate_step(model, eval_csv, dataset, uri, run_id, model_name, settings, out, "", QUICK_IMPORTANCE)
    return run_id, result


def _push(uri: str, model: Path, store: Path, model_name: str) -> None:
    run = tracking.start_pipeline_run(uri, "push", model_name, {})
    push_model(model, str(store), model_name, uri, run, force_push=True)  # the champion to beat, set up without a gate


def test_a_multiclass_candidate_is_scored_gated_logged_and_carded(tracking_uri, data, models, tmp_path):
    run_id, result = _evaluate(
        tracking_uri, models["species"], data["penguins"], "penguins", "penguins-first", PENGUINS.thresholds, tmp_path
    )
    assert result.decision.blessed, result.decision.reasons
    assert result.metrics.example_count == 344 and result.metrics.accuracy > 0.9
    assert result.prior.accuracy == pytest.approx(152 / 344)  # Adelie, the majority
    assert any(r.startswith("PASS: log_loss") and "class-frequency log loss" in r for r in result.decision.reasons)
    assert "INFO: accuracy" in result.decision.reasons[-1]
    assert set(result.plots) == {"confusion_matrix", "importance"}
    assert list(result.importance)[:2] in (["bill_length_mm", "bill_depth_mm"], ["bill_depth_mm", "bill_length_mm"])
    assert all(value.metric == "log_loss" for value in result.importance.values())
    assert result.importance["body_mass_g"].mean == 0.0 and result.importance["bill_length_mm"].ci_low > 0.1

    written = json.loads(result.metrics_file.read_text())
    assert (written["task"], written["headline_metric"]) == ("multiclass", "log_loss")
    matrix = np.array(written["metrics"]["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 344 and np.trace(matrix) / 344 == result.metrics.accuracy
    assert written["gate"]["thresholds"] == {"accuracy": 0.9, "log_loss": 0.4}
    assert set(written["slices"]) >= {"island=Biscoe", "island=Dream", "sex=female", "sex=male"}

    client = tracking.client(tracking_uri)
    step = client.get_run(result.step_run_id).data
    assert step.params["threshold.accuracy"] == "0.9" and step.params["threshold.log_loss"] == "0.4"
    assert step.metrics["precision.Gentoo"] == result.metrics.per_class["Gentoo"].precision
    assert step.metrics["slice.island_Biscoe.log_loss"] == result.slices["island=Biscoe"].log_loss
    artifacts = {a.path.removeprefix("evaluation/") for a in client.list_artifacts(result.step_run_id, "evaluation")}
    assert {"confusion_matrix.png", "importance.png", "metrics.json", "decision.txt"} <= artifacts
    parent = client.get_run(run_id).data
    for name in ("accuracy", "log_loss", "macro_f1", "weighted_f1"):
        assert parent.metrics[name] == pytest.approx(result.metrics.headline()[name])
    assert parent.params["evaluate.threshold.accuracy"] == "0.9" and parent.metrics["blessed"] == 1.0

    card = build_card(client, run_id, "penguins-first")
    markdown, page = card.markdown("1"), html.unescape(card.html("1"))
    assert "multiclass classification of species_id (species) into 3 classes: Adelie, Chinstrap, Gentoo" in page
    assert f"| accuracy | {result.metrics.accuracy:.4f} | &gt;= 0.9 | — | {result.prior.accuracy:.4f} |" in markdown
    assert f"| log_loss | {result.metrics.log_loss:.4f} | &lt;= 0.4 | — | {result.prior.log_loss:.4f} |" in markdown
    assert f"| macro_f1 | {result.metrics.macro_f1:.4f} | off |" in markdown
    assert "| metric | candidate | gate bound | no champion | prior (class frequencies) |" in markdown
    assert "<th>slice</th><th>examples</th><th>log_loss</th><th>accuracy</th><th>macro_f1</th>" in page
    biscoe = result.slices["island=Biscoe"]
    assert f"<td>island=Biscoe</td><td>{biscoe.example_count}</td><td>{biscoe.log_loss:.4f}</td>" in page


def test_the_kfp_component_draws_the_multiclass_confusion_matrix_with_class_names(tracking_uri, data, models, tmp_path):
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    classification = dsl.ClassificationMetrics(uri=str(tmp_path / "classification"))
    report = dsl.HTML(uri=str(tmp_path / "report.html"))
    blessed = component.evaluate.python_func(
        model=dsl.Model(uri=str(models["species"])),
        eval_data=dsl.Dataset(uri=str(data["penguins"])),
        dataset="penguins",
        model_name="penguins-kfp",
        mlflow_tracking_uri=tracking_uri,
        mlflow_run_id=_run(tracking_uri, "penguins", "kfp"),
        thresholds={"accuracy": 0.9},
        champion_tolerance=0.01,
        baseline_margin=0.2,
        allow_unscored_champion=False,
        s3_endpoint_url="",
        metrics=metrics,
        classification_metrics=classification,
        report=report,
    )
    assert blessed is True
    matrix = classification.metadata["confusionMatrix"]
    assert [spec["displayName"] for spec in matrix["annotationSpecs"]] == ["Adelie", "Chinstrap", "Gentoo"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 344
    assert "confidenceMetrics" not in classification.metadata  # no ROC curve for three classes
    assert {"accuracy", "log_loss", "macro_f1", "weighted_f1", "recall.Chinstrap", "blessed"} <= set(metrics.metadata)
    page = Path(report.path).read_text()
    assert "penguins evaluation: BLESSED" in page and page.count("data:image/png;base64,") == 2
    assert "<th>log_loss</th><th>accuracy</th><th>macro_f1</th>" in page


def test_a_multiclass_champion_is_compared_and_one_of_another_task_is_refused(tracking_uri, data, models, tmp_path):
    _push(tracking_uri, models["species"], tmp_path / "store", "penguins-champion")
    _, worse = _evaluate(
        tracking_uri, models["species_blurred"], data["penguins"], "penguins", "penguins-champion", {}, tmp_path / "a"
    )
    assert worse.champion_version == "1" and worse.champion_metrics.log_loss < worse.metrics.log_loss - 0.01
    assert not worse.decision.blessed
    assert any(r.startswith("FAIL: log_loss") and "champion version 1 log_loss" in r for r in worse.decision.reasons)
    step = tracking.client(tracking_uri).get_run(worse.step_run_id).data
    assert step.metrics["champion_log_loss"] == pytest.approx(worse.champion_metrics.log_loss)

    _push(tracking_uri, models["tips"], tmp_path / "store", "penguins-binary-champion")
    _, refused = _evaluate(
        tracking_uri, models["species"], data["penguins"], "penguins", "penguins-binary-champion", {}, tmp_path / "b"
    )
    assert not refused.decision.blessed and refused.champion_metrics is None
    [failure] = [r for r in refused.decision.reasons if r.startswith("FAIL")]
    assert "champion version 1 could not be scored" in failure and "not 'probabilities'" in failure


def test_a_model_that_knows_nothing_is_refused_with_no_bound_at_all(tracking_uri, data, models, tmp_path):
    _, result = _evaluate(
        tracking_uri, models["species_knows_nothing"], data["penguins"], "penguins", "penguins-nothing", {}, tmp_path
    )
    assert not result.decision.blessed
    assert result.metrics.log_loss == pytest.approx(np.log(3), rel=1e-5)  # uniform over the three species
    [failure] = [r for r in result.decision.reasons if r.startswith("FAIL")]
    assert failure.startswith("FAIL: log_loss 1.0986 <=") and "class-frequency log loss" in failure


def test_a_wrong_threshold_name_fails_the_step_naming_the_tasks_metrics(tracking_uri, data, models, tmp_path):
    with pytest.raises(ValueError, match=r"\['roc_auc'\] are not metrics of the regression task; it bounds \['mae'"):
        _evaluate(tracking_uri, models["price"], data["ames"], "ames", "ames-typo", {"roc_auc": 0.8}, tmp_path)


def test_a_regression_candidate_is_scored_on_the_original_scale_gated_logged_and_carded(
    tracking_uri, data, models, price_weights, tmp_path
):
    thresholds = {"r2": 0.5, "rmse": 60000.0}
    run_id, result = _evaluate(tracking_uri, models["price"], data["ames"], "ames", "ames-first", thresholds, tmp_path)
    assert result.decision.blessed, result.decision.reasons
    rows = pd.read_csv(data["ames"])
    intercept, area, year = price_weights
    expected = np.expm1(intercept + area * np.log1p(rows["Gr_Liv_Area"]) + year * (rows["Year_Built"] - 1970.0))
    error = rows["Sale_Price"].to_numpy() - expected.to_numpy()
    assert result.metrics.rmse == pytest.approx(np.sqrt(np.mean(error**2)), rel=1e-4)
    assert result.metrics.mae == pytest.approx(np.mean(np.abs(error)), rel=1e-4)
    assert result.prior.rmse == pytest.approx(rows["Sale_Price"].std(ddof=0))
    reasons = result.decision.reasons
    assert any(r.startswith("PASS: rmse") and "mean predictor rmse" in r for r in reasons)
    assert any(r.startswith("PASS: r2") and r.endswith(">= 0.5000 (threshold)") for r in reasons)
    assert any(r.startswith("PASS: rmse") and r.endswith("<= 60000.0000 (threshold)") for r in reasons)
    assert not any("accuracy" in r for r in reasons)
    assert set(result.plots) == {"residuals", "importance"}
    assert next(iter(result.importance)) == "Gr_Liv_Area" and result.importance["Lot_Area"].mean == 0.0
    assert result.slices["Bldg_Type=OneFam"].rmse > 0 and all(key.count("=") == 1 for key in result.skipped_slices)

    written = json.loads(result.metrics_file.read_text())
    assert (written["task"], written["headline_metric"]) == ("regression", "rmse")
    assert written["table_metrics"] == ["rmse", "mae", "r2"] and written["prior"]["r2"] == pytest.approx(0.0)
    client = tracking.client(tracking_uri)
    step = client.get_run(result.step_run_id).data
    assert step.params["threshold.r2"] == "0.5" and step.params["threshold.rmse"] == "60000.0"
    assert step.metrics["slice.Bldg_Type_OneFam.rmse"] == pytest.approx(result.slices["Bldg_Type=OneFam"].rmse)
    artifacts = {a.path.removeprefix("evaluation/") for a in client.list_artifacts(result.step_run_id, "evaluation")}
    assert {"residuals.png", "importance.png", "metrics.json"} <= artifacts and "confusion_matrix.png" not in artifacts
    parent = client.get_run(run_id).data
    assert {name: parent.metrics[name] for name in ("rmse", "mae", "r2")} == pytest.approx(
        {name: result.metrics.headline()[name] for name in ("rmse", "mae", "r2")}
    )

    markdown = build_card(client, run_id, "ames-first").markdown("1")
    assert (
        "regression of sale_price (Sale_Price (US dollars)), learned as log1p and reported on the original scale"
        in (html.unescape(markdown))
    )
    assert f"| r2 | {result.metrics.r2:.4f} | &gt;= 0.5 | — | {result.prior.r2:.4f} |" in markdown
    assert f"| rmse | {result.metrics.rmse:.4f} | &lt;= 60000 | — | {result.prior.rmse:.4f} |" in markdown
    assert "| slice | examples | rmse | mae | r2 |" in markdown


def test_the_kfp_component_of_a_regression_logs_scalars_and_no_classification_metrics(
    tracking_uri, data, models, tmp_path
):
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    classification = dsl.ClassificationMetrics(uri=str(tmp_path / "classification"))
    report = dsl.HTML(uri=str(tmp_path / "report.html"))
    blessed = component.evaluate.python_func(
        model=dsl.Model(uri=str(models["price"])),
        eval_data=dsl.Dataset(uri=str(data["ames"])),
        dataset="ames",
        model_name="ames-kfp",
        mlflow_tracking_uri=tracking_uri,
        mlflow_run_id=_run(tracking_uri, "ames", "kfp"),
        thresholds={"r2": 0.99},
        champion_tolerance=0.01,
        baseline_margin=0.3,
        allow_unscored_champion=False,
        s3_endpoint_url="",
        metrics=metrics,
        classification_metrics=classification,
        report=report,
    )
    assert blessed is False
    assert classification.metadata == {}
    assert {"rmse", "mae", "r2", "mean_target", "example_count", "blessed"} <= set(metrics.metadata)
    page = Path(report.path).read_text()
    assert "ames evaluation: NOT BLESSED" in page and "FAIL: r2" in page and 'alt="residuals"' in page


def test_a_regression_champion_is_compared_on_relative_rmse(tracking_uri, data, models, tmp_path):
    _push(tracking_uri, models["price"], tmp_path / "store", "ames-champion")
    _, worse = _evaluate(tracking_uri, models["price_worse"], data["ames"], "ames", "ames-champion", {}, tmp_path)
    assert worse.champion_metrics.rmse * 1.01 < worse.metrics.rmse
    assert not worse.decision.blessed
    [failure] = [r for r in worse.decision.reasons if r.startswith("FAIL")]
    assert failure.startswith("FAIL: rmse") and "champion version 1 rmse" in failure and "x (1 + 0.01)" in failure


@pytest.mark.parametrize(("dataset", "model"), [("penguins", "species"), ("ames", "price")])
def test_scoring_in_batches_gives_the_same_predictions(data, models, dataset, model):
    spec = get_spec(dataset)
    dense = parse_csv_rows(tf.constant(data[dataset].read_text().splitlines()[1:]), spec)
    whole = load_scorer(models[model], task_of(spec))(dense)
    batched = load_scorer(models[model], task_of(spec), batch_size=64)(dense)
    np.testing.assert_array_equal(whole, batched)
    assert whole.shape == ((344, 3) if dataset == "penguins" else (AMES_ROWS,))
