"""bench/warm_start.py without training: epochs to the target, and the section it renders from known figures."""

from __future__ import annotations

from bench.warm_start import _reached, warm_start_section


def test_the_first_epoch_at_the_target_counts_from_one_either_way():
    assert _reached([0.6, 0.7, 0.8], 0.7, maximise=True) == 2
    assert _reached([0.6, 0.65], 0.7, maximise=True) is None
    assert _reached([0.5, 0.4, 0.3], 0.4, maximise=False) == 2


def _run(epochs: int | None, fit_s: float, curve: list[float]) -> dict:
    return {
        "epochs_to_target": epochs,
        "seconds_to_target": None if epochs is None else fit_s / len(curve) * epochs,
        "train_model_s": fit_s + 5.0,
        "fit_s": fit_s,
        "curve": curve,
        "note": "",
    }


def test_the_section_sets_warm_beside_cold_per_span_with_the_load():
    pair = {"day": "2013-12-31", "metric": "val_auc", "champion_best": 0.71, "target": 0.70}
    data = {
        "scale": "small",
        "epochs": 4,
        "tolerance": 0.01,
        "load_average": [3.0, 2.5, 2.0],
        "pairs": [{**pair, "runs": {"cold": _run(3, 8.0, [0.6, 0.65, 0.7, 0.72]), "warm": _run(1, 8.0, [0.7] * 4)}}],
    }
    text = warm_start_section(data)
    assert "| 2013-12-31 | cold | 0.7000 | 3 | 6.0 | 8.0 | 13.0 | 0.7200 |" in text
    assert "| 2013-12-31 | warm | 0.7000 | 1 | 2.0 | 8.0 | 13.0 | 0.7000 |" in text
    assert "cold: 3.0 (n=1) epochs, 6.0 (n=1) s of fit to the target; warm: 1.0 (n=1) epochs" in text
    assert "Load average (1, 5, 15 min) when it started: 3.0, 2.5, 2.0." in text
    assert "Reproduce: `BENCH_SCALE=small .venv/bin/python -m bench warm_start`" in text
    data["pairs"][0]["runs"]["cold"] = _run(None, 8.0, [0.5] * 4)
    text = warm_start_section(data)
    assert "| 2013-12-31 | cold | 0.7000 | not in 4 | — |" in text
    assert "A start did not reach the target in every pair." not in text  # warm did: its median stands
    assert "warm: 1.0 (n=1) epochs" in text and "cold:" not in text
