"""The drift report as a self-contained HTML page and as JSON."""

from __future__ import annotations

import html
import json
from pathlib import Path

from components.monitor.drift import DriftReport, FeatureDrift

_STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
.drift { background: #fde0dc; } .ok { background: #e3f4e1; }
.verdict { font-size: 1.4em; padding: 0.5em; display: inline-block; }
"""


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _feature_row(feature: FeatureDrift) -> str:
    cells = [
        feature.name,
        f"{feature.kind} ({feature.role})",
        feature.statistic,
        f"{feature.score:.4f}",
        str(feature.threshold),
        f"{feature.p_value:.3g}",
        f"{feature.baseline_null_fraction:.2%} → {feature.null_fraction:.2%}",
        _share(feature.unseen_share),
        _share(feature.out_of_range_share),
        "DRIFT" if feature.drifted else "no drift",
        "; ".join(feature.reasons),
    ]
    row = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
    return f'<tr class="{"drift" if feature.drifted else "ok"}">{row}</tr>'


def html_report(report: DriftReport) -> str:
    verdict = "DRIFT" if report.drifted else "no drift"
    headers = [
        "feature", "kind", "statistic", "score", "threshold", "p-value", "nulls (baseline → new)",
        "unseen categories", "far out of range", "verdict", "why",
    ]  # fmt: skip
    changes = "".join(
        f"<tr class={'drift' if change.breaking else 'ok'}><td>{html.escape(change.column)}</td>"
        f"<td>{html.escape(change.change)}</td><td>{html.escape(change.detail)}</td></tr>"
        for change in report.schema_changes
    )
    thresholds = ", ".join(f"{name}={value}" for name, value in vars(report.thresholds).items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Drift: {html.escape(report.dataset)}</title><style>{_STYLE}</style></head>
<body>
<h1>Drift check: {html.escape(report.dataset)}</h1>
<p>New data: {html.escape(report.data_source)} ({report.rows} rows)<br>
Baseline: {html.escape(report.baseline_source)} ({report.baseline_rows} rows)</p>
<p class="verdict {"drift" if report.drifted else "ok"}">Verdict: {verdict}</p>
<h2>Features</h2>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in headers)}</tr>
{"".join(_feature_row(feature) for feature in report.features)}</table>
<h2>Schema</h2>
{f"<table><tr><th>column</th><th>change</th><th>detail</th></tr>{changes}</table>" if changes else "<p>unchanged</p>"}
<p>Thresholds: {html.escape(thresholds)}</p>
</body></html>
"""


def write_report(report: DriftReport, report_html: Path, summary_json: Path) -> None:
    report_html.parent.mkdir(parents=True, exist_ok=True)
    summary_json.parent.mkdir(parents=True, exist_ok=True)
    report_html.write_text(html_report(report), encoding="utf-8")
    summary_json.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
