"""The compiled training pipeline, read back from its YAML: the pipeline spec and its Kubernetes platform spec."""

import pytest
import yaml

from components.common import cluster, object_store
from components.common.specs.vocabulary.privacy import PSEUDONYMIZE_KEY_VARIABLE
from components.runs import run_metrics
from pipelines.__main__ import main

EXPECTED_TASKS = {"validate", "transform", "tune", "train", "evaluate", "infra-validate", "push", "deploy"}
EXPECTED_TASKS |= {"build-variants", "push-variants"}  # compressed variants (issue 26)
TRAINER_TASKS = {"tune", "train"}
CPU_TASKS = EXPECTED_TASKS - {"train"}


def _compile(path) -> tuple[dict, dict]:
    assert main(["compile", "--output", str(path)]) == 0
    pipeline_spec, platform_spec = yaml.safe_load_all(path.read_text())
    return pipeline_spec, platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def compiled_both(tmp_path_factory) -> tuple[dict, dict]:
    return _compile(tmp_path_factory.mktemp("compile") / "training_pipeline.yaml")


@pytest.fixture(scope="module")
def compiled(compiled_both) -> dict:
    return compiled_both[0]


@pytest.fixture(scope="module")
def kubernetes(compiled_both) -> dict:
    """Per executor: what kfp-kubernetes asked of the pod (Secrets, tolerations, node selector)."""
    return compiled_both[1]


def _all_tasks(compiled: dict) -> dict:
    """Every task, the ones under the gate's condition included."""
    tasks = dict(compiled["root"]["dag"]["tasks"])
    for component in compiled["components"].values():
        tasks.update(component.get("dag", {}).get("tasks", {}))
    return {name: task for name, task in tasks.items() if name in EXPECTED_TASKS}


def _tasks(dag: dict) -> dict:
    return dag["dag"]["tasks"]


def test_wires_the_eight_steps_with_push_under_the_gate_and_infra_validation(compiled):
    root_tasks = _tasks(compiled["root"])
    condition_branch = next(name for name in root_tasks if name.startswith("condition"))
    assert set(root_tasks) == {"validate", "transform", "tune", "train", "evaluate", condition_branch}
    blessed = compiled["components"][root_tasks[condition_branch]["componentRef"]["name"]]
    serves = next(name for name in _tasks(blessed) if name.startswith("condition"))
    assert set(_tasks(blessed)) == {"infra-validate", serves}
    assert "pipelinechannel--infra-validate-Output" in _tasks(blessed)[serves]["triggerPolicy"]["condition"]
    model = _tasks(blessed)["infra-validate"]["inputs"]["artifacts"]["model"]
    assert model == {"componentInputArtifact": "pipelinechannel--train-model"}
    branch = compiled["components"][_tasks(blessed)[serves]["componentRef"]["name"]]
    conditions = [name for name in _tasks(branch) if name.startswith("condition")]
    assert set(_tasks(branch)) == {"push", *conditions} and len(conditions) == 2  # deploy-on-push, variants
    inner = next(name for name in conditions if "deploy_on_push" in _tasks(branch)[name]["triggerPolicy"]["condition"])
    (variants,) = set(conditions) - {inner}
    assert "pipelinechannel--variants" in _tasks(branch)[variants]["triggerPolicy"]["condition"]
    variants_branch = compiled["components"][_tasks(branch)[variants]["componentRef"]["name"]]
    assert set(_tasks(variants_branch)) == {"build-variants", "push-variants"}  # beside push: it never waits on them
    assert "build-variants" not in str(_tasks(branch)["push"].get("dependentTasks", []))
    assert compiled["root"]["inputDefinitions"]["parameters"]["variants"]["defaultValue"] == "int8,distilled"
    deploy_branch = compiled["components"][_tasks(branch)[inner]["componentRef"]["name"]]
    assert set(_tasks(deploy_branch)) == {"deploy"}
    assert "pipelinechannel--deploy_on_push" in _tasks(branch)[inner]["triggerPolicy"]["condition"]
    assert compiled["root"]["inputDefinitions"]["parameters"]["deploy_on_push"]["defaultValue"] is False
    assert "evaluate" in root_tasks[condition_branch]["dependentTasks"]
    condition = root_tasks[condition_branch]["triggerPolicy"]["condition"]
    assert "pipelinechannel--evaluate-Output" in condition and "== true" in condition


