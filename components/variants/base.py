"""What every compressed variant is: a name, and `build(candidate, out_dir)` writing an MLflow pyfunc model
that takes the raw rows the full model takes and answers with the same response schema.

The kinds are components.variants.quantized and components.variants.distilled; components.variants.kinds
turns the pipeline's `variants` parameter ("float16,int8,distilled") into instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


KIND_NAMES = ("float16", "int8", "int8_full", "distilled")
DEFAULT_VARIANTS = "int8,distilled"
DEFAULT_DISTILL_BUILDER = "mlp"


def variant_names(text: str) -> list[str]:
    """The kinds named in `text` (comma-separated, "" for none), each once, in the order given; checked here
    without loading any kind, so that settings refuse a bad VARIANTS before a run starts."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in KIND_NAMES]
    if unknown:
        raise ValueError(f"variants {text!r}: unknown kind(s) {unknown}; expected some of {list(KIND_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"variants {text!r}: a kind is named twice")
    return names
