"""Deploy, schedule and start a pipeline of pipelines.deployables on a Kubeflow Pipelines (v2) API server.

Every failure the user can act on becomes a RemoteError with one line saying what was expected:
an unreachable host, refused credentials, a pipeline or version that is not deployed.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import kfp
import kfp_server_api
import urllib3

from components.common.cluster import PIPELINE_SERVICE_ACCOUNT
from components.runs.settings import Settings
from pipelines.deployables import Deployable, RunOptions

HEALTHZ_PATH = "/apis/v2beta1/healthz"
PAGE_SIZE = 100


class RemoteError(RuntimeError):
    """A refusal the user can act on; the message names what was expected."""


@dataclass(frozen=True)
class Target:
    """Where the KFP API server is; the token (a bearer token) never appears in repr or logs."""

    host: str
    namespace: str | None = None
    token: str | None = field(default=None, repr=False)

    def ui_link(self, fragment: str) -> str:
        return f"{self.host.rstrip('/')}/#/{fragment}"


@dataclass(frozen=True)
class Deployment:
    pipeline_id: str
    version_id: str
    version_name: str
    created_pipeline: bool
    created_version: bool


@dataclass(frozen=True)
class Schedule:
    recurring_run_id: str
    cron: str
    replaced: tuple[str, ...]


def cluster_arguments(pipeline: Deployable, settings: Settings, options: RunOptions) -> dict[str, Any]:
    """The run's parameters, refusing locations that exist only on this machine (the pods cannot read them)."""
    if options.train_gpus < 0:
        raise RemoteError(f"the GPU count must be 0 (train on the CPU) or more, got {options.train_gpus}")
    parameters = pipeline.arguments(settings, options)
    unreachable = [
        f"{setting}={parameters[parameter]}"
        for parameter, setting in pipeline.locations.items()
        if not _readable_by_pods(parameters[parameter])
        and (parameters[parameter] or parameter not in pipeline.optional)
    ]
    if unreachable:
        raise RemoteError(
            "the cluster cannot read " + ", ".join(unreachable) + ": set each to a location the pods can reach "
            "(data and models at s3:// URIs, MLflow at an http(s):// server, a baseline at s3:// or runs:/)"
        )
    return parameters


def _readable_by_pods(location: str) -> bool:
    """A URI on the network (s3://, http(s)://) or an MLflow run's artifact (runs:/); not a path, file: or sqlite:."""
    if location.startswith("runs:/"):
        return True
    return "://" in location and not location.startswith(("file:", "sqlite:"))


def connect(target: Target) -> kfp.Client:
    """A kfp.Client for the target, after a health check that fails fast with a clear reason."""
    _check_health(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2 and later"
        # kfp.Client treats namespace="kubeflow" as "not set" (single-user mode).
        return kfp.Client(host=target.host, namespace=target.namespace or "kubeflow", existing_token=target.token)


def _check_health(target: Target) -> None:
    if not target.host.startswith(("http://", "https://")):
        raise RemoteError(f"KFP_HOST must start with http:// or https://, got {target.host!r}")
    request = urllib.request.Request(target.host.rstrip("/") + HEALTHZ_PATH)
    if target.token:
        request.add_header("Authorization", f"Bearer {target.token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise RemoteError(_credentials_message(target, error.code)) from None
        raise RemoteError(f"{target.host} answered HTTP {error.code} on {HEALTHZ_PATH}: is it a KFP v2 API?") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise RemoteError(
            f"cannot reach Kubeflow Pipelines at {target.host} ({reason}); "
            "is the API port-forwarded (see README, 'Deploy to a cluster')?"
        ) from None
    try:
        json.loads(body)
    except ValueError:
        raise RemoteError(
            f"{target.host}{HEALTHZ_PATH} did not answer JSON (a login page?): set KFP_TOKEN to a valid token"
        ) from None


def _credentials_message(target: Target, status: int) -> str:
    given = "the token in KFP_TOKEN" if target.token else "no token (KFP_TOKEN is unset)"
    return f"{target.host} refused the credentials (HTTP {status}) with {given}: set KFP_TOKEN to a valid token"


@contextlib.contextmanager
def api_errors(target: Target) -> Iterator[None]:
    """Turn the API client's exceptions into RemoteError naming the host and the cause."""
    try:
        yield
    except kfp_server_api.ApiException as error:
        if error.status in (401, 403):
            raise RemoteError(_credentials_message(target, error.status)) from None
        raise RemoteError(f"{target.host} answered HTTP {error.status}: {_api_message(error)}") from None
    except urllib3.exceptions.HTTPError as error:
        raise RemoteError(f"lost Kubeflow Pipelines at {target.host}: {error}") from None


def _api_message(error: kfp_server_api.ApiException) -> str:
    try:
        body = json.loads(error.body or "")
    except ValueError:
        return (error.body or error.reason or "").strip()
    return str(body.get("error_message") or body.get("message") or body)


def _equals(key: str, value: str) -> str:
    """A v2beta1 list filter matching one field exactly."""
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "stringValue": value}]})


def find_pipeline(client: kfp.Client, name: str, namespace: str | None) -> str | None:
    found = client.list_pipelines(filter=_equals("display_name", name), namespace=namespace, page_size=2)
    pipelines = found.pipelines or []
    if len(pipelines) > 1:
        raise RemoteError(f"{len(pipelines)} pipelines are named {name}; expected at most one")
    return pipelines[0].pipeline_id if pipelines else None


