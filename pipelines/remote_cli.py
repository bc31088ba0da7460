"""The cluster verbs of `python -m pipelines`: deploy, schedule, unschedule, run-remote.

--pipeline (PIPELINE) picks what they act on: training (the default) or monitoring (the drift check),
each with its own KFP pipeline, experiment and recurring run (pipelines/deployables.py).
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

from components.runs.settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from pipelines.deployables import Deployable, RunOptions
    from pipelines.remote import Target

DEFAULT_RUN_TIMEOUT_S = 6 * 3600


def _target(args: argparse.Namespace) -> Target:
    from pipelines import remote

    if not args.host:
        raise remote.RemoteError(
            "no Kubeflow Pipelines host: set KFP_HOST (e.g. http://127.0.0.1:8080 with the API port-forwarded)"
        )
    return remote.Target(host=args.host, namespace=args.namespace or None, token=os.environ.get("KFP_TOKEN") or None)


def _pipeline(args: argparse.Namespace) -> Deployable:
    from pipelines.deployables import PIPELINES
    from pipelines.remote import RemoteError

    if args.pipeline not in PIPELINES:
        raise RemoteError(f"--pipeline (PIPELINE) must be one of {', '.join(PIPELINES)}, got {args.pipeline!r}")
    return PIPELINES[args.pipeline]


def _version(settings: Settings) -> str:
    """The pipeline version: the image version, and the worker count when the build has more than one."""
    from components.common import images

    workers = settings.train_workers
    return images.image_version() + ("" if workers == 1 else f"-{workers}-workers")


def _experiment(args: argparse.Namespace, pipeline: Deployable) -> str:
    return args.experiment or pipeline.name


def _options(args: argparse.Namespace) -> RunOptions:
    from pipelines.deployables import RunOptions

    return RunOptions(
        train_gpus=args.gpus,
        baseline_uri=args.baseline,
        retrain_on_drift=args.retrain_on_drift,
        training_data_uri=args.train_data_uri or None,
    )


def _deploy(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from components.common import images
    from pipelines import remote
    from pipelines.package import compile_pipeline

    pipeline = _pipeline(args)
    version = _version(settings)
    client = remote.connect(target)
    package = compile_pipeline(settings, args.output or PROJECT_ROOT / "build" / pipeline.package, pipeline.key)
    print(f"compiled {package} (images {images.PIPELINE_IMAGE}, {images.TRAINER_IMAGE})")
    with remote.api_errors(target):
        deployment = remote.deploy(
            client,
            target,
            pipeline,
            package,
            version,
            description=f"images {images.PIPELINE_IMAGE}, {images.TRAINER_IMAGE}",
        )
    pipeline_state = "created" if deployment.created_pipeline else "exists"
    version_state = "uploaded" if deployment.created_version else "already deployed, nothing uploaded"
    print(f"pipeline  {pipeline.name}  id {deployment.pipeline_id} ({pipeline_state})")
    print(f"version   {deployment.version_name}  id {deployment.version_id} ({version_state})")
    print(f"open      {target.ui_link(f'pipelines/details/{deployment.pipeline_id}/version/{deployment.version_id}')}")
    return 0


def _schedule(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from pipelines import remote

    pipeline = _pipeline(args)
    experiment = _experiment(args, pipeline)
    if not args.cron:
        raise remote.RemoteError('no schedule: pass --cron or set CRON, e.g. CRON="0 3 * * *" (03:00 UTC daily)')
    cron = remote.kfp_cron(args.cron)
    parameters = remote.cluster_arguments(pipeline, settings, _options(args))
    client = remote.connect(target)
    with remote.api_errors(target):
        pipeline_id = remote.require_pipeline(client, target, pipeline)
        experiment_id = remote.ensure_experiment(client, experiment, target.namespace)
        scheduled = remote.schedule(client, pipeline, pipeline_id, experiment_id, cron, parameters)
    replaced = f", replacing {', '.join(scheduled.replaced)}" if scheduled.replaced else ""
    print(f"recurring run {pipeline.recurring_run_name}  id {scheduled.recurring_run_id}{replaced}")
    print(f"schedule  {scheduled.cron} (UTC, KFP's six-field cron), latest version, one run at a time, no catch-up")
    print(f"open      {target.ui_link(f'recurringrun/details/{scheduled.recurring_run_id}')}")
    return 0


def _unschedule(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from pipelines import remote

    pipeline = _pipeline(args)
    experiment = _experiment(args, pipeline)
    client = remote.connect(target)
    with remote.api_errors(target):
        experiment_id = remote.find_experiment(client, experiment, target.namespace)
        removed = remote.unschedule(client, experiment_id, pipeline) if experiment_id else []
    if removed:
        print(f"removed recurring run {', '.join(removed)} from experiment {experiment}")
    else:
        print(f"no recurring run {pipeline.recurring_run_name} in experiment {experiment}: nothing to remove")
    return 0


def _run_remote(settings: Settings, args: argparse.Namespace, target: Target) -> int:
    from pipelines import remote

    pipeline = _pipeline(args)
    experiment = _experiment(args, pipeline)
    version = _version(settings)
    parameters = remote.cluster_arguments(pipeline, settings, _options(args))
    client = remote.connect(target)
    with remote.api_errors(target):
        pipeline_id = remote.require_pipeline(client, target, pipeline)
        version_id = remote.find_version(client, pipeline_id, version)
        if version_id is None:
            raise remote.RemoteError(
                f"pipeline {pipeline.name} has no version {version} at {target.host}: "
                f"run `{pipeline.deploy_command}` (or set VERSION to a deployed version)"
            )
        experiment_id = remote.ensure_experiment(client, experiment, target.namespace)
        run_name = f"{pipeline.name} {version} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
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
    connection.add_argument(
        "--pipeline",
        default="training",
        help="training (the default), monitoring (the drift check) or scoring (batch scoring)",
    )
    experiment = argparse.ArgumentParser(add_help=False)
    experiment.add_argument(
        "--experiment",
        default=os.environ.get("KFP_EXPERIMENT"),
        help="KFP experiment of the runs (default: $KFP_EXPERIMENT, else the pipeline's name)",
    )
    run_options = argparse.ArgumentParser(add_help=False)
    run_options.add_argument(
        "--gpus", type=int, default=1, help="GPUs the train task requests; 0 trains on the CPU (default: 1)"
    )
    monitoring = run_options.add_argument_group("monitoring only")
    monitoring.add_argument(
        "--baseline",
        default=os.environ.get("BASELINE_URI", ""),
        help="baseline.json (s3://, runs:/) or CSV to compare with ($BASELINE_URI; default: the champion's)",
    )
    monitoring.add_argument(
        "--retrain-on-drift",
        action="store_true",
        default=bool(os.environ.get("RETRAIN")),
        help="run the training pipeline when drift is found ($RETRAIN set)",
    )
    monitoring.add_argument(
        "--train-data-uri",
        default=os.environ.get("TRAIN_DATA_URI"),
        help="data a retrain trains on ($TRAIN_DATA_URI; default: DATA_URI)",
    )

    deploy = commands.add_parser(
        "deploy",
        parents=[connection],
        help="compile and upload the pipeline, a version named after VERSION (the git commit); idempotent",
    )
    deploy.add_argument(
        "--output", type=Path, help="where the compiled package is written (default: build/<pipeline>_pipeline.yaml)"
    )
    deploy.set_defaults(handler=_with_target(_deploy))

    schedule = commands.add_parser(
        "schedule",
        parents=[connection, experiment, run_options],
        help="create or replace the pipeline's recurring run (latest version, one at a time, no catch-up)",
    )
    schedule.add_argument("--cron", default=os.environ.get("CRON"), help='crontab line in UTC, e.g. "0 3 * * *"')
    schedule.set_defaults(handler=_with_target(_schedule))

    unschedule = commands.add_parser(
        "unschedule", parents=[connection, experiment], help="remove the pipeline's recurring run"
    )
    unschedule.set_defaults(handler=_with_target(_unschedule))

    run_remote = commands.add_parser(
        "run-remote", parents=[connection, experiment, run_options], help="start a run of the deployed version now"
    )
    run_remote.add_argument("--wait", action="store_true", help="wait for the run; exit 1 unless it succeeds")
    run_remote.add_argument("--timeout", type=float, default=DEFAULT_RUN_TIMEOUT_S, help="seconds to wait at most")
    run_remote.add_argument("--poll", type=float, default=30.0, help="seconds between status checks")
    run_remote.set_defaults(handler=_with_target(_run_remote))
