"""The pipeline's `variants` parameter ("float16,int8,distilled") as Variant instances, found by name."""

from __future__ import annotations

from typing import Callable

from components.variants.base import DEFAULT_DISTILL_BUILDER, Variant, variant_names
from components.variants.distilled import Distilled
from components.variants.quantized import QUANTIZATIONS, Quantized


def _kinds() -> dict[str, Callable[[str], Variant]]:
    kinds: dict[str, Callable[[str], Variant]] = {name: (lambda _, n=name: Quantized(n)) for name in QUANTIZATIONS}
    kinds["distilled"] = lambda builder: Distilled(builder)
    return kinds


def parse_variants(text: str, distill_builder: str = DEFAULT_DISTILL_BUILDER) -> list[Variant]:
    """The variants named in `text` (comma-separated, "" for none), each once, in the order given."""
    names = variant_names(text)
    kinds = _kinds()
    return [kinds[name](distill_builder) for name in names]
