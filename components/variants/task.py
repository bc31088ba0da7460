"""The variants step, between infra-validate and push: build each named variant of the blessed candidate,
gate it (components.variants.gate), and keep only those that pass, each in `<out>/<name>/`, with
`variants.json` saying what happened to every one. Nothing here can fail the run: a variant that cannot
be built or does not pass is reported with its reason and not pushed; the full model's push never
depends on its variants.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow

from components.infra_validate.task import InfraSettings
from components.runs import step_runs
from components.variants.base import Candidate, VariantRefused
from components.variants.gate import gate_variant
from components.variants.kinds import parse_variants
from components.variants.packaging import size_bytes

STEP = "variants"
REPORT = "variants.json"


@dataclass(frozen=True)
class VariantOutcome:
    name: str
    passed: bool
    reason: str = ""
    lines: tuple[str, ...] = ()
    figures: dict[str, float | None] = field(default_factory=dict)


def build_and_gate(
    candidate: Candidate,
    eval_data: Path,
    out_dir: Path,
    variants: str,
    distill_builder: str,
    tolerance: float | None = None,
    infra: InfraSettings | None = None,
) -> list[VariantOutcome]:
    """Every variant named in `variants`, built and gated; those that pass stay in `out_dir/<name>/`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    full_size = size_bytes(candidate.export_dir)
    outcomes = []
    for variant in parse_variants(variants, distill_builder):
        target = out_dir / variant.name
        with tempfile.TemporaryDirectory(prefix=f"variant-{variant.name}-") as scratch:
            built = Path(scratch) / variant.name
            try:
                variant.build(candidate, built)
                gate = gate_variant(built, candidate.export_dir, eval_data, candidate.spec, tolerance, infra)
            except VariantRefused as refused:
                outcomes.append(VariantOutcome(variant.name, False, str(refused)))
                continue
            except Exception as error:  # noqa: BLE001 - a variant never fails the run; the reason is reported
                outcomes.append(VariantOutcome(variant.name, False, f"{type(error).__name__}: {error}"))
                continue
            size = size_bytes(built)
            figures = {**gate.figures, "size_bytes": size, "size_ratio": size / full_size}
            outcomes.append(VariantOutcome(variant.name, gate.passed, gate.reason, gate.lines, figures))
            if gate.passed:
                shutil.copytree(built, target)
    (out_dir / REPORT).write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    return outcomes


def read_report(variants_dir: Path) -> list[VariantOutcome]:
    """What the step wrote; the passed variants' folders lie beside it."""
    rows = json.loads((variants_dir / REPORT).read_text())
    return [VariantOutcome(**{**row, "lines": tuple(row["lines"])}) for row in rows]


def run_variants_step(
    candidate: Candidate,
    eval_data: Path,
    out_dir: Path,
    variants: str,
    distill_builder: str,
    tolerance: float | None,
    infra: InfraSettings,
    tracking_uri: str,
    pipeline_run_id: str,
) -> list[VariantOutcome]:
    """The pipeline step inside its MLflow run: per variant, `variant.<name>.passed` and its figures."""
    with step_runs.step_run(tracking_uri, pipeline_run_id, STEP):
        mlflow.log_params({"variants": variants, "distill_builder": distill_builder, "variant_tolerance": tolerance})
        outcomes = build_and_gate(candidate, eval_data, out_dir, variants, distill_builder, tolerance, infra)
        for outcome in outcomes:
            numbers = {key: value for key, value in outcome.figures.items() if isinstance(value, (int, float))}
            mlflow.log_metrics({f"variant.{outcome.name}.{key}": value for key, value in numbers.items()})
            mlflow.log_metric(f"variant.{outcome.name}.passed", float(outcome.passed))
        mlflow.log_text((out_dir / REPORT).read_text(), f"{STEP}/{REPORT}")
    for outcome in outcomes:
        verdict = "PASS" if outcome.passed else f"REFUSED ({outcome.reason})"
        print(f"{STEP}: {outcome.name} {verdict}")
    return outcomes
