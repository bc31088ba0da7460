"""Push against a real SQLite MLflow registry, to a local store and to S3 (moto's server, HTTP)."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any

import boto3
import mlflow
import pytest
from gate_records import record_gate, record_infra_validation
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from components.common import storage, tracking
from components.data.sources import resolve_source
from components.push import leftovers, task
from components.push.model_card import ModelCardError
from components.push.task import NotBlessedError, PushResult, push_model
from components.runs import step_runs
from components.validate.task import run_validate_step

MODEL_NAME = "taxi-classifier"


@pytest.fixture(params=["local", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "model-store")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/registry"


def _endpoint(request: pytest.FixtureRequest, store_uri: str) -> str | None:
    return request.getfixturevalue("s3_endpoint") if store_uri.startswith("s3://") else None


def _bare_pipeline_run(tracking_uri: str) -> str:
    """A pipeline's run as validate opens it: no evaluate step on record."""
    job = f"job-{uuid.uuid4().hex[:6]}"
    return tracking.start_pipeline_run(tracking_uri, "push-tests", job, {"epochs": 1})


def _new_pipeline_run(tracking_uri: str) -> str:
    """A pipeline's run whose gate blessed its model without recording a champion: the alias moves whatever it is."""
    run_id = _bare_pipeline_run(tracking_uri)
    record_gate(tracking_uri, run_id, None)
    return run_id


def _push_in_a_new_run(saved_model: Path, store_uri: str, tracking_uri: str, endpoint: str | None) -> PushResult:
    return push_model(saved_model, store_uri, MODEL_NAME, tracking_uri, _new_pipeline_run(tracking_uri), endpoint)


def _checksums(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def _stored_names(store_uri: str, endpoint: str | None) -> set[str]:
    """Every file under the store, relative to it: what a failed push must not leave behind."""
    if store_uri.startswith("s3://"):
        bucket, prefix = store_uri[len("s3://") :].split("/", 1)
        listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
        return {item["Key"][len(prefix) + 1 :] for item in listing.get("Contents", [])}
    root = Path(store_uri)
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def _versions(client: MlflowClient) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{MODEL_NAME}'"))


def test_push_registers_a_verified_champion(
    saved_model: Path,
    store_uri: str,
    tmp_mlflow_uri: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    endpoint = _endpoint(request, store_uri)
    run_id = _new_pipeline_run(tmp_mlflow_uri)

    result = push_model(saved_model, store_uri, MODEL_NAME, tmp_mlflow_uri, run_id, endpoint)

    client = tracking.client(tmp_mlflow_uri)
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert result.model_version == str(champion.version) == "1"
    expected = _checksums(saved_model)
    assert (result.files, result.bytes) == (
        len(expected),
        sum(p.stat().st_size for p in saved_model.rglob("*") if p.is_file()),
    )
    assert champion.source == champion.tags["store_uri"] == result.store_uri
    assert champion.run_id == run_id
    assert result.store_uri.startswith(
        f"{store_uri}/{MODEL_NAME}/" if endpoint else f"file://{store_uri}/{MODEL_NAME}/"
    )
    storage.verify_dir(result.store_uri, expected, endpoint)
    copy = storage.download_dir(result.store_uri, tmp_path / "champion", endpoint)
    manifest = (copy / storage.MANIFEST_NAME).read_bytes()
    assert champion.tags["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()

    import tensorflow as tf

    served = tf.saved_model.load(str(copy)).signatures["serving_default"](tf.constant([1.0, 2.0]))
    assert served["y"].numpy().tolist() == [2.5, 4.5]
    pipeline_run = client.get_run(run_id)
    assert pipeline_run.info.status == RunStatus.to_string(RunStatus.FINISHED)
    (step,) = client.search_runs(
        [pipeline_run.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}' and tags.step = 'push'"
    )
    assert step.data.params == {
        "model_name": MODEL_NAME,
        "force_push": "False",
        "store_uri": result.store_uri,
        "model_version": "1",
        "champion": "True",
    }


def test_second_push_moves_champion(
    saved_model: Path, store_uri: str, tmp_mlflow_uri: str, request: pytest.FixtureRequest
) -> None:
    endpoint = _endpoint(request, store_uri)
    first = _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)
    second = _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)

    client = tracking.client(tmp_mlflow_uri)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == second.model_version == "2"
    assert _versions(client) == ["1", "2"]
    assert first.store_uri < second.store_uri  # prefixes sort in push order
    storage.verify_dir(first.store_uri, _checksums(saved_model), endpoint)


def test_failed_upload_keeps_the_champion(
    saved_model: Path, s3_endpoint: str, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    store = str(tmp_path / "model-store")
    first = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, _new_pipeline_run(tmp_mlflow_uri))
    failing_run = _new_pipeline_run(tmp_mlflow_uri)

    with pytest.raises(storage.StorageError, match="NoSuchBucket"):
        push_model(
            saved_model,
            "s3://no-such-bucket/models",
            MODEL_NAME,
            tmp_mlflow_uri,
            failing_run,
            s3_endpoint,
        )

    client = tracking.client(tmp_mlflow_uri)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == first.model_version
    assert _versions(client) == ["1"]
    assert client.get_run(failing_run).info.status == RunStatus.to_string(RunStatus.FAILED)


def test_failed_verification_deletes_the_upload(
    saved_model: Path,
    store_uri: str,
    tmp_mlflow_uri: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = _endpoint(request, store_uri)
    first = _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)
    before = _stored_names(store_uri, endpoint)

    real_verify = storage.verify_dir

    def verify_against_a_wrong_checksum(uri: str, expected: dict[str, str], endpoint_url: str | None) -> None:
        real_verify(uri, {**expected, "saved_model.pb": "0" * 64}, endpoint_url)

    monkeypatch.setattr(task.storage, "verify_dir", verify_against_a_wrong_checksum)
    with pytest.raises(storage.ChecksumMismatchError, match="saved_model.pb: sha256"):
        _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)

    client = tracking.client(tmp_mlflow_uri)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == first.model_version
    assert _versions(client) == ["1"]
    assert _stored_names(store_uri, endpoint) == before


