"""A model card per registered version: the registry description (Markdown) and a self-contained HTML page.

The card is built from what the pipeline's MLflow run recorded before push: its params (dataset, lineage,
`train.*`), its dataset input, and the evaluate step run's `evaluation/metrics.json`; the features and
known limits come from the dataset spec. Push builds it before it uploads or registers anything, so a
card that cannot be built fails the push with the registry untouched; only the title waits for the
version number. Both forms render the same sections; the description keeps tables short, since a
registry on PostgreSQL holds at most `MAX_DESCRIPTION` characters of it.
"""

from __future__ import annotations

import html
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import mlflow
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from components.common.specs import get_spec
from components.common.specs.base import DatasetSpec, LatLongCross
from components.common.specs.vocabulary.privacy import describe_treatment
from components.data.source_tags import FILES_TAG, MISSING_SPANS_TAG, SOURCE_TAGS, SPANS_TAG
from components.push.card_sections import (
    Section,
    cell,
    feature_role,
    markdown_text,
    metric_rows,
    sensitive_section,
    slice_rows,
    small_slices,
    unnamed,
)
from components.tasks import task_of

METRICS_ARTIFACT = "evaluation/metrics.json"
CARD_ARTIFACT = "model_card/model_card.html"
LINEAGE_PARAMS = ("dataset", "data_sha256", "data_size", "spec_fingerprint", "code_version")
NOT_RECORDED = "not recorded"
# The model version's description column is VARCHAR(5000) in MLflow's SQL schema.
MAX_DESCRIPTION = 5000
MARKDOWN_ROWS = (12, 5)
# The version tag naming a sensitive column's treatment: `sensitive.<column>`.
SENSITIVE_TAG_PREFIX = "sensitive."


class ModelCardError(RuntimeError):
    """The card could not be built from what the pipeline run recorded; push refuses to register."""


