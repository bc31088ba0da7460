"""What every compressed variant is: a name, and `build(candidate, out_dir)` writing an MLflow pyfunc model
that takes the raw rows the full model takes and answers with the same response schema.

The kinds (components.variants.quantized, components.variants.distilled) are found by name in `KINDS`;
`parse_variants` turns the pipeline's `variants` parameter ("float16,int8,distilled") into instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from components.common.specs.base import DatasetSpec


@dataclass(frozen=True)
class Candidate:
    """The blessed candidate's files: its MLflow model (the serving SavedModel), the transform graph it was
    trained behind, and the transformed examples (the train split is the representative sample and what a
    student learns from)."""

    spec: DatasetSpec
    export_dir: Path
    transform_graph_dir: Path
    examples_dir: Path


class VariantRefused(Exception):
    """The variant cannot be built from this candidate; the message says why (reported, never fatal)."""


class Variant(Protocol):
    name: str

    def build(self, candidate: Candidate, out_dir: Path) -> Path:
        """Write the variant's MLflow model at `out_dir` and return it; raise VariantRefused when it cannot be."""
        ...


def _kinds() -> dict[str, Callable[[str], Variant]]:
    from components.variants.distilled import Distilled
    from components.variants.quantized import QUANTIZATIONS, Quantized

    kinds: dict[str, Callable[[str], Variant]] = {name: (lambda _, n=name: Quantized(n)) for name in QUANTIZATIONS}
    kinds["distilled"] = lambda builder: Distilled(builder)
    return kinds


KIND_NAMES = ("float16", "int8", "int8_full", "distilled")
DEFAULT_VARIANTS = "int8,distilled"
DEFAULT_DISTILL_BUILDER = "mlp"


def parse_variants(text: str, distill_builder: str = DEFAULT_DISTILL_BUILDER) -> list[Variant]:
    """The variants named in `text` (comma-separated, "" for none), each once, in the order given."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in KIND_NAMES]
    if unknown:
        raise ValueError(f"variants {text!r}: unknown kind(s) {unknown}; expected some of {list(KIND_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"variants {text!r}: a kind is named twice")
    kinds = _kinds()
    return [kinds[name](distill_builder) for name in names]
