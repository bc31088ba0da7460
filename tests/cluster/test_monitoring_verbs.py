"""The cluster verbs with --pipeline monitoring (PIPELINE=monitoring): the drift check deployed, scheduled,
unscheduled and run beside training, each with its own pipeline, experiment and recurring run."""

from __future__ import annotations

import copy

import pytest
import yaml
from fake_kfp import FakeKfp

from components.common.cluster import PIPELINE_SERVICE_ACCOUNT
from components.runs.settings import Settings
from pipelines.__main__ import main
from pipelines.deployables import PIPELINES, RunOptions
from pipelines.remote import cluster_arguments

TRAINING, MONITORING = PIPELINES["training"], PIPELINES["monitoring"]
NEW_BATCH = "s3://tabular-mlops-data/requests/new-batch.csv"
BASELINE = "s3://tabular-mlops-data/baseline.json"
MONITOR = ["--pipeline", "monitoring"]


def _pipeline_id(fake: FakeKfp, name: str) -> str:
    (pipeline_id,) = [key for key, pipeline in fake.pipelines.items() if pipeline["display_name"] == name]
    return pipeline_id


def _recurring(fake: FakeKfp, name: str) -> list[dict]:
    return [run for run in fake.recurring_runs.values() if run["display_name"] == name]


@pytest.fixture
def both_deployed(cluster_env, fake_kfp: FakeKfp, tmp_path, capsys) -> FakeKfp:
    assert main(["deploy", "--output", str(tmp_path / "training.yaml")]) == 0, capsys.readouterr().err
    assert main(["deploy", *MONITOR, "--output", str(tmp_path / "monitoring.yaml")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return fake_kfp


def test_deploy_monitoring_uploads_its_own_pipeline_and_version(cluster_env, fake_kfp, tmp_path, capsys):
    assert main(["deploy", "--output", str(tmp_path / "training.yaml")]) == 0
    package = tmp_path / "monitoring.yaml"
    assert main(["deploy", *MONITOR, "--output", str(package)]) == 0
    out = capsys.readouterr().out
    assert sorted(p["display_name"] for p in fake_kfp.pipelines.values()) == ["tabular-monitoring", "tabular-training"]
    monitoring_id = _pipeline_id(fake_kfp, MONITORING.name)
    (version,) = [v for v in fake_kfp.versions.values() if v["pipeline_id"] == monitoring_id]
    assert version["display_name"] == "0a1b2c3d4e5f"
    assert fake_kfp.pipelines[monitoring_id]["description"] == MONITORING.description
    uploaded = version["spec"]["pipeline"]
    assert uploaded == next(yaml.safe_load_all(package.read_text()))
    assert uploaded["pipelineInfo"]["name"] == "tabular-monitoring"
    assert {"baseline_uri", "retrain_on_drift", "train_gpus"} <= set(uploaded["root"]["inputDefinitions"]["parameters"])
    assert f"pipeline  tabular-monitoring  id {monitoring_id} (created)" in out
    assert len(fake_kfp.versions) == 2 and fake_kfp.rejections == []

    assert main(["deploy", *MONITOR, "--output", str(package)]) == 0
    assert "already deployed, nothing uploaded" in capsys.readouterr().out
    assert len(fake_kfp.versions) == 2 and len(fake_kfp.pipelines) == 2


def test_deploy_monitoring_writes_its_package_where_compile_monitoring_does(cluster_env, fake_kfp, tmp_path):
    cluster_env.setattr("pipelines.remote_cli.PROJECT_ROOT", tmp_path)
    assert main(["deploy", *MONITOR]) == 0
    package = tmp_path / "build" / "monitoring_pipeline.yaml"
    assert next(yaml.safe_load_all(package.read_text()))["pipelineInfo"]["name"] == "tabular-monitoring"


def test_the_nested_training_selects_the_settings_gpu_pool(cluster_env, fake_kfp, tmp_path):
    cluster_env.setenv("GPU_NODE_POOL", "a100-pool")
    assert main(["deploy", *MONITOR, "--output", str(tmp_path / "monitoring.yaml")]) == 0
    (version,) = fake_kfp.versions.values()
    (platform,) = version["spec"]["platforms"]
    train = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    assert train["nodeSelector"]["labels"] == {"tabular-mlops.io/node-pool": "a100-pool"}


def test_schedule_monitoring_creates_its_own_recurring_run_and_leaves_training_alone(
    both_deployed, cluster_env, capsys
):
    assert main(["schedule", "--cron", "0 3 * * *"]) == 0
    (training_run,) = _recurring(both_deployed, TRAINING.recurring_run_name)
    training_before = copy.deepcopy(training_run)

    cluster_env.setenv("DATA_URI", NEW_BATCH)
    cluster_env.setenv("BASELINE_URI", BASELINE)
    cluster_env.setenv("RETRAIN", "1")
    cluster_env.setenv("TRAIN_DATA_URI", "s3://tabular-mlops-data/taxi.csv")
    assert main(["schedule", *MONITOR, "--cron", "0 * * * *", "--gpus", "0"]) == 0
    (recurring,) = _recurring(both_deployed, "tabular-monitoring-drift-check")
    experiment = both_deployed.experiments[recurring["experiment_id"]]
    assert experiment["display_name"] == "tabular-monitoring"
    assert recurring["pipeline_version_reference"] == {"pipeline_id": _pipeline_id(both_deployed, MONITORING.name)}
    assert recurring["trigger"] == {"cron_schedule": {"cron": "0 0 * * * *"}}
    assert recurring["max_concurrency"] == "1" and recurring["no_catchup"] is True and recurring["mode"] == "ENABLE"
    assert recurring["service_account"] == PIPELINE_SERVICE_ACCOUNT
    parameters = recurring["runtime_config"]["parameters"]
    assert parameters["data_uri"] == NEW_BATCH and parameters["baseline_uri"] == BASELINE
    assert parameters["training_data_uri"] == "s3://tabular-mlops-data/taxi.csv"
    assert parameters["retrain_on_drift"] is True and parameters["train_gpus"] == 0
    assert parameters["training_experiment"] == Settings.from_env().mlflow_experiment
    assert (
        f"recurring run tabular-monitoring-drift-check  id {recurring['recurring_run_id']}" in capsys.readouterr().out
    )

    assert len(both_deployed.recurring_runs) == 2
    assert both_deployed.recurring_runs[training_run["recurring_run_id"]] == training_before
    assert both_deployed.rejections == []


def test_schedule_monitoring_again_replaces_only_its_recurring_run(both_deployed, cluster_env, capsys):
    cluster_env.setenv("KFP_EXPERIMENT", "shared")  # one experiment: the names alone keep the two apart
    assert main(["schedule", "--cron", "0 3 * * *"]) == 0
    (training_id,) = [r["recurring_run_id"] for r in _recurring(both_deployed, TRAINING.recurring_run_name)]
    assert main(["schedule", *MONITOR, "--cron", "0 6 * * *"]) == 0
    (first,) = [r["recurring_run_id"] for r in _recurring(both_deployed, MONITORING.recurring_run_name)]
    capsys.readouterr()

    assert main(["schedule", *MONITOR, "--cron", "0 * * * *"]) == 0
    (recurring,) = _recurring(both_deployed, MONITORING.recurring_run_name)
    assert recurring["recurring_run_id"] != first
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 * * * *"
    assert f"replacing {first}" in capsys.readouterr().out
    assert set(both_deployed.recurring_runs) == {training_id, recurring["recurring_run_id"]}
    assert len(both_deployed.experiments) == 1 and both_deployed.rejections == []


def test_unschedule_monitoring_removes_only_its_recurring_run(both_deployed, cluster_env, capsys):
    cluster_env.setenv("KFP_EXPERIMENT", "shared")
    assert main(["schedule", "--cron", "0 3 * * *"]) == 0
    assert main(["schedule", *MONITOR, "--cron", "0 6 * * *"]) == 0
    (training_id,) = [r["recurring_run_id"] for r in _recurring(both_deployed, TRAINING.recurring_run_name)]
    (monitoring_id,) = [r["recurring_run_id"] for r in _recurring(both_deployed, MONITORING.recurring_run_name)]
    capsys.readouterr()

    assert main(["unschedule", *MONITOR]) == 0
    assert f"removed recurring run {monitoring_id}" in capsys.readouterr().out
    assert set(both_deployed.recurring_runs) == {training_id}
    assert main(["unschedule", *MONITOR]) == 0
    assert "no recurring run tabular-monitoring-drift-check in experiment shared" in capsys.readouterr().out
    assert set(both_deployed.recurring_runs) == {training_id}


def test_run_remote_monitoring_runs_its_deployed_version(both_deployed, cluster_env, capsys):
    cluster_env.setenv("DATA_URI", NEW_BATCH)
    assert main(["run-remote", *MONITOR, "--wait", "--poll", "0.01"]) == 0
    (run,) = both_deployed.runs.values()
    version = both_deployed.versions[run["pipeline_version_reference"]["pipeline_version_id"]]
    assert version["pipeline_id"] == _pipeline_id(both_deployed, MONITORING.name)
    expected = cluster_arguments(MONITORING, Settings.from_env(), RunOptions())
    assert run["runtime_config"]["parameters"] == expected
    assert (
        expected["data_uri"] == NEW_BATCH and expected["baseline_uri"] == "" and expected["retrain_on_drift"] is False
    )
    assert run["display_name"].startswith("tabular-monitoring 0a1b2c3d4e5f ")
    assert both_deployed.experiments[run["experiment_id"]]["display_name"] == "tabular-monitoring"


def test_monitoring_before_its_deploy_names_its_own_deploy_command(cluster_env, fake_kfp, tmp_path, capsys):
    assert main(["deploy", "--output", str(tmp_path / "training.yaml")]) == 0  # training alone is not enough
    capsys.readouterr()
    assert main(["schedule", *MONITOR, "--cron", "0 3 * * *"]) == 2
    expected = f"no pipeline named tabular-monitoring at {fake_kfp.url}: run `make deploy-pipeline PIPELINE=monitoring`"
    assert expected in capsys.readouterr().err
    assert fake_kfp.recurring_runs == {}


@pytest.mark.parametrize(
    ("setting", "value"),
    [("BASELINE_URI", "build/baseline.json"), ("TRAIN_DATA_URI", "data/taxi.csv"), ("DATA_URI", "file:///tmp/x.csv")],
)
def test_monitoring_refuses_locations_only_this_machine_can_read(both_deployed, cluster_env, capsys, setting, value):
    cluster_env.setenv(setting, value)
    assert main(["schedule", *MONITOR, "--cron", "0 3 * * *"]) == 2
    err = capsys.readouterr().err
    assert f"the cluster cannot read {setting}=" in err and value in err
    assert both_deployed.recurring_runs == {}


def test_a_runs_uri_baseline_is_accepted(both_deployed, cluster_env):
    cluster_env.setenv("BASELINE_URI", "runs:/0123abcd/baseline.json")
    assert main(["schedule", *MONITOR, "--cron", "0 3 * * *"]) == 0
    (recurring,) = both_deployed.recurring_runs.values()
    assert recurring["runtime_config"]["parameters"]["baseline_uri"] == "runs:/0123abcd/baseline.json"


def test_an_unknown_pipeline_is_named(cluster_env, fake_kfp, capsys):
    assert main(["unschedule", "--pipeline", "monitor"]) == 2
    assert (
        "--pipeline (PIPELINE) must be one of training, monitoring, scoring, got 'monitor'" in capsys.readouterr().err
    )
    assert fake_kfp.requests == []


@pytest.mark.parametrize(("gpus", "code"), [("0", 0), ("-1", 2)])
def test_gpus_zero_trains_on_the_cpu_and_a_negative_count_is_refused(both_deployed, capsys, gpus, code):
    assert main(["run-remote", "--gpus", gpus]) == code
    runs = list(both_deployed.runs.values())
    if code == 0:
        assert runs[0]["runtime_config"]["parameters"]["train_gpus"] == 0
    else:
        assert runs == [] and "the GPU count must be 0 (train on the CPU) or more, got -1" in capsys.readouterr().err


def test_the_make_targets_take_pipeline_monitoring(cluster_env, fake_kfp, run_make):
    """`make deploy-pipeline PIPELINE=monitoring` and `make schedule PIPELINE=monitoring CRON=... DATA_URI=...`."""
    for target in (
        ["deploy-pipeline", "PIPELINE=monitoring"],
        ["schedule", "PIPELINE=monitoring", "CRON=0 * * * *", f"DATA_URI={NEW_BATCH}", "RETRAIN=1", "GPUS=0"],
    ):
        done = run_make(*target)
        assert done.returncode == 0, done.stderr
    assert [p["display_name"] for p in fake_kfp.pipelines.values()] == ["tabular-monitoring"]
    (recurring,) = fake_kfp.recurring_runs.values()
    assert recurring["display_name"] == "tabular-monitoring-drift-check"
    parameters = recurring["runtime_config"]["parameters"]
    assert parameters["data_uri"] == NEW_BATCH and parameters["retrain_on_drift"] is True
    assert parameters["train_gpus"] == 0 and fake_kfp.rejections == []
