"""Dataset specs by name. Adding a dataset = one module here plus a line in SPECS."""

from components.common.specs.base import DatasetSpec


def get_spec(name: str) -> DatasetSpec:
    # Imported here so that reading settings does not load every spec's dependencies twice.
    from components.common.specs import chicago_taxi, modeldata_taxi

    specs = {module.SPEC.name: module.SPEC for module in (chicago_taxi, modeldata_taxi)}
    if name not in specs:
        raise ValueError(f"unknown DATASET {name!r}; expected one of {sorted(specs)}")
    return specs[name]
