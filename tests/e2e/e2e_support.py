"""What the end-to-end tests share: a workspace of stores, and editing a CSV file column by column."""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from components.common import tracking
from components.runs.settings import Settings

# Beside the project on developer machines only: the Chicago taxi module runs where it exists.
TAXI_CSV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chicago_taxi" / "data.csv"

Rows = list[list[str]]
Edit = Callable[[list[str], Rows], tuple[list[str], Rows]]


@dataclass(frozen=True)
class Workspace:
    """One MLflow store, model store and pipeline root shared by a module's runs, on one dataset."""

    root: Path
    dataset: str
    data: Path
    # Compressed variants cost every blessed run a conversion and a student: built only where a test asks.
    variants: str = "none"

    def settings(self, data: Path | None = None) -> Settings:
        return Settings.from_env(
            {
                "DATASET": self.dataset,
                "DATA_URI": str(data or self.data),
                "MLFLOW_TRACKING_URI": f"sqlite:///{self.root}/mlflow.db",
                "MODEL_STORE_URI": str(self.root / "model-store"),
                "PIPELINE_ROOT": str(self.root / "kfp"),
                "VARIANTS": self.variants,
            }
        )

    def champion(self):
        settings = self.settings()
        return tracking.client(settings.mlflow_tracking_uri).get_model_version_by_alias(settings.model_name, "champion")

    def versions(self) -> list:
        settings = self.settings()
        return tracking.client(settings.mlflow_tracking_uri).search_model_versions(f"name = '{settings.model_name}'")

    def store_files(self) -> set[Path]:
        return {path for path in Path(self.settings().model_store_uri).rglob("*") if path.is_file()}

    def copied_to(self, root: Path) -> Workspace:
        """Its stores copied under `root` (database, model store, pipeline root), so that runs there leave this
        workspace as it was; the champion's files stay in this model store, where the copied registry names them."""
        shutil.copytree(self.root, root, dirs_exist_ok=True)
        return replace(self, root=root)


def rewrite(source: Path, target: Path, edit: Edit) -> Path:
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = edit(rows[0], rows[1:])
    with target.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    return target


def set_column(name: str, value: str | Callable[[str], str], every: int = 1, first: int = 1) -> Edit:
    """Set `name` in `first` of every `every` rows."""

    def edit(header: list[str], body: Rows) -> tuple[list[str], Rows]:
        position = header.index(name)
        for number, row in enumerate(body):
            if number % every < first:
                row[position] = value(row[position]) if callable(value) else value
        return header, body

    return edit


def drop_column(name: str) -> Edit:
    def edit(header: list[str], body: Rows) -> tuple[list[str], Rows]:
        position = header.index(name)
        keep = [i for i in range(len(header)) if i != position]
        return [header[i] for i in keep], [[row[i] for i in keep] for row in body]

    return edit


def repeat_column(name: str) -> Edit:
    """The header names `name` twice: its values, then the same column again at the end."""

    def edit(header: list[str], body: Rows) -> tuple[list[str], Rows]:
        position = header.index(name)
        return [*header, name], [[*row, row[position]] for row in body]

    return edit


def shuffle_column(name: str, seed: int = 0, within: tuple[str, str] | None = None) -> Edit:
    """The column's values permuted across rows (only the rows whose column `within[0]` is `within[1]`, when
    given): a label shuffled so keeps its rate, and no feature says anything about it any more."""
    import random

    def edit(header: list[str], body: Rows) -> tuple[list[str], Rows]:
        position = header.index(name)
        rows = body if within is None else [row for row in body if row[header.index(within[0])] == within[1]]
        values = [row[position] for row in rows]
        random.Random(seed).shuffle(values)
        for row, value in zip(rows, values):
            row[position] = value
        return header, body

    return edit


def score_variants(model_dir: str, data: Path, row: int, column: str, values: tuple[str, ...]):
    """The pushed model's probabilities for data row `row` (0 = first after the header) with `column` set to
    each of `values` in turn, through its raw-CSV signature."""
    import tensorflow as tf

    header, *rows = data.read_text().splitlines()
    columns = next(csv.reader([header]))
    original = dict(zip(columns, next(csv.reader([rows[row]]))))
    lines = []
    for value in values:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([{**original, column: value}[name] for name in columns])
        lines.append(buffer.getvalue())
    model = tf.saved_model.load(model_dir)
    return model.signatures["predict_csv"](csv_rows=tf.constant(lines))["probability"].numpy()
