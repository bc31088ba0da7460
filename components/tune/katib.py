"""The search on a cluster: a Katib (v0.19) Experiment, created and watched through the Kubernetes API.

Katib's Python SDK cannot be installed beside the project (kubeflow-katib 0.19 needs protobuf < 5),
so the Experiment is a plain object, checked offline against Katib's published OpenAPI definitions
(tests/infra/test_training_operator.py). Each trial is a batch Job running one training
(`python -m components.train.workers`, one worker) with the trial's values; Katib reads the
validation metric from the epoch lines Keras prints (the StdOut collector, with a filter for Keras's
`name: value` format), stops trials whose curve is below the median (medianstop), and keeps at most
`parallel_trials` trials, each with its GPUs, running at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

from components.common.launched_jobs import Terminated, launcher_owner_references, stopped_by_sigterm
from components.tasks import Task
from components.train.distributed import worker_args
from components.train.hyperparameters import Hyperparameters
from components.train.worker_pod import WorkerPool, render_worker_pod
from components.tune.local import SearchResult, TrialOutcome
from components.tune.space import SearchSpace

GROUP, VERSION, KIND = "kubeflow.org", "v1beta1", "Experiment"
KATIB_VERSION = "v0.19.0"
ALGORITHMS = ("tpe", "bayesianoptimization", "random")
TRIAL_CONTAINER = "training-container"
# Keras prints "... - val_auc: 0.9187 - val_loss: 0.4254" after each epoch.
KERAS_METRICS_FORMAT = r"([\w|-]+):\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
# Katib's names for the trial's values (camelCase, as its trial templates use them).
TRIAL_PARAMETERS = {
    "learning_rate": "learningRate",
    "hidden_units": "hiddenUnits",
    "dropout": "dropout",
    "batch_size": "batchSize",
}


@dataclass(frozen=True)
class TrialBudget:
    trials: int
    parallel_trials: int = 2
    max_failed_trials: int = 3
    algorithm: str = "tpe"

    def __post_init__(self) -> None:
        if self.trials < 1 or not 1 <= self.parallel_trials <= self.trials:
            raise ValueError(
                f"tune_trials {self.trials}, parallel {self.parallel_trials}: need 1 <= parallel <= trials"
            )
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"tune_algorithm {self.algorithm!r}: expected one of {list(ALGORITHMS)}")


def experiment_name(pipeline_run_id: str) -> str:
    """One Experiment per pipeline run: a retry of the tune step follows the one it started."""
    return f"tabular-tune-{hashlib.sha256(pipeline_run_id.encode()).hexdigest()[:12]}"


def render_experiment(
    name: str,
    namespace: str,
    task: Task,
    space: SearchSpace,
    budget: TrialBudget,
    base: Hyperparameters,
    pool: WorkerPool,
    dataset: str,
    inputs: tuple[str, str],
    model_builder: str = "",
    s3_endpoint_url: str = "",
) -> dict[str, Any]:
    """The Experiment. `inputs` are the transform graph's and examples' URIs; `pool` says what each trial asks for.

    Owned by the launcher pod when this runs in one (components.common.launched_jobs)."""
    monitor = task.early_stopping_monitor
    args = worker_args(dataset, inputs[0], inputs[1], "/tmp/model", {}, model_builder, s3_endpoint_url)
    args[args.index("--hyperparameters") + 1] = _trial_hyperparameters(base)
    pod = render_worker_pod(pool, TRIAL_CONTAINER, ["python3", "-m", "components.train.workers", *args], "tune-trial")
    pod["spec"]["restartPolicy"] = "Never"
    additional = [] if monitor == "val_loss" else ["val_loss"]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": pod["metadata"]["labels"]}
    owners = launcher_owner_references()
    if owners:
        metadata["ownerReferences"] = owners
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "objective": {
                "type": "maximize" if task.early_stopping_maximise else "minimize",
                "objectiveMetricName": monitor,
                "additionalMetricNames": additional,
                # Early stopping keeps the best epoch's weights: a trial is worth its best epoch.
                "metricStrategies": [{"name": monitor, "value": "max" if task.early_stopping_maximise else "min"}],
            },
            # Each algorithm's sampler is seeded by the run's seed.
            "algorithm": {
                "algorithmName": budget.algorithm,
                "algorithmSettings": [{"name": "random_state", "value": str(base.seed)}],
            },
            "earlyStopping": {
                "algorithmName": "medianstop",
                "algorithmSettings": [
                    {"name": "min_trials_required", "value": str(min(3, budget.trials))},
                    {"name": "start_step", "value": "2"},
                ],
            },
            "parallelTrialCount": budget.parallel_trials,
            "maxTrialCount": budget.trials,
            "maxFailedTrialCount": budget.max_failed_trials,
            "metricsCollectorSpec": {
                "collector": {"kind": "StdOut"},
                "source": {"filter": {"metricsFormat": [KERAS_METRICS_FORMAT]}},
            },
            "parameters": [
                {
                    "name": "learning_rate",
                    "parameterType": "double",
                    "feasibleSpace": {
                        "min": str(space.learning_rate[0]),
                        "max": str(space.learning_rate[1]),
                        "distribution": "logUniform",
                    },
                },
                {
                    "name": "hidden_units",
                    "parameterType": "categorical",
                    "feasibleSpace": {"list": list(space.hidden_units)},
                },
                {
                    "name": "dropout",
                    "parameterType": "double",
                    "feasibleSpace": {"min": str(space.dropout[0]), "max": str(space.dropout[1])},
                },
                {
                    "name": "batch_size",
                    "parameterType": "discrete",
                    "feasibleSpace": {"list": [str(size) for size in space.batch_size]},
                },
            ],
            "trialTemplate": {
                "primaryContainerName": TRIAL_CONTAINER,
                "retain": False,
                "trialParameters": [
                    {"name": katib, "reference": name, "description": f"the trial's {name}"}
                    for name, katib in TRIAL_PARAMETERS.items()
                ],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"backoffLimit": 0, "template": pod}},
            },
        },
    }


def _trial_hyperparameters(base: Hyperparameters) -> str:
    """The JSON of the trial's Hyperparameters, with Katib's placeholders where the trial's values go:
    Katib writes each value into the text, numbers bare and the hidden-unit layout as a JSON string."""
    fixed = {key: value for key, value in asdict(base).items() if key not in TRIAL_PARAMETERS}
    text = json.dumps({**fixed, **{key: f"@{key}@" for key in TRIAL_PARAMETERS}}, sort_keys=True)
    for key, katib in TRIAL_PARAMETERS.items():
        placeholder = f"${{trialParameters.{katib}}}"
        text = text.replace(f'"@{key}@"', f'"{placeholder}"' if key == "hidden_units" else placeholder)
    return text


def _condition(obj: Mapping[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in obj.get("status", {}).get("conditions", []))


def run_experiment(
    custom_api: Any,
    experiment: Mapping[str, Any],
    poll_s: float = 15.0,
    timeout_s: float = 12 * 3600,
    say: Callable[[str], None] = print,
) -> SearchResult:
    """Create the Experiment (or follow this step's earlier one), wait for its end, return every trial.

    If the step is stopped (SIGTERM, an interrupt) or the wait times out, the Experiment is deleted with
    its trials and their pods, so no trial keeps a GPU."""
    from kubernetes.client.exceptions import ApiException

    namespace, name = experiment["metadata"]["namespace"], experiment["metadata"]["name"]
    where = (GROUP, VERSION, namespace)
    with stopped_by_sigterm(say):
        try:
            custom_api.create_namespaced_custom_object(*where, "experiments", body=experiment)
            say(f"created Katib Experiment {namespace}/{name}: {experiment['spec']['maxTrialCount']} trials")
        except ApiException as error:
            if error.status != 409:
                raise
            say(f"following Katib Experiment {namespace}/{name}, created by an earlier attempt of this step")
        try:
            current = _wait_for_end(custom_api, where, name, poll_s, timeout_s, say)
        except (KeyboardInterrupt, Terminated, TimeoutError):
            say(f"deleting Katib Experiment {namespace}/{name}")
            custom_api.delete_namespaced_custom_object(*where, "experiments", name, propagation_policy="Foreground")
            raise
    trials = custom_api.list_namespaced_custom_object(
        *where, "trials", label_selector=f"katib.kubeflow.org/experiment={name}"
    )
    return search_result(current, trials.get("items", []))


def _wait_for_end(
    custom_api: Any,
    where: tuple[str, str, str],
    name: str,
    poll_s: float,
    timeout_s: float,
    say: Callable[[str], None],
) -> Mapping[str, Any]:
    """The Experiment once it has succeeded; fails if it failed or did not end within `timeout_s`."""
    namespace = where[2]
    deadline, last = time.monotonic() + timeout_s, ""
    while True:
        current = custom_api.get_namespaced_custom_object(*where, "experiments", name)
        status = current.get("status", {})
        counts = {
            key: status.get(key, 0)
            for key in ("trials", "trialsSucceeded", "trialsEarlyStopped", "trialsFailed", "trialsRunning")
        }
        line = json.dumps(counts) + f" best so far: {status.get('currentOptimalTrial', {}).get('bestTrialName', '-')}"
        if line != last:
            say(f"Experiment {name}: {line}")
            last = line
        if _condition(current, "Succeeded"):
            return current
        if _condition(current, "Failed"):
            messages = [c.get("message", "") for c in status.get("conditions", []) if c.get("type") == "Failed"]
            raise RuntimeError(f"Katib Experiment {namespace}/{name} failed: {'; '.join(messages)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"Katib Experiment {namespace}/{name} did not finish within {timeout_s:.0f} s")
        time.sleep(poll_s)


def search_result(experiment: Mapping[str, Any], trials: list[Mapping[str, Any]]) -> SearchResult:
    """Every trial's values and metrics, and the best one's values, from the finished Experiment and its Trials."""
    objective = experiment["spec"]["objective"]
    monitor, maximise = objective["objectiveMetricName"], objective["type"] == "maximize"
    outcomes = []
    for trial in trials:
        values = {a["name"]: a["value"] for a in trial.get("spec", {}).get("parameterAssignments", [])}
        metrics = {}
        for metric in trial.get("status", {}).get("observation", {}).get("metrics", []):
            # The objective at its best epoch; the additional metric (the validation loss) at its lowest.
            chosen = metric.get("max" if metric["name"] == monitor and maximise else "min")
            try:
                metrics[metric["name"]] = float(chosen)
            except (TypeError, ValueError):
                continue  # Katib writes "unavailable" for a metric it never saw
        conditions = [c["type"] for c in trial.get("status", {}).get("conditions", []) if c.get("status") == "True"]
        outcomes.append(
            TrialOutcome(
                trial["metadata"]["name"],
                values,
                metrics.get(monitor),
                conditions[-1] if conditions else "Unknown",
                metrics,
            )
        )
    optimal = experiment.get("status", {}).get("currentOptimalTrial", {})
    best = {a["name"]: a["value"] for a in optimal.get("parameterAssignments", [])}
    if not best:
        raise RuntimeError(f"Katib Experiment {experiment['metadata']['name']} finished with no optimal trial")
    return SearchResult(monitor, maximise, best, outcomes)
