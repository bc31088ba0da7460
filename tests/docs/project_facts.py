"""The project as the docs checker sees it: Makefile targets, what `make help` lists, the variables the
Makefile, scripts and code read, and the verbs and flags of the real argparse parsers."""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
# Read by a library, not by this project's code: who reads each is the reason it may be documented.
LIBRARY_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "boto3",
    "AWS_SECRET_ACCESS_KEY": "boto3",
    "MLFLOW_TRACKING_USERNAME": "the MLflow client",
    "MLFLOW_TRACKING_PASSWORD": "the MLflow client",
    "PYTHONDONTWRITEBYTECODE": "Python",
}


@dataclass(frozen=True)
class Cli:
    """One project command line: its verbs (subcommands or a positional's choices) and flags per verb."""

    verbs: dict[str, frozenset[str]]
    flags: frozenset[str]  # the top parser's own


@dataclass(frozen=True)
class Project:
    make_targets: frozenset[str]
    help_targets: frozenset[str]
    variables_read: frozenset[str]
    clis: dict[str, Cli]
    tracked_top: frozenset[str]
    root: Path = ROOT

    @property
    def all_flags(self) -> frozenset[str]:
        flags: set[str] = set()
        for cli in self.clis.values():
            flags |= cli.flags
            for verb_flags in cli.verbs.values():
                flags |= verb_flags
        return frozenset(flags)


def describe_parser(parser: argparse.ArgumentParser) -> Cli:
    """Verbs and flags of a real argparse parser, read from its actions."""
    top_flags = {option for action in parser._actions for option in action.option_strings}
    verbs: dict[str, frozenset[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                verbs[name] = frozenset(option for sub_action in sub._actions for option in sub_action.option_strings)
        elif not action.option_strings and action.choices:
            verbs.update({choice: frozenset() for choice in action.choices})
    return Cli(verbs=verbs, flags=frozenset(top_flags))


def makefile_targets(makefile: Path) -> frozenset[str]:
    return frozenset(re.findall(r"^([a-zA-Z0-9][\w-]*)\s*:(?!=)", makefile.read_text(), flags=re.M))


def help_targets(root: Path) -> frozenset[str]:
    """The targets `make help` lists, from really running it."""
    listing = subprocess.run(["make", "--no-print-directory", "help"], cwd=root, capture_output=True, text=True)
    if listing.returncode != 0:
        raise RuntimeError(f"make help failed: {listing.stderr.strip()}")
    return frozenset(line.split()[0] for line in listing.stdout.splitlines() if line.strip())


def variables_read(sources: list[Path]) -> frozenset[str]:
    """Names read by the Makefile and shell scripts ($(NAME), ${NAME}, $NAME, NAME ?=, export NAME) or Python."""
    names: set[str] = set()
    for source in sources:
        text = source.read_text(errors="replace")
        if source.suffix == ".py":
            names.update(re.findall(r"[\"']([A-Z][A-Z0-9_]*)[\"']", text))
            continue
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # comments name, they do not read
        names.update(re.findall(r"\$[({]?([A-Z][A-Z0-9_]*)", code))
        names.update(re.findall(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)\s*[?:]?=", code, flags=re.M))
        for exported in re.findall(r"^\s*export\s+([A-Z0-9_ ]+)$", code, flags=re.M):
            names.update(exported.split())
    return frozenset(names)


def load_project(root: Path = ROOT) -> Project:
    """The project as it is now: the Makefile, `make help`, the code's variables, the real CLI parsers."""
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    sources = [root / "Makefile"] + [
        root / name
        for name in tracked
        if (name.endswith((".py", ".sh")) or Path(name).name == "Dockerfile") and not name.startswith("tests/docs/")
    ]
    return Project(
        make_targets=makefile_targets(root / "Makefile"),
        help_targets=help_targets(root),
        variables_read=variables_read([source for source in sources if source.exists()]),
        clis=project_clis(),
        tracked_top=frozenset(name.split("/", 1)[0] for name in tracked),
        root=root,
    )


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def _parser_built_by(main: Callable[[list[str]], int]) -> argparse.ArgumentParser:
    """The parser a `main()` builds: stop it at parse_args, before it reads any argument or setting."""
    original = argparse.ArgumentParser.parse_args

    def stop(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Parsed(self)

    argparse.ArgumentParser.parse_args = stop
    try:
        main([])
    except _Parsed as parsed:
        return parsed.parser
    finally:
        argparse.ArgumentParser.parse_args = original
    raise RuntimeError(f"{main.__module__}.main returned without parsing arguments")


def project_clis() -> dict[str, Cli]:
    import bench.__main__ as bench_cli
    import components.serve.__main__ as serve_cli
    import pipelines.__main__ as pipelines_cli

    return {
        "pipelines": describe_parser(_parser_built_by(pipelines_cli.main)),
        "components.serve": describe_parser(serve_cli.parser()),
        "bench": describe_parser(_parser_built_by(bench_cli.main)),
    }
