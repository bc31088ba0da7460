"""deploy, schedule, unschedule and run-remote: the real kfp.Client against a fake KFP API on 127.0.0.1."""

from __future__ import annotations

import socket

import kfp_server_api
import pytest
import yaml
from fake_kfp import FakeKfp

from components.common.cluster import PIPELINE_SERVICE_ACCOUNT
from components.runs.settings import Settings
from pipelines.__main__ import main
from pipelines.deployables import PIPELINES, RunOptions
from pipelines.remote import Target, cluster_arguments, connect
from pipelines.training_pipeline import PIPELINE_NAME

TRAINING, MONITORING = PIPELINES["training"], PIPELINES["monitoring"]

UPLOAD = ("POST", "/apis/v2beta1/pipelines/upload_version")


@pytest.fixture
def deployed(cluster_env, fake_kfp: FakeKfp, tmp_path, capsys) -> FakeKfp:
    assert main(["deploy", "--output", str(tmp_path / "pipeline.yaml")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return fake_kfp


def test_deploy_uploads_the_compiled_pipeline_as_a_version_named_after_the_commit(
    cluster_env, fake_kfp, tmp_path, capsys
):
    package = tmp_path / "pipeline.yaml"
    assert main(["deploy", "--output", str(package)]) == 0
    out = capsys.readouterr().out
    (pipeline,) = fake_kfp.pipelines.values()
    (version,) = fake_kfp.versions.values()
    assert pipeline["display_name"] == PIPELINE_NAME and version["display_name"] == "0a1b2c3d4e5f"
    assert version["pipeline_id"] == pipeline["pipeline_id"]
    assert version["spec"]["pipeline"] == next(yaml.safe_load_all(package.read_text()))
    assert f"id {pipeline['pipeline_id']} (created)" in out
    assert f"id {version['pipeline_version_id']} (uploaded)" in out
    link = f"{fake_kfp.url}/#/pipelines/details/{pipeline['pipeline_id']}/version/{version['pipeline_version_id']}"
    assert f"open      {link}" in out
    assert fake_kfp.rejections == []


def test_deploy_again_uploads_nothing_and_a_new_commit_adds_a_version(deployed, cluster_env, tmp_path, capsys):
    (version_id,) = deployed.versions
    assert main(["deploy", "--output", str(tmp_path / "again.yaml")]) == 0
    assert f"id {version_id} (already deployed, nothing uploaded)" in capsys.readouterr().out
    assert deployed.count(*UPLOAD) == 1 and len(deployed.pipelines) == 1

    cluster_env.setenv("VERSION", "ffff0000aaaa")
    assert main(["deploy", "--output", str(tmp_path / "next.yaml")]) == 0
    assert [v["display_name"] for v in deployed.versions.values()] == ["0a1b2c3d4e5f", "ffff0000aaaa"]
    assert len(deployed.pipelines) == 1 and deployed.rejections == []


def test_schedule_creates_one_recurring_run_on_the_latest_version(deployed, capsys):
    assert main(["schedule", "--cron", "0 3 * * *", "--gpus", "2"]) == 0
    (recurring,) = deployed.recurring_runs.values()
    (experiment,) = deployed.experiments.values()
    assert recurring["display_name"] == TRAINING.recurring_run_name == "tabular-training-retraining"
    assert recurring["experiment_id"] == experiment["experiment_id"]
    assert experiment["display_name"] == PIPELINE_NAME
    assert recurring["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert recurring["max_concurrency"] == "1" and recurring["no_catchup"] is True
    assert recurring["mode"] == "ENABLE"
    (pipeline_id,) = deployed.pipelines
    assert recurring["pipeline_version_reference"] == {"pipeline_id": pipeline_id}, "must not pin a version"
    assert recurring["service_account"] == PIPELINE_SERVICE_ACCOUNT
    expected = cluster_arguments(TRAINING, Settings.from_env(), RunOptions(train_gpus=2))
    assert recurring["runtime_config"]["parameters"] == expected
    assert deployed.rejections == []


def test_schedule_again_replaces_the_recurring_run(deployed, capsys):
    assert main(["schedule", "--cron", "0 3 * * *"]) == 0
    (first,) = deployed.recurring_runs
    capsys.readouterr()
    assert main(["schedule", "--cron", "30 1 * * 1"]) == 0
    (recurring,) = deployed.recurring_runs.values()
    assert recurring["recurring_run_id"] != first
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 30 1 * * 1"
    assert f"replacing {first}" in capsys.readouterr().out
    assert len(deployed.experiments) == 1 and deployed.rejections == []


def test_unschedule_removes_the_recurring_run_and_is_idempotent(deployed, capsys):
    assert main(["schedule", "--cron", "0 3 * * *"]) == 0
    (recurring_id,) = deployed.recurring_runs
    assert main(["unschedule"]) == 0
    assert deployed.recurring_runs == {}
    assert f"removed recurring run {recurring_id}" in capsys.readouterr().out
    assert main(["unschedule"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


@pytest.mark.parametrize(("final_state", "exit_code"), [("SUCCEEDED", 0), ("FAILED", 1)])
def test_run_remote_starts_the_deployed_version_and_waits(deployed, capsys, final_state, exit_code):
    deployed.final_run_state = final_state
    assert main(["run-remote", "--wait", "--poll", "0.01"]) == exit_code
    (run,) = deployed.runs.values()
    (version_id,) = deployed.versions
    assert run["pipeline_version_reference"]["pipeline_version_id"] == version_id
    assert run["service_account"] == PIPELINE_SERVICE_ACCOUNT
    assert run["runtime_config"]["parameters"] == cluster_arguments(TRAINING, Settings.from_env(), RunOptions())
    assert f"finished  {final_state}" in capsys.readouterr().out


def test_run_remote_without_wait_returns_after_starting(deployed, capsys):
    assert main(["run-remote"]) == 0
    (run,) = deployed.runs.values()
    assert run["state"] == "PENDING", "nobody polled the run"
    assert f"runs/details/{run['run_id']}" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_host_is_named(cluster_env, capsys):
    host = f"http://127.0.0.1:{_free_port()}"
    cluster_env.setenv("KFP_HOST", host)
    assert main(["deploy"]) == 2
    assert f"error: cannot reach Kubeflow Pipelines at {host}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("token", "said"), [(None, "no token (KFP_TOKEN is unset)"), ("wrong", "the token in KFP_TOKEN")]
)
def test_refused_credentials_are_named(cluster_env, fake_kfp, capsys, token, said):
    fake_kfp.token = "right-token"
    if token:
        cluster_env.setenv("KFP_TOKEN", token)
    assert main(["schedule", "--cron", "0 3 * * *"]) == 2
    err = capsys.readouterr().err
    assert f"refused the credentials (HTTP 401) with {said}" in err
    assert "right-token" not in err and (token is None or token not in err)


def test_the_right_token_is_sent_on_every_call(cluster_env, fake_kfp, tmp_path, capsys):
    fake_kfp.token = "right-token"
    cluster_env.setenv("KFP_TOKEN", "right-token")
    assert main(["deploy", "--output", str(tmp_path / "pipeline.yaml")]) == 0
    assert fake_kfp.rejections == [] and len(fake_kfp.versions) == 1


def test_schedule_and_run_before_deploy_name_the_missing_pipeline(cluster_env, fake_kfp, capsys):
    assert main(["schedule", "--cron", "0 3 * * *"]) == 2
    assert main(["run-remote"]) == 2
    err = capsys.readouterr().err
    assert err.count(f"no pipeline named {PIPELINE_NAME} at {fake_kfp.url}: run `make deploy-pipeline` first") == 2
    assert fake_kfp.recurring_runs == {} and fake_kfp.runs == {}


def test_run_remote_names_a_version_that_is_not_deployed(deployed, cluster_env, capsys):
    cluster_env.setenv("VERSION", "notdeployed1")
    assert main(["run-remote"]) == 2
    assert f"pipeline {PIPELINE_NAME} has no version notdeployed1" in capsys.readouterr().err
    assert deployed.runs == {}


def test_locations_only_this_machine_can_read_are_refused(deployed, cluster_env, capsys):
    cluster_env.delenv("DATA_URI")
    cluster_env.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")
    assert main(["run-remote"]) == 2
    err = capsys.readouterr().err
    assert "the cluster cannot read DATA_URI=" in err and "MLFLOW_TRACKING_URI=sqlite:///" in err
    assert "MODEL_STORE_URI=" not in err, "MODEL_STORE_URI is an s3:// URI here"
    assert deployed.runs == {}


@pytest.mark.parametrize("cron", ["0 3 * *", "every day", ""])
def test_a_bad_or_missing_cron_is_refused(deployed, capsys, cron):
    assert main(["schedule", "--cron", cron]) == 2
    assert "CRON" in capsys.readouterr().err
    assert deployed.recurring_runs == {}


def test_a_missing_host_says_which_variable_to_set(cluster_env, capsys):
    cluster_env.delenv("KFP_HOST")
    assert main(["unschedule"]) == 2
    assert "no Kubeflow Pipelines host: set KFP_HOST" in capsys.readouterr().err


def test_the_make_targets_drive_the_same_verbs(cluster_env, fake_kfp, run_make):
    """`make deploy-pipeline`, `make schedule CRON=...`, `make unschedule` as a user types them (setup done)."""
    for target in (["deploy-pipeline"], ["schedule", "CRON=0 3 * * *"], ["unschedule"]):
        done = run_make(*target)
        assert done.returncode == 0, done.stderr
    assert [v["display_name"] for v in fake_kfp.versions.values()] == ["0a1b2c3d4e5f"]
    assert fake_kfp.count("POST", "/apis/v2beta1/recurringruns") == 1
    deletes = [path for method, path in fake_kfp.requests if method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].startswith("/apis/v2beta1/recurringruns/")
    assert fake_kfp.recurring_runs == {} and fake_kfp.rejections == []


def test_the_fake_refuses_what_the_real_api_would(deployed, tmp_path):
    """So that `rejections == []` above means the bodies were right: wrong ones are refused, with reasons."""
    client = connect(Target(deployed.url))
    (pipeline_id,) = deployed.pipelines
    (version_id,) = deployed.versions
    experiment_id = client.create_experiment("refusals").experiment_id
    parameters = cluster_arguments(TRAINING, Settings.from_env(), RunOptions())
    with pytest.raises(kfp_server_api.ApiException, match="six fields"):
        client.create_recurring_run(
            experiment_id, "five-field cron", cron_expression="0 3 * * *", pipeline_id=pipeline_id,
            version_id=version_id, params=parameters,
        )  # fmt: skip
    with pytest.raises(kfp_server_api.ApiException, match=r"unknown \['learning_rat'\], missing \['data_uri'\]"):
        wrong = {**{k: v for k, v in parameters.items() if k != "data_uri"}, "learning_rat": 0.1}
        client.run_pipeline(experiment_id, "typo", pipeline_id=pipeline_id, version_id=version_id, params=wrong)
    with pytest.raises(kfp_server_api.ApiException, match="train_gpus='1' is not a NUMBER_INTEGER"):
        client.run_pipeline(
            experiment_id, "string", pipeline_id=pipeline_id, version_id=version_id,
            params={**parameters, "train_gpus": "1"},
        )  # fmt: skip
    bogus = tmp_path / "bogus.yaml"
    bogus.write_text("pipelineInfo: {name: 3}\nroot: []\n")
    with pytest.raises(kfp_server_api.ApiException, match="not a pipeline spec"):
        client.upload_pipeline_version(str(bogus), "bogus", pipeline_id=pipeline_id)
    assert len(deployed.rejections) == 4 and deployed.runs == {} and deployed.recurring_runs == {}
