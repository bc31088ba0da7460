"""What a model builder knows of one transformed feature (see components.train.builders).

Kinds: `numeric` is a float32 scalar per example (a z-score), or a vector of `length` floats when
`length` is set (a piecewise-linear encoding); `categorical` an int64 id in
[0, vocabulary_size); `sequence` an int64 vector of `length` ids in [0, vocabulary_size) where 0 is
padding (a text column's tokens, in order, or its bag of n-grams). Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeatureKind = Literal["numeric", "categorical", "sequence"]


@dataclass(frozen=True)
class TransformedFeature:
    name: str
    kind: FeatureKind
    dtype: Literal["float32", "int64"]
    vocabulary_size: int | None = None
    length: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The per-example shape, as `keras.Input(shape=...)` takes it."""
        return (self.length,) if self.length is not None else ()
