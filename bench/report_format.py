"""How BENCHMARKS.md writes figures: medians with their range, exponents, Markdown tables, reproduce lines."""

from __future__ import annotations

from typing import Any, Sequence

from bench.measure import Spread


def fmt(spread: Spread, digits: int = 1) -> str:
    """Median with its range, e.g. "12.3 (11.9–12.8)"; a single run says n=1."""
    if spread.n == 1:
        return f"{spread.median:,.{digits}f} (n=1)"
    return f"{spread.median:,.{digits}f} ({spread.low:,.{digits}f}–{spread.high:,.{digits}f})"


def exponent(value: float) -> str:
    """Two decimals, never "-0.00"."""
    return f"{round(value, 2) + 0.0:.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def reproduce(section: str, data: dict[str, Any]) -> str:
    """The command that measures a section again (then `python -m bench report`)."""
    return f"Reproduce: `BENCH_SCALE={data.get('scale', 'default')} .venv/bin/python -m bench {section}`"
