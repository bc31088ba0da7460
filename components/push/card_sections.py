"""The model card's building blocks: a section that renders as Markdown or HTML, and its table rows.

Every value is text by the time it is in a section, so rendering cannot fail once a card is built.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Mapping

from components.common.specs.base import (
    Bucketized,
    Categorical,
    DatasetSpec,
    Feature,
    Image,
    LatLongCross,
    Numeric,
    Text,
    TimestampParts,
)
from components.common.specs.vocabulary.privacy import describe_treatment

NONE = "—"
# Shown in the metric table's bound column for a metric the gate does not bound.
UNBOUNDED = "off"


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    bullets: tuple[str, ...] = ()

    def markdown(self, max_rows: int) -> str:
        """GitHub-flavoured Markdown (as MLflow's registry UI renders it), at most `max_rows` table rows."""
        parts = [f"## {markdown_text(self.title)}", *(markdown_text(line) for line in self.lines)]
        if self.header and self.rows:
            table = [_md_row(self.header), "|" + "---|" * len(self.header)]
            table += [_md_row(row) for row in self.rows[:max_rows]]
            parts.append("\n".join(table))
            if len(self.rows) > max_rows:
                parts.append(f"*{len(self.rows) - max_rows} more rows in the HTML card.*")
        if self.bullets:
            parts.append("\n".join(f"- {markdown_text(item)}" for item in self.bullets))
        return "\n\n".join(parts)

    def html(self) -> str:
        parts = [f"<h2>{html.escape(self.title)}</h2>", *(f"<p>{html.escape(line)}</p>" for line in self.lines)]
        if self.header and self.rows:
            head = "".join(f"<th>{html.escape(name)}</th>" for name in self.header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in self.rows)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        if self.bullets:
            parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in self.bullets) + "</ul>")
        return "<section>" + "\n".join(parts) + "</section>"


def markdown_text(text: str) -> str:
    """Text that Markdown shows as written: no tags, emphasis or table breaks out of it."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for special in ("\\", "|", "*", "`"):
        text = text.replace(special, "\\" + special)
    return " ".join(text.split())


def _md_row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(markdown_text(value) for value in cells) + " |"


def cell(value: Any) -> str:
    """A figure as the card shows it: floats to four places, nothing as a dash."""
    if value is None:
        return NONE
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metric_rows(
    headline: Mapping[str, float],
    thresholds: Mapping[str, float],
    higher_is_better: Mapping[str, bool],
    champion: Mapping[str, float] | None,
    prior: Mapping[str, float],
) -> tuple[tuple[str, ...], ...]:
    """One row per headline scalar of the task: the candidate, the gate's bound, the champion, the prior.

    A bound is a floor (>=) or a ceiling (<=) by the task's direction for its metric.
    """
    rows = []
    for name, value in headline.items():
        bound = UNBOUNDED
        if name in thresholds:
            bound = f"{'>=' if higher_is_better[name] else '<='} {thresholds[name]:g}"
        champion_value = champion.get(name) if champion else None
        rows.append((name, cell(value), bound, cell(champion_value), cell(prior.get(name))))
    return tuple(rows)


def slice_rows(slices: Mapping[str, Mapping[str, Any]], metrics: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """One row per measured slice: its examples and the task's table metrics (a dash where undefined)."""
    return tuple((key, cell(m["example_count"]), *(cell(m[name]) for name in metrics)) for key, m in slices.items())


def small_slices(evaluation: Mapping[str, Any], min_rows: int) -> list[str]:
    """Keys of the slices, measured or only counted, with fewer than `min_rows` eval rows, longest first."""
    counts = {key: m["example_count"] for key, m in evaluation["slices"].items()}
    counts.update(evaluation.get("skipped_slices") or {})
    return sorted((key for key, count in counts.items() if count < min_rows), key=lambda key: (-len(key), key))


def unnamed(text: str, hidden: list[str], min_rows: int) -> str:
    """`text` with each hidden slice's key (its column and value) replaced by words that name neither."""
    for key in hidden:
        text = text.replace(key, f"(a slice of under {min_rows} rows)")
    return text


def sensitive_section(spec: DatasetSpec) -> Section:
    """Each column the spec declares sensitive and what the pipeline does with it (docs/privacy.md)."""
    rows = tuple((name, describe_treatment(spec.sensitive[name])) for name in spec.sensitive_columns)
    lines = () if rows else ("None declared in the dataset spec.",)
    return Section("Sensitive columns", lines=lines, header=("column", "treatment"), rows=rows)


def feature_role(feature: Feature) -> str:
    """What the transform makes of the raw column(s), in words."""
    if isinstance(feature, Numeric):
        return f"numeric{', log1p' if feature.log else ''}, z-scored; missing as {feature.default:g}"
    if isinstance(feature, Categorical):
        top = f"top {feature.top_k} " if feature.top_k else ""
        return f"categorical: {top}vocabulary of the train split, {feature.oov_buckets} out-of-vocabulary bucket(s)"
    if isinstance(feature, Bucketized):
        return f"{feature.num_buckets} quantile buckets; missing as {feature.default:g}"
    if isinstance(feature, TimestampParts):
        return f"Unix time as {', '.join(feature.parts)} (UTC)"
    if isinstance(feature, LatLongCross):
        return f"{feature.num_buckets} x {feature.num_buckets} grid cell of the latitude and longitude"
    if isinstance(feature, Text):
        if feature.mode == "sequence":
            form = (
                f"the first {feature.sequence_length} tokens in order; "
                f"vocabulary: the {feature.vocab_size} most frequent"
            )
        else:
            form = (
                f"a set of the first {feature.sequence_length} distinct 1- to {feature.ngrams}-grams; "
                f"vocabulary: the {feature.vocab_size} found in the most rows"
            )
        return f"text: {form} of the train split, {feature.oov_buckets} out-of-vocabulary bucket(s)"
    if isinstance(feature, Image):
        return (
            f"image (PNG or JPEG, read from the referenced file): decoded to {feature.channels} channel(s), "
            f"resized to {feature.height}x{feature.width}, scaled to [0, 1]"
        )
    raise TypeError(f"unknown feature kind {feature!r}")
