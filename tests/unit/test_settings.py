import pytest

from components.common.settings import PROJECT_ROOT, Settings


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
            "unknown DATASET 'palmer'; expected one of ['ames', 'chicago_taxi', 'fine_foods', 'flights', 'mlc_churn', "
            "'modeldata_taxi', 'penguins']",
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
