"""Variants beside the pushed version: each passed variant uploaded to `<version's store uri>/variants/<name>/`
(with its own manifest, re-read and checked), and the registered version tagged per variant:
`variant.<name>.uri`, `.size_bytes`, `.size_ratio`, `.metric_delta`, `.latency_p99_ms`; a refused one gets
`variant.<name>.refused` (the reason) instead. Runs after the full model's push, which never waits on it.

A variant is found only by its `.uri` tag (components/serve/registry.py), written after its files are
uploaded, verified and its figures tagged: a push killed before or during this leaves the version without
that variant, never with a half-written one; a rerun first deletes what the killed attempt uploaded. The
files lie below the version's own, so the sweep and a deleted version take them along.
"""

from __future__ import annotations

from pathlib import Path

from components.common import storage, tracking
from components.push.card_variants import add_variants_table
from components.variants.task import read_report

VARIANTS_FOLDER = "variants"
TAGGED_FIGURES = ("size_bytes", "size_ratio", "metric", "metric_delta", "infra_latency_p99_ms")


def variant_uri(store_uri: str, name: str) -> str:
    return f"{store_uri.rstrip('/')}/{VARIANTS_FOLDER}/{name}"


def publish_variants(
    variants_dir: Path,
    model_name: str,
    model_version: str,
    store_uri: str,
    tracking_uri: str,
    endpoint_url: str | None = None,
) -> list[str]:
    """Upload and tag the passed variants of `model_version`; returns their names."""
    client = tracking.client(tracking_uri)
    published = []
    for outcome in read_report(variants_dir):
        prefix = f"variant.{outcome.name}"
        if not outcome.passed:
            client.set_model_version_tag(model_name, model_version, f"{prefix}.refused", outcome.reason[:5000])
            continue
        uri = variant_uri(store_uri, outcome.name)
        storage.delete_prefix(uri, endpoint_url)  # what a killed attempt left: the upload must be all its own
        checksums = storage.upload_dir(variants_dir / outcome.name, uri, endpoint_url)
        storage.verify_dir(uri, checksums, endpoint_url)
        for key in TAGGED_FIGURES:
            value = outcome.figures.get(key)
            if value is not None:
                text = str(value) if isinstance(value, int) else f"{value:.6g}"
                client.set_model_version_tag(model_name, model_version, f"{prefix}.{key}", text)
        client.set_model_version_tag(model_name, model_version, f"{prefix}.uri", uri)  # last: it makes it servable
        published.append(outcome.name)
    client.set_model_version_tag(model_name, model_version, "variants", ",".join(published))
    add_variants_table(client, model_name, model_version)
    return published
