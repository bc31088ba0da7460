"""The cluster verbs of `python -m pipelines`: deploy, schedule, unschedule, run-remote.

The API server comes from --host or KFP_HOST, the namespace (multi-user KFP) from --namespace or
KFP_NAMESPACE, and a bearer token only from KFP_TOKEN, so that it stays out of shell history and `ps`.
kfp and the pipeline are imported only when one of these verbs runs (seconds), not for every command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from components.common.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from pipelines.remote import Target

DEPLOY_PACKAGE = PROJECT_ROOT / "build" / "training_pipeline.yaml"
DEFAULT_RUN_TIMEOUT_S = 6 * 3600


def _target(args: argparse.Namespace) -> Target:
    from pipelines import remote

    if not args.host:
        raise remote.RemoteError(
            "no Kubeflow Pipelines host: set KFP_HOST (e.g. http://127.0.0.1:8080 with the API port-forwarded)"
        )
    return remote.Target(host=args.host, namespace=args.namespace or None, token=os.environ.get("KFP_TOKEN") or None)


def _experiment(args: argparse.Namespace) -> str:
    from pipelines.training_pipeline import PIPELINE_NAME

    return args.experiment or PIPELINE_NAME


def _deploy(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from components.common import images
    from pipelines import remote
    from pipelines.package import compile_pipeline
    from pipelines.training_pipeline import PIPELINE_NAME

    version = images.image_version()
    client = remote.connect(target)
    package = compile_pipeline(settings, args.output)
    print(f"compiled {package} (images {images.PIPELINE_IMAGE}, {images.TRAINER_IMAGE})")
    with remote.api_errors(target):
        deployment = remote.deploy(
            client, target, package, version, description=f"images {images.PIPELINE_IMAGE}, {images.TRAINER_IMAGE}"
        )
    pipeline_state = "created" if deployment.created_pipeline else "exists"
    version_state = "uploaded" if deployment.created_version else "already deployed, nothing uploaded"
    print(f"pipeline  {PIPELINE_NAME}  id {deployment.pipeline_id} ({pipeline_state})")
    print(f"version   {deployment.version_name}  id {deployment.version_id} ({version_state})")
    print(f"open      {target.ui_link(f'pipelines/details/{deployment.pipeline_id}/version/{deployment.version_id}')}")
    return 0


def _schedule(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from pipelines import remote

    experiment = _experiment(args)
    if not args.cron:
        raise remote.RemoteError('no schedule: pass --cron or set CRON, e.g. CRON="0 3 * * *" (03:00 UTC daily)')
    cron = remote.kfp_cron(args.cron)
    parameters = remote.cluster_arguments(settings, args.gpus)
    client = remote.connect(target)
    with remote.api_errors(target):
        pipeline_id = remote.require_pipeline(client, target)
        experiment_id = remote.ensure_experiment(client, experiment, target.namespace)
        scheduled = remote.schedule(client, pipeline_id, experiment_id, cron, parameters)
    replaced = f", replacing {', '.join(scheduled.replaced)}" if scheduled.replaced else ""
    print(f"recurring run {remote.RECURRING_RUN_NAME}  id {scheduled.recurring_run_id}{replaced}")
    print(f"schedule  {scheduled.cron} (UTC, KFP's six-field cron), latest version, one run at a time, no catch-up")
    print(f"open      {target.ui_link(f'recurringrun/details/{scheduled.recurring_run_id}')}")
    return 0


def _unschedule(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from pipelines import remote

    experiment = _experiment(args)
    client = remote.connect(target)
    with remote.api_errors(target):
        experiment_id = remote.find_experiment(client, experiment, target.namespace)
        removed = remote.unschedule(client, experiment_id) if experiment_id else []
    if removed:
        print(f"removed recurring run {', '.join(removed)} from experiment {experiment}")
    else:
        print(f"no recurring run {remote.RECURRING_RUN_NAME} in experiment {experiment}: nothing to remove")
    return 0


def _run_remote(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from components.common import images
    from pipelines import remote
    from pipelines.training_pipeline import PIPELINE_NAME

    experiment = _experiment(args)
    version = images.image_version()
    parameters = remote.cluster_arguments(settings, args.gpus)
    client = remote.connect(target)
    with remote.api_errors(target):
        pipeline_id = remote.require_pipeline(client, target)
        version_id = remote.find_version(client, pipeline_id, version)
        if version_id is None:
            raise remote.RemoteError(
                f"pipeline {PIPELINE_NAME} has no version {version} at {target.host}: "
                f"run `make deploy-pipeline` (or set VERSION to a deployed version)"
            )
        experiment_id = remote.ensure_experiment(client, experiment, target.namespace)
        run_name = f"{PIPELINE_NAME} {version} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
        run_id = remote.start_run(client, pipeline_id, version_id, experiment_id, run_name, parameters)
        print(f"run       {run_name}  id {run_id}")
        print(f"open      {target.ui_link(f'runs/details/{run_id}')}")
        if not args.wait:
            return 0
        state = remote.wait_for_run(client, run_id, args.timeout, args.poll)
    print(f"finished  {state}")
    return 0 if state == "SUCCEEDED" else 1


def _with_target(handler: Callable[[Settings, argparse.Namespace, Target], int]) -> Callable[..., int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        from pipelines.remote import RemoteError

        try:
            return handler(settings, args, _target(args))
        except RemoteError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    return run


def add_commands(commands: Any) -> None:
    """Register the cluster subcommands on `python -m pipelines`' subparsers."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--host", default=os.environ.get("KFP_HOST"), help="KFP API URL (default: $KFP_HOST)")
    connection.add_argument(
        "--namespace", default=os.environ.get("KFP_NAMESPACE"), help="multi-user KFP namespace ($KFP_NAMESPACE)"
    )
    experiment = argparse.ArgumentParser(add_help=False)
    experiment.add_argument(
        "--experiment",
        default=os.environ.get("KFP_EXPERIMENT"),
        help="KFP experiment of the runs (default: $KFP_EXPERIMENT, else the pipeline's name)",
    )
    gpus = argparse.ArgumentParser(add_help=False)
    gpus.add_argument("--gpus", type=int, default=1, help="GPUs the train task requests (default: 1)")

    deploy = commands.add_parser(
        "deploy",
        parents=[connection],
        help="compile and upload the pipeline, a version named after VERSION (the git commit); idempotent",
    )
    deploy.add_argument("--output", type=Path, default=DEPLOY_PACKAGE, help="where the compiled package is written")
    deploy.set_defaults(handler=_with_target(_deploy))

    schedule = commands.add_parser(
        "schedule",
        parents=[connection, experiment, gpus],
        help="create or replace the recurring retraining run (latest version, one at a time, no catch-up)",
    )
    schedule.add_argument("--cron", default=os.environ.get("CRON"), help='crontab line in UTC, e.g. "0 3 * * *"')
    schedule.set_defaults(handler=_with_target(_schedule))

    unschedule = commands.add_parser(
        "unschedule", parents=[connection, experiment], help="remove the recurring retraining run"
    )
    unschedule.set_defaults(handler=_with_target(_unschedule))

    run_remote = commands.add_parser(
        "run-remote", parents=[connection, experiment, gpus], help="start a run of the deployed version now"
    )
    run_remote.add_argument("--wait", action="store_true", help="wait for the run; exit 1 unless it succeeds")
    run_remote.add_argument("--timeout", type=float, default=DEFAULT_RUN_TIMEOUT_S, help="seconds to wait at most")
    run_remote.add_argument("--poll", type=float, default=30.0, help="seconds between status checks")
    run_remote.set_defaults(handler=_with_target(_run_remote))
