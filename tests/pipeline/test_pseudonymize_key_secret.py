"""PSEUDONYMIZE_KEY on a cluster: which compiled tasks read it from which Secret, the model server's runtime
reading it too, and the Secret template and script that make it (docs/privacy.md, The key)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kfp import compiler

from components.common import cluster
from components.common.specs.privacy_values import MIN_KEY_CHARACTERS
from components.common.specs.vocabulary.privacy import PSEUDONYMIZE_KEY_SECRET, PSEUDONYMIZE_KEY_VARIABLE
from components.serve import kserve
from components.serve.registry import ServedVersion
from pipelines.monitoring_pipeline import build_monitoring_pipeline
from pipelines.scoring_pipeline import build_scoring_pipeline
from pipelines.training_pipeline import build_training_pipeline

REPO = Path(__file__).resolve().parents[2]
PARAMETER = "pseudonymize_key_secret"
# The steps that call components.common.specs.privacy_values (the baseline at validate, the graph and the eval
# copy at transform, the server's request log at infra-validate, the new data at monitor). Evaluate, score
# and train feed the model, whose graph holds the key already.
TREATING = {"exec-validate", "exec-transform", "exec-infra-validate"}


def _compiled(build: Any, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    compiler.Compiler().compile(build(), str(path))
    spec, platform = yaml.safe_load_all(path.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("key-secret")
    builds = {"training": build_training_pipeline, "monitoring": build_monitoring_pipeline}
    builds["scoring"] = build_scoring_pipeline
    return {name: _compiled(build, folder / f"{name}.yaml") for name, build in builds.items()}


def _key_readers(executors: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Executor -> its secretAsEnv entries that set PSEUDONYMIZE_KEY."""
    readers = {}
    for executor, config in executors.items():
        entries = [
            entry
            for entry in config.get("secretAsEnv", [])
            if any(pair["envVar"] == PSEUDONYMIZE_KEY_VARIABLE for pair in entry["keyToEnv"])
        ]
        if entries:
            readers[executor] = entries
    return readers


@pytest.mark.parametrize(
    ("pipeline", "readers"), [("training", TREATING), ("monitoring", TREATING | {"exec-monitor"}), ("scoring", set())]
)
def test_exactly_the_treating_steps_read_the_key_from_the_secret_the_run_names(pipelines, pipeline, readers):
    spec, executors = pipelines[pipeline]
    found = _key_readers(executors)
    assert set(found) == readers
    for executor, entries in found.items():
        [entry] = entries
        assert entry["keyToEnv"] == [{"secretKey": PSEUDONYMIZE_KEY_VARIABLE, "envVar": PSEUDONYMIZE_KEY_VARIABLE}]
        assert not entry["optional"], "a missing Secret must stop the pod, not let a step run without its key"
        assert "secretName" not in entry, f"{executor}: the Secret's name is the run's, not fixed at compile time"
        given = entry["secretNameParameter"]["componentInputParameter"]
        assert given.removeprefix("pipelinechannel--") == PARAMETER, executor
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    if readers:
        assert parameters[PARAMETER] == {
            "defaultValue": PSEUDONYMIZE_KEY_SECRET,
            "isOptional": True,
            "parameterType": "STRING",
        }
    # The key's value never sits in the spec: no container sets the variable itself.
    for executor in spec["deploymentSpec"]["executors"].values():
        assert PSEUDONYMIZE_KEY_VARIABLE not in {variable["name"] for variable in executor["container"].get("env", [])}


def test_the_blessed_branch_receives_the_secret_name_that_infra_validate_reads(pipelines):
    """A task under a condition reads the parameter through its branch, which must take it as an input."""
    spec, _ = pipelines["training"]
    [branch] = [c for c in spec["components"].values() if "infra-validate" in c.get("dag", {}).get("tasks", {})]
    assert f"pipelinechannel--{PARAMETER}" in branch["inputDefinitions"]["parameters"]
    [outer] = [task for name, task in spec["root"]["dag"]["tasks"].items() if name.startswith("condition")]
    assert outer["inputs"]["parameters"][f"pipelinechannel--{PARAMETER}"] == {"componentInputParameter": PARAMETER}


def test_the_retrain_on_drift_hands_the_secret_name_to_the_nested_training(pipelines):
    spec, _ = pipelines["monitoring"]
    branch = next(task for name, task in spec["root"]["dag"]["tasks"].items() if name.startswith("condition"))
    [nested] = spec["components"][branch["componentRef"]["name"]]["dag"]["tasks"].values()
    fed = nested["inputs"]["parameters"][PARAMETER]
    assert fed == {"componentInputParameter": f"pipelinechannel--{PARAMETER}"}


def test_the_model_server_reads_the_key_from_the_secret_beside_it():
    version = ServedVersion("churn-classifier", "3", "s3://models/churn-classifier/20261207-abc", "r")
    objects = kserve.render(version, kserve.Target("minikube"), image="ghcr.io/tabular-mlops/pipeline:abc123")
    runtime = next(obj for obj in objects if obj["kind"] == "ServingRuntime")
    [container] = runtime["spec"]["containers"]
    assert "--request-log" in container["command"]  # what needs the key: the log treats sensitive columns
    [variable] = [variable for variable in container["env"] if variable["name"] == PSEUDONYMIZE_KEY_VARIABLE]
    assert variable["valueFrom"] == {
        "secretKeyRef": {"name": PSEUDONYMIZE_KEY_SECRET, "key": PSEUDONYMIZE_KEY_VARIABLE}
    }
    # TensorFlow Serving runs the graph only (the key inside it) and writes no request log: no Secret to read.
    served = kserve.render(version, kserve.Target("minikube", runtime="tensorflow"))
    assert "ServingRuntime" not in [obj["kind"] for obj in served]


def test_the_secret_template_and_the_scripts_make_the_secret_in_both_namespaces():
    documents = list(yaml.safe_load_all((REPO / "infra" / "k8s" / "pseudonymize-key-secret.yaml").read_text()))
    for document in documents:
        kubernetes_validate.validate(document, "1.33.0", strict=True)
        assert document["metadata"]["name"] == PSEUDONYMIZE_KEY_SECRET
        [(key, value)] = document["stringData"].items()
        # No real key: a template applied as is is refused by every step that pseudonymises.
        assert key == PSEUDONYMIZE_KEY_VARIABLE and len(value) < MIN_KEY_CHARACTERS
    assert [document["metadata"]["namespace"] for document in documents] == [
        cluster.PIPELINE_NAMESPACE,
        kserve.NAMESPACE,
    ]
    script = (REPO / "infra" / "scripts" / "create-secrets.sh").read_text()
    made = [
        shlex.split(line) for line in script.splitlines() if PSEUDONYMIZE_KEY_SECRET in line and "create_secret" in line
    ]
    assert made == [["create_secret", "$PIPELINE_NAMESPACE", PSEUDONYMIZE_KEY_SECRET, "PSEUDONYMIZE_KEY=$(random 32)"]]
    up = (REPO / "infra" / "scripts" / "minikube-up.sh").read_text()
    assert f'create secret generic {PSEUDONYMIZE_KEY_SECRET} --from-env-file="$keys"' in up
    assert f'secret_value "$PIPELINE_NAMESPACE" {PSEUDONYMIZE_KEY_SECRET} {PSEUDONYMIZE_KEY_VARIABLE}' in up
