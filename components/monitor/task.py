"""The monitoring pipeline's step: find the baseline, compare new data with it, report, log, push.

The baseline is, in order: the `baseline_uri` given (a `baseline.json` as a path, file:// or s3://
URI, an MLflow `runs:/` or `models:/` artifact URI, or a CSV file to build one from), else the
`baseline.json` on the run of the registry's `champion` version of `model_name`.
The check is one MLflow run (experiment `<dataset>-monitoring` unless named) with a nested
`monitor` run holding the per-feature metrics, the HTML report and the JSON summary.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import mlflow
import pandas as pd
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from components.common import tracking
from components.common.specs import get_spec
from components.common.specs.base import MAX_LINE_BYTES, MISSING_VALUES, DatasetSpec
from components.data.baseline import BASELINE_ARTIFACT, Baseline, baseline_from_csv
from components.data.frames import numbers_where_all_parse
from components.data.image_stats import with_image_statistics
from components.data.reader import read_text_frames
from components.data.sources import DataSource, file_format, resolve_source
from components.data.treated_frames import treated_frames
from components.data.values import RawDataError
from components.monitor.drift import DriftReport, DriftThresholds, compare
from components.monitor.report import write_report
from components.monitor.scores import read_scoring_output, run_baseline, scoring_report
from components.runs import run_metrics, step_runs
from components.score.output import is_output

MONITORING_PIPELINE = "monitoring"
STEP = "monitor"
# The step's drift figures go to their own Pushgateway group, beside the step's own (success, duration).
DRIFT_GROUP = "drift"
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class MonitorResult:
    report: DriftReport
    mlflow_run_id: str
    trigger_training: bool


def local_copy(uri: str, scratch: Path, endpoint_url: str = "") -> Path:
    """A local path is read in place; s3:// or file:// is downloaded into `scratch` first."""
    if "://" not in uri:
        return Path(uri)
    from components.common.storage import download_file

    return download_file(uri, scratch / PurePosixPath(uri).name, endpoint_url or None)


def champion_baseline(tracking_uri: str, model_name: str, scratch: Path) -> Baseline:
    """The baseline saved by the training run of the registry's champion version of `model_name`."""
    mlflow_client = tracking.client(tracking_uri)
    try:
        version = mlflow_client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS)
    except MlflowException as error:
        raise ValueError(
            f"no baseline given and no {tracking.CHAMPION_ALIAS!r} version of model {model_name!r} at {tracking_uri} "
            f"to take it from ({error.message}); set BASELINE_URI"
        ) from None
    where = f"{model_name} version {version.version} (MLflow run {version.run_id})"
    baseline = run_baseline(tracking_uri, version.run_id, BASELINE_ARTIFACT, f"champion {where}", scratch)
    return dataclasses.replace(baseline, source=f"champion {where}, trained on {baseline.source}")


def load_baseline(
    baseline_uri: str, tracking_uri: str, model_name: str, scratch: Path, endpoint_url: str = ""
) -> Baseline:
    if not baseline_uri:
        return champion_baseline(tracking_uri, model_name, scratch)
    if baseline_uri.startswith(("runs:/", "models:/")):
        path = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=baseline_uri, dst_path=str(scratch), tracking_uri=tracking_uri
            )
        )
    else:
        path = local_copy(baseline_uri, scratch, endpoint_url)
    if not path.is_file():
        raise ValueError(f"baseline {baseline_uri}: no such file")
    if path.suffix.lower() == ".csv":
        return baseline_from_csv(path, dataset=path.stem, source=baseline_uri)
    return Baseline.from_json(path.read_text(encoding="utf-8"), baseline_uri)


def read_new_data(
    data: Path | str | DataSource, baseline: Baseline, origin: str, endpoint_url: str = ""
) -> pd.DataFrame:
    """Raw data (a CSV or Parquet file, folder or glob, local or s3://, or the files of a DataSource) read by
    the one reader, or a local file of JSON lines (one request's raw values per line) for logged serving
    requests; `origin` names it.

    Raw data is read by the rules of the baseline's spec (its missing spellings and line limit; the defaults
    when the baseline names no spec); every column as found, so that the drift check reports a missing
    column or text in a numeric one instead of refusing them; what the baseline reads as numbers as numbers;
    an image column as its images' statistics (components/data/image_stats.py), as the baseline holds it.
    """
    json_lines = not isinstance(data, DataSource) and str(data).lower().endswith(JSON_LINES_SUFFIXES)
    try:
        missing, max_line_bytes, spec = _reading_rules(baseline.dataset)
        if json_lines:
            frame = pd.read_json(data, lines=True)
            if spec is not None:
                frame = with_image_statistics(frame, spec, str(data), base64_text=True)
        else:
            source = data if isinstance(data, DataSource) else resolve_source(str(data), endpoint_url=endpoint_url)
            frames = [
                # An image reference is resolved against the file that holds its row.
                with_image_statistics(frame, spec, file.uri, endpoint_url) if spec is not None else frame
                for file in source.files
                for frame in read_text_frames(dataclasses.replace(source, files=(file,)), missing, max_line_bytes)
            ]
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            numbers = [column.name for column in baseline.columns if column.read_as == "number"]
            frame = numbers_where_all_parse(frame, [name for name in numbers if name in frame], missing, spec)
    except (ValueError, RawDataError) as error:
        kind = "JSON lines" if json_lines else {"csv": "CSV", "parquet": "Parquet"}.get(_format(data) or "", "raw data")
        raise ValueError(f"{origin}: not readable as {kind}: {error}") from None
    if frame.empty:
        raise ValueError(f"{origin}: no rows to check")
    # The baseline holds the spec's sensitive columns treated; so must what it is compared with (and reported).
    spec = _reading_rules(baseline.dataset)[2]
    return frame if spec is None else next(treated_frames([frame], spec))


