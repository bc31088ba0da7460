"""The model card's variants table (issue 26): per compressed variant of a version, its size, metric delta,
serving latency, and whether it was pushed or refused (with the reason).

It is read from the version's `variant.<name>.*` tags (components/variants/publish.py), the one record of
what became of each variant, and added to the version's description once the variants are published: push
writes the card first and never waits on its variants.
"""

from __future__ import annotations

from typing import Mapping

from mlflow.tracking import MlflowClient

from components.push.card_sections import NONE, Section, markdown_text
from components.push.model_card import MAX_DESCRIPTION

TITLE = "Compressed variants"
HEADER = ("variant", "size", "metric delta", "latency p99", "pushed")
TAG_PREFIX = "variant."
FIGURES = ("size_bytes", "size_ratio", "metric_delta", "infra_latency_p99_ms")


def variants_section(tags: Mapping[str, str]) -> Section | None:
    """The table of the variants the tags name, in name order; None when the version has none."""
    names = sorted({key[len(TAG_PREFIX) :].rsplit(".", 1)[0] for key in tags if key.startswith(TAG_PREFIX)})
    if not names:
        return None
    rows = []
    for name in names:
        figures = {key: tags.get(f"{TAG_PREFIX}{name}.{key}") for key in FIGURES}
        size = NONE
        if figures["size_bytes"] is not None:
            ratio = f" ({float(figures['size_ratio']):.2f}× the full model)" if figures["size_ratio"] else ""
            size = f"{int(figures['size_bytes']):,} bytes{ratio}"
        delta = f"{float(figures['metric_delta']):+.4f}" if figures["metric_delta"] is not None else NONE
        latency = f"{float(figures['infra_latency_p99_ms']):.1f} ms" if figures["infra_latency_p99_ms"] else NONE
        refused = tags.get(f"{TAG_PREFIX}{name}.refused")
        pushed = "yes" if tags.get(f"{TAG_PREFIX}{name}.uri") else f"refused: {refused}" if refused else "no"
        rows.append((name, size, delta, latency, pushed))
    lines = ("Each variant takes the full model's request; delta: its headline metric minus the full model's.",)
    return Section(TITLE, lines=lines, header=HEADER, rows=tuple(rows))


def add_variants_table(client: MlflowClient, model_name: str, version: str) -> None:
    """Append the variants table to the version's description (the registry's card), within its limit; a
    second call replaces the table rather than adding another."""
    current = client.get_model_version(model_name, version)
    section = variants_section(current.tags)
    if section is None:
        return
    card = (current.description or "").split(f"\n\n## {markdown_text(TITLE)}", 1)[0].rstrip("\n")
    room = MAX_DESCRIPTION - len(card) - 2
    for rows in (len(section.rows), 3, 0):
        table = section.markdown(rows)
        if len(table) + 1 <= room:
            client.update_model_version(model_name, version, description=f"{card}\n\n{table}\n")
            return
