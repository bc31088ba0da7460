"""The scan for undeclared personal data at validate: Presidio's recognisers on Faker-made values and near misses,
the refusal through validate_data on a CSV written here, the report's silence on declared columns, and no
false refusal on any bundled dataset."""

from __future__ import annotations

import dataclasses
import json
import random
import socket
from pathlib import Path

import pandas as pd
import pytest
from faker import Faker

from components.common.specs import get_spec
from components.common.specs.base import Column, DatasetSpec, Generalize, Label, Numeric, Pseudonymize
from components.data.values import RawDataError, parse_column
from components.validate.personal_data import SAMPLE_ROWS, Sample, scan_column, scan_frame
from components.validate.task import DataValidationError, validate_data
from pipelines.datasets import bundled_datasets, bundled_frame, materialize_dataset

ROWS = 200
# International numbers in the regions the recogniser knows (the 555-01xx range is for fiction).
PHONE_FORMATS = ("+1 212 555 01##", "+1 (415) 555-01##", "+44 20 7946 0###", "+49 30 901820##")


@pytest.fixture(scope="module")
def fake() -> Faker:
    Faker.seed(25)
    return Faker("en_US")


def luhn_digit(digits: str) -> str:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def real_values(fake: Faker, kind: str) -> list[str]:
    made = {
        "email address": fake.email,
        "payment card number": lambda: fake.credit_card_number(card_type="visa16"),
        "IBAN": fake.iban,
        "US social security number": fake.ssn,
        "IP address": fake.ipv4_public,
        "phone number": lambda: fake.numerify(fake.random_element(PHONE_FORMATS)),
    }[kind]
    return [made() for _ in range(ROWS)]


@pytest.mark.parametrize(
    "kind",
    ["email address", "payment card number", "IBAN", "US social security number", "IP address", "phone number"],
)
def test_each_recogniser_finds_its_kind_in_a_column_named_for_nothing(fake: Faker, kind: str) -> None:
    values = real_values(fake, kind)
    finding = scan_column("contact", values)
    assert finding is not None and finding.kind == kind
    assert finding.hits == ROWS and finding.values == ROWS
    assert all(value not in finding.describe() for value in values)


def test_a_phone_number_without_a_prefix_counts_where_the_column_is_named_for_phones(fake: Faker) -> None:
    values = [fake.numerify("(212) 555-####") for _ in range(ROWS)]
    assert scan_column("notes", values) is None  # 0.4 alone: below the bar
    finding = scan_column("customer_mobile", values)
    assert finding is not None and finding.kind == "phone number"


def test_sixteen_digits_failing_luhn_are_no_card(fake: Faker) -> None:
    cards = [fake.credit_card_number(card_type="visa16") for _ in range(ROWS)]
    broken = [card[:-1] + str((int(card[-1]) + 1) % 10) for card in cards]
    assert scan_column("reference", broken) is None
    assert scan_column("reference", [card[:-1] + luhn_digit(card[:-1]) for card in broken]) is not None


def test_order_ids_that_parse_as_phone_numbers_are_no_phone_numbers() -> None:
    generator = random.Random(25)
    ids = [str(generator.randrange(2_000_000_000, 9_999_999_999)) for _ in range(ROWS)]
    for column in ("order_id", "order_number", "reference"):
        assert scan_column(column, ids) is None, column
    assert scan_column("customer_id", [f"{generator.randrange(10**8, 10**9)}" for _ in range(ROWS)]) is None


def test_a_kind_under_the_share_does_not_refuse_and_one_over_does(fake: Faker) -> None:
    words = [fake.word() for _ in range(ROWS)]
    emails = [fake.email() for _ in range(ROWS)]
    assert scan_column("comment", emails[:19] + words[:181]) is None  # 9.5%
    finding = scan_column("comment", emails[:20] + words[:180])
    assert finding is not None and f"{finding.share:.0%}" == "10%"


def test_the_example_is_masked() -> None:
    finding = scan_column("who", ["jane.doe@example.com"] * 3)
    assert finding is not None and finding.example == "j***@e***.com"
    finding = scan_column("paid_with", ["4111 1111 1111 1111"] * 3)
    assert finding is not None and finding.example == "**** **** **** 1111"


def test_the_scan_runs_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the scan reached for the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    finding = scan_column("who", ["ann@mail.co.uk", "bo@example.org", "cy@host.notatld"])
    assert finding is not None and finding.hits == 2  # the domain checked against the bundled suffix list


def test_the_sample_is_bounded_and_drawn_from_every_batch() -> None:
    sample = Sample()
    frames = [pd.DataFrame({"batch": [number] * 1_500}) for number in range(4)]
    assert list(sample.through(frames)) == frames
    assert len(sample.frame) == SAMPLE_ROWS and set(sample.frame["batch"]) == {0, 1, 2, 3}


PEOPLE = DatasetSpec(
    name="people",
    description="A customer table with an email column and a postcode.",
    columns=(
        Column("spend", "float", min_value=0),
        Column("email", "string"),
        Column("postcode", "string", allowed_values=("AB1", "AB2"), allowed_mostly=0.5, severity="warning"),
        Column("bought", "int", min_value=0, max_value=1),
    ),
    label=Label("bought", ("bought",), ("bought",), derive=lambda raw: raw["bought"], description="unused"),
    features=(Numeric("spend"),),
    min_rows=5,
    thresholds={"roc_auc": 0.5},
)


