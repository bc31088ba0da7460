"""python -m components.serve {serve,render,deploy,promote,rollback}: the Makefile's serving verbs.

Settings come from the environment as for every other verb (components/runs/settings.py: MODEL_NAME,
MLFLOW_TRACKING_URI...), plus SERVING_PLATFORM (minikube, eks), SERVING_RUNTIME (mlflow, tensorflow),
KSERVE_DEPLOYMENT_MODE, SERVING_ROLE_ARN (EKS) and AWS_DEFAULT_REGION. A verb that cannot do its work
prints one line saying why and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

from components.common.specs import get_spec
from components.runs.settings import Settings
from components.serve import kserve, registry, verbs
from components.serve.registry import ServingError


def _deployment(settings: Settings) -> verbs.Deployment:
    target = kserve.Target(
        platform=os.environ.get("SERVING_PLATFORM") or "minikube",
        runtime=os.environ.get("SERVING_RUNTIME") or "mlflow",
        deployment_mode=os.environ.get("KSERVE_DEPLOYMENT_MODE", ""),
        role_arn=os.environ.get("SERVING_ROLE_ARN", ""),
        region=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    return verbs.Deployment(
        settings.mlflow_tracking_uri, settings.model_name, target, endpoint_url=settings.s3_endpoint_url or None
    )


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from components.serve import local

    if args.model_uri:
        model_uri, what = args.model_uri, args.model_uri
    else:
        served = registry.resolve(settings.mlflow_tracking_uri, settings.model_name, args.version or "")
        model_uri, what = served.model_uri, f"{served.name} version {served.version}"
        if args.variant:
            served = registry.variant_of(settings.mlflow_tracking_uri, served, args.variant)
            model_uri, what = served.source, f"{served.name} (version {served.version}'s variant)"
    # With the request log on standard output, everything else goes to standard error.
    say = sys.stderr if args.request_log == "-" else sys.stdout
    with tempfile.TemporaryDirectory(prefix="serve-") as workdir:
        if args.variant and not Path(model_uri).is_dir():
            from components.common import storage

            endpoint = settings.s3_endpoint_url or None
            model_uri = str(storage.download_dir(model_uri, Path(workdir) / "variant", endpoint))
        model, example = local.load(model_uri, Path(workdir))
        url = f"http://{args.host}:{args.port}"
        print(f"serving {what} on {url} (POST {local.INVOCATIONS}; Ctrl-C stops it)", file=say)
        if args.request_log:
            print(f"request log: {args.request_log}", file=say)
        if example:
            print(local.curl_example(url, example), file=say, flush=True)
        sensitive = get_spec(settings.dataset).sensitive if args.request_log else None
        local.run(local.build_app(model, args.request_log, sensitive), args.host, args.port)
    return 0


def _render(settings: Settings, args: argparse.Namespace) -> int:
    served = verbs.resolve_served(_deployment(settings), args.version or "", args.variant)
    objects = kserve.render(served, _deployment(settings).target, args.canary)
    print(yaml.safe_dump_all(objects, sort_keys=False), end="")
    return 0


def _deploy(settings: Settings, args: argparse.Namespace) -> int:
    deployment = _deployment(settings)
    for line in verbs.deploy(deployment, args.version or "", args.canary, variant=args.variant):
        print(line)
    return 0


def _promote(settings: Settings, args: argparse.Namespace) -> int:
    for line in verbs.promote(_deployment(settings)):
        print(line)
    return 0


def _rollback(settings: Settings, args: argparse.Namespace) -> int:
    for line in verbs.rollback(_deployment(settings), args.from_version, args.reason):
        print(line)
    return 0


def _version(text: str) -> str:
    if text and not text.isdigit():
        raise argparse.ArgumentTypeError(f"MODEL_VERSION must be a version number, got {text!r}")
    return text


def _champion(text: str) -> str:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(
            f"FROM must be the version number of the champion to retire (make rollback-model FROM=<n>), got {text!r}"
        )
    return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m components.serve", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="a local inference server on the champion (or --version)")
    serve.add_argument("--version", type=_version, default="")
    serve.add_argument("--variant", default="", help="serve the version's compressed variant of this name")
    serve.add_argument("--model-uri", default="", help="serve this MLflow model instead (a folder, models:/...)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.add_argument("--request-log", default="", help="append each request's rows here as JSON lines; - for stdout")
    serve.set_defaults(run=_serve)
    for name, run, help_text in (
        ("render", _render, "print the KServe objects a deploy would apply"),
        ("deploy", _deploy, "serve the champion (or --version) on KServe; --canary N for a canary"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--version", type=_version, default="")
        command.add_argument("--canary", type=int, default=None)
        command.add_argument("--variant", default="", help="the version's compressed variant of this name")
        command.set_defaults(run=run)
    commands.add_parser("promote", help="give the canary all the traffic").set_defaults(run=_promote)
    rollback = commands.add_parser("rollback", help="back to the previous champion, in the registry and on KServe")
    rollback.add_argument(
        "--from", dest="from_version", type=_champion, required=True, help="the champion version to retire"
    )
    rollback.add_argument("--reason", default="rolled back by hand (make rollback-model)")
    rollback.set_defaults(run=_rollback)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        return args.run(settings, args)
    except ServingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
