"""What a model builder knows of one transformed feature (see components.train.builders).

Kinds: `numeric` is a float32 scalar per example (a z-score), or a vector of `length` floats when
`length` is set (a piecewise-linear encoding); `categorical` an int64 id in
[0, vocabulary_size); `sequence` an int64 vector of `length` ids in [0, vocabulary_size) where 0 is
padding (a text column's tokens, in order, or its bag of n-grams). `embedding_width`, when set, is the
width to embed the ids with (a warm start carries the champion's; components.train.warm_start); None
leaves it to the builder. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeatureKind = Literal["numeric", "categorical", "sequence", "image"]


@dataclass(frozen=True)
class TransformedFeature:
    name: str
    kind: FeatureKind
    dtype: Literal["float32", "int64"]
    vocabulary_size: int | None = None
    length: int | None = None
    embedding_width: int | None = None
    # An `image`'s (height, width, channels): float32 pixels in [0, 1] (components/transform/roles/image.py).
    dims: tuple[int, ...] | None = None
    # An `image`'s starting weights for its convolutional tower (`Image.weights_uri`); None: random ones.
    weights_uri: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The per-example shape, as `keras.Input(shape=...)` takes it."""
        if self.dims is not None:
            return self.dims
        return (self.length,) if self.length is not None else ()
