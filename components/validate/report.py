"""The validation report: each expectation's outcome in words, as JSON and as a self-contained HTML page;
for an image column also the sizes and channels of its images and a few of them as inline thumbnails."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Collection

from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.expectations.metadata_types import FailureSeverity

# The parts of a GX result that quote the data's values (observed_value: a type's name, or a row count).
SIZES_SHOWN = 10  # the most common image sizes the report lists; the rest are counted together
THUMBNAIL_PIXELS = 64  # the width a thumbnail is shown at (a small image scaled up, pixel for pixel)
QUOTED_VALUES = frozenset({"partial_unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list"})


@dataclass(frozen=True)
class ExpectationOutcome:
    """One evaluated expectation, in words a person can act on."""

    column: str | None
    expectation: str
    severity: str
    success: bool
    expected: str
    observed: str

    def describe(self) -> str:
        where = f"column '{self.column}'" if self.column else "table"
        return f"{where}: expected {self.expected}, {self.observed}"


@dataclass(frozen=True)
class ImageSummary:
    """One image column's images: how many were checked and bad, the sizes ([height, width, count], most
    common first) and channels ([channels, count]) of the good ones, and a few of them as
    [reference, base64 PNG] thumbnails (components/validate/images.py)."""

    column: str
    checked: int
    bad: int
    sizes: list[list[int]]
    channels: list[list[int]]
    thumbnails: list[list[str]]


@dataclass(frozen=True)
class ValidationSummary:
    """What the JSON summary holds; `error` is set when the file could not be read at all."""

    data_path: str
    dataset: str
    success: bool
    row_count: int
    column_count: int
    expectations_evaluated: int
    expectations_failed: int
    critical_failures: list[str]
    warnings: list[str]
    outcomes: list[ExpectationOutcome]
    error: str | None = None
    images: list[ImageSummary] = field(default_factory=list)


def outcome_of(result: ExpectationValidationResult, hidden: Collection[str] = ()) -> ExpectationOutcome:
    """The outcome in words; for a column in `hidden` (declared sensitive) no value of it is quoted."""
    config = result.expectation_config
    kwargs = config.kwargs
    details = result.result
    if kwargs.get("column") in hidden:
        details = {key: value for key, value in details.items() if key not in QUOTED_VALUES}
    expected, observed = _describe(config.type, kwargs, details, bool(result.success))
    error = _exception_message(result)
    if error:
        observed = f"could not be evaluated: {error}"
    return ExpectationOutcome(
        column=kwargs.get("column"),
        expectation=config.type,
        severity=FailureSeverity(config.severity).value,
        success=bool(result.success),
        expected=expected,
        observed=observed,
    )


def _describe(kind: str, kwargs: dict[str, Any], result: dict[str, Any], success: bool) -> tuple[str, str]:
    """What the expectation asked for and what the data showed, as two phrases."""
    mostly = kwargs.get("mostly", 1.0)
    rows = "in every non-null row" if mostly >= 1.0 else f"in at least {_percent(mostly)} of non-null rows"
    unexpected = f"{result.get('unexpected_percent') or 0.0:.1f}%"
    examples = ", ".join(repr(value) for value in result.get("partial_unexpected_list", [])[:5])
    examples = f" (e.g. {examples})" if examples else ""
    if kind == "expect_column_to_exist":
        return "the column in the header", "present" if success else "it is missing"
    if kind == "expect_column_values_to_be_in_type_list":
        wanted = " or ".join(kwargs["type_list"])
        if "observed_value" in result:
            return f"type {wanted}", f"observed {result['observed_value']}"
        return f"values of type {wanted}", f"{unexpected} of values are of another type{examples}"
    if kind == "expect_column_values_to_not_be_null":
        allowed = "no null values" if mostly >= 1.0 else f"at most {_percent(1 - mostly)} null values"
        counts = f"{result.get('unexpected_count', 0)} of {result.get('element_count', 0)} rows"
        return allowed, f"{unexpected} null ({counts})"
    if kind == "expect_column_values_to_be_between":
        return f"values {_bounds(kwargs)} {rows}", f"{unexpected} outside{examples}"
    if kind == "expect_column_values_to_be_in_set":
        allowed = ", ".join(kwargs["value_set"])
        return f"values in {{{allowed}}} {rows}", f"{unexpected} not in the set{examples}"
    if kind == "expect_table_row_count_to_be_between":
        return f"{_bounds(kwargs)} rows", f"observed {result.get('observed_value')}"
    return str(kwargs), str(result)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _bounds(kwargs: dict[str, Any]) -> str:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _exception_message(result: ExpectationValidationResult) -> str | None:
    """GX records a metric that raised (a missing column, text in a numeric range) per metric id."""
    info = result.exception_info or {}
    candidates = [info, *(value for value in info.values() if isinstance(value, dict))]
    return next((str(item.get("exception_message")) for item in candidates if item.get("raised_exception")), None)


def write_outputs(summary: ValidationSummary, report_html: Path, summary_json: Path) -> None:
    for path in (report_html, summary_json):
        path.parent.mkdir(parents=True, exist_ok=True)
    summary_json.write_text(json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8")
    report_html.write_text(render_html(summary), encoding="utf-8")


def render_html(summary: ValidationSummary) -> str:
    """A self-contained page: the verdict, the file, and every expectation with what was observed."""
    esc = html.escape
    verdict = "passed" if summary.success else "FAILED"
    rows = "\n".join(
        f'<tr class="{"ok" if o.success else o.severity}"><td>{esc(o.column or "(table)")}</td>'
        f"<td>{esc(o.expectation)}</td><td>{esc(o.severity)}</td><td>{'yes' if o.success else 'NO'}</td>"
        f"<td>{esc(o.observed)}</td><td>{esc(o.expected)}</td></tr>"
        for o in summary.outcomes
    )
    problems = "".join(
        f"<h2>{title}</h2><ul>{''.join(f'<li>{esc(item)}</li>' for item in items)}</ul>"
        for title, items in (("Critical failures", summary.critical_failures), ("Warnings", summary.warnings))
        if items
    )
    images = "".join(_image_section(image) for image in summary.images)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Data validation {verdict}: {esc(summary.dataset)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
tr.critical {{ background: #fdd; }} tr.warning {{ background: #ffd; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
figure img {{ width: {THUMBNAIL_PIXELS}px; image-rendering: pixelated; border: 1px solid #ccc; }}
</style></head><body>
<h1>Data validation {verdict}: {esc(summary.dataset)}</h1>
<p>File: <code>{esc(summary.data_path)}</code><br>
Rows: {summary.row_count} &middot; Columns: {summary.column_count} &middot;
Expectations evaluated: {summary.expectations_evaluated}, failed: {summary.expectations_failed}</p>
{problems}
<table><tr><th>Column</th><th>Expectation</th><th>Severity</th><th>Success</th><th>Observed</th><th>Expected</th></tr>
{rows}
</table>
{images}</body></html>
"""


