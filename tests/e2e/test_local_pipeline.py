"""The whole pipeline under kfp.local on the real Chicago taxi file: push, gate, and bad input.

Order matters inside this module: the first run makes a champion, the later
runs must leave it where it is.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import tensorflow as tf
from prometheus_client.parser import text_string_to_metric_families

from components.common import run_metrics, tracking
from components.common.settings import Settings
from pipelines.arguments import Overrides
from pipelines.local_runner import PipelineFailed, run_locally
from pipelines.monitoring_runner import run_monitoring_locally
from pipelines.summary import RunSummary

pytestmark = pytest.mark.e2e

TAXI_CSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chicago_taxi" / "data.csv"
if not TAXI_CSV.exists():
    pytest.skip(
        f"the Chicago taxi file is not at {TAXI_CSV} (it sits beside the project in shared/)", allow_module_level=True
    )

# Two epochs keep the test short; the thresholds sit well under what two epochs reach (~0.94).
QUICK = dict(epochs=2, min_roc_auc=0.9, min_accuracy=0.85, max_log_loss=0.4)


@dataclass(frozen=True)
class Workspace:
    """One MLflow store, model store and pipeline root shared by the module's runs."""

    root: Path

    def settings(self, data: Path = TAXI_CSV) -> Settings:
        return Settings.from_env(
            {
                "DATASET": "chicago_taxi",
                "DATA_URI": str(data),
                "MLFLOW_TRACKING_URI": f"sqlite:///{self.root}/mlflow.db",
                "MODEL_STORE_URI": str(self.root / "model-store"),
                "PIPELINE_ROOT": str(self.root / "kfp"),
            }
        )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def first_run(workspace, request) -> RunSummary:
    # Where Debian's Pushgateway is installed, this run also pushes its run metrics to a real one.
    with pytest.MonkeyPatch.context() as env:
        try:
            env.setenv(run_metrics.GATEWAY_VARIABLE, request.getfixturevalue("pushgateway"))
        except pytest.skip.Exception:
            pass
        return run_locally(workspace.settings(), Overrides(**QUICK))


def _champion(settings: Settings):
    return tracking.client(settings.mlflow_tracking_uri).get_model_version_by_alias(settings.model_name, "champion")


def _versions(settings: Settings) -> list:
    client = tracking.client(settings.mlflow_tracking_uri)
    return client.search_model_versions(f"name = '{settings.model_name}'")


def _store_files(settings: Settings) -> set[Path]:
    return {path for path in Path(settings.model_store_uri).rglob("*") if path.is_file()}


def test_first_run_pushes_and_registers_a_champion(first_run, workspace):
    settings = workspace.settings()
    assert first_run.status == "FINISHED" and first_run.blessed
    assert first_run.steps == dict.fromkeys(["validate", "transform", "train", "evaluate", "push"], "FINISHED")
    assert first_run.rows_validated == 15002
    champion = _champion(settings)
    assert champion.version == first_run.model_version
    assert champion.run_id == first_run.mlflow_run_id
    assert champion.tags["store_uri"] == first_run.store_uri
    model_dir = Path(first_run.store_uri.removeprefix("file://"))
    assert (model_dir / "saved_model.pb").is_file() and (model_dir / "MANIFEST.sha256").is_file()
    assert model_dir.is_relative_to(Path(settings.model_store_uri) / settings.model_name)


