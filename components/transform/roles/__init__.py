"""Feature roles' transforms: one `RoleTransform` per kind of spec feature, found by the feature's type.

A new role (an encoding, a privacy treatment, an image) is a new module here and one line in
`ROLE_TRANSFORMS`; nothing else in the transform or the trainer branches on the kind of feature.
"""

from __future__ import annotations

from typing import Any

from components.common.specs.base import (
    Bucketized,
    Categorical,
    Feature,
    Image,
    LatLongCross,
    Numeric,
    Text,
    TimestampParts,
)
from components.transform.roles.base import RoleTransform
from components.transform.roles.categorical import CategoricalTransform
from components.transform.roles.grid import LatLongCrossTransform
from components.transform.roles.image import ImageTransform
from components.transform.roles.numeric import BucketizedTransform, NumericTransform
from components.transform.roles.text import TextTransform
from components.transform.roles.time_parts import TimestampPartsTransform

ROLE_TRANSFORMS: dict[type, RoleTransform[Any]] = {
    Numeric: NumericTransform(),
    Bucketized: BucketizedTransform(),
    Categorical: CategoricalTransform(),
    TimestampParts: TimestampPartsTransform(),
    LatLongCross: LatLongCrossTransform(),
    Text: TextTransform(),
    Image: ImageTransform(),
}


def role_transform(feature: Feature) -> RoleTransform[Any]:
    """The transform of this feature's role; a role without one is a programming error, named."""
    try:
        return ROLE_TRANSFORMS[type(feature)]
    except KeyError:
        raise TypeError(f"no transform for feature role {type(feature).__name__}") from None