def test_data_flows_one_way(compiled):
    tasks = _tasks(compiled["root"])
    assert set(tasks["transform"]["dependentTasks"]) == {"validate"}
    assert set(tasks["tune"]["dependentTasks"]) == {"transform", "validate"}
    assert set(tasks["train"]["dependentTasks"]) == {"transform", "tune", "validate"}
    for name in ("learning_rate", "hidden_units", "dropout", "batch_size"):
        tuned = tasks["train"]["inputs"]["parameters"][name]["taskOutputParameter"]
        assert tuned == {"outputParameterKey": name, "producerTask": "tune"}, name
    assert set(tasks["evaluate"]["dependentTasks"]) == {"train", "transform", "validate"}
    model_input = tasks["evaluate"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]
    assert model_input == {"outputArtifactKey": "model", "producerTask": "train"}


def test_pipeline_parameters_are_typed(compiled):
    parameters = compiled["root"]["inputDefinitions"]["parameters"]
    expected = {
        "dataset": "STRING",
        "data_uri": "STRING",
        "mlflow_tracking_uri": "STRING",
        "model_store_uri": "STRING",
        "model_name": "STRING",
        "epochs": "NUMBER_INTEGER",
        "learning_rate": "NUMBER_DOUBLE",
        "hidden_units": "LIST",
        "thresholds": "STRUCT",
        "model_builder": "STRING",
        "champion_tolerance": "NUMBER_DOUBLE",
        "beam_runner": "STRING",
    }
    assert {name: parameters[name]["parameterType"] for name in expected} == expected
    assert parameters["beam_runner"]["defaultValue"] == "DirectRunner"


def test_trainer_runs_in_its_own_image(compiled):
    executors = compiled["deploymentSpec"]["executors"]
    images = {name.removeprefix("exec-"): spec["container"]["image"] for name, spec in executors.items()}
    assert set(images) == EXPECTED_TASKS
    assert {images[name].split("/")[-1].split(":")[0] for name in TRAINER_TASKS} == {"trainer"}
    assert {images[name] for name in EXPECTED_TASKS - TRAINER_TASKS} == {images["validate"]}


