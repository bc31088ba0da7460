"""Command line behind the Makefile: python -m pipelines {data,compile,run,mlflow-ui,deploy,schedule,...}."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from components.common.specs import SpecDeprecationWarning, SpecError, get_spec
from components.data.spans import is_span_pattern
from components.runs.settings import PROJECT_ROOT, Settings
from pipelines.remote_cli import add_commands as add_cluster_commands

COMPILED_SPEC = PROJECT_ROOT / "build" / "training_pipeline.yaml"


def _bundled_data_path(settings: Settings) -> Path | None:
    """Where a bundled dataset is materialized, when these settings use one."""
    if get_spec(settings.dataset).bundled is None or "://" in settings.data_uri or is_span_pattern(settings.data_uri):
        return None
    return Path(settings.data_uri)


def _data(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.datasets import materialize_dataset

    if args.spans is not None:
        return _data_spans(settings, args)
    destination = _bundled_data_path(settings)
    if destination is None:
        print(f"DATASET={settings.dataset} is not bundled; point DATA_URI at its file instead.", file=sys.stderr)
        return 2
    if destination.exists() and not args.force:
        print(f"{destination} already exists (use --force to rewrite it)")
        return 0
    print(f"wrote {materialize_dataset(settings.dataset, destination)}")
    return 0


def _data_spans(settings: Settings, args: argparse.Namespace) -> int:
    """The newest SPANS days of a dated bundled dataset, one Parquet partition per day under data/<name>/."""
    from datetime import date

    from pipelines.datasets import materialize_spans

    root = PROJECT_ROOT / "data" / get_spec(settings.dataset).name
    try:
        until = date.fromisoformat(args.until) if args.until else None
        written = materialize_spans(settings.dataset, root, args.spans, until)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    for path in written:
        print(f"span {path.parent.name.removeprefix('date=')}  {path.relative_to(PROJECT_ROOT)}")
    pattern = f"{root.relative_to(PROJECT_ROOT)}/date={{YYYY-MM-DD}}/"
    print(f"train on them: make run DATASET={settings.dataset} DATA_URI='{pattern}' TRAIN_WINDOW=n")
    return 0


def _compile(settings: Settings, args: argparse.Namespace) -> int:
    from components.common.images import PIPELINE_IMAGE, TRAINER_IMAGE
    from pipelines.package import compile_pipeline

    compile_pipeline(settings, args.output)
    print(f"compiled {args.output} (images {PIPELINE_IMAGE}, {TRAINER_IMAGE})")
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.arguments import Overrides
    from pipelines.local_runner import PipelineFailed, run_locally
    from pipelines.step_capture import capture_for_cli

    bundled = _bundled_data_path(settings)
    if bundled is not None and not bundled.exists():
        from pipelines.datasets import materialize_dataset

        print(f"materializing the bundled dataset into {materialize_dataset(settings.dataset, bundled)}")
    if (
        "://" not in settings.data_uri
        and not is_span_pattern(settings.data_uri)
        and not Path(settings.data_uri).exists()
    ):
        print(f"DATA_URI {settings.data_uri} does not exist", file=sys.stderr)
        return 2
    overrides = Overrides(
        epochs=args.epochs,
        thresholds=dict(args.threshold or ()),
        champion_tolerance=args.champion_tolerance,
        baseline_margin=args.baseline_margin,
        allow_unscored_champion=args.allow_unscored_champion or None,
        seed=args.seed,
        model_builder=args.model_builder,
    )
    print(f"dataset {settings.dataset} from {settings.data_uri}; MLflow at {settings.mlflow_tracking_uri}")
    try:
        summary = run_locally(settings, overrides, capture_for_cli(settings))
    except PipelineFailed as failure:
        print("\n== pipeline FAILED ==", file=sys.stderr)
        print(failure.summary.render() if failure.summary else str(failure), file=sys.stderr)
        return 1
    print("\n== pipeline finished ==")
    print(summary.render())
    return 0


def _mlflow_ui(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.mlflow_ui import serve_mlflow_ui

    return serve_mlflow_ui(settings.mlflow_tracking_uri, args.port)


def _compile_monitoring(settings: Settings, args: argparse.Namespace) -> int:
    from pipelines.package import compile_pipeline

    compile_pipeline(settings, args.output, "monitoring")
    print(f"compiled {args.output}")
    return 0


def _monitor(settings: Settings, args: argparse.Namespace) -> int:
    """Drift check of DATA_URI against the baseline; exit 0 either way (the verdict is the output), 1 on error."""
    from pipelines.monitoring_runner import run_monitoring_locally
    from pipelines.step_capture import capture_for_cli

    print(f"drift check of {settings.data_uri}; MLflow at {settings.mlflow_tracking_uri}")
    try:
        outcome = run_monitoring_locally(
            settings,
            args.baseline,
            args.retrain_on_drift,
            args.train_data_uri,
            args.report_dir,
            capture_for_cli(settings),
        )
    except RuntimeError as failure:
        print(f"\n== monitoring FAILED ==\n{failure}", file=sys.stderr)
        return 1
    print(f"\n== drift check finished ==\n{outcome.verdict}\nreport          {outcome.report}")
    return 0


def _score(settings: Settings, args: argparse.Namespace) -> int:
    """Batch scoring of DATA_URI with the champion (or MODEL_VERSION) into OUTPUT_URI; 1 on failure."""
    from pipelines.scoring_runner import ScoringOptions, run_scoring_locally
    from pipelines.step_capture import capture_for_cli

    try:
        options = ScoringOptions.from_env()
    except ValueError as error:
        print(f"settings: {error}", file=sys.stderr)
        return 2
    what = f"version {options.model_version}" if options.model_version else "the champion"
    print(f"scoring {settings.data_uri} with {what} of {settings.model_name}; MLflow at {settings.mlflow_tracking_uri}")
    try:
        outcome = run_scoring_locally(settings, options, args.report_dir, capture_for_cli(settings))
    except RuntimeError as failure:
        print(f"\n== scoring FAILED ==\n{failure}", file=sys.stderr)
        return 1
    print(f"\n== scoring finished ==\npredictions     {outcome.output_prefix}\nvalidation      {outcome.report}")
    return 0


def _threshold(text: str) -> tuple[str, float | None]:
    """A gate bound `METRIC=VALUE`, or `METRIC=off` to leave that metric unbounded."""
    metric, equals, value = text.partition("=")
    if not equals or not metric:
        raise argparse.ArgumentTypeError(f"expected METRIC=VALUE or METRIC=off, got {text!r}")
    if value.lower() == "off":
        return metric, None
    try:
        return metric, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{metric}: expected a number or 'off', got {value!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="materialize the default dataset into data/")
    data.add_argument("--force", action="store_true", help="rewrite the file if it exists")
    data.add_argument("--spans", type=int, help="the newest N days as daily Parquet partitions (dated datasets)")
    data.add_argument("--until", help="with --spans: the newest day to write (YYYY-MM-DD; default the data's last)")
    data.set_defaults(handler=_data)
    compile_ = commands.add_parser("compile", help="write the compiled pipeline spec (YAML)")
    compile_.add_argument("--output", type=Path, default=COMPILED_SPEC)
    compile_.set_defaults(handler=_compile)
    run = commands.add_parser(
        "run", help="run the training pipeline locally with kfp.local (VERBOSE=1: every step's output)"
    )
    run.add_argument("--epochs", type=int, help="override EPOCHS")
    run.add_argument(
        "--threshold",
        type=_threshold,
        action="append",
        metavar="METRIC=VALUE",
        help="gate: bound a metric of the task (a floor or a ceiling, as the metric goes), or METRIC=off; repeatable",
    )
    run.add_argument(
        "--model-builder",
        help="a built-in builder (wide_and_deep, mlp) or package.module:function (default: the spec's)",
    )
    run.add_argument("--champion-tolerance", type=float, help="gate: how much worse than the champion is allowed")
    run.add_argument("--baseline-margin", type=float, help="gate: how far the model must beat the base-rate prior")
    run.add_argument(
        "--allow-unscored-champion",
        action="store_true",
        help="gate: bless on the other checks when the champion cannot be scored (a deliberate change of columns)",
    )
    run.add_argument("--seed", type=int, help="training seed (the same seed and data give the same model)")
    run.set_defaults(handler=_run)
    ui = commands.add_parser("mlflow-ui", help="serve the MLflow UI on 127.0.0.1 over the local store (one worker)")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(handler=_mlflow_ui)
    monitor = commands.add_parser(
        "monitor", help="run the drift check (monitoring pipeline) locally with kfp.local (VERBOSE=1: all output)"
    )
    monitor.add_argument("--baseline", default="", help="baseline.json, runs:/ URI or CSV (default: the champion's)")
    monitor.add_argument("--retrain-on-drift", action="store_true", help="run the training pipeline on drift")
    monitor.add_argument("--train-data-uri", help="data a retrain trains on (default: DATA_URI)")
    monitor.add_argument("--report-dir", type=Path, default=PROJECT_ROOT / "build" / "monitoring")
    monitor.set_defaults(handler=_monitor)
    compile_monitoring = commands.add_parser("compile-monitoring", help="write the compiled monitoring pipeline")
    compile_monitoring.add_argument("--output", type=Path, default=PROJECT_ROOT / "build" / "monitoring_pipeline.yaml")
    compile_monitoring.set_defaults(handler=_compile_monitoring)
    score = commands.add_parser(
        "score", help="score DATA_URI with the champion or MODEL_VERSION (kfp.local) into OUTPUT_URI as Parquet"
    )
    score.add_argument("--report-dir", type=Path, default=PROJECT_ROOT / "build" / "scoring")
    score.set_defaults(handler=_score)
    add_cluster_commands(commands)
    args = parser.parse_args(argv)
    try:
        settings = _settings()
    except SpecError as error:
        print(error, file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"settings: {error}", file=sys.stderr)
        return 2
    return args.handler(settings, args)


def _settings() -> Settings:
    """Settings.from_env, with each deprecated word of the spec said in one line on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SpecDeprecationWarning)
        settings = Settings.from_env()
    for warning in caught:
        if issubclass(warning.category, SpecDeprecationWarning):
            print(warning.message, file=sys.stderr)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return settings


if __name__ == "__main__":
    sys.exit(main())
