"""bench quality's verdict, the tree's inputs and the table (the measurement itself: `python -m bench quality`)."""

from __future__ import annotations

import pandas as pd

from bench.quality import tree_inputs, verdict
from bench.report_quality import quality_section
from components.common.specs import get_spec


def test_the_verdict_allows_two_points_below_the_tree_and_holds_ames_to_its_own_bound():
    assert verdict("mlc_churn", 0.90, 0.915) == "ok"
    assert verdict("mlc_churn", 0.95, 0.90) == "ok"
    assert verdict("mlc_churn", 0.85, 0.90) == "missed: 0.050 below the tree"
    assert verdict("ames", 0.885, 0.90) == "missed: R² under 0.89"
    assert verdict("ames", 0.80, 0.91) == "missed: 0.110 below the tree, R² under 0.89"


def test_the_tree_gets_categorical_columns_as_categories_and_a_text_as_word_columns():
    penguins = get_spec("penguins")
    frame = pd.DataFrame(
        {name: [1.0, 2.0, None] for name in penguins.column_names}
        | {"island": ["Biscoe", "Dream", None], "sex": ["male", "female", "female"], "species": ["Adelie"] * 3}
    )
    train, other = tree_inputs(penguins, frame.iloc[:2], frame.iloc[2:])
    assert list(train.columns) == penguins.feature_columns
    assert isinstance(train["island"].dtype, pd.CategoricalDtype) and pd.isna(other["island"].iloc[0])
    assert train["bill_length_mm"].dtype == float
    foods = get_spec("fine_foods")
    reviews = pd.DataFrame({name: ["great tea", "bad tea", "tea"] for name in foods.column_names})
    train, other = tree_inputs(foods, reviews.iloc[:2], reviews.iloc[2:])
    text = foods.feature_columns[0]
    assert sorted(train.columns) == [f"{text}:bad", f"{text}:great", f"{text}:tea"]
    assert other.iloc[0].tolist() == [0, 0, 1]


def test_the_table_shows_each_dataset_with_its_gap_and_verdict():
    row = {
        "dataset": "ames",
        "rows": 2930,
        "eval_rows": 590,
        "metric": "r2",
        "tree": 0.912,
        "pipeline": 0.9,
        "pipeline_z_only": 0.85,
        "tree_s": 1.5,
        "pipeline_s": 60.0,
        "transform_s": 40.0,
        "time_ratio": 40.0,
        "epochs": 12,
        "verdict": "ok",
    }
    section = quality_section({"rows": [row], "rows_cap": 20000, "load_average_at_start": [3.0, 2.5, 2.0]})
    assert "| ames | 2,930 (590 eval) | R² | 0.912 | 0.900 | -0.012 | 0.850 |" in section
    assert "at most 20,000 rows each" in section and "3.0, 2.5, 2.0" in section
