"""What evaluate writes of its slices: no slice of fewer eval rows than the spec's `min_slice_rows` is named.

A small slice could single a person out (docs/privacy.md). The gate still sees every slice and gates it as
before (components.evaluate.gate); what is written (metrics.json, the MLflow metrics, the HTML report, the
gate's reasons, the step's log) leaves a small slice out of the slice tables, writes "(a slice of under N
rows)" where a line would name it, and says how many were left out: "2 slices under min_slice_rows (20 eval
rows) not shown".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Mapping

from components.evaluate.slices import SliceGap
from components.tasks import TaskMetrics


@dataclass(frozen=True)
class ShownSlices:
    """The slices, counted-only slices and gaps that may be written, and the keys that may not (`hidden`)."""

    slices: dict[str, TaskMetrics]
    skipped: dict[str, int]
    gaps: dict[str, SliceGap]
    hidden: tuple[str, ...]
    min_rows: int

    @property
    def note(self) -> str | None:
        """The line that says how many slices were left out; None when none was."""
        if not self.hidden:
            return None
        return f"{len(self.hidden)} slice(s) under min_slice_rows ({self.min_rows} eval rows) not shown"

    def unnamed(self, text: str) -> str:
        """`text` with every hidden slice's key (its column and value) replaced by words that name neither."""
        for key in self.hidden:  # longest first: a key that holds another is replaced whole
            text = re.sub(re.escape(key) + r"(?=[\s,;)]|$)", f"(a slice of under {self.min_rows} rows)", text)
        return text


def shown_slices(
    slices: Mapping[str, TaskMetrics], skipped: Mapping[str, int], gaps: Mapping[str, SliceGap], min_rows: int
) -> ShownSlices:
    """Split the slices at `min_rows` eval rows (measured ones by their example count, counted ones by count)."""
    counts = {key: int(metrics.example_count) for key, metrics in slices.items()} | dict(skipped)
    hidden = tuple(sorted((key for key, count in counts.items() if count < min_rows), key=lambda k: (-len(k), k)))
    shown = ShownSlices(
        slices={key: metrics for key, metrics in slices.items() if key not in hidden},
        skipped={key: count for key, count in skipped.items() if key not in hidden},
        gaps={},
        hidden=hidden,
        min_rows=min_rows,
    )
    named = {
        column: replace(gap, best=shown.unnamed(gap.best), worst=shown.unnamed(gap.worst))
        for column, gap in gaps.items()
    }
    return replace(shown, gaps=named)
