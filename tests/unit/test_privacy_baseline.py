"""The training baseline and the MLflow input example made from it hold no raw value of a declared column:
a Drop'd one is absent, a Pseudonymize'd one holds tokens, a Generalize'd one coarser values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from faker import Faker

from components.common.specs import get_spec
from components.common.specs.base import (
    Categorical,
    Column,
    DatasetSpec,
    Drop,
    Generalize,
    Keep,
    Label,
    Numeric,
    Pseudonymize,
)
from components.common.specs.privacy_values import PSEUDONYM_PREFIX
from components.common.specs.vocabulary.privacy import PSEUDONYMIZE_KEY_VARIABLE
from components.data.baseline import Baseline, baseline_from_csv
from components.monitor.drift import DriftThresholds, compare
from components.monitor.task import read_new_data
from components.train.input_example import example_rows

ROWS = 300
SPEC = DatasetSpec(
    name="customers",
    description="Customers with an email, a phone, a postcode, a birth date and a spend.",
    columns=(
        Column("email", "string"),
        Column("phone", "string"),
        Column("postcode", "string"),
        Column("birth", "string"),
        Column("spend", "float", min_value=0),
        Column("segment", "string"),
        Column("bought", "int", min_value=0, max_value=1),
    ),
    label=Label("bought", ("bought",), ("bought",), derive=lambda raw: raw["bought"], description="unused"),
    features=(Categorical("email"), Categorical("postcode"), Categorical("birth"), Numeric("spend")),
    min_rows=5,
    thresholds={"roc_auc": 0.5},
    sensitive={
        "email": Pseudonymize(buckets=64),
        "phone": Drop(),
        "postcode": Generalize(prefix=2),
        "birth": Generalize(to="year"),
        "spend": Generalize(bins=(0, 100, 1000)),
        "segment": Keep(reason="a marketing segment, not a person"),
    },
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Baseline, pd.DataFrame]:
    fake = Faker("en_GB")
    Faker.seed(25)
    rows = pd.DataFrame(
        {
            "email": [fake.unique.email() for _ in range(ROWS)],
            "phone": [fake.phone_number() for _ in range(ROWS)],
            "postcode": [fake.postcode() for _ in range(ROWS)],
            "birth": [fake.date_of_birth().isoformat() for _ in range(ROWS)],
            "spend": [round(fake.pyfloat(min_value=0, max_value=5000), 2) for _ in range(ROWS)],
            "segment": [fake.random_element(("new", "loyal")) for _ in range(ROWS)],
            "bought": [i % 2 for i in range(ROWS)],
        }
    )
    path = tmp_path_factory.mktemp("customers") / "customers.csv"
    rows.to_csv(path, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PSEUDONYMIZE_KEY_VARIABLE, "a test key of enough characters")
        return baseline_from_csv(path, SPEC.name, str(path), SPEC), rows


def raw_values(rows: pd.DataFrame) -> set[str]:
    return {str(value) for name in ("email", "phone", "postcode", "birth", "spend") for value in rows[name]}


def test_the_baseline_holds_treated_values_only(baseline: tuple[Baseline, pd.DataFrame]) -> None:
    profile, rows = baseline
    written = profile.to_json()
    assert "phone" not in [column.name for column in profile.columns]
    emails = profile.column("email").categories or {}
    assert emails and all(token.startswith(PSEUDONYM_PREFIX) for token in emails) and len(emails) <= 64
    assert set(profile.column("postcode").categories or {}) == {code[:2] for code in rows["postcode"]}
    assert set(profile.column("birth").categories or {}) == {day[:4] for day in rows["birth"]}
    assert set((profile.column("spend").numeric or pytest.fail("no profile")).points) <= {0.0, 100.0, 1000.0}
    assert set(profile.column("segment").categories or {}) == {"new", "loyal"}  # Keep: as it is
    assert not [value for value in raw_values(rows) if f'"{value}"' in written or f" {value}," in written]


def test_the_input_example_holds_treated_values_only(baseline: tuple[Baseline, pd.DataFrame]) -> None:
    profile, rows = baseline
    example = example_rows(SPEC, profile)
    assert example is not None and list(example.columns) == ["email", "postcode", "birth", "spend"]
    given = example.dropna()
    assert len(given) and given["email"].str.startswith(PSEUDONYM_PREFIX).all()
    assert set(given["spend"]) <= {0.0, 100.0, 1000.0}
    written = example.to_json()
    assert not [value for value in raw_values(rows) if f'"{value}"' in written]


MONITORED_SPEC = """
from components.common.specs.base import Categorical, Column, DatasetSpec, Label, Pseudonymize

SPEC = DatasetSpec(
    name="monitored",
    description="An email as a feature, pseudonymised.",
    columns=(Column("email", "string"), Column("bought", "int", min_value=0, max_value=1)),
    label=Label("bought", ("bought",), ("bought",), derive=lambda raw: raw["bought"], description="unused"),
    features=(Categorical("email"),),
    min_rows=5,
    thresholds={"roc_auc": 0.5},
    sensitive={"email": Pseudonymize(buckets=8)},
)
"""


def test_monitor_compares_and_reports_new_data_treated_as_the_baseline(tmp_path: Path) -> None:
    spec_file = tmp_path / "monitored.py"
    spec_file.write_text(MONITORED_SPEC)
    fake = Faker()
    Faker.seed(7)
    for name in ("train", "new"):
        rows = pd.DataFrame({"email": [fake.unique.email() for _ in range(100)], "bought": [1, 0] * 50})
        rows.to_csv(tmp_path / f"{name}.csv", index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PSEUDONYMIZE_KEY_VARIABLE, "a test key of enough characters")
        spec = get_spec(str(spec_file))
        profile = baseline_from_csv(tmp_path / "train.csv", str(spec_file), "train.csv", spec)
        new = read_new_data(tmp_path / "new.csv", profile, "new.csv")
        report = json.dumps(compare(profile, new, "new.csv", DriftThresholds()).to_dict())
    assert new["email"].str.startswith(PSEUDONYM_PREFIX).all()
    assert not [email for email in pd.read_csv(tmp_path / "new.csv")["email"] if email in report]
    assert '"unseen_share": 0.0' in report  # eight buckets, every one seen in training
