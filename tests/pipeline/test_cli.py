"""The command line behind the Makefile: clear refusals before any pipeline starts."""

import csv

import pytest

from components.common.specs import get_spec
from pipelines.__main__ import main


@pytest.fixture
def env(monkeypatch):
    for name in ("DATASET", "DATA_URI", "EPOCHS", "MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_run_refuses_a_missing_data_file(env, tmp_path, capsys):
    env.setenv("DATASET", "chicago_taxi")
    env.setenv("DATA_URI", str(tmp_path / "nowhere.csv"))
    assert main(["run"]) == 2
    assert f"DATA_URI {tmp_path / 'nowhere.csv'} does not exist" in capsys.readouterr().err


def test_bad_settings_exit_before_running(env, capsys):
    env.setenv("EPOCHS", "many")
    assert main(["run"]) == 2
    assert "settings: EPOCHS must be a positive integer, got 'many'" in capsys.readouterr().err


def test_data_materializes_the_bundled_dataset_in_spec_order(env, tmp_path, capsys):
    target = tmp_path / "taxi.csv"
    env.setenv("DATA_URI", str(target))
    assert main(["data"]) == 0
    with target.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == get_spec("modeldata_taxi").column_names
    assert len(rows) == 10_000
    assert main(["data"]) == 0
    assert "already exists" in capsys.readouterr().out


def test_data_refuses_a_dataset_that_is_not_bundled(env, tmp_path, capsys):
    env.setenv("DATASET", "chicago_taxi")
    env.setenv("DATA_URI", str(tmp_path / "trips.csv"))
    assert main(["data"]) == 2
    assert "DATASET=chicago_taxi is not bundled" in capsys.readouterr().err
