"""The scoring pipeline's arguments from the settings, and its local run with kfp.local."""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from kfp import local

from components.data.spans import window_end
from components.runs.settings import Settings
from pipelines.scoring_pipeline import build_scoring_pipeline
from pipelines.step_capture import StepCapture

DEFAULT_MAX_REJECT_FRACTION = 0.01


@dataclass(frozen=True)
class ScoringOptions:
    """What scoring adds to the settings: MODEL_VERSION, OUTPUT_URI, MAX_REJECT_FRACTION (environment)."""

    model_version: str = ""
    output_uri: str = ""  # empty: <MODEL_STORE_URI>/scores
    max_reject_fraction: float = DEFAULT_MAX_REJECT_FRACTION

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScoringOptions:
        env = os.environ if env is None else env
        text = env.get("MAX_REJECT_FRACTION") or str(DEFAULT_MAX_REJECT_FRACTION)
        try:
            fraction = float(text)
        except ValueError:
            raise ValueError(f"MAX_REJECT_FRACTION must be a number in [0, 1], got {text!r}") from None
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"MAX_REJECT_FRACTION must be in [0, 1], got {fraction}")
        version = env.get("MODEL_VERSION", "")
        if version and not version.isdigit():
            raise ValueError(f"MODEL_VERSION must be a registry version number, got {version!r}")
        return cls(version, env.get("OUTPUT_URI", ""), fraction)


def scoring_arguments(settings: Settings, options: ScoringOptions) -> dict[str, Any]:
    output_uri = options.output_uri
    if not output_uri:
        output_uri = f"{settings.model_store_uri.rstrip('/')}/scores"
    elif "://" not in output_uri:
        output_uri = str(Path(output_uri).resolve())
    return {
        "data_uri": settings.data_uri,
        "dataset": settings.dataset,
        "mlflow_tracking_uri": settings.mlflow_tracking_uri,
        "model_name": settings.model_name,
        "output_uri": output_uri,
        "model_version": options.model_version,
        "max_reject_fraction": options.max_reject_fraction,
        "s3_endpoint_url": settings.s3_endpoint_url,
        "train_window": settings.train_window,
        "allow_missing_spans": settings.allow_missing_spans,
        "data_as_of": settings.data_as_of,
    }


@dataclass(frozen=True)
class ScoringOutcome:
    output_prefix: str
    summary: Path
    report: Path


def run_scoring_locally(
    settings: Settings, options: ScoringOptions, report_dir: Path, capture: StepCapture | None = None
) -> ScoringOutcome:
    """Run the scoring pipeline here; copy its validation report and summary into `report_dir`."""
    warnings.filterwarnings("ignore", message="You may be attemping to run a task", category=RuntimeWarning)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=settings.pipeline_root)
    with capture if capture is not None else contextlib.nullcontext():
        arguments = scoring_arguments(settings, options)
        arguments["data_as_of"] = window_end(settings.data_as_of).isoformat()
        outputs = build_scoring_pipeline(retry_failed_steps=False, scheduled_time=False)(**arguments).outputs
    report_dir.mkdir(parents=True, exist_ok=True)
    summary = Path(shutil.copyfile(outputs["summary"].path, report_dir / "validation_summary.json"))
    report = Path(shutil.copyfile(outputs["report"].path, report_dir / "validation_report.html"))
    return ScoringOutcome(outputs["output_prefix"], summary, report)
