"""Push's proof that the model was blessed: the verdict of the same pipeline run's gate.

The gate is the pipeline run's latest finished evaluate step run (the one the model card describes).
It must have logged `blessed` = 1, and the copy evaluate logs on the pipeline's run, when there is one,
must agree. A pipeline run with no finished evaluate step (push called on its own) is refused unless
`force_push` says otherwise; force never overrides a gate that ran, whether it refused or gave no verdict.
The champion the gate compared the model with is the pipeline run's `evaluate.champion_version`.

The model must also have served: the pipeline run's latest finished infra-validate step run
(components/infra_validate/) must have logged `infra_validated` = 1. Without one, push refuses unless
`force_push` says otherwise; force never overrides an infra validation that ran and failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

GATE_BASELINE_PARAM = "evaluate.champion_version"
BLESSED_METRIC = "blessed"
# Version tags: the evaluate run whose verdict let the version through, or that it was forced without one.
BLESSED_BY_TAG = "blessed_by"
FORCE_PUSH_TAG = "force_push"
# What components/infra_validate/task.py logs (tests/unit/test_infra_validate.py holds the two to the same names).
INFRA_STEP, INFRA_METRIC, INFRA_CHECK_PARAM = "infra-validate", "infra_validated", "failed_check"
# Version tag: the infra-validate run that saw the model serve.
INFRA_VALIDATED_BY_TAG = "infra_validated_by"


class NotBlessedError(RuntimeError):
    """The pipeline run's gate did not bless its model, or there is no gate on record; push refuses it."""


@dataclass(frozen=True)
class Blessing:
    """What let a push through: the evaluate run that blessed it (None: forced) and the champion it was scored
    against (None: not recorded, so the alias moves unconditionally)."""

    evaluate_run_id: str | None
    baseline: str | None
    infra_validate_run_id: str | None = None

    @property
    def tags(self) -> dict[str, str]:
        served = {INFRA_VALIDATED_BY_TAG: self.infra_validate_run_id} if self.infra_validate_run_id else {}
        if self.evaluate_run_id is None:
            return {FORCE_PUSH_TAG: "true (no evaluate run on record)", **served}
        return {BLESSED_BY_TAG: self.evaluate_run_id, **served}


def required_blessing(client: MlflowClient, pipeline_run_id: str, force_push: bool) -> Blessing:
    """The blessing of pipeline run `pipeline_run_id`'s gate and infra validation; raises NotBlessedError naming
    why there is none."""
    run = client.get_run(pipeline_run_id)
    baseline = run.data.params.get(GATE_BASELINE_PARAM)
    found = _latest_step_run(client, run.info.experiment_id, pipeline_run_id, "evaluate")
    if not found:
        if not force_push:
            raise NotBlessedError(
                f"pipeline run {pipeline_run_id} has no finished evaluate step run: no gate blessed its model, "
                "refusing to push (force_push pushes without one)"
            )
        logger.warning("pipeline run %s has no evaluate step run: pushing without a gate (force_push)", pipeline_run_id)
        return Blessing(None, baseline, _infra_validation(client, run.info.experiment_id, pipeline_run_id, True))
    step_id = found[0].info.run_id
    verdict = found[0].data.metrics.get(BLESSED_METRIC)
    if verdict is None:
        raise NotBlessedError(
            f"pipeline run {pipeline_run_id}'s evaluate run {step_id} logged no `{BLESSED_METRIC}` metric: "
            "its gate gave no verdict, refusing to push"
        )
    on_pipeline_run = run.data.metrics.get(BLESSED_METRIC, verdict)
    if verdict != 1.0 or on_pipeline_run != 1.0:
        raise NotBlessedError(
            f"pipeline run {pipeline_run_id} was not blessed by its gate (evaluate run {step_id} logged "
            f"{BLESSED_METRIC} = {verdict:g}, the pipeline run {on_pipeline_run:g}): refusing to push"
        )
    served = _infra_validation(client, run.info.experiment_id, pipeline_run_id, force_push)
    return Blessing(step_id, baseline, served)


def _latest_step_run(client: MlflowClient, experiment_id: str, pipeline_run_id: str, step: str) -> list:
    return client.search_runs(
        [experiment_id],
        f"tags.mlflow.parentRunId = '{pipeline_run_id}' and tags.step = '{step}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )


def _infra_validation(client: MlflowClient, experiment_id: str, pipeline_run_id: str, force_push: bool) -> str | None:
    """The infra-validate run that saw the model serve (None: none ran, and force_push allows it)."""
    found = _latest_step_run(client, experiment_id, pipeline_run_id, INFRA_STEP)
    if not found:
        if not force_push:
            raise NotBlessedError(
                f"pipeline run {pipeline_run_id} has no finished {INFRA_STEP} step run: nothing proved its model "
                "serves, refusing to push (force_push pushes without one)"
            )
        logger.warning("pipeline run %s has no %s step run: pushing unproven (force_push)", pipeline_run_id, INFRA_STEP)
        return None
    step = found[0]
    if step.data.metrics.get(INFRA_METRIC) != 1.0:
        check = step.data.params.get(INFRA_CHECK_PARAM, "no check recorded")
        raise NotBlessedError(
            f"pipeline run {pipeline_run_id}'s model did not pass infra validation ({INFRA_STEP} run "
            f"{step.info.run_id} logged {INFRA_METRIC} = {step.data.metrics.get(INFRA_METRIC)}, failed check: "
            f"{check}): refusing to push"
        )
    return step.info.run_id