def test_first_run_logs_metrics_params_and_artifacts(first_run, workspace):
    client = tracking.client(workspace.settings().mlflow_tracking_uri)
    run = client.get_run(first_run.mlflow_run_id)
    for name in ("roc_auc", "accuracy", "log_loss", "precision", "recall"):
        assert name in run.data.metrics, name
    assert run.data.metrics["roc_auc"] >= QUICK["min_roc_auc"]
    assert run.data.params["dataset"] == "chicago_taxi"
    assert run.data.params["train.epochs"] == "2"
    assert run.data.params["evaluate.min_roc_auc"] == str(QUICK["min_roc_auc"])
    children = {
        child.data.tags["step"]: child
        for child in client.search_runs(
            [run.info.experiment_id], f"tags.mlflow.parentRunId = '{first_run.mlflow_run_id}'"
        )
    }
    artifacts = {
        step: {item.path for item in client.list_artifacts(child.info.run_id, step_dir)}
        for step, child, step_dir in (
            ("validate", children["validate"], "validation"),
            ("evaluate", children["evaluate"], "evaluation"),
            ("train", children["train"], "model"),
        )
    }
    assert any(path.endswith(".html") for path in artifacts["validate"])
    assert {"roc", "confusion", "calibration"} <= {Path(p).stem.split("_")[0] for p in artifacts["evaluate"]}
    assert "model/saved_model.pb" in artifacts["train"]
    assert children["train"].data.params["epochs"] == "2"


def test_first_run_pushed_its_metrics_to_the_pushgateway(first_run, pushgateway):
    with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=10) as response:
        families = list(text_string_to_metric_families(response.read().decode("utf-8")))
    run = {"dataset": "chicago_taxi", "pipeline": "training", "pipeline_run": first_run.mlflow_run_id}
    samples = {
        (sample.name, sample.labels.get("step"), sample.labels.get("metric")): sample.value
        for family in families
        for sample in family.samples
        if run.items() <= sample.labels.items()
    }
    steps = ["validate", "transform", "train", "evaluate", "push"]
    assert [samples[("tabular_mlops_step_success", step, None)] for step in steps] == [1.0] * 5
    assert samples[("tabular_mlops_validation_rows", "validate", None)] == 15002
    assert samples[("tabular_mlops_eval_metric", "evaluate", "roc_auc")] == pytest.approx(first_run.metrics["roc_auc"])
    assert samples[("tabular_mlops_eval_floor", "evaluate", "roc_auc")] == QUICK["min_roc_auc"]
    assert samples[("tabular_mlops_model_version", "push", None)] == int(first_run.model_version)
    assert samples[("tabular_mlops_model_pushed", None, None)] == 1.0
    # Every metric the training and model dashboards chart came from this one run.
    dashboards = Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards"
    charted = {
        name
        for board in ("training-runs.json", "model-metrics.json")
        for name in re.findall(r"\btabular_mlops_[a-z_]+", (dashboards / board).read_text())
    }
    assert charted and charted <= {name for name, _, _ in samples}


def test_the_drift_check_finds_the_champions_baseline(first_run, workspace, tmp_path):
    """The baseline validate saved on the run that made the champion; its own training data does not drift."""
    outcome = run_monitoring_locally(workspace.settings(), "", False, None, tmp_path)
    assert not outcome.drifted, outcome.verdict
    assert f"champion {workspace.settings().model_name} version {first_run.model_version}" in outcome.verdict
    assert outcome.report.is_file()


def test_pushed_model_answers_a_raw_csv_row(first_run):
    model = tf.saved_model.load(first_run.store_uri.removeprefix("file://"))
    header, *rows = TAXI_CSV.read_text().splitlines()
    columns = next(csv.reader([header]))
    # The same trip paid by credit card and by cash: card payers record tips, so they score higher.
    trip = dict(zip(columns, next(csv.reader([rows[1]]))))
    lines = []
    for payment in ("Credit Card", "Cash"):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([{**trip, "payment_type": payment}[c] for c in columns])
        lines.append(buffer.getvalue())
    probability = model.signatures["predict_csv"](csv_rows=tf.constant(lines))["probability"].numpy()
    assert probability.shape == (2,) and ((0 <= probability) & (probability <= 1)).all()
    assert probability[0] > probability[1] + 0.2