def require_pipeline(client: kfp.Client, target: Target, pipeline: Deployable) -> str:
    pipeline_id = find_pipeline(client, pipeline.name, target.namespace)
    if pipeline_id is None:
        raise RemoteError(f"no pipeline named {pipeline.name} at {target.host}: run `{pipeline.deploy_command}` first")
    return pipeline_id


def find_version(client: kfp.Client, pipeline_id: str, name: str) -> str | None:
    found = client.list_pipeline_versions(pipeline_id=pipeline_id, filter=_equals("display_name", name), page_size=2)
    versions = found.pipeline_versions or []
    return versions[0].pipeline_version_id if versions else None


def deploy(
    client: kfp.Client, target: Target, pipeline: Deployable, package: Path, version_name: str, description: str
) -> Deployment:
    """Upload the pipeline if new, then the version named version_name unless it is already there."""
    pipeline_id = find_pipeline(client, pipeline.name, target.namespace)
    created_pipeline = pipeline_id is None
    if pipeline_id is None:
        # Created empty, so that every version, the first included, is named after its commit.
        created = client.pipelines.pipeline_service_create_pipeline(
            pipeline=kfp_server_api.V2beta1Pipeline(
                display_name=pipeline.name, description=pipeline.description, namespace=target.namespace
            )
        )
        pipeline_id = created.pipeline_id
    version_id = find_version(client, pipeline_id, version_name)
    created_version = version_id is None
    if version_id is None:
        version = client.upload_pipeline_version(
            str(package), pipeline_version_name=version_name, pipeline_id=pipeline_id, description=description
        )
        version_id = version.pipeline_version_id
    return Deployment(pipeline_id, version_id, version_name, created_pipeline, created_version)


def find_experiment(client: kfp.Client, name: str, namespace: str | None) -> str | None:
    found = client.list_experiments(filter=_equals("display_name", name), namespace=namespace, page_size=2)
    experiments = found.experiments or []
    return experiments[0].experiment_id if experiments else None


def ensure_experiment(client: kfp.Client, name: str, namespace: str | None) -> str:
    existing = find_experiment(client, name, namespace)
    if existing is not None:
        return existing
    return client.create_experiment(name=name, namespace=namespace).experiment_id


def _recurring_runs(client: kfp.Client, experiment_id: str, name: str) -> list[str]:
    found = client.list_recurring_runs(
        experiment_id=experiment_id, filter=_equals("display_name", name), page_size=PAGE_SIZE
    )
    return [run.recurring_run_id for run in found.recurring_runs or []]


def kfp_cron(cron: str) -> str:
    """KFP's scheduler takes six fields (seconds first); a five-field crontab line fires at second 0."""
    fields = cron.split()
    if len(fields) == 5:
        return " ".join(["0", *fields])
    if len(fields) == 6:
        return " ".join(fields)
    raise RemoteError(f"CRON must have 5 fields (minute hour day month weekday) or 6 (seconds first), got {cron!r}")


def schedule(
    client: kfp.Client,
    pipeline: Deployable,
    pipeline_id: str,
    experiment_id: str,
    cron: str,
    parameters: dict[str, Any],
) -> Schedule:
    """Create the pipeline's one recurring run, then delete the ones it replaces (KFP cannot update one).

    It names only the pipeline, so each run uses the pipeline's latest version at trigger time (KFP >= 2.5),
    runs one at a time and does not catch up on missed intervals.
    """
    previous = _recurring_runs(client, experiment_id, pipeline.recurring_run_name)
    created = client.recurring_runs.recurring_run_service_create_recurring_run(
        recurring_run=kfp_server_api.V2beta1RecurringRun(
            display_name=pipeline.recurring_run_name,
            description=f"{pipeline.name} on its latest pipeline version",
            experiment_id=experiment_id,
            pipeline_version_reference=kfp_server_api.V2beta1PipelineVersionReference(pipeline_id=pipeline_id),
            runtime_config=kfp_server_api.V2beta1RuntimeConfig(parameters=parameters),
            trigger=kfp_server_api.V2beta1Trigger(cron_schedule=kfp_server_api.V2beta1CronSchedule(cron=cron)),
            max_concurrency="1",
            no_catchup=True,
            mode=kfp_server_api.RecurringRunMode.ENABLE,
            service_account=PIPELINE_SERVICE_ACCOUNT,
        )
    )
    for recurring_run_id in previous:
        client.delete_recurring_run(recurring_run_id)
    return Schedule(created.recurring_run_id, cron, tuple(previous))


def unschedule(client: kfp.Client, experiment_id: str, pipeline: Deployable) -> list[str]:
    removed = _recurring_runs(client, experiment_id, pipeline.recurring_run_name)
    for recurring_run_id in removed:
        client.delete_recurring_run(recurring_run_id)
    return removed


def start_run(
    client: kfp.Client,
    pipeline_id: str,
    version_id: str,
    experiment_id: str,
    run_name: str,
    parameters: dict[str, Any],
) -> str:
    run = client.run_pipeline(
        experiment_id=experiment_id,
        job_name=run_name,
        pipeline_id=pipeline_id,
        version_id=version_id,
        params=parameters,
        service_account=PIPELINE_SERVICE_ACCOUNT,
    )
    return run.run_id


def wait_for_run(client: kfp.Client, run_id: str, timeout_s: float, poll_s: float) -> str:
    """The run's final state (SUCCEEDED, FAILED, ...); RemoteError when it is still going after timeout_s."""
    try:
        run = client.wait_for_run_completion(run_id, timeout=timeout_s, sleep_duration=poll_s)
    except TimeoutError:
        raise RemoteError(f"run {run_id} did not finish within {timeout_s:g} s (it goes on in the cluster)") from None
    return str(run.state)
