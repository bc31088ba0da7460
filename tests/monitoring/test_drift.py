"""The drift check on real data: penguins with one value planted far out against penguins, random halves of one file.

Each penguins test runs on the files made from the installed palmerpenguins data, and again on
TensorFlow Extended's penguins files where ../shared holds them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from components.common.specs import get_spec
from components.data.baseline import Baseline, baseline_from_csv, build_baseline, spec_kinds
from components.monitor.drift import DriftThresholds, compare, ks_against_cdf
from components.monitor.report import html_report

pytestmark = pytest.mark.monitoring


@pytest.fixture(scope="module")
def processed(penguins) -> pd.DataFrame:
    return pd.read_csv(penguins.reference)


@pytest.fixture(scope="module")
def baseline(penguins) -> Baseline:
    return baseline_from_csv(penguins.reference, "penguins", penguins.reference.name)


def test_the_skewed_file_differs_from_the_reference_only_where_the_shift_was_planted(penguins, processed):
    skewed = pd.read_csv(penguins.skewed)
    assert list(processed.columns) == list(skewed.columns) == penguins.columns
    assert len(processed) == len(skewed) == penguins.rows
    changed = skewed.ne(processed)
    assert changed.sum().to_dict() == {name: int(name == penguins.planted_column) for name in penguins.columns}
    assert skewed[penguins.planted_column][changed[penguins.planted_column]].tolist() == [penguins.planted_value]


def test_the_baseline_infers_kinds_without_a_spec(baseline, penguins):
    kinds = {column.name: column.kind for column in baseline.columns}
    assert kinds == {"species": "categorical", **dict.fromkeys(penguins.measurements, "numeric")}
    assert baseline.row_count == penguins.rows
    assert baseline.column("species").categories == penguins.species
    for name in penguins.measurements:
        profile = baseline.column(name).numeric
        assert (profile.min, profile.max, profile.cdf[-1]) == (0.0, 1.0, 1.0), name


def test_drift_is_found_on_the_skewed_file(baseline, penguins):
    report = compare(baseline, pd.read_csv(penguins.skewed), penguins.skewed.name, DriftThresholds())
    planted = penguins.planted_column
    assert report.drifted
    assert report.drifted_features == [planted]
    by_name = {feature.name: feature for feature in report.features}
    assert sorted(by_name) == sorted(penguins.columns)
    # One value out of hundreds: the statistic does not move, only the out-of-range rule finds it.
    assert by_name[planted].out_of_range_share == pytest.approx(1 / penguins.rows)
    assert by_name[planted].score < DriftThresholds().ks and len(by_name[planted].reasons) == 1
    reason = by_name[planted].reasons[0]
    assert "far outside the baseline range" in reason and f"{penguins.planted_value:.4g}" in reason
    for name in penguins.unshifted:
        assert not by_name[name].drifted and by_name[name].score == pytest.approx(0, abs=1e-9), by_name[name]
    assert report.verdict().endswith(f"verdict: DRIFT ({planted})")


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


def test_ks_against_the_stored_cdf_equals_scipys_two_sample_statistic(baseline, penguins, processed):
    skewed = pd.read_csv(penguins.skewed)
    for column in (penguins.planted_column, "body_mass_g"):
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
    chunks = [processed.iloc[start : start + 50] for start in range(0, len(processed), 50)]
    assert len(chunks) > 5
    batches = build_baseline(chunks, "penguins", "file")
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


def test_new_data_is_read_by_the_one_reader_in_any_layout(tmp_path, baseline, penguins):
    """Missing spellings mean missing to the drift check as to validate; a folder of Parquet reads as the CSV does."""
    from components.monitor.task import read_new_data

    frame = pd.read_csv(penguins.reference).head(40)
    column = penguins.measurements[0]
    text = frame.astype(object)
    text.loc[:3, column] = ["NA", "nan", "null", "None"]
    text.to_csv(tmp_path / "new.csv", index=False)
    read = read_new_data(tmp_path / "new.csv", baseline, "new.csv")
    assert read[column].isna().tolist()[:5] == [True, True, True, True, False]
    assert read[column].dtype == "float64" and read[column].iloc[4] == frame[column].iloc[4]
    (tmp_path / "parts").mkdir()
    frame.iloc[:20].to_parquet(tmp_path / "parts" / "a.parquet")
    frame.iloc[20:].to_parquet(tmp_path / "parts" / "b.parquet")
    from_parquet = read_new_data(tmp_path / "parts", baseline, "parts")
    pd.testing.assert_frame_equal(from_parquet.astype({"species": object}), frame.astype({"species": object}))