def test_failure_at_alias_time_deletes_the_new_version_and_its_files(
    saved_model: Path,
    store_uri: str,
    tmp_mlflow_uri: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = _endpoint(request, store_uri)
    first = _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)
    before = _stored_names(store_uri, endpoint)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise MlflowException("registry went away")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "set_registered_model_alias", refuse)
        with pytest.raises(MlflowException, match="registry went away"):
            _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)

    client = tracking.client(tmp_mlflow_uri)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == first.model_version
    assert _versions(client) == ["1"]
    assert _stored_names(store_uri, endpoint) == before
    # MLflow only soft-deletes a version, so its number is never handed out again.
    later = _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)
    assert later.model_version == "3"


def test_a_retry_after_the_alias_moved_finishes_that_version_and_registers_no_other(
    saved_model: Path,
    store_uri: str,
    tmp_mlflow_uri: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = _endpoint(request, store_uri)
    first = _push_in_a_new_run(saved_model, store_uri, tmp_mlflow_uri, endpoint)
    run = _new_pipeline_run(tmp_mlflow_uri)
    tracking.log_pipeline_params(tmp_mlflow_uri, run, "evaluate", {"champion_version": first.model_version})
    real_set_tag = MlflowClient.set_model_version_tag
    failed: list[str] = []

    def fail_the_last_tag_once(self: MlflowClient, name: str, version: str, key: str, value: str) -> None:
        if (key, value) == (leftovers.PUSH_STATE_TAG, leftovers.PUBLISHED) and not failed:
            failed.append(str(version))
            raise MlflowException("registry went away")
        real_set_tag(self, name, version, key, value)

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "set_model_version_tag", fail_the_last_tag_once)
        with pytest.raises(MlflowException, match="registry went away"):
            push_model(saved_model, store_uri, MODEL_NAME, tmp_mlflow_uri, run, endpoint)
    client = tracking.client(tmp_mlflow_uri)
    assert failed == ["2"] and str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "2"
    stored = _stored_names(store_uri, endpoint)

    retried = push_model(saved_model, store_uri, MODEL_NAME, tmp_mlflow_uri, run, endpoint)  # as KFP retries it

    assert (retried.model_version, retried.champion) == ("2", True)
    assert _versions(client) == ["1", "2"]
    version = client.get_model_version(MODEL_NAME, "2")
    assert version.tags["push_state"] == "published"
    assert version.tags["champion_decision"] == retried.decision
    assert retried.decision.startswith(f"champion (was {first.model_version}; an earlier attempt of this run")
    assert retried.store_uri == version.source
    assert _stored_names(store_uri, endpoint) == stored  # nothing uploaded again
    assert client.get_run(run).info.status == RunStatus.to_string(RunStatus.FINISHED)
    # Retried once more, the step finds the version published: the same result, nothing written.
    assert push_model(saved_model, store_uri, MODEL_NAME, tmp_mlflow_uri, run, endpoint) == retried
    assert _versions(client) == ["1", "2"]
    assert _stored_names(store_uri, endpoint) == stored


