"""Refusing a spec that cannot be built, in one line: which field, and what was expected.

Dataclasses check no types, so a spec with a string where a number belongs would build and fail later,
far from its cause. Every part of a spec checks its fields against their annotations when it is built.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import types
import typing
from typing import Any, Literal, Union


class SpecError(ValueError):
    """A spec that cannot be built. `where` is the spec's file (or name) once known."""

    def __init__(self, field: str, expected: str, where: str | None = None) -> None:
        self.field, self.expected, self.where = field, expected, where
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"spec {self.where}: " if self.where else ""
        return f"{prefix}{self.field}: {self.expected}"

    def at(self, where: str) -> SpecError:
        return SpecError(self.field, self.expected, where)


class Checked:
    """A spec part whose fields are checked against their annotations when it is built (lists become tuples)."""

    def __post_init__(self) -> None:
        check_fields(self)


def owner(instance: Any) -> str:
    """How a message names a part: `Column('fare')`, `Numeric('fare')`, or its class alone."""
    for attribute in ("name", "column"):
        value = getattr(instance, attribute, None)
        if isinstance(value, str):
            return f"{type(instance).__name__}({value!r})"
    return type(instance).__name__


def check_fields(instance: Any, prefix: str | None = None) -> None:
    """Raise SpecError for the first field whose value its annotation does not allow."""
    where = owner(instance) if prefix is None else prefix
    hints = _hints(type(instance))
    for field in dataclasses.fields(instance):
        if not field.init:
            continue
        value = getattr(instance, field.name)
        hint = hints[field.name]
        if isinstance(value, list) and _origin(hint) is tuple:
            value = tuple(value)
            object.__setattr__(instance, field.name, value)
        if not matches(value, hint):
            name = f"{where}.{field.name}" if where else field.name
            raise SpecError(name, f"expected {describe(hint)}, got {value!r:.80}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _origin(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    return Union if origin is types.UnionType else origin


def matches(value: Any, hint: Any) -> bool:
    origin, args = _origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin is Union:
        return any(matches(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(item, args[0]) for item in value)
        return len(value) == len(args) and all(map(matches, value, args))
    if origin in (collections.abc.Mapping, dict):
        return isinstance(value, collections.abc.Mapping) and all(
            matches(key, args[0]) and matches(item, args[1]) for key, item in value.items()
        )
    if origin is collections.abc.Callable:
        return callable(value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def describe(hint: Any) -> str:
    """The annotation in words a spec's author can act on."""
    origin, args = _origin(hint), typing.get_args(hint)
    if hint is None or hint is type(None):
        return "None"
    if origin is Union:
        return " or ".join(describe(arg) for arg in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple of ({describe(args[0])})"
        return f"a tuple of {len(args)}: ({', '.join(describe(arg) for arg in args)})"
    if origin in (collections.abc.Mapping, dict):
        return f"a mapping of {describe(args[0])} to {describe(args[1])}"
    if origin is collections.abc.Callable:
        return "a function"
    return {str: "a string", int: "an integer", float: "a number", bool: "True or False"}.get(hint, hint.__name__)
