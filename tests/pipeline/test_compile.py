"""The compiled training pipeline, read back from its YAML."""

import pytest
import yaml

from pipelines.__main__ import main

EXPECTED_TASKS = {"validate", "transform", "train", "evaluate", "push"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("compile") / "training_pipeline.yaml"
    assert main(["compile", "--output", str(output)]) == 0
    return yaml.safe_load(output.read_text())


def _tasks(dag: dict) -> dict:
    return dag["dag"]["tasks"]


def test_wires_the_five_steps_with_push_under_the_gate(compiled):
    root_tasks = _tasks(compiled["root"])
    condition_branch = next(name for name in root_tasks if name.startswith("condition"))
    assert set(root_tasks) == {"validate", "transform", "train", "evaluate", condition_branch}
    branch = compiled["components"][root_tasks[condition_branch]["componentRef"]["name"]]
    assert set(_tasks(branch)) == {"push"}
    assert "evaluate" in root_tasks[condition_branch]["dependentTasks"]
    condition = root_tasks[condition_branch]["triggerPolicy"]["condition"]
    assert "pipelinechannel--evaluate-Output" in condition and "== true" in condition


def test_data_flows_one_way(compiled):
    tasks = _tasks(compiled["root"])
    assert set(tasks["transform"]["dependentTasks"]) == {"validate"}
    assert set(tasks["train"]["dependentTasks"]) == {"transform", "validate"}
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
        "min_roc_auc": "NUMBER_DOUBLE",
        "max_log_loss": "NUMBER_DOUBLE",
        "champion_tolerance": "NUMBER_DOUBLE",
        "beam_runner": "STRING",
    }
    assert {name: parameters[name]["parameterType"] for name in expected} == expected
    assert parameters["beam_runner"]["defaultValue"] == "DirectRunner"


def test_trainer_runs_in_its_own_image(compiled):
    executors = compiled["deploymentSpec"]["executors"]
    images = {name.removeprefix("exec-"): spec["container"]["image"] for name, spec in executors.items()}
    assert set(images) == EXPECTED_TASKS
    assert images["train"].split("/")[-1].startswith("trainer:")
    assert {images[name] for name in EXPECTED_TASKS - {"train"}} == {images["validate"]}