def test_a_run_the_gate_rejects_is_not_pushed(first_run, workspace):
    settings = workspace.settings()
    store_before = _store_files(settings)
    second = run_locally(settings, Overrides(**{**QUICK, "min_roc_auc": 1.01}))
    assert second.status == "FINISHED" and second.blessed is False
    assert "push" not in second.steps and second.model_version is None
    assert _champion(settings).version == first_run.model_version
    assert len(_versions(settings)) == 1
    assert _store_files(settings) == store_before


def _rewrite(source: Path, target: Path, edit) -> Path:
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    header, body = edit(header, body)
    with target.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    return target


def _set_column(name: str, value, every: int = 1):
    def edit(header, body):
        position = header.index(name)
        for number, row in enumerate(body):
            if number % every == 0:
                row[position] = value(row[position]) if callable(value) else value
        return header, body

    return edit


def _drop_column(name: str):
    def edit(header, body):
        position = header.index(name)
        return [h for i, h in enumerate(header) if i != position], [
            [v for i, v in enumerate(row) if i != position] for row in body
        ]

    return edit


def _missing_column(path: Path) -> Path:
    return _rewrite(TAXI_CSV, path, _drop_column("payment_type"))


def _wrong_type(path: Path) -> Path:
    return _rewrite(TAXI_CSV, path, _set_column("trip_miles", "about three", every=10))


def _empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _entirely_null(path: Path) -> Path:
    return _rewrite(TAXI_CSV, path, _set_column("fare", ""))


def _out_of_range(path: Path) -> Path:
    return _rewrite(TAXI_CSV, path, _set_column("trip_start_hour", "31", every=5))


def _unseen_category(path: Path) -> Path:
    # 3 rows of every 10 pay with something the spec has never heard of
    def edit(header, body):
        position = header.index("payment_type")
        for number, row in enumerate(body):
            if number % 10 < 3:
                row[position] = "Bitcoin"
        return header, body

    return _rewrite(TAXI_CSV, path, edit)


def _truncated_last_line(path: Path) -> Path:
    data = TAXI_CSV.read_bytes().rstrip(b"\n")
    path.write_bytes(data[: data.rfind(b",", 0, len(data) - 40)])
    return path


def _non_utf8(path: Path) -> Path:
    data = TAXI_CSV.read_bytes()
    position = data.index(b"Taxi Affiliation Services")
    path.write_bytes(data[:position] + b"Taxi \xff\xfe Services" + data[position + len(b"Taxi Affiliation Services") :])
    return path


BAD_INPUTS = {
    "missing_column": (_missing_column, ["payment_type"]),
    "wrong_type": (_wrong_type, ["trip_miles", "type"]),
    "empty_file": (_empty_file, ["empty"]),
    "entirely_null": (_entirely_null, ["fare", "null"]),
    "out_of_range": (_out_of_range, ["trip_start_hour", "between 0 and 23"]),
    "unseen_category": (_unseen_category, ["payment_type", "30.0% not in the set"]),
    "truncated_last_line": (_truncated_last_line, ["line 15003", "fields"]),
    "non_utf8": (_non_utf8, ["UTF-8", "line"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_at_validate_and_changes_nothing(case, first_run, workspace, tmp_path):
    make, expected_words = BAD_INPUTS[case]
    data = make(tmp_path / f"{case}.csv")
    settings = workspace.settings(data)
    versions_before = len(_versions(settings))
    store_before = _store_files(settings)
    with pytest.raises(PipelineFailed) as failure:
        run_locally(settings, Overrides(**QUICK))
    summary = failure.value.summary
    assert summary is not None and summary.status == "FAILED"
    assert summary.steps == {"validate": "FAILED"}
    message = str(failure.value)
    assert message.startswith("validate: ") and str(data) in message
    for word in expected_words:
        assert word in message, f"{word!r} not in: {message}"
    assert _champion(settings).version == first_run.model_version
    assert len(_versions(settings)) == versions_before
    assert _store_files(settings) == store_before
