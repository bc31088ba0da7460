import pytest

from components.runs.settings import PROJECT_ROOT, Settings


def test_defaults_work_on_a_fresh_clone():
    settings = Settings.from_env({})
    assert settings.dataset == "mlc_churn"
    assert settings.data_uri == str(PROJECT_ROOT / "data" / "mlc_churn.csv")
    assert settings.mlflow_tracking_uri == f"sqlite:///{PROJECT_ROOT}/mlruns/mlflow.db"
    assert settings.model_name == "mlc_churn-classifier"
    assert settings.epochs == 20


def test_empty_variables_count_as_unset():
    """`make` exports variables the user did not set as empty strings."""
    assert Settings.from_env({"EPOCHS": "", "DATA_URI": "", "MODEL_NAME": ""}) == Settings.from_env({})


def test_relative_paths_become_absolute_and_uris_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(
        {"DATASET": "chicago_taxi", "DATA_URI": "trips.csv", "MODEL_STORE_URI": "s3://models/prod"}
    )
    assert settings.data_uri == str(tmp_path / "trips.csv")
    assert settings.model_store_uri == "s3://models/prod"
    assert settings.model_name == "chicago_taxi-classifier"
    assert Settings.from_env({"DATASET": "ames"}).model_name == "ames-regressor"


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"DATASET": "palmer"},
            "unknown DATASET 'palmer'; expected one of ['ames', 'chicago_taxi', 'digits', 'fine_foods', 'flights', "
            "'mlc_churn', 'mlc_churn_pii', 'mlc_churn_pii_undeclared', 'modeldata_taxi', 'nycflights', 'penguins']",
        ),
        ({"DATASET": "chicago_taxi"}, "DATASET=chicago_taxi ships no data: set DATA_URI"),
        ({"EPOCHS": "ten"}, "EPOCHS must be a positive integer, got 'ten'"),
        ({"EPOCHS": "0"}, "EPOCHS must be a positive integer, got '0'"),
    ],
)
def test_bad_settings_say_what_is_wrong(env, message):
    with pytest.raises(ValueError) as error:
        Settings.from_env(env)
    assert message in str(error.value)


@pytest.mark.parametrize("name", ["../escape", "a/b", "-leading-dash", ".hidden", "taxi..v2", "x y", "ünicode", "a\\b"])
def test_a_model_name_that_is_not_a_plain_path_segment_is_refused_naming_the_rule(name):
    with pytest.raises(ValueError) as refused:
        Settings.from_env({"MODEL_NAME": name})
    assert str(refused.value) == (
        f"MODEL_NAME={name!r}: a model name must match [A-Za-z0-9][A-Za-z0-9._-]* with no '..' (it becomes a path)"
    )


def test_plain_model_names_are_taken():
    for name in ("taxi-classifier", "penguins_v2.1", "A", "0day"):
        assert Settings.from_env({"MODEL_NAME": name}).model_name == name


def test_push_and_serve_refuse_a_bad_model_name_before_touching_the_store_or_the_registry(tmp_path):
    """Their entry points are reached without Settings too (KFP parameters): they check the name themselves."""
    from components.push.task import push_model
    from components.serve.registry import resolve

    store, database = tmp_path / "store", tmp_path / "mlflow.db"
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"graph")
    with pytest.raises(ValueError, match=r"MODEL_NAME='\.\./\.\./outside': a model name must match"):
        push_model(model, str(store), "../../outside", f"sqlite:///{database}", "run-1")
    with pytest.raises(ValueError, match=r"MODEL_NAME='a/b': a model name must match"):
        resolve(f"sqlite:///{database}", "a/b")
    assert not store.exists() and not database.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


def test_variants_reach_the_pipeline_argument_and_none_builds_none():
    from pipelines.arguments import pipeline_arguments
    from pipelines.training_pipeline import build_training_pipeline

    default = build_training_pipeline().pipeline_spec.root.input_definitions.parameters["variants"]
    assert default.default_value.string_value == "int8,distilled"
    assert "variants" not in pipeline_arguments(Settings.from_env({"VARIANTS": ""}))
    assert pipeline_arguments(Settings.from_env({"VARIANTS": "float16, int8"}))["variants"] == "float16, int8"
    assert pipeline_arguments(Settings.from_env({"VARIANTS": "none"}))["variants"] == ""
    with pytest.raises(ValueError, match=r"VARIANTS: variants 'int8,int4': unknown kind\(s\) \['int4'\]"):
        pipeline_arguments(Settings.from_env({"VARIANTS": "int8,int4"}))