def test_a_retry_with_a_retrained_model_pushes_a_new_version(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    store, run = str(tmp_path / "store"), _new_pipeline_run(tmp_mlflow_uri)
    first = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, run)
    retrained = tmp_path / "retrained"
    shutil.copytree(saved_model, retrained)
    (retrained / "assets").mkdir(exist_ok=True)
    (retrained / "assets" / "note.txt").write_text("trained again")

    second = push_model(retrained, store, MODEL_NAME, tmp_mlflow_uri, run)

    client = tracking.client(tmp_mlflow_uri)
    assert (first.model_version, second.model_version) == ("1", "2")
    assert _versions(client) == ["1", "2"]
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "2"
    storage.verify_dir(second.store_uri, _checksums(retrained))


def test_a_retry_does_not_finish_a_version_whose_files_a_rollback_deleted(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = str(tmp_path / "store")
    first = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, _new_pipeline_run(tmp_mlflow_uri))
    run = _new_pipeline_run(tmp_mlflow_uri)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise MlflowException("registry went away")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "set_registered_model_alias", refuse)
        patch.setattr(MlflowClient, "delete_model_version", refuse)
        with pytest.raises(MlflowException, match="registry went away") as raised:
            push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, run)
    assert "rollback: could not delete model version taxi-classifier/2" in raised.value.__notes__[0]
    client = tracking.client(tmp_mlflow_uri)
    assert client.get_model_version(MODEL_NAME, "2").tags["push_state"] == "staged"  # its files are gone

    retried = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, run)

    assert (retried.model_version, retried.champion) == ("3", True)
    assert _versions(client) == [first.model_version, "3"]  # the broken version was swept
    storage.verify_dir(retried.store_uri, _checksums(saved_model))
    assert {path.name for path in (tmp_path / "store" / MODEL_NAME).iterdir() if path.name != "serving"} == {
        first.store_uri.rsplit("/", 1)[1],
        retried.store_uri.rsplit("/", 1)[1],
    }


def test_a_directory_without_saved_model_is_refused(tmp_path: Path, tmp_mlflow_uri: str) -> None:
    run_id = _new_pipeline_run(tmp_mlflow_uri)

    with pytest.raises(ValueError, match=f"{tmp_path} is not a TensorFlow SavedModel"):
        push_model(tmp_path, str(tmp_path / "store"), MODEL_NAME, tmp_mlflow_uri, run_id)

    failed = tracking.client(tmp_mlflow_uri).get_run(run_id).info.status
    assert failed == RunStatus.to_string(RunStatus.FAILED)