@pytest.fixture(scope="module")
def people_csv(tmp_path_factory: pytest.TempPathFactory, fake: Faker) -> Path:
    rows = [{"spend": i, "email": fake.email(), "postcode": fake.postcode(), "bought": i % 2} for i in range(ROWS)]
    path = tmp_path_factory.mktemp("people") / "people.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_an_undeclared_email_column_refuses_validate_naming_column_kind_share_and_a_masked_example(
    tmp_path: Path, people_csv: Path
) -> None:
    with pytest.raises(DataValidationError) as refused:
        validate_data(people_csv, PEOPLE, tmp_path / "report.html", tmp_path / "summary.json")
    message = str(refused.value)
    assert "column 'email': email address in 100% of 200 sampled non-empty values (e.g. " in message
    assert "***@" in message and "sensitive" in message
    emails = set(pd.read_csv(people_csv)["email"])
    written = (tmp_path / "report.html").read_text() + (tmp_path / "summary.json").read_text() + message
    assert not [email for email in emails if email in written]


def test_declared_columns_pass_and_the_report_quotes_none_of_their_values(tmp_path: Path, people_csv: Path) -> None:
    declared = dataclasses.replace(PEOPLE, sensitive={"email": Pseudonymize(), "postcode": Generalize(prefix=2)})
    summary = validate_data(people_csv, declared, tmp_path / "report.html", tmp_path / "summary.json")
    assert summary.success
    postcode = next(o for o in summary.outcomes if o.expectation == "expect_column_values_to_be_in_set")
    assert not postcode.success and "not in the set" in postcode.observed
    raw = pd.read_csv(people_csv, dtype=str)
    written = (tmp_path / "report.html").read_text() + (tmp_path / "summary.json").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["success"] is True
    assert not [value for value in set(raw["email"]) | set(raw["postcode"]) if value in written]


def test_an_undeclared_column_still_has_its_values_quoted(tmp_path: Path, people_csv: Path) -> None:
    declared = dataclasses.replace(PEOPLE, sensitive={"email": Pseudonymize()})
    summary = validate_data(people_csv, declared, tmp_path / "report.html", tmp_path / "summary.json")
    postcode = next(o for o in summary.outcomes if o.expectation == "expect_column_values_to_be_in_set")
    assert "(e.g. '" in postcode.observed


def test_a_refused_value_of_a_declared_column_is_not_quoted(tmp_path: Path, people_csv: Path) -> None:
    rows = pd.read_csv(people_csv, dtype=str)
    rows.loc[7, "spend"] = "jane.doe@example.com"
    data = tmp_path / "people.csv"
    rows.to_csv(data, index=False)
    declared = dataclasses.replace(PEOPLE, sensitive={"email": Pseudonymize(), "spend": Generalize(bins=(0, 100))})
    for spec, quoted in ((PEOPLE, True), (declared, False)):
        with pytest.raises(DataValidationError) as refused:
            validate_data(data, spec, tmp_path / "report.html", tmp_path / "summary.json")
        assert "line 9, column 'spend': expected" in str(refused.value)
        written = str(refused.value) + (tmp_path / "report.html").read_text() + (tmp_path / "summary.json").read_text()
        assert ("jane.doe@example.com" in written) is quoted


def test_the_one_reader_quotes_no_value_of_a_declared_column_whichever_step_reads() -> None:
    """Transform, score and monitor read through the same reader: its refusal is what their logs and rejects hold."""
    declared = dataclasses.replace(PEOPLE, sensitive={"spend": Generalize(bins=(0, 100))})
    texts = ["12", "jane.doe@example.com"]
    for spec, quoted in ((PEOPLE, True), (declared, False)):
        with pytest.raises(RawDataError) as refused:
            parse_column(spec, "spend", texts, lambda at: f"people.csv: line {at + 2}")
        assert "people.csv: line 3, column 'spend': expected" in str(refused.value)
        assert ("jane.doe@example.com" in str(refused.value)) is quoted


@pytest.mark.parametrize("dataset", bundled_datasets())
def test_no_bundled_dataset_is_refused(dataset: str) -> None:
    spec = get_spec(dataset)
    sample = Sample()
    sample.add(bundled_frame(dataset))
    assert scan_frame(sample.frame, spec, spec.sensitive_columns) == []


@pytest.fixture(scope="module")
def planted_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The privacy example's first 600 rows (its spec asks for 200), enough for the scan's share."""
    full = materialize_dataset("mlc_churn_pii", tmp_path_factory.mktemp("planted") / "mlc_churn_pii.csv")
    lines = full.read_text().splitlines(keepends=True)[:601]
    full.write_text("".join(lines))
    return full


def test_the_privacy_example_passes_and_its_spec_that_forgets_the_phone_is_refused(
    tmp_path: Path, planted_csv: Path
) -> None:
    declared = validate_data(planted_csv, get_spec("mlc_churn_pii"), tmp_path / "ok.html", tmp_path / "ok.json")
    assert declared.success
    with pytest.raises(DataValidationError) as refused:
        validate_data(planted_csv, get_spec("mlc_churn_pii_undeclared"), tmp_path / "r.html", tmp_path / "r.json")
    assert "column 'phone': phone number in " in str(refused.value)
    phones = set(pd.read_csv(planted_csv, dtype=str)["phone"])
    written = str(refused.value) + (tmp_path / "r.html").read_text() + (tmp_path / "r.json").read_text()
    assert not [phone for phone in phones if phone in written]