@dataclass(frozen=True)
class ModelCard:
    model_name: str
    lead: str
    sections: tuple[Section, ...]
    lineage_tags: dict[str, str]

    def title(self, version: str) -> str:
        return f"Model card: {self.model_name} version {version}"

    def markdown(self, version: str) -> str:
        """The registry description: every section, tables cut to fit `MAX_DESCRIPTION`."""
        for rows in MARKDOWN_ROWS:
            text = "\n\n".join(
                [
                    f"# {markdown_text(self.title(version))}",
                    markdown_text(self.lead),
                    *(section.markdown(rows) for section in self.sections),
                ]
            )
            if len(text) <= MAX_DESCRIPTION:
                return text + "\n"
        note = f"\n\n*Cut to fit the registry: the full card is the push run's artifact `{CARD_ARTIFACT}`.*\n"
        return text[: text.rfind("\n", 0, MAX_DESCRIPTION - len(note))] + note

    def html(self, version: str) -> str:
        title = html.escape(self.title(version))
        body = "\n".join(section.html() for section in self.sections)
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
</style></head><body>
<h1>{title}</h1>
<p>{html.escape(self.lead)}</p>
{body}
</body></html>
"""


def build_card(client: MlflowClient, pipeline_run_id: str, model_name: str) -> ModelCard:
    """The card of the model that pipeline run `pipeline_run_id` trained; raises ModelCardError.

    A run without an evaluate step on record (push called on its own) gets a card that says so.
    """
    run = client.get_run(pipeline_run_id)
    params = run.data.params
    spec = _spec(params.get("dataset"))
    evaluation = _evaluation(client, run)
    try:
        return _card(model_name, run, spec, evaluation)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelCardError(
            f"cannot build the model card of pipeline run {pipeline_run_id}: {METRICS_ARTIFACT} of its evaluate "
            f"step lacks or mangles {error!r}"
        ) from error


def write_card(client: MlflowClient, card: ModelCard, version: ModelVersion, card_path: Path | None) -> None:
    """The card as the version's description, the active (push) run's artifact and, if given, `card_path`."""
    number = str(version.version)
    client.update_model_version(version.name, number, description=card.markdown(number))
    page = card.html(number)
    mlflow.log_text(page, CARD_ARTIFACT)
    if card_path is not None:
        card_path.write_text(page, encoding="utf-8")


def _spec(dataset: str | None) -> DatasetSpec | None:
    if dataset is None:
        return None
    try:
        return get_spec(dataset)
    except ValueError as error:
        raise ModelCardError(f"cannot build the model card: {error}") from None


def _evaluation(client: MlflowClient, run: Run) -> dict[str, Any] | None:
    """The latest finished evaluate step run's metrics.json, None when the pipeline run has no evaluate step."""
    found = client.search_runs(
        [run.info.experiment_id],
        f"tags.mlflow.parentRunId = '{run.info.run_id}' and tags.step = 'evaluate' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not found:
        return None
    step_id = found[0].info.run_id
    if METRICS_ARTIFACT not in {item.path for item in client.list_artifacts(step_id, "evaluation")}:
        raise ModelCardError(f"cannot build the model card: evaluate run {step_id} has no {METRICS_ARTIFACT}")
    with tempfile.TemporaryDirectory(prefix="model-card-") as scratch:
        text = Path(client.download_artifacts(step_id, METRICS_ARTIFACT, scratch)).read_text(encoding="utf-8")
    try:
        evaluation = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelCardError(f"cannot build the model card: {METRICS_ARTIFACT} of run {step_id}: {error}") from None
    if not isinstance(evaluation, dict):
        raise ModelCardError(f"cannot build the model card: {METRICS_ARTIFACT} of run {step_id} is not an object")
    return evaluation


def _card(model_name: str, run: Run, spec: DatasetSpec | None, evaluation: dict[str, Any] | None) -> ModelCard:
    params = run.data.params
    lineage = {name: params.get(name, NOT_RECORDED) for name in LINEAGE_PARAMS}
    task = task_of(spec).describe(spec.label.name, spec.label.description) if spec else NOT_RECORDED
    verdict = "no evaluate step on record"
    if evaluation is not None:
        verdict = "blessed by the gate" if evaluation["blessed"] else "NOT blessed by the gate"
    lead = f"Dataset {lineage['dataset']} (SHA-256 {lineage['data_sha256'][:12]}), {verdict}."
    sections = [_dataset_section(run, spec, lineage), Section("Task", lines=(task,))]
    if evaluation is not None:
        min_rows = spec.min_slice_rows if spec else DatasetSpec.__dataclass_fields__["min_slice_rows"].default
        sections += _evaluation_sections(evaluation, min_rows)
    else:
        sections.append(Section("Evaluation", lines=("No evaluate step on record: pushed without a gate.",)))
    if spec is not None:
        sections.append(Section("Features", header=("role in the transform", "raw columns"), rows=_features(spec)))
        sections.append(sensitive_section(spec))
    training = tuple(
        (key.removeprefix("train."), value) for key, value in sorted(params.items()) if key.startswith("train.")
    )
    sections.append(Section("Training parameters", header=("parameter", "value"), rows=training))
    limits = spec.known_limits if spec and spec.known_limits else ("None declared in the dataset spec.",)
    sections.append(Section("Known limits", bullets=limits))
    # The spans and files validate read (components/data/source_tags.py) go onto the version too.
    read = {name: run.data.tags[name] for name in SOURCE_TAGS if name in run.data.tags}
    treatments = {
        f"{SENSITIVE_TAG_PREFIX}{name}": describe_treatment(t) for name, t in (spec.sensitive if spec else {}).items()
    }
    return ModelCard(model_name, lead, tuple(sections), {**lineage, **read, **treatments})


def _dataset_section(run: Run, spec: DatasetSpec | None, lineage: Mapping[str, str]) -> Section:
    rows = [("dataset", lineage["dataset"]), ("description", spec.description if spec else NOT_RECORDED)]
    rows.append(("source", run.data.params.get("data_uri", NOT_RECORDED)))
    for entry in run.inputs.dataset_inputs if run.inputs else ():
        profile = json.loads(entry.dataset.profile or "{}")
        if "num_rows" in profile:  # the whole source; a span's own input is named in the spans row
            rows += [("MLflow dataset digest", entry.dataset.digest), ("rows", cell(profile.get("num_rows")))]
    tags = run.data.tags
    if SPANS_TAG in tags:
        spans = tags[SPANS_TAG].split(",")
        rows.append(("spans", f"{len(spans)}, {spans[0]} to {spans[-1]}: {', '.join(spans)}"))
    if MISSING_SPANS_TAG in tags:
        rows.append(("missing spans (allowed)", tags[MISSING_SPANS_TAG].replace(",", ", ")))
    if FILES_TAG in tags:
        rows.append(("files", tags[FILES_TAG]))
    rows += [
        ("SHA-256", lineage["data_sha256"]),
        ("bytes", lineage["data_size"]),
        ("spec fingerprint", lineage["spec_fingerprint"]),
        ("code version", lineage["code_version"]),
    ]
    return Section("Dataset and lineage", header=("record", "value"), rows=tuple(rows))


def _evaluation_sections(evaluation: dict[str, Any], min_rows: int) -> list[Section]:
    """Metrics with the gate's bounds, the champion and the prior; slices, gaps, importance; the decision.

    What the task's metrics are, and which way each is better, is what the evaluate step wrote. A slice of
    fewer than `min_rows` eval rows (the spec's min_slice_rows) is neither shown nor named anywhere.
    """
    hidden = small_slices(evaluation, min_rows)
    gate, champion = evaluation["gate"], evaluation["champion"]
    compared = (
        f"Previous champion: version {champion['version']}, scored on the same rows."
        if champion["version"]
        else "No previous champion: this is the first model of its name to be evaluated."
    )
    headline = dict(evaluation["headline"])
    rows_line = f"{evaluation['task']} task, headline metric {evaluation['headline_metric']}, "
    rows_line += f"{cell(int(headline.pop('example_count')))} eval rows."
    settings = ", ".join(f"{key} {cell(value)}" for key, value in gate.items() if key != "thresholds")
    against = f"champion v{champion['version']}" if champion["version"] else "no champion"
    table_metrics = tuple(evaluation["table_metrics"])
    sections = [
        Section(
            "Metrics on the eval split",
            lines=(compared, rows_line, f"Gate settings: {settings}."),
            header=("metric", "candidate", "gate bound", against, f"prior ({evaluation['prior_name']})"),
            rows=metric_rows(
                headline, gate["thresholds"], evaluation["higher_is_better"], champion["headline"], evaluation["prior"]
            ),
        ),
        Section(
            "Metrics per slice",
            lines=_skipped(evaluation.get("skipped_slices") or {}, hidden, min_rows),
            header=("slice", "examples", *table_metrics),
            rows=slice_rows({k: m for k, m in evaluation["slices"].items() if k not in hidden}, table_metrics),
        ),
    ]
    if gaps := evaluation.get("slice_gaps"):
        gap_rows = tuple(
            (
                column,
                g["metric"],
                cell(g["gap"]),
                unnamed(g["best"], hidden, min_rows),
                unnamed(g["worst"], hidden, min_rows),
            )
            for column, g in gaps.items()
        )
        sections.append(Section("Slice gaps", header=("column", "metric", "gap", "best", "worst"), rows=gap_rows))
    if importance := evaluation.get("importance"):
        sections.append(_importance_section(importance, evaluation.get("importance_method") or {}))
    decision = "BLESSED" if evaluation["blessed"] else "NOT BLESSED"
    lines = (f"Gate: {decision}.", "Whether it became champion is the version's tag champion_decision.")
    reasons = tuple(unnamed(reason, hidden, min_rows) for reason in evaluation["reasons"])
    sections.append(Section("Decision", lines=lines, bullets=reasons))
    return sections


def _importance_section(importance: Mapping[str, Mapping[str, Any]], method: Mapping[str, Any]) -> Section:
    """Columns by their permutation importance, the largest first."""
    ranked = sorted(importance.items(), key=lambda item: -item[1]["mean"])
    rows = tuple(
        (column, v["metric"], cell(v["mean"]), f"[{cell(v['ci_low'])}, {cell(v['ci_high'])}]") for column, v in ranked
    )
    lines = ()
    if "interval" in method:
        lines = (f"How much worse the metric gets when a column is shuffled; {method['interval']}.",)
    header = ("column", "metric", "worse by", "interval")
    return Section("Feature importance (permutation)", lines=lines, header=header, rows=rows)


def _skipped(skipped: Mapping[str, int], hidden: list[str], min_rows: int) -> tuple[str, ...]:
    named = ", ".join(f"{key} ({count})" for key, count in skipped.items() if key not in hidden)
    few = f"{len(hidden)} slice(s) of fewer than {min_rows} eval rows not shown (the spec's min_slice_rows)."
    return (*([f"Too few examples to measure: {named}."] if named else []), *([few] if hidden else []))


def _features(spec: DatasetSpec) -> tuple[tuple[str, str], ...]:
    """The spec's features grouped by what the transform makes of them, with the raw columns each reads."""
    by_role: dict[str, list[str]] = {}
    for feature in spec.features:
        columns = (feature.latitude, feature.longitude) if isinstance(feature, LatLongCross) else (feature.column,)
        by_role.setdefault(feature_role(feature), []).append(" + ".join(columns))
    return tuple((role, ", ".join(columns)) for role, columns in by_role.items())