def test_component_body_pushes_and_returns_version_and_store_uri(
    saved_model: Path, tmp_path: Path, tmp_mlflow_uri: str
) -> None:
    from kfp.dsl import HTML, Model

    from components.push.component import push

    outputs = push.python_func(
        model=Model(uri=str(saved_model)),
        model_store_uri=str(tmp_path / "store"),
        model_name=MODEL_NAME,
        mlflow_tracking_uri=tmp_mlflow_uri,
        mlflow_run_id=_new_pipeline_run(tmp_mlflow_uri),
        s3_endpoint_url="",
        model_card=HTML(uri=str(tmp_path / "model_card.html")),
    )

    assert outputs.model_version == "1"
    assert outputs.store_uri.startswith(f"{(tmp_path / 'store').as_uri()}/{MODEL_NAME}/")
    storage.verify_dir(outputs.store_uri, _checksums(saved_model))
    assert "<title>Model card: taxi-classifier version 1</title>" in (tmp_path / "model_card.html").read_text()


LINEAGE = ("dataset", "data_sha256", "data_size", "spec_fingerprint", "code_version")


def test_the_version_carries_its_lineage_and_its_model_card(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path, bundled_dataset: Path
) -> None:
    validated = run_validate_step(
        str(bundled_dataset), "modeldata_taxi", tmp_mlflow_uri, "push-tests", "job-lineage",
        tmp_path / "report.html", tmp_path / "summary.json",
    )  # fmt: skip
    card_path = tmp_path / "card.html"

    result = push_model(
        saved_model,
        str(tmp_path / "store"),
        MODEL_NAME,
        tmp_mlflow_uri,
        validated.mlflow_run_id,
        card_path=card_path,
        force_push=True,  # validate's run alone: no gate
    )

    client = tracking.client(tmp_mlflow_uri)
    version = client.get_model_version(MODEL_NAME, result.model_version)
    params = client.get_run(validated.mlflow_run_id).data.params
    assert {key: version.tags[key] for key in LINEAGE} == {key: params[key] for key in LINEAGE}
    source = resolve_source(str(bundled_dataset))
    assert version.tags["data_sha256"] == source.digest().sha256  # the manifest's, which names the file's own
    assert hashlib.sha256(bundled_dataset.read_bytes()).hexdigest() in "\n".join(source.manifest_lines())
    assert version.description.startswith(f"# Model card: {MODEL_NAME} version 1\n")
    assert validated.data_sha256 in version.description
    assert "No evaluate step on record: pushed without a gate." in version.description
    (step,) = client.search_runs([client.get_run(validated.mlflow_run_id).info.experiment_id], "tags.step = 'push'")
    logged = Path(client.download_artifacts(step.info.run_id, "model_card/model_card.html", str(tmp_path)))
    assert logged.read_text() == card_path.read_text()
    assert f"<title>Model card: {MODEL_NAME} version 1</title>" in logged.read_text()


