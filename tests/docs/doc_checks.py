"""What the docs name, checked against the project: make targets, variables, CLI verbs and flags, paths, links.

The rules (docs/development.md explains them to writers):
- A *shell line* is a line of a ```bash / ```sh / ```shell block, or any inline code span. In it, `make a b`
  names targets a and b; `NAME=value` before a command, after `make` or after `export` names a variable;
  `python -m <module> <verb> --flag` (any python, e.g. `.venv/bin/python`) names a verb and flags of a
  project CLI. Other commands (kubectl, docker, ...) are not checked.
- A *variable* is also a code span holding only an UPPER_SNAKE name with an underscore (`KFP_HOST`), or
  `NAME=value`, and the first cell of a table whose first header is "variable". It must be read by the
  Makefile, a shell script or Python code (a quoted "NAME"), unless a library reads it (LIBRARY_VARIABLES).
- A bare `--flag` span in kebab-case is a flag of some project CLI (snake_case ones are Beam's).
- A span or shell token that looks like a path and starts with a tracked top-level entry (`components/...`,
  `infra/...`), or a single root file name ending .md, .toml or .lock, must exist (`:name` suffixes are
  dropped; `<placeholders>` and globs are not checked).
- A relative link must reach a file or folder, and its #anchor a heading of the target (GitHub's slugs).
- A table or output block holding a duration (`49 s`, `25.1s`, `12 min`) needs, in its section (prose lines
  joined), a note "Measured with `<command>` ... on YYYY-MM-DD".
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from project_facts import LIBRARY_VARIABLES, Project

SHELL_LANGUAGES = {"bash", "sh", "shell"}
VARIABLE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
UNDERSCORED_VARIABLE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
ASSIGNMENT = re.compile(r"([A-Z][A-Z0-9_]*)=")
SPAN = re.compile(r"``?([^`]+?)``?")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```\s*([\w+-]*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
DURATION = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?\s?(?:s|ms|min)\b")
MEASURED = re.compile(r"[Mm]easured with `[^`]+`.*? on \d{4}-\d{2}-\d{2}")
PATH_TOKEN = re.compile(r"[\w.\-/]+(?::[\w.]+)?")
ROOT_FILE = re.compile(r"[\w.\-]+\.(?:md|toml|lock)")
OPERATORS = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True)
class Problem:
    doc: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.message}"


@dataclass
class _Checker:
    project: Project
    doc: Path
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        try:
            return str(self.doc.relative_to(self.project.root))
        except ValueError:
            return self.doc.name

    def report(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.name, line, message))

    def shell_line(self, line: int, text: str) -> None:
        try:
            tokens = shlex.split(text, comments=True)
        except ValueError:
            tokens = text.split()
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token not in OPERATORS:
                command.append(token)
                continue
            self.command(line, command)
            command = []
        for token in tokens:
            self.path(line, token)

    def command(self, line: int, tokens: list[str]) -> None:
        while tokens and ASSIGNMENT.match(tokens[0]):
            self.variable(line, ASSIGNMENT.match(tokens[0]).group(1))
            tokens = tokens[1:]
        if not tokens:
            return
        word, arguments = Path(tokens[0]).name, tokens[1:]
        if word == "make":
            for argument in arguments:
                if (assignment := ASSIGNMENT.match(argument)) is not None:
                    self.variable(line, assignment.group(1))
                elif not argument.startswith(("-", "<")):
                    self.make_target(line, argument)
        elif word == "export":
            for argument in arguments:
                if VARIABLE.fullmatch(name := argument.split("=", 1)[0]):
                    self.variable(line, name)
        elif "-m" in arguments[:-1]:
            module = arguments[arguments.index("-m") + 1]
            if module in self.project.clis:
                self.cli(line, module, arguments[arguments.index("-m") + 2 :])

    def make_target(self, line: int, target: str) -> None:
        if target not in self.project.make_targets:
            self.report(line, f"`make {target}`: no such target in the Makefile")
        elif target not in self.project.help_targets:
            self.report(line, f"`make {target}`: not listed by `make help` (give its rule a ## comment)")

    def variable(self, line: int, name: str) -> None:
        if name not in self.project.variables_read and name not in LIBRARY_VARIABLES:
            self.report(line, f"variable {name}: read nowhere (Makefile, scripts or code)")

    def cli(self, line: int, module: str, arguments: list[str]) -> None:
        cli = self.project.clis[module]
        flags, named = set(cli.flags), module
        if arguments and not arguments[0].startswith("-"):
            verb = arguments[0]
            if verb.startswith("<"):
                flags |= {flag for verb_flags in cli.verbs.values() for flag in verb_flags}
            elif verb not in cli.verbs:
                self.report(line, f"`python -m {module} {verb}`: no such verb (has {', '.join(sorted(cli.verbs))})")
                return
            else:
                flags, named = flags | cli.verbs[verb], f"{module} {verb}"
        for argument in arguments:
            flag = argument.split("=", 1)[0]
            if flag.startswith("--") and "<" not in flag and flag not in flags:
                self.report(line, f"`python -m {named}`: no flag {flag}")

    def path(self, line: int, token: str) -> None:
        if not PATH_TOKEN.fullmatch(token) or "://" in token:
            return
        path = token.split(":", 1)[0].rstrip("/")
        first = path.split("/", 1)[0]
        checked = ("/" in path and first in self.project.tracked_top) or ROOT_FILE.fullmatch(path)
        if checked and not (self.project.root / path).exists():
            self.report(line, f"`{token}`: no such file or folder in the repository")

    def span(self, line: int, text: str, table_variable: bool) -> None:
        text = text.strip()
        if not text:
            return
        if UNDERSCORED_VARIABLE.fullmatch(text) or (table_variable and VARIABLE.fullmatch(text)):
            self.variable(line, text)
        elif re.fullmatch(r"--[a-z][a-z0-9-]*", flag := text.split()[0].split("=", 1)[0]):
            if flag not in self.project.all_flags:
                self.report(line, f"`{flag}`: not a flag of any project command line")
        else:
            self.shell_line(line, text)

    def link(self, line: int, target: str, anchors: dict[Path, set[str]]) -> None:
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            return
        path_part, _, anchor = target.partition("#")
        destination = (self.doc.parent / path_part).resolve() if path_part else self.doc.resolve()
        if not destination.exists():
            self.report(line, f"link {target}: {path_part} does not exist")
        elif anchor and destination.suffix == ".md":
            if destination not in anchors:
                anchors[destination] = heading_anchors(destination.read_text())
            if anchor not in anchors[destination]:
                self.report(line, f"link {target}: no heading #{anchor} in {destination.name}")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda match: match.group(1) or "", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def heading_anchors(markdown: str) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for text in markdown.splitlines():
        if FENCE.match(text):
            in_fence = not in_fence
        elif not in_fence and (heading := HEADING.match(text)):
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def check_markdown(doc: Path, project: Project, figures: bool = True) -> list[Problem]:
    """Every problem in one markdown file."""
    checker = _Checker(project, doc)
    anchors: dict[Path, set[str]] = {}
    lines = doc.read_text().splitlines()
    fence: str | None = None
    table_variable = False
    section_text: list[str] = []
    section_figures: list[int] = []
    for number, text in enumerate([*lines, "# end"], start=1):
        if fence is not None:
            if FENCE.match(text):
                fence = None
            elif fence in SHELL_LANGUAGES:
                checker.shell_line(number, text)
            elif fence not in {"python", "json", "yaml"} and DURATION.search(text):
                section_figures.append(number)
            continue
        if (opened := FENCE.match(text)) is not None:
            fence = opened.group(1).lower()
            continue
        if HEADING.match(text):
            if figures and section_figures and not MEASURED.search(" ".join(section_text)):
                checker.report(section_figures[0], "figures without a 'Measured with `<command>` on <date>' note")
            section_text, section_figures = [], []
        section_text.append(text.strip())
        cells = text.strip().strip("|").split("|") if text.lstrip().startswith("|") else []
        if cells and not re.fullmatch(r"[\s|:-]+", text):
            if cells[0].strip().lower() == "variable":
                table_variable = True
            elif DURATION.search(text):
                section_figures.append(number)
        elif not cells:
            table_variable = False
        first_cell = cells[0] if cells and table_variable else ""
        for match in SPAN.finditer(text):
            checker.span(number, match.group(1), table_variable and match.group(0) in first_cell)
        for match in LINK.finditer(SPAN.sub("", text)):
            checker.link(number, match.group(1), anchors)
    return checker.problems