def _image_section(image: ImageSummary) -> str:
    """An image column's size and channel counts, and its thumbnails (img tags with inline PNG data)."""
    esc = html.escape
    shown = image.sizes[:SIZES_SHOWN]
    sizes = "".join(f"<tr><td>{height} x {width}</td><td>{count}</td></tr>" for height, width, count in shown)
    if len(image.sizes) > SIZES_SHOWN:
        others = sum(count for _, _, count in image.sizes[SIZES_SHOWN:])
        sizes += f"<tr><td>{len(image.sizes) - SIZES_SHOWN} other sizes</td><td>{others}</td></tr>"
    channels = "".join(f"<tr><td>{channels}</td><td>{count}</td></tr>" for channels, count in image.channels)
    thumbnails = "".join(
        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(reference)}">'
        f"<figcaption>{esc(reference)}</figcaption></figure>"
        for reference, data in image.thumbnails
    )
    return (
        f"<h2>Images: column '{esc(image.column)}'</h2>"
        f"<p>Checked: {image.checked} &middot; bad: {image.bad}</p>"
        f"<table><tr><th>Size (height x width)</th><th>Images</th></tr>{sizes}</table>"
        f"<table><tr><th>Channels</th><th>Images</th></tr>{channels}</table>"
        f"<div>{thumbnails}</div>\n"
    )