def test_a_card_that_cannot_be_built_fails_the_push_before_the_registry_is_touched(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    run_id = _bare_pipeline_run(tmp_mlflow_uri)
    with step_runs.step_run(tmp_mlflow_uri, run_id, "evaluate"):
        mlflow.log_metric("blessed", 1.0)
        mlflow.log_text('{"metrics": {"roc_auc": 0.8', "evaluation/metrics.json")  # cut short
    record_infra_validation(tmp_mlflow_uri, run_id, True)

    with pytest.raises(ModelCardError, match="cannot build the model card: evaluation/metrics.json of run"):
        push_model(saved_model, str(tmp_path / "store"), MODEL_NAME, tmp_mlflow_uri, run_id)

    client = tracking.client(tmp_mlflow_uri)
    assert client.search_registered_models() == []  # no version, no alias, not even the champion lock
    assert not (tmp_path / "store").exists()
    assert client.get_run(run_id).info.status == RunStatus.to_string(RunStatus.FAILED)


def test_a_card_that_cannot_be_written_rolls_the_push_back(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = str(tmp_path / "store")
    first = push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, _new_pipeline_run(tmp_mlflow_uri))
    before = _stored_names(store, None)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise MlflowException("registry went away")

    monkeypatch.setattr(MlflowClient, "update_model_version", refuse)
    with pytest.raises(MlflowException, match="registry went away"):
        push_model(saved_model, store, MODEL_NAME, tmp_mlflow_uri, _new_pipeline_run(tmp_mlflow_uri))

    client = tracking.client(tmp_mlflow_uri)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == first.model_version
    assert _versions(client) == ["1"]
    assert _stored_names(store, None) == before


def _push_steps(client: MlflowClient, run_id: str) -> list[dict[str, str]]:
    """The params of the pipeline run's push step runs, oldest first."""
    experiment = client.get_run(run_id).info.experiment_id
    steps = client.search_runs(
        [experiment], f"tags.mlflow.parentRunId = '{run_id}' and tags.step = 'push'", order_by=["attributes.start_time"]
    )
    return [step.data.params for step in steps]


def test_a_run_without_an_evaluate_step_is_refused_unless_forced_and_the_force_is_recorded(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    store, run = tmp_path / "store", _bare_pipeline_run(tmp_mlflow_uri)
    client = tracking.client(tmp_mlflow_uri)

    with pytest.raises(NotBlessedError, match=f"pipeline run {run} has no finished evaluate step run: no gate"):
        push_model(saved_model, str(store), MODEL_NAME, tmp_mlflow_uri, run)
    assert client.search_registered_models() == [] and not store.exists()
    assert client.get_run(run).info.status == RunStatus.to_string(RunStatus.FAILED)

    forced = push_model(saved_model, str(store), MODEL_NAME, tmp_mlflow_uri, run, force_push=True)

    version = client.get_model_version(MODEL_NAME, forced.model_version)
    assert forced.champion and version.tags["force_push"] == "true (no evaluate run on record)"
    assert "blessed_by" not in version.tags
    assert [params["force_push"] for params in _push_steps(client, run)] == ["False", "True"]


@pytest.mark.parametrize("blessed", [None, 0.0], ids=["no-verdict", "refused"])
def test_a_run_its_gate_did_not_bless_is_refused_forced_or_not(
    blessed: float | None, saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    run = _bare_pipeline_run(tmp_mlflow_uri)
    gate = record_gate(tmp_mlflow_uri, run, "none", blessed)
    why = f"evaluate run {gate} logged no `blessed` metric" if blessed is None else "was not blessed by its gate"

    for force_push in (False, True):
        with pytest.raises(NotBlessedError, match=f"pipeline run {run}.* {why}"):
            push_model(saved_model, str(tmp_path / "store"), MODEL_NAME, tmp_mlflow_uri, run, force_push=force_push)

    assert tracking.client(tmp_mlflow_uri).search_registered_models() == []
    assert not (tmp_path / "store").exists()


def test_a_run_its_own_gate_blessed_is_pushed_and_names_that_gate(
    saved_model: Path, tmp_mlflow_uri: str, tmp_path: Path
) -> None:
    earlier = _bare_pipeline_run(tmp_mlflow_uri)
    record_gate(tmp_mlflow_uri, earlier, "none")  # another pipeline run's blessing counts for nothing
    run = _bare_pipeline_run(tmp_mlflow_uri)
    with pytest.raises(NotBlessedError, match=f"pipeline run {run} has no finished evaluate step run"):
        push_model(saved_model, str(tmp_path / "store"), MODEL_NAME, tmp_mlflow_uri, run)
    gate = record_gate(tmp_mlflow_uri, run, "none")

    pushed = push_model(saved_model, str(tmp_path / "store"), MODEL_NAME, tmp_mlflow_uri, run)

    version = tracking.client(tmp_mlflow_uri).get_model_version(MODEL_NAME, pushed.model_version)
    assert pushed.champion and version.tags["blessed_by"] == gate and "force_push" not in version.tags
    assert version.tags["evaluated_against"] == "none"
