"""What a model name may be: it becomes a folder, an S3 prefix and a registry name."""

from __future__ import annotations

import re

MODEL_NAME_RULE = "[A-Za-z0-9][A-Za-z0-9._-]* with no '..'"
_ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_model_name(name: object) -> str:
    """`name` when it follows MODEL_NAME_RULE; ValueError naming MODEL_NAME and the rule otherwise."""
    if not isinstance(name, str) or not _ALLOWED.fullmatch(name) or ".." in name:
        raise ValueError(f"MODEL_NAME={name!r}: a model name must match {MODEL_NAME_RULE} (it becomes a path)")
    return name
