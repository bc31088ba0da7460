"""Dataset specs by name, `components/common/specs/<name>.py` and its `SPEC`, or by file, `path/to/<name>.py`.

Adding a dataset is writing one such module; nothing else needs to know about it. A spec that cannot be
built is refused with a SpecError of one line, `spec <file>: <field>: <what was expected>`; a deprecated
word it uses still builds, with a SpecDeprecationWarning naming the replacement.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import importlib.util
import pkgutil
import re
import sys
import traceback
import typing
import warnings
from pathlib import Path
from types import ModuleType

from components.common.specs import base
from components.common.specs.base import DatasetSpec
from components.common.specs.vocabulary.checks import SpecError, describe
from components.common.specs.vocabulary.gate import RENAMED

_NOT_SPECS = {"base", "privacy_values"}
# The dataset of a fresh clone's `make run`: bundled, and learnable enough that the first run ends in a champion.
DEFAULT_DATASET = "mlc_churn"
_MISSING = re.compile(r"(\w+)\.__init__\(\) missing \d+ required (?:positional|keyword-only) arguments?: '(\w+)'")
_UNKNOWN = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")
_IMPORT = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")


class SpecDeprecationWarning(DeprecationWarning):
    """A spec uses a word that still works and will go: the message names the spec file and the replacement."""


def available_specs() -> list[str]:
    return sorted(
        module.name for module in pkgutil.iter_modules(__path__) if not module.ispkg and module.name not in _NOT_SPECS
    )


def is_spec_file(reference: str) -> bool:
    return reference.endswith(".py")


def get_spec(reference: str) -> DatasetSpec:
    """The SPEC of a bundled spec module by name, or of a spec file by path (relative to the working directory)."""
    if is_spec_file(reference):
        path = Path(reference).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"spec file {reference} does not exist")
        module = _load(_module_name(path), path, lambda: _from_file(path))
        where, expected_name = str(path), None
    else:
        if reference not in available_specs():
            raise ValueError(f"unknown DATASET {reference!r}; expected one of {available_specs()}")
        name = f"{__name__}.{reference}"
        module = _load(name, Path(__path__[0]) / f"{reference}.py", lambda: importlib.import_module(name))
        where, expected_name = f"components/common/specs/{reference}.py", reference
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, DatasetSpec):
        raise SpecError("SPEC", f"expected a DatasetSpec named SPEC, got {type(spec).__name__}", where)
    if expected_name is not None and spec.name != expected_name:
        raise SpecError("name", f"expected {expected_name!r} (the module's name), got {spec.name!r}", where)
    return spec


def _module_name(path: Path) -> str:
    """One module a spec file, whatever its name: two `spec.py` in two folders are two specs."""
    return f"dataset_spec_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"


def _from_file(path: Path) -> ModuleType:
    loader_spec = importlib.util.spec_from_file_location(_module_name(path), path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[loader_spec.name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[loader_spec.name]
        raise
    return module


def _load(name: str, path: Path, load) -> ModuleType:
    """Run the spec's module once; what goes wrong in it becomes one SpecError naming the file."""
    if name in sys.modules:
        return sys.modules[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        try:
            module = load()
        except SpecError as error:
            raise error.at(str(path)) from None
        except Exception as error:  # any failure of a user's module, said in one line
            raise _refusal(error, path) from None
    for warning in caught:
        if issubclass(warning.category, DeprecationWarning) and warning.filename == str(path):
            warnings.warn(f"spec {path}: {warning.message}", SpecDeprecationWarning, stacklevel=3)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return module


def _refusal(error: Exception, path: Path) -> SpecError:
    """A SpecError for what a spec module raised: a field missing or unknown, a name gone, or else where it broke."""
    message = str(error)
    if isinstance(error, TypeError) and (missing := _MISSING.search(message)):
        owner, field = missing.groups()
        hint = _field_type(owner, field)
        return SpecError(_where(owner, field), f"missing; {owner} requires it ({hint})", str(path))
    if isinstance(error, TypeError) and (unknown := _UNKNOWN.search(message)):
        owner, field = unknown.groups()
        if (owner, field) in RENAMED:
            return SpecError(_where(owner, field), f"renamed; write {RENAMED[owner, field]}", str(path))
        fields = [f.name for f in dataclasses.fields(getattr(base, owner)) if f.init] if hasattr(base, owner) else []
        return SpecError(_where(owner, field), f"not a field of {owner}; expected one of {fields}", str(path))
    if isinstance(error, ImportError) and (gone := _IMPORT.search(message)) and gone.group(2) == base.__name__:
        return SpecError(gone.group(1), f"not in {base.__name__}; expected one of {sorted(base.__all__)}", str(path))
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == str(path)]
    line = f"line {frames[-1].lineno}" if frames else "module"
    return SpecError(line, f"{type(error).__name__}: {message}", str(path))


def _where(owner: str, field: str) -> str:
    return field if owner == "DatasetSpec" else f"{owner}.{field}"


def _field_type(owner: str, field: str) -> str:
    cls = getattr(base, owner, None)
    if cls is None or not dataclasses.is_dataclass(cls):
        return "see its docstring"
    return describe(typing.get_type_hints(cls)[field])


def spec_fingerprint(reference: str) -> str:
    """SHA-256 of the spec's module, of the spec modules it imports (mlc_churn_pii imports mlc_churn) and of
    the spec vocabulary it is written in: changes when the spec can."""
    get_spec(reference)
    spec_file = (
        Path(reference).expanduser() if is_spec_file(reference) else Path(__path__[0]) / f"{reference}.py"
    ).resolve()
    vocabulary = [Path(base.__file__).resolve(), *sorted((Path(__path__[0]) / "vocabulary").resolve().glob("*.py"))]
    imported: dict[Path, None] = {}
    _imported_spec_files(spec_file, spec_file.parent, imported)
    digest = hashlib.sha256()
    for path in (*vocabulary, *sorted(set(imported) - set(vocabulary) - {spec_file}), spec_file):
        content = path.read_bytes()  # its length first: no two lists of files give the same bytes
        digest.update(len(content).to_bytes(8, "little") + content)
    return digest.hexdigest()


def _imported_spec_files(path: Path, beside: Path, found: dict[Path, None]) -> None:
    """Add `path` and, transitively, the project's spec modules it imports: a module of this package
    (`components.common.specs.<name>`), or, for a spec file, a module in the spec file's own folder."""
    if path in found:
        return
    found[path] = None
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            if (module := _spec_module_file(name, beside)) is not None:
                _imported_spec_files(module, beside, found)


def _spec_module_file(name: str, beside: Path) -> Path | None:
    """The file of module `name` when it is one of this package's or a top-level module beside a spec file."""
    if name.startswith(f"{__name__}."):
        parts = name.removeprefix(f"{__name__}.").split(".")
        candidates = [Path(__path__[0]).joinpath(*parts).with_suffix(".py")]
        candidates.append(Path(__path__[0]).joinpath(*parts, "__init__.py"))
    elif "." not in name:
        candidates = [beside / f"{name}.py"]
    else:
        return None
    return next((candidate.resolve() for candidate in candidates if candidate.is_file()), None)
