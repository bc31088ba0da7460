"""What one pipeline run did, read back from MLflow: the closing lines of `make run`."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.common import tracking
from components.common.specs import get_spec
from components.data.source_tags import MISSING_SPANS_TAG, SPANS_TAG
from components.tasks import task_of

STEP_ORDER = ("validate", "transform", "train", "evaluate", "infra-validate", "push")


@dataclass(frozen=True)
class RunSummary:
    mlflow_run_id: str
    status: str
    rows_validated: int | None
    metrics: dict[str, float]
    blessed: bool | None
    model_version: str | None
    store_uri: str | None
    champion_decision: str | None
    error: str | None
    steps: dict[str, str] = field(default_factory=dict)
    # The gate's lines (components.evaluate.gate): every check with its verdict, and its notes.
    gate_reasons: list[str] = field(default_factory=list)
    # The spans a span pattern's window read, and those it was allowed to miss (components/data/source_tags.py).
    spans: tuple[str, ...] = ()
    missing_spans: tuple[str, ...] = ()
    # The infra-validate step's verdict (components/infra_validate/): None when it did not run; else whether the
    # model served, and the check it failed with why.
    infra_validated: bool | None = None
    infra_failure: str = ""
    # How train started: from the champion's weights, or from scratch and why (components/train/warm_start.py).
    started_from: str = ""

    def render(self) -> str:
        lines = [f"MLflow run      {self.mlflow_run_id} ({self.status})"]
        if self.steps:
            lines.append("steps           " + ", ".join(f"{step} {state}" for step, state in self.steps.items()))
        if self.spans:
            lines.append(f"spans read      {len(self.spans)}: {', '.join(self.spans)}")
        if self.missing_spans:
            lines.append(f"spans missing   {', '.join(self.missing_spans)} (ALLOW_MISSING_SPANS=1)")
        if self.started_from:
            lines.append(f"train           {self.started_from}")
        lines.append(f"rows validated  {self.rows_validated if self.rows_validated is not None else '-'}")
        if self.metrics:
            lines.append("metrics         " + "  ".join(f"{k}={v:.4f}" for k, v in self.metrics.items()))
        if self.blessed is not None:
            lines.append(f"blessed         {'yes' if self.blessed else 'no'}")
            failed = [reason for reason in self.gate_reasons if reason.startswith(("FAIL", "WAIVED"))]
            lines += [f"  gate          {reason}" for reason in failed]
        if self.infra_validated is not None:
            lines.append(f"serves          {'yes' if self.infra_validated else 'no: ' + self.infra_failure}")
        if self.model_version:
            lines.append(f"model version   {self.model_version} ({self.champion_decision or 'push unfinished'})")
            lines.append(f"pushed to       {self.store_uri}")
        elif self.infra_validated is False:
            lines.append("pushed          no (the model did not pass infra validation; champion unchanged)")
        elif self.blessed is not None:
            lines.append("pushed          no (the gate did not bless this model; champion unchanged)")
        if self.error:
            lines.append(f"error           {self.error}")
        return "\n".join(lines)


def find_latest_pipeline_run(tracking_uri: str, experiment: str, started_after_ms: int) -> str | None:
    """The newest pipeline run of the experiment started after the given time (for runs that failed early)."""
    client = tracking.client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"attributes.start_time >= {started_after_ms} and tags.`{tracking.PIPELINE_JOB_TAG}` != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def mark_failed_if_running(tracking_uri: str, mlflow_run_id: str, cause: str) -> None:
    """A step that logs nothing itself (the cached transform) cannot fail the MLflow run: the runner does."""
    client = tracking.client(tracking_uri)
    if client.get_run(mlflow_run_id).info.status == "RUNNING":
        client.set_tag(mlflow_run_id, tracking.ERROR_TAG, cause[-4000:])
        client.set_terminated(mlflow_run_id, "FAILED")


def summary_metrics(dataset: str) -> tuple[str, ...]:
    """The metrics a run's closing lines show: those the gate can bound for the dataset's task."""
    return tuple(task_of(get_spec(dataset)).directions)


def summarize(tracking_uri: str, mlflow_run_id: str, model_name: str, dataset: str) -> RunSummary:
    client = tracking.client(tracking_uri)
    run = client.get_run(mlflow_run_id)
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{mlflow_run_id}'"
    )
    steps = {child.data.tags.get("step", child.info.run_name): child.info.status for child in children}
    rows = next(
        (child.data.metrics.get("rows") for child in children if child.data.tags.get("step") == "validate"), None
    )
    evaluate = next((child for child in children if child.data.tags.get("step") == "evaluate"), None)
    trained = next((child for child in children if child.data.tags.get("step") == "train"), None)
    served = next((child for child in children if child.data.tags.get("step") == "infra-validate"), None)
    infra = served.data.metrics.get("infra_validated") if served else None
    blessed_metric = run.data.metrics.get("blessed")
    versions = (
        client.search_model_versions(f"name = '{model_name}' and run_id = '{mlflow_run_id}'") if blessed_metric else []
    )
    version = versions[0] if versions else None
    return RunSummary(
        mlflow_run_id=mlflow_run_id,
        status=run.info.status,
        rows_validated=int(rows) if rows is not None else None,
        metrics={name: run.data.metrics[name] for name in summary_metrics(dataset) if name in run.data.metrics},
        blessed=None if blessed_metric is None else bool(blessed_metric),
        model_version=version.version if version else None,
        store_uri=version.tags.get(tracking.STORE_URI_TAG) if version else None,
        champion_decision=version.tags.get(tracking.CHAMPION_DECISION_TAG) if version else None,
        error=run.data.tags.get(tracking.ERROR_TAG),
        steps={step: steps[step] for step in STEP_ORDER if step in steps},
        gate_reasons=_gate_reasons(tracking_uri, evaluate.info.run_id) if evaluate else [],
        spans=tuple(filter(None, run.data.tags.get(SPANS_TAG, "").split(","))),
        missing_spans=tuple(filter(None, run.data.tags.get(MISSING_SPANS_TAG, "").split(","))),
        infra_validated=None if infra is None else infra == 1.0,
        infra_failure=_infra_failure(served.data.params) if served else "",
        started_from=trained.data.tags.get("warm_start_note", "") if trained else "",
    )


def _infra_failure(params: dict[str, str]) -> str:
    """The check infra validation failed and why (components/infra_validate/task.py's params)."""
    return f"{params.get('failed_check', 'no check recorded')}: {params.get('failure', '')}".rstrip(": ")


def _gate_reasons(tracking_uri: str, evaluate_run_id: str) -> list[str]:
    """The decision evaluate logged; [] when it logged none (it failed before deciding)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        text = mlflow.artifacts.load_text(f"runs:/{evaluate_run_id}/{tracking.GATE_DECISION_ARTIFACT}")
    except (MlflowException, OSError):
        return []
    return text.splitlines()
