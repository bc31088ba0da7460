"""The role each feature plays in the transform: how a raw column becomes model input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.common.specs.vocabulary.checks import Checked, SpecError, check_fields, owner


@dataclass(frozen=True)
class Numeric(Checked):
    """A number; missing values become the default, then `log` (log1p) applies, then the encoding.

    `encoding` (edges and statistics from the training split, inside the transform graph):
    - `z`: the z-score, one float.
    - `quantile_bins`: the id of its quantile bin, one of `bins` (a categorical id).
    - `piecewise_linear`: `bins` floats in [0, 1] over the quantile bins: 1 for each bin wholly below
      the value, the value's position within its own bin, 0 above (heavy tails and several modes
      keep their shape, which one z-score flattens).
    - `auto` (the default): `z` and `piecewise_linear` both, whatever the column; the model weighs them
      (measured against `z` alone in docs/models.md).
    """

    column: str
    default: float = 0.0
    log: bool = False
    encoding: Literal["auto", "z", "quantile_bins", "piecewise_linear"] = "auto"
    bins: int = 16
    kind: Literal["numeric"] = "numeric"

    def __post_init__(self) -> None:
        check_fields(self)
        if self.bins < 2:
            raise SpecError(owner(self), f"bins must be at least 2, not {self.bins}")


@dataclass(frozen=True)
class Categorical(Checked):
    """Integer id from a vocabulary computed on the training split.

    Values outside the `top_k` most frequent, and values never seen, share
    `oov_buckets` out-of-vocabulary ids. Integer columns (an hour, an area code)
    work too: their values are treated as names.
    """

    column: str
    top_k: int | None = None
    oov_buckets: int = 1
    kind: Literal["categorical"] = "categorical"


@dataclass(frozen=True)
class Bucketized(Checked):
    """Quantile bucket id of a number (quantiles from the training split)."""

    column: str
    num_buckets: int
    default: float = 0.0
    kind: Literal["bucketized"] = "bucketized"


@dataclass(frozen=True)
class TimestampParts(Checked):
    """Hour of day, day of week and month of a Unix timestamp in seconds (UTC)."""

    column: str
    parts: tuple[Literal["hour", "weekday", "month"], ...] = ("hour", "weekday", "month")
    kind: Literal["timestamp"] = "timestamp"


@dataclass(frozen=True)
class LatLongCross(Checked):
    """Grid cell of a latitude/longitude pair: each bucketized, then crossed.

    A row with either coordinate missing falls into one extra cell of its own.
    """

    name: str
    latitude: str
    longitude: str
    num_buckets: int = 10
    kind: Literal["latlong"] = "latlong"


@dataclass(frozen=True)
class Text:
    """Free text, tokenised inside the transform graph (serving takes the raw string).

    Lower-cased, Unicode punctuation and symbols turned into spaces, split on whitespace. Either way the
    result is `sequence_length` int64 ids per row, 0 being padding (a missing text is all padding):
    - `sequence`: the first `sequence_length` tokens, in order. The vocabulary is the `vocab_size` tokens
      most frequent in the training split.
    - `bag_of_words`: the row's distinct n-grams of 1 to `ngrams` tokens, each once (a set, not counts),
      in text order (at each token, its 1-gram, then its 2-gram...), the first `sequence_length` of them.
      The vocabulary is the `vocab_size` n-grams found in the most training rows (document frequency).
    Tokens outside the vocabulary share `oov_buckets` ids (hashed).
    """

    column: str
    mode: Literal["bag_of_words", "sequence"] = "bag_of_words"
    ngrams: int = 1
    vocab_size: int = 10_000
    sequence_length: int = 64
    oov_buckets: int = 1
    kind: Literal["text"] = "text"

    def __post_init__(self) -> None:
        if self.mode not in ("bag_of_words", "sequence"):
            raise SpecError(owner(self), f"mode must be 'bag_of_words' or 'sequence', not {self.mode!r}")
        check_fields(self)
        if self.mode == "sequence" and self.ngrams != 1:
            raise SpecError(owner(self), "ngrams applies to mode 'bag_of_words'; a sequence is of tokens")
        for name in ("ngrams", "vocab_size", "sequence_length", "oov_buckets"):
            if getattr(self, name) < 1:
                raise SpecError(owner(self), f"{name} must be at least 1, not {getattr(self, name)}")


@dataclass(frozen=True)
class Image(Checked):
    """An encoded image (PNG or JPEG) named by its column: a path relative to the data file, an absolute
    path or an s3:// URI (components/data/images.py reads it; docs/images.md).

    The transform graph decodes it to `channels` channels, resizes it to `height` x `width` and scales it
    to [0, 1]; the served model takes the encoded bytes. Validation refuses a reference that is missing or
    does not decode, an image whose channels differ or whose sides lie outside `min_scale`..`max_scale`
    times `height` and `width` (default: exactly that size), unless such rows are at most
    `max_bad_fraction` of the data. `weights_uri` (a path or an s3:// URI of a `.weights.h5` file, such as
    the `image_towers/` file a previous run's export holds) starts the built-in convolutional tower from
    those weights instead of random ones (components/train/builders/convolution.py).
    """

    column: str
    height: int
    width: int
    channels: Literal[1, 3] = 1
    min_scale: float = 1.0
    max_scale: float = 1.0
    max_bad_fraction: float = 0.0
    weights_uri: str = ""
    kind: Literal["image"] = "image"

    def __post_init__(self) -> None:
        check_fields(self)
        if self.height < 1 or self.width < 1:
            raise SpecError(owner(self), f"height and width must be at least 1, not {self.height}x{self.width}")
        if not 0 < self.min_scale <= 1.0 <= self.max_scale:
            raise SpecError(
                owner(self), f"expected 0 < min_scale <= 1 <= max_scale, got {self.min_scale}, {self.max_scale}"
            )
        if not 0.0 <= self.max_bad_fraction < 1.0:
            raise SpecError(owner(self), f"max_bad_fraction must be in [0, 1), not {self.max_bad_fraction}")
        if self.weights_uri and not self.weights_uri.endswith(".weights.h5"):
            raise SpecError(owner(self), f"weights_uri must name a Keras .weights.h5 file, not {self.weights_uri!r}")


Feature = Numeric | Categorical | Bucketized | TimestampParts | LatLongCross | Text | Image


def read_columns(feature: Feature) -> tuple[str, ...]:
    """The raw columns a feature reads."""
    if isinstance(feature, LatLongCross):
        return (feature.latitude, feature.longitude)
    return (feature.column,)
