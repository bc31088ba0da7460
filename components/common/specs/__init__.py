"""Dataset specs by name: the module `components/common/specs/<name>.py` and its `SPEC`.

Adding a dataset is writing one such module; nothing else needs to know about it.
"""

import hashlib
import importlib
import pkgutil
from pathlib import Path

from components.common.specs.base import DatasetSpec

_NOT_SPECS = {"base"}
# The dataset of a fresh clone's `make run`: bundled, and learnable enough that the first run ends in a champion.
DEFAULT_DATASET = "mlc_churn"


def available_specs() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(__path__) if module.name not in _NOT_SPECS)


def get_spec(name: str) -> DatasetSpec:
    if name not in available_specs():
        raise ValueError(f"unknown DATASET {name!r}; expected one of {available_specs()}")
    spec = importlib.import_module(f"{__name__}.{name}").SPEC
    if spec.name != name:
        raise ValueError(f"components/common/specs/{name}.py declares SPEC.name {spec.name!r}; they must match")
    return spec


def spec_fingerprint(name: str) -> str:
    """SHA-256 of the spec's module and of the spec vocabulary it is written in: changes when the spec can."""
    digest = hashlib.sha256()
    for module in (f"{__name__}.base", f"{__name__}.{get_spec(name).name}"):
        digest.update(Path(importlib.import_module(module).__file__).read_bytes())
    return digest.hexdigest()
