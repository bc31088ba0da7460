"""The drift check on real data: penguins with a shifted value against penguins, and random halves of one file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from components.common.specs import get_spec
from components.monitor.baseline import Baseline, baseline_from_csv, build_baseline, spec_kinds
from components.monitor.drift import DriftThresholds, compare, ks_against_cdf
from components.monitor.report import html_report

pytestmark = pytest.mark.monitoring


@pytest.fixture(scope="module")
def processed(penguins) -> pd.DataFrame:
    return pd.read_csv(penguins / "penguins_processed.csv")


@pytest.fixture(scope="module")
def baseline(penguins) -> Baseline:
    return baseline_from_csv(penguins / "penguins_processed.csv", "penguins", "penguins_processed.csv")


def test_the_baseline_infers_kinds_without_a_spec(baseline):
    kinds = {column.name: column.kind for column in baseline.columns}
    assert kinds == {
        "species": "categorical",
        "culmen_length_mm": "numeric",
        "culmen_depth_mm": "numeric",
        "flipper_length_mm": "numeric",
        "body_mass_g": "numeric",
    }
    assert baseline.row_count == 334
    assert baseline.column("species").categories == {"0": 146, "2": 120, "1": 68}
    culmen = baseline.column("culmen_length_mm").numeric
    assert (culmen.min, culmen.max, culmen.cdf[-1]) == (0.0, 1.0, 1.0)


def test_drift_is_found_on_the_skewed_file(baseline, penguins):
    report = compare(baseline, pd.read_csv(penguins / "penguins_skewed.csv"), "penguins_skewed.csv", DriftThresholds())
    assert report.drifted
    assert report.drifted_features == ["culmen_length_mm"]
    culmen = next(feature for feature in report.features if feature.name == "culmen_length_mm")
    assert culmen.out_of_range_share == pytest.approx(1 / 334)
    assert "far outside the baseline range" in culmen.reasons[0] and "-1" in culmen.reasons[0]
    assert report.verdict().endswith("verdict: DRIFT (culmen_length_mm)")


@pytest.mark.parametrize("seed", range(20))
def test_no_drift_between_two_random_halves(processed, seed):
    order = np.random.default_rng(seed).permutation(len(processed))
    first, second = processed.iloc[order[: len(order) // 2]], processed.iloc[order[len(order) // 2 :]]
    report = compare(build_baseline([first], "penguins", "first half"), second, "second half", DriftThresholds())
    assert not report.drifted, report.verdict()
    assert report.verdict().endswith("verdict: no drift")


def test_a_shifted_numeric_feature_and_a_reweighted_category_drift_by_their_statistics(baseline, processed):
    # heavier birds, and four times as many of species 1
    shifted = processed.assign(body_mass_g=processed["body_mass_g"] + 0.15)
    shifted = pd.concat([shifted] + [shifted[shifted["species"] == 1]] * 3, ignore_index=True)
    report = compare(baseline, shifted, "shifted", DriftThresholds())
    by_name = {feature.name: feature for feature in report.features}
    assert by_name["body_mass_g"].drifted and "KS" in by_name["body_mass_g"].reasons[0]
    assert by_name["species"].drifted and "Jensen-Shannon" in by_name["species"].reasons[0]
    assert by_name["species"].score >= 0.1 and by_name["species"].p_value < 0.001


def test_ks_against_the_stored_cdf_equals_scipys_two_sample_statistic(baseline, penguins):
    skewed = pd.read_csv(penguins / "penguins_skewed.csv")
    processed = pd.read_csv(penguins / "penguins_processed.csv")
    for column in ("culmen_length_mm", "body_mass_g"):
        profile = baseline.column(column).numeric
        shifted = skewed[column].to_numpy() * 0.9
        expected = ks_2samp(processed[column], shifted).statistic
        assert ks_against_cdf(np.array(profile.points), np.array(profile.cdf), shifted) == pytest.approx(expected)


def test_unseen_categories_missing_features_and_text_in_numbers_are_drift():
    spec = get_spec("chicago_taxi")
    rows = 400
    training = pd.DataFrame(
        {
            "payment_type": ["Cash", "Credit Card"] * (rows // 2),
            "trip_miles": np.linspace(0, 20, rows),
            "fare": np.linspace(3, 60, rows),
            "tips": np.linspace(0, 10, rows),
        }
    )
    kinds = {name: kind for name, kind in spec_kinds(spec).items() if name in training.columns}
    baseline = build_baseline([training], "chicago_taxi", "training", kinds)
    new = training.drop(columns=["fare", "tips"]).assign(request_id=range(rows))
    new["payment_type"] = ["Cash", "Bitcoin", "Credit Card", "Credit Card"] * (rows // 4)
    new["trip_miles"] = new["trip_miles"].astype(object)
    new.loc[::50, "trip_miles"] = "about three"
    report = compare(baseline, new, "requests.jsonl", DriftThresholds())
    changes = {(change.column, change.change): change.breaking for change in report.schema_changes}
    assert changes == {
        ("fare", "missing"): True,
        ("tips", "missing"): False,
        ("trip_miles", "type"): True,
        ("request_id", "added"): False,
    }
    payment = next(feature for feature in report.features if feature.name == "payment_type")
    assert payment.unseen_share == pytest.approx(0.25) and "'Bitcoin'" in " ".join(payment.reasons)
    assert report.drifted and "schema: fare missing" in report.verdict()
    assert "Bitcoin" in html_report(report) and "DRIFT" in html_report(report)


def test_the_baseline_is_the_same_built_in_batches_and_survives_json(processed):
    whole = build_baseline([processed], "penguins", "file")
    batches = build_baseline([processed.iloc[start : start + 50] for start in range(0, 334, 50)], "penguins", "file")
    for one, other in zip(whole.columns, batches.columns):
        assert (one.categories, one.count, one.null_fraction) == (other.categories, other.count, other.null_fraction)
        if one.numeric:
            assert (one.numeric.points, one.numeric.cdf) == (other.numeric.points, other.numeric.cdf)
            assert (one.numeric.min, one.numeric.max) == (other.numeric.min, other.numeric.max)
            # sums in another order: equal to the last bits
            assert one.numeric.mean == pytest.approx(other.numeric.mean, rel=1e-12)
            assert one.numeric.std == pytest.approx(other.numeric.std, rel=1e-12)
    assert Baseline.from_json(whole.to_json(), "baseline.json") == whole
    with pytest.raises(ValueError, match=r"broken\.json: not a baseline"):
        Baseline.from_json('{"dataset": "x"}', "broken.json")
