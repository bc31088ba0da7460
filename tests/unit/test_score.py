"""Batch scoring's parts that need no model: each refused row named with its reason, the suite without the
label, the output published whole or not at all (a killed write leaves nothing readable), a rerun replacing
it, and the scoring settings refused when wrong."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from components.common import storage
from components.common.specs import get_spec
from components.data.sources import resolve_source
from components.score.output import PREDICTIONS, REJECTS, UnfinishedOutputError, output_prefix, publish, read_scores
from components.score.rows import REASON, ROW_NUMBER, ScoringInputError, stage_input
from components.validate.suite import build_suite, run_suite_on_chunks
from pipelines.scoring_runner import ScoringOptions

PENGUINS = get_spec("penguins")
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
GOOD = "Adelie,Torgersen,39.1,18.7,181,3750,male,2007"


def _csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _stage(path: Path, tmp_path: Path, batch_rows: int = 2):
    staged, frames = stage_input(resolve_source(str(path)), PENGUINS, tmp_path / "staging", batch_rows)
    accepted = list(frames)
    return staged, accepted


def test_each_refused_row_is_named_by_number_with_every_reason(tmp_path):
    data = _csv(
        tmp_path / "new.csv",
        [
            GOOD,
            "Adelie,Torgersen,99.0,18.7,181,3750,male,2007",  # bill length above its range
            "Adelie,Torgersen,39.1,18.7,181,3750,unknown,2007",  # a sex the spec does not allow
            GOOD,
            "Adelie,Torgersen,39.1,18.7,99,3750,unknown,2007",  # two reasons at once
            "Adelie,Torgersen,39.1,18.7,181,3750,,2009",  # a missing sex may be missing
        ],
    )
    staged, accepted = _stage(data, tmp_path)
    rejects = pd.concat(staged.rejects, ignore_index=True)
    assert staged.rows_read == 6 and staged.rows_rejected == 3
    assert rejects[ROW_NUMBER].tolist() == [1, 2, 4]
    reasons = rejects[REASON].tolist()
    assert reasons[0] == "column 'bill_length_mm': 99.0 is outside [25.0, 70.0]"
    assert reasons[1] == "column 'sex': unknown is not one of the allowed values"
    assert "column 'flipper_length_mm': 99.0 is outside [150.0, 250.0]" in reasons[2]
    assert "column 'sex': unknown is not one of the allowed values" in reasons[2]
    # The accepted rows are staged with their numbers in the input, across batches.
    staged_rows = pd.concat([pd.read_parquet(part) for part in staged.parts], ignore_index=True)
    assert staged_rows[ROW_NUMBER].tolist() == [0, 3, 5]
    assert sum(len(frame) for frame in accepted) == 3 and staged.has_label


def test_a_row_missing_a_never_missing_feature_is_rejected_not_the_file(tmp_path):
    spec = get_spec("mlc_churn")
    never = [c.name for c in spec.columns if c.max_null_fraction == 0 and c.name in spec.feature_columns]
    assert never, "mlc_churn has a feature column that may never be missing"
    from pipelines.datasets import materialize_dataset

    data = materialize_dataset("mlc_churn", tmp_path / "churn.csv")
    frame = pd.read_csv(data, nrows=5, dtype=str, keep_default_na=False)
    frame.loc[2, never[0]] = ""
    frame.to_csv(tmp_path / "five.csv", index=False)
    staged, frames = stage_input(resolve_source(str(tmp_path / "five.csv")), spec, tmp_path / "staging", 100)
    list(frames)
    rejects = pd.concat(staged.rejects, ignore_index=True)
    assert rejects[ROW_NUMBER].tolist() == [2]
    assert rejects[REASON].iloc[0] == f"column {never[0]!r}: missing, and the spec allows no missing value"


def test_an_input_without_a_feature_column_is_refused_naming_it(tmp_path):
    header = HEADER.replace(",island", "")
    data = _csv(tmp_path / "new.csv", ["Adelie,39.1,18.7,181,3750,male,2007"], header)
    with pytest.raises(ScoringInputError, match=r"column\(s\) \['island'\] are missing"):
        stage_input(resolve_source(str(data)), PENGUINS, tmp_path / "staging", 10)


def test_the_suite_without_the_label_passes_rows_that_come_without_it(tmp_path):
    header = HEADER.replace("species,", "")
    data = _csv(tmp_path / "new.csv", [GOOD.removeprefix("Adelie,")] * 3, header)
    staged, frames = stage_input(resolve_source(str(data)), PENGUINS, tmp_path / "staging", 10)
    run = run_suite_on_chunks(frames, build_suite(PENGUINS, without_label=True))
    assert not staged.has_label
    assert all(result.success for result in run.results), [r for r in run.results if not r.success]
    checked = {result.expectation_config.kwargs.get("column") for result in run.results}
    assert "species" not in checked and "island" in checked
    # The training suite still asks for the label and for at least min_rows rows.
    full = build_suite(PENGUINS)
    assert "species" in {getattr(e, "column", None) for e in full.expectations}
    assert any(type(e).__name__ == "ExpectTableRowCountToBeBetween" for e in full.expectations)


def _staging(root: Path, parts: int, rows: int = 3) -> Path:
    (root / PREDICTIONS).mkdir(parents=True)
    for index in range(parts):
        frame = pd.DataFrame({ROW_NUMBER: range(index * rows, (index + 1) * rows), "value": float(index)})
        frame.to_parquet(root / PREDICTIONS / f"part-{index:05d}.parquet", index=False)
    pd.DataFrame({ROW_NUMBER: [99], REASON: ["column 'x': missing"]}).to_parquet(root / REJECTS, index=False)
    return root


def test_a_published_output_reads_whole_and_a_rerun_replaces_it(tmp_path):
    prefix = output_prefix(str(tmp_path / "scores"), "penguins-classifier", "3", "ab" * 32)
    assert prefix == f"{tmp_path}/scores/penguins-classifier/v3/{'ab' * 8}"
    publish(_staging(tmp_path / "first", parts=3), prefix)
    predictions, rejects = read_scores(prefix)
    assert predictions[ROW_NUMBER].tolist() == list(range(9))
    assert rejects[REASON].tolist() == ["column 'x': missing"]
    publish(_staging(tmp_path / "second", parts=1, rows=2), prefix)
    predictions, _ = read_scores(prefix)
    assert predictions[ROW_NUMBER].tolist() == [0, 1]  # no part of the first run is left
    assert sorted(p.name for p in (Path(prefix) / PREDICTIONS).iterdir()) == ["part-00000.parquet"]


def test_an_output_without_its_manifest_or_with_a_changed_file_is_refused(tmp_path):
    prefix = str(tmp_path / "out")
    with pytest.raises(UnfinishedOutputError, match="no MANIFEST.sha256"):
        read_scores(prefix)
    publish(_staging(tmp_path / "staging", parts=2), prefix)
    pd.DataFrame({ROW_NUMBER: [7], "value": [1.0]}).to_parquet(Path(prefix) / PREDICTIONS / "part-00001.parquet")
    with pytest.raises(storage.ChecksumMismatchError, match="part-00001.parquet: sha256 differs"):
        read_scores(prefix)


def test_a_write_killed_midway_leaves_no_readable_output(tmp_path):
    """A publishing process is killed as soon as its first file lands: the prefix holds files, not the manifest."""
    staging = tmp_path / "staging"
    (staging / PREDICTIONS).mkdir(parents=True)
    for index in range(40):  # 40 parts of 2 MiB each: copying them takes far longer than noticing the first
        (staging / PREDICTIONS / f"part-{index:05d}.parquet").write_bytes(os.urandom(2 << 20))
    (staging / REJECTS).write_bytes(b"")
    prefix = tmp_path / "out"
    code = (
        "from pathlib import Path; from components.score.output import publish; "
        f"publish(Path({str(staging)!r}), {str(prefix)!r})"
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    try:
        while not (prefix / PREDICTIONS / "part-00000.parquet").exists():
            assert writer.poll() is None, "the writer ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.001)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert (prefix / PREDICTIONS / "part-00000.parquet").exists()
    assert not (prefix / storage.MANIFEST_NAME).exists()
    with pytest.raises(UnfinishedOutputError):
        read_scores(str(prefix))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MAX_REJECT_FRACTION": "lots"}, "must be a number in"),
        ({"MAX_REJECT_FRACTION": "1.5"}, r"must be in \[0, 1\], got 1.5"),
        ({"MODEL_VERSION": "champion"}, "must be a registry version number, got 'champion'"),
    ],
)
def test_scoring_settings_are_refused_when_wrong(env, message):
    with pytest.raises(ValueError, match=message):
        ScoringOptions.from_env(env)
    assert ScoringOptions.from_env({}) == ScoringOptions("", "", 0.01)


def test_key_columns_name_each_rejected_row_and_must_be_present(tmp_path):
    from dataclasses import replace

    keyed = replace(PENGUINS, key_columns=("year",))
    data = _csv(tmp_path / "new.csv", [GOOD, "Adelie,Torgersen,39.1,18.7,181,3750,unknown,2031"])
    staged, frames = stage_input(resolve_source(str(data)), keyed, tmp_path / "staging", 10)
    list(frames)
    rejects = pd.concat(staged.rejects, ignore_index=True)
    assert rejects.to_dict("records") == [
        {ROW_NUMBER: 1, "year": 2031, REASON: "column 'sex': unknown is not one of the allowed values; "
         "column 'year': 2031 is outside [2007, 2030]"}
    ]  # fmt: skip
    unkeyed = _csv(tmp_path / "nokey.csv", [GOOD.removesuffix(",2007")], HEADER.removesuffix(",year"))
    with pytest.raises(ScoringInputError, match=r"\['year'\] are missing"):
        stage_input(resolve_source(str(unkeyed)), keyed, tmp_path / "staging2", 10)
    with pytest.raises(ValueError, match="key_columns"):
        replace(PENGUINS, key_columns=("customer_id",))
