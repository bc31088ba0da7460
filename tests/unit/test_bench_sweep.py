"""The sweep refuses a configuration or dataset it does not know before it trains anything."""

import pytest

from bench.sweep import CONFIGURATIONS, sweep


def test_an_unknown_configuration_or_dataset_is_refused_by_name(tmp_path):
    quality = {"rows": [{"dataset": "penguins", "tree": 1.0}]}
    with pytest.raises(ValueError, match=r"\['cosine everywhere', 'titanic'\]"):
        sweep(quality, ["cosine everywhere"], ["titanic"], tmp_path / "sweep.json")
    assert not (tmp_path / "sweep.json").exists()


def test_the_schedule_is_a_dimension_of_the_sweep():
    assert {changes.get("lr_schedule", "constant") for changes in CONFIGURATIONS.values()} == {"constant", "cosine"}


def test_steps_per_epoch_set_the_batch_by_the_rule():
    from components.train.hyperparameters import batch_size_for

    # 2,068 train rows (ames in the quality run): 256 at 8 steps an epoch, 64 at 32.
    assert (batch_size_for(2068), batch_size_for(2068, 32)) == (256, 64)
    assert batch_size_for(244, 32) == 32  # never under the smallest batch
