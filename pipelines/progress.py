"""What `make run` and `make monitor` show while the steps run: one line per step, its time and its figures.

On a terminal a rich spinner shows the running step with its elapsed time; it is transient, so only the
finished steps' lines stay on screen. Elsewhere (a pipe, CI, a test) a step prints a plain `started` line
when it starts and its line when it ends. A failed step adds the lines of its log that explain it and the
log's path. pipelines/step_capture.py feeds this display; it knows nothing of kfp or MLflow.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

NAME_WIDTH = 10
# Under a step's line: at most this many explaining lines (gate reasons, or why it failed).
MAX_DETAILS = 10
TRACEBACK = "Traceback (most recent call last):"
# The lines kfp.local writes itself around a task's output (its log records and its horizontal rules).
KFP_FRAMING = re.compile(r"^\s*(\d\d:\d\d:\d\d\.\d{3} - [A-Z]+ - |-{20,}$)")


@dataclass(frozen=True)
class StepResult:
    """One finished step: `figures` is its headline, `details` the lines shown under it."""

    name: str
    succeeded: bool
    seconds: float
    log: Path
    figures: str = ""
    details: list[str] = field(default_factory=list)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def shown(path: Path) -> str:
    """A path under the working directory relative to it (what a user can paste), any other absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def explain_failure(log_text: str, keep: int = MAX_DETAILS) -> list[str]:
    """The lines of a failed step's log that say why: the exception and the frame that raised it.

    Without a Python traceback (a step killed, say), the last lines the step itself wrote.
    """
    lines = [line.rstrip() for line in log_text.splitlines()]
    starts = [number for number, line in enumerate(lines) if line.strip() == TRACEBACK]
    if not starts:
        own = [line for line in lines if line.strip() and not KFP_FRAMING.match(line)]
        return textwrap.dedent("\n".join(own[-keep:])).splitlines()
    header = lines[starts[-1]]
    indent = len(header) - len(header.lstrip())
    body = lines[starts[-1] + 1 :]
    # The exception starts at the first line back at the header's indentation; the frames sit deeper.
    first = next((n for n, line in enumerate(body) if line.strip() and len(line) - len(line.lstrip()) <= indent), None)
    if first is None:
        return textwrap.dedent("\n".join(body[-keep:])).splitlines()
    end = next((n for n in range(first, len(body)) if not body[n].strip() or KFP_FRAMING.match(body[n])), len(body))
    exception = body[first:end][: keep - 1]
    # The last frame: its `File ...` line and the code under it, as room allows.
    frame_start = max((n for n in range(first) if body[n].lstrip().startswith("File ")), default=first)
    frame = body[frame_start:first][: max(keep - len(exception), 0)]
    return textwrap.dedent("\n".join(frame + exception)).splitlines()


class StepDisplay:
    """Step lines on `stream`: live (rich) when it is a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO) -> None:
        # soft_wrap: a long line stays one line (the terminal wraps it), never cut at 80 columns in a pipe.
        self._console = Console(file=stream, highlight=False, soft_wrap=True)
        self._live = (
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
                # The pipeline's own output must not reach the screen through rich's proxies.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            if self._console.is_terminal
            else None
        )
        self._running: dict[str, TaskID] = {}

    def __enter__(self) -> StepDisplay:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
        self._console.file.flush()

    def run_started(self, log_dir: Path) -> None:
        self._print(Text(f"{'logs':<{NAME_WIDTH}} {shown(log_dir)}{os.sep}", style="dim"))

    def step_started(self, name: str) -> None:
        if self._live is not None:
            self._running[name] = self._live.add_task(f"{name:<{NAME_WIDTH}} running")
        else:
            self._print(Text(f"{name:<{NAME_WIDTH}} started"))

    def step_ended(self, result: StepResult) -> None:
        task = self._running.pop(result.name, None)
        if self._live is not None and task is not None:
            self._live.remove_task(task)
            self._live.refresh()  # else the next print repeats the spinner of the step just ended
        status, style = ("ok", "green") if result.succeeded else ("FAILED", "bold red")
        line = Text.assemble(
            (f"{result.name:<{NAME_WIDTH}} ", "bold"),
            (f"{status:<6}", style),
            f" {duration(result.seconds):>7}",
            f"  {result.figures}" if result.figures else "",
        )
        self._print(line)
        details = result.details[:MAX_DETAILS]
        if len(result.details) > MAX_DETAILS:
            details.append(f"... {len(result.details) - MAX_DETAILS} more in the log")
        for detail in details:
            self._print(Text(f"  {detail}", style="" if result.succeeded else "red"))
        if not result.succeeded:
            self._print(Text(f"  log: {shown(result.log)}", style="bold"))

    def _print(self, text: Text) -> None:
        self._console.print(text)
        self._console.file.flush()
