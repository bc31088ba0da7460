"""The compiled scoring pipeline (PIPELINE=scoring), read back from its YAML: its one task, its parameters,
and the cluster verbs' row for it."""

from __future__ import annotations

import pytest
import yaml

from components.runs.settings import Settings
from pipelines.deployables import PIPELINES, RunOptions
from pipelines.package import compile_pipeline
from pipelines.remote import RemoteError, cluster_arguments


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[dict, dict]:
    output = tmp_path_factory.mktemp("compile") / "scoring_pipeline.yaml"
    compile_pipeline(Settings.from_env({}), output, "scoring")
    pipeline_spec, platform_spec = yaml.safe_load_all(output.read_text())
    return pipeline_spec, platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_the_scoring_pipeline_is_one_uncached_score_task_on_the_network(compiled):
    pipeline_spec, executors = compiled
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"score"}
    score = tasks["score"]
    # A rerun on the same input and version must replace the output: no cache may stand in for it.
    assert score["cachingOptions"].get("enableCache", False) is False
    assert score["retryPolicy"]["maxRetryCount"] == 3
    inputs = score["inputs"]["parameters"]
    assert inputs["pipeline_job_name"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"
    assert inputs["scheduled_time"]["runtimeValue"]["constant"] == "{{$.pipeline_job_schedule_time_utc}}"
    assert {"secretAsEnv"} <= set(executors["exec-score"])  # S3 and MLflow credentials from the cluster's Secrets
    parameters = pipeline_spec["root"]["inputDefinitions"]["parameters"]
    named = {"data_uri", "dataset", "model_name", "model_version", "output_uri", "max_reject_fraction"}
    assert named <= set(parameters)
    assert parameters["max_reject_fraction"]["defaultValue"] == 0.01
    assert parameters["model_version"]["defaultValue"] == ""  # the champion
    outputs = pipeline_spec["root"]["outputDefinitions"]
    assert set(outputs["artifacts"]) == {"summary", "report"} and set(outputs["parameters"]) == {"output_prefix"}


def test_the_cluster_verbs_refuse_local_locations_for_scoring(monkeypatch):
    scoring = PIPELINES["scoring"]
    assert scoring.deploy_command == "make deploy-pipeline PIPELINE=scoring"
    monkeypatch.setenv("OUTPUT_URI", "s3://scores/out")
    monkeypatch.setenv("MODEL_VERSION", "4")
    remote = Settings.from_env(
        {"DATA_URI": "s3://data/new.csv", "MLFLOW_TRACKING_URI": "http://mlflow:5000", "MODEL_STORE_URI": "s3://m"}
    )
    arguments = cluster_arguments(scoring, remote, RunOptions())
    assert (arguments["output_uri"], arguments["model_version"]) == ("s3://scores/out", "4")
    monkeypatch.delenv("OUTPUT_URI")
    assert cluster_arguments(scoring, remote, RunOptions())["output_uri"] == "s3://m/scores"
    with pytest.raises(RemoteError, match="the cluster cannot read DATA_URI="):
        cluster_arguments(scoring, Settings.from_env({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}), RunOptions())