def _format(data: Path | str | DataSource) -> str | None:
    return data.format if isinstance(data, DataSource) else file_format(str(data))


def _reading_rules(dataset: str) -> tuple[frozenset[str], int, DatasetSpec | None]:
    """The missing spellings, line limit and spec (its number columns' rules) of the baseline's spec; the
    defaults and no spec when it names none here."""
    try:
        spec = get_spec(dataset)
    except ValueError:  # a baseline built from a file without a spec is named after the file
        return frozenset(MISSING_VALUES), MAX_LINE_BYTES, None
    return frozenset(spec.missing_values), spec.max_line_bytes, spec


def mlflow_metrics(report: DriftReport) -> dict[str, float]:
    """Overall and per-feature figures under MLflow-safe names."""
    logged = {
        "drifted": float(report.drifted),
        "drifted_features": float(len(report.drifted_features)),
        "schema_changes": float(len(report.breaking_schema_changes)),
        "rows": float(report.rows),
    }
    for feature in report.features:
        name = re.sub(r"[^\w.\- ]", "_", feature.name)
        logged[f"drift.{name}.{feature.statistic}"] = feature.score
        logged[f"drift.{name}.drifted"] = float(feature.drifted)
        for share in ("unseen_share", "out_of_range_share"):
            value = getattr(feature, share)
            if value is not None:
                logged[f"drift.{name}.{share}"] = value
    return logged


def drift_metric_set(report: DriftReport, pipeline_run: str) -> run_metrics.MetricSet:
    found = run_metrics.MetricSet()
    run = {"pipeline_run": pipeline_run}
    found.set("drift_rows_checked", report.rows, **run)
    found.set("drift_detected", float(report.drifted), **run)
    found.set("drift_features_drifted", len(report.drifted_features), **run)
    found.set("drift_schema_changes", len(report.breaking_schema_changes), **run)
    found.set("drift_last_check_timestamp_seconds", time.time(), **run)
    for feature in report.features:
        labels = {**run, "feature": feature.name}
        found.set("drift_feature_detected", float(feature.drifted), **labels)
        found.set("drift_feature_score", feature.score, **labels, statistic=feature.statistic)
        found.set("drift_feature_threshold", feature.threshold, **labels, statistic=feature.statistic)
        if feature.unseen_share is not None:
            found.set("drift_unseen_category_share", feature.unseen_share, **labels)
        if feature.out_of_range_share is not None:
            found.set("drift_out_of_range_share", feature.out_of_range_share, **labels)
    return found


def run_monitor_step(
    data_uri: str,
    baseline_uri: str,
    tracking_uri: str,
    model_name: str,
    experiment: str,
    pipeline_job_name: str,
    retrain_on_drift: bool,
    report_path: Path,
    summary_path: Path,
    thresholds: DriftThresholds | None = None,
    s3_endpoint_url: str = "",
) -> MonitorResult:
    """Check `data_uri` against the baseline; `trigger_training` is drift found and `retrain_on_drift`.

    `data_uri` may be a scoring output (components/monitor/scores.py): its input and its predictions are
    checked, against the baselines of the version that scored it unless `baseline_uri` names the input's.
    An empty `s3_endpoint_url` means AWS itself, for the data and the baseline alike.
    """
    thresholds = thresholds or DriftThresholds()
    with tempfile.TemporaryDirectory(prefix="monitor-") as scratch:
        scored = None
        if is_output(data_uri, s3_endpoint_url):
            scored = read_scoring_output(data_uri, tracking_uri, Path(scratch), s3_endpoint_url)
        if scored is not None and not baseline_uri:
            baseline = scored.baseline
        else:
            baseline = load_baseline(baseline_uri, tracking_uri, model_name, Path(scratch), s3_endpoint_url)
        run_id = tracking.start_pipeline_run(
            tracking_uri,
            experiment or f"{baseline.dataset}-monitoring",
            pipeline_job_name,
            params={"data_uri": data_uri, "baseline": baseline.source[:500], "retrain_on_drift": retrain_on_drift},
            tags={tracking.DATASET_TAG: baseline.dataset, run_metrics.PIPELINE_TAG: MONITORING_PIPELINE},
        )
        with step_runs.step_run(tracking_uri, run_id, STEP):
            if scored is not None:
                data = read_new_data(scored.source, baseline, f"{data_uri}'s input", s3_endpoint_url)
                report = scoring_report(baseline, data, scored, thresholds)
            else:
                json_lines = data_uri.lower().endswith(JSON_LINES_SUFFIXES)
                where = local_copy(data_uri, Path(scratch), s3_endpoint_url) if json_lines else data_uri
                data = read_new_data(where, baseline, data_uri, s3_endpoint_url)
                report = compare(baseline, data, data_uri, thresholds)
            write_report(report, report_path, summary_path)
            mlflow.log_params(dataclasses.asdict(thresholds))
            logged = mlflow_metrics(report)
            mlflow.log_metrics(logged)
            mlflow.log_text(report_path.read_text(encoding="utf-8"), "drift/report.html")
            mlflow.log_text(summary_path.read_text(encoding="utf-8"), "drift/summary.json")
            now = int(time.time() * 1000)
            headline = ("drifted", "drifted_features", "schema_changes", "rows")
            tracking.client(tracking_uri).log_batch(run_id, metrics=[Metric(n, logged[n], now, 0) for n in headline])
            run_metrics.push(
                drift_metric_set(report, run_id),
                run_metrics.grouping_key(baseline.dataset, MONITORING_PIPELINE, DRIFT_GROUP),
            )
    step_runs.finish_pipeline_run(tracking_uri, run_id)
    return MonitorResult(report, run_id, trigger_training=retrain_on_drift and report.drifted)