def test_train_requests_gpus_a_pipeline_parameter_sets(compiled):
    resources = compiled["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["resourceType"] == cluster.GPU_RESOURCE
    assert resources["accelerator"]["resourceCount"] == "{{$.inputs.parameters['pipelinechannel--train_gpus']}}"
    train_gpus = compiled["root"]["inputDefinitions"]["parameters"]["train_gpus"]
    assert train_gpus == {"defaultValue": 1, "isOptional": True, "parameterType": "NUMBER_INTEGER"}
    count_input = compiled["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]["accelerator_count"]
    assert count_input["runtimeValue"]["constant"] == "{{$.inputs.parameters['pipelinechannel--train_gpus']}}"


def test_train_bounds_cpu_and_memory_and_the_other_steps_ask_for_no_gpu(compiled):
    executors = compiled["deploymentSpec"]["executors"]
    resources = executors["exec-train"]["container"]["resources"]
    assert {key: resources[key] for key in resources if key.startswith("resource") and key != "resourceCount"} == {
        "resourceCpuRequest": "2",
        "resourceCpuLimit": "8",
        "resourceMemoryRequest": "8Gi",
        "resourceMemoryLimit": "16Gi",
    }
    for task in CPU_TASKS:
        assert "accelerator" not in executors[f"exec-{task}"]["container"].get("resources", {}), task


def test_train_tolerates_the_gpu_taint_and_selects_the_gpu_pool(kubernetes):
    train = kubernetes["exec-train"]
    assert train["tolerations"] == [
        {
            "key": cluster.GPU_TAINT_KEY,
            "operator": "Equal",
            "value": cluster.GPU_TAINT_VALUE,
            "effect": cluster.GPU_TAINT_EFFECT,
        }
    ]
    assert train["nodeSelector"] == {"labels": {cluster.NODE_POOL_LABEL_KEY: cluster.GPU_NODE_POOL}}
    for task in CPU_TASKS:
        assert "tolerations" not in kubernetes[f"exec-{task}"] and "nodeSelector" not in kubernetes[f"exec-{task}"]


def test_the_gpu_node_label_comes_from_the_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("GPU_NODE_POOL_LABEL_KEY", "cloud.google.com/gke-nodepool")
    monkeypatch.setenv("GPU_NODE_POOL", "a100-pool")
    _, kubernetes = _compile(tmp_path / "pipeline.yaml")
    assert kubernetes["exec-train"]["nodeSelector"] == {"labels": {"cloud.google.com/gke-nodepool": "a100-pool"}}


def test_credentials_come_from_secrets_and_never_sit_in_the_spec(compiled, kubernetes):
    expected = [
        (cluster.S3_CREDENTIALS_SECRET, cluster.S3_CREDENTIAL_KEYS),
        (cluster.MLFLOW_CREDENTIALS_SECRET, cluster.MLFLOW_CREDENTIAL_KEYS),
    ]
    # The steps that treat sensitive values also read the key, from the Secret a run parameter names (no
    # fixed secretName): tests/pipeline/test_pseudonymize_key_secret.py checks which parameter.
    key = [(None, (PSEUDONYMIZE_KEY_VARIABLE,))]
    for task in EXPECTED_TASKS:
        secrets = kubernetes[f"exec-{task}"]["secretAsEnv"]
        assert [
            (secret.get("secretName"), tuple(pair["secretKey"] for pair in secret["keyToEnv"])) for secret in secrets
        ] == expected + (key if task in {"validate", "transform", "infra-validate"} else []), task
        assert all(pair["secretKey"] == pair["envVar"] for secret in secrets for pair in secret["keyToEnv"])
        assert not any(secret["optional"] for secret in secrets), "a missing Secret must stop the pod, not a step"
    names = {key for _, keys in expected for key in keys}
    for executor in compiled["deploymentSpec"]["executors"].values():
        assert not names & {variable["name"] for variable in executor["container"].get("env", [])}


def _config_maps(kubernetes: dict, task: str) -> dict[str, dict]:
    return {entry["configMapName"]: entry for entry in kubernetes[f"exec-{task}"]["configMapAsEnv"]}


def test_every_step_may_read_the_pushgateway_address_from_the_monitoring_config_map(kubernetes):
    for task in EXPECTED_TASKS:
        config_map = _config_maps(kubernetes, task)[run_metrics.GATEWAY_CONFIG_MAP]
        assert config_map["optional"] is True, "a cluster without the monitoring stack still trains"
        assert config_map["keyToEnv"] == [{"configMapKey": "PUSHGATEWAY_URL", "envVar": "PUSHGATEWAY_URL"}]


def test_every_step_reads_the_object_store_the_same_way(compiled, kubernetes):
    """Every task reads or writes the store (data, models, MLflow artifacts): all get its endpoint parameter,
    and the region and encryption from the object-store ConfigMap."""
    assert compiled["root"]["inputDefinitions"]["parameters"]["s3_endpoint_url"]["parameterType"] == "STRING"
    for name, task in _all_tasks(compiled).items():
        endpoint = task["inputs"]["parameters"]["s3_endpoint_url"]
        assert endpoint == {"componentInputParameter": "pipelinechannel--s3_endpoint_url"} or endpoint == {
            "componentInputParameter": "s3_endpoint_url"
        }, name
    for task in EXPECTED_TASKS:
        store = _config_maps(kubernetes, task)[object_store.OBJECT_STORE_CONFIG_MAP]
        assert [pair["configMapKey"] for pair in store["keyToEnv"]] == list(object_store.OBJECT_STORE_VARIABLES)
        assert all(pair["configMapKey"] == pair["envVar"] for pair in store["keyToEnv"])


def test_network_steps_retry_with_backoff(compiled):
    retries = {name: task.get("retryPolicy") for name, task in _all_tasks(compiled).items()}
    backoff = {"backoffDuration": "30s", "backoffFactor": 2.0, "backoffMaxDuration": "600s"}
    assert retries == {
        "validate": {**backoff, "maxRetryCount": 3},
        "transform": {**backoff, "maxRetryCount": 3},
        "tune": {**backoff, "maxRetryCount": 3},
        "train": {**backoff, "maxRetryCount": 1},
        "evaluate": {**backoff, "maxRetryCount": 3},
        "infra-validate": {**backoff, "maxRetryCount": 3},
        "push": {**backoff, "maxRetryCount": 3},
        "deploy": {**backoff, "maxRetryCount": 3},
        "build-variants": {**backoff, "maxRetryCount": 3},
        "push-variants": {**backoff, "maxRetryCount": 3},
    }


def test_local_runs_build_the_pipeline_without_retries(tmp_path):
    """kfp.local honours retry policies: a local run on bad data must fail at once, not after minutes of backoff."""
    from kfp import compiler

    from pipelines.training_pipeline import build_training_pipeline

    output = tmp_path / "local.yaml"
    compiler.Compiler().compile(build_training_pipeline(retry_failed_steps=False), str(output))
    spec = next(yaml.safe_load_all(output.read_text()))
    assert {name: task.get("retryPolicy") for name, task in _all_tasks(spec).items()} == dict.fromkeys(EXPECTED_TASKS)


def test_only_transform_is_cached_and_its_inputs_are_content(compiled):
    caching = {name: task["cachingOptions"].get("enableCache", False) for name, task in _all_tasks(compiled).items()}
    assert caching == {
        "validate": False, "transform": True, "tune": False, "train": False, "evaluate": False,
        "infra-validate": False, "push": False, "deploy": False, "build-variants": False, "push-variants": False,
    }  # fmt: skip
    transform = _tasks(compiled["root"])["transform"]["inputs"]["parameters"]
    assert set(transform) == {
        "data_uri", "data_sha256", "data_size", "dataset", "spec_fingerprint", "beam_runner", "beam_options",
        "s3_endpoint_url", "split", "train_window", "allow_missing_spans", "data_as_of",
    }  # fmt: skip
    from_validate = {
        name: value["taskOutputParameter"]["outputParameterKey"]
        for name, value in transform.items()
        if "taskOutputParameter" in value
    }
    # The day a span window ended is validate's (empty without spans), never the run's scheduled time.
    assert from_validate == {name: name for name in ("data_sha256", "data_size", "spec_fingerprint", "data_as_of")}
    validate = _tasks(compiled["root"])["validate"]["inputs"]["parameters"]
    assert validate["scheduled_time"]["runtimeValue"]["constant"] == "{{$.pipeline_job_schedule_time_utc}}"
    # No per-run value (job name, MLflow run id, a placeholder) reaches the cached step's key.
    assert "mlflow_run_id" not in transform and "{{$" not in str(transform)


def test_the_seed_and_the_gate_settings_are_run_parameters(compiled):
    parameters = compiled["root"]["inputDefinitions"]["parameters"]
    assert parameters["seed"]["defaultValue"] == 0
    assert parameters["baseline_margin"]["parameterType"] == "NUMBER_DOUBLE"
    assert parameters["allow_unscored_champion"]["defaultValue"] is False
    train = _tasks(compiled["root"])["train"]["inputs"]["parameters"]
    assert train["seed"] == {"componentInputParameter": "seed"}


def test_two_training_workers_make_train_a_cpu_launcher_of_gpu_workers(monkeypatch, tmp_path):
    """TRAIN_WORKERS is fixed at build time: the train task then asks for no GPU and no GPU node, and hands
    the run's GPU count, node pool and store endpoint on to the workers it launches."""
    monkeypatch.setenv("TRAIN_WORKERS", "2")
    spec, kubernetes = _compile(tmp_path / "workers.yaml")
    executor = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert "accelerator" not in executor.get("resources", {})
    assert "tolerations" not in kubernetes["exec-train"] and "nodeSelector" not in kubernetes["exec-train"]
    train = _tasks(spec["root"])["train"]["inputs"]["parameters"]
    assert train["train_workers"] == {"runtimeValue": {"constant": 2}}
    assert train["worker_gpus"] == {"componentInputParameter": "train_gpus"}
    assert train["gpu_node_label_value"] == {"runtimeValue": {"constant": cluster.GPU_NODE_POOL}}


def test_tuning_is_off_by_default_and_its_budget_is_run_parameters(compiled):
    parameters = compiled["root"]["inputDefinitions"]["parameters"]
    assert parameters["tune_trials"]["defaultValue"] == "0"
    assert parameters["tune_trials"]["parameterType"] == "STRING"  # a count, or auto (components/tune/budget.py)
    assert parameters["tune_algorithm"]["defaultValue"] == "tpe"
    tune = _tasks(compiled["root"])["tune"]["inputs"]["parameters"]
    assert tune["tune_trials"] == {"componentInputParameter": "tune_trials"}
    assert tune["trial_gpus"] == {"componentInputParameter": "train_gpus"}


def test_the_learning_rate_schedule_is_a_run_parameter_reaching_tune_and_train(compiled):
    parameters = compiled["root"]["inputDefinitions"]["parameters"]
    assert parameters["lr_schedule"] == {"defaultValue": "constant", "isOptional": True, "parameterType": "STRING"}
    tasks = _tasks(compiled["root"])
    for step in ("tune", "train"):
        assert tasks[step]["inputs"]["parameters"]["lr_schedule"] == {"componentInputParameter": "lr_schedule"}
