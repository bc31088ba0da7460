"""The TensorFlow Serving invariant of a local model store: the highest numeric folder under
`<store>/<model>/serving/` (what TensorFlow Serving serves; it skips the dotted partial copies) is the
champion's, and holds the champion's files as its manifest pins them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hardening_helpers import MODEL_NAME

from components.common import storage, tracking


def served_version(store: Path, model_name: str = MODEL_NAME) -> str | None:
    """The version TensorFlow Serving would serve from `store`; None when there is no numeric folder."""
    root = store / model_name / "serving"
    numbers = [int(path.name) for path in root.iterdir() if path.name.isdigit()] if root.is_dir() else []
    return str(max(numbers)) if numbers else None


def assert_champion_served(tracking_uri: str, store: Path, model_name: str = MODEL_NAME) -> None:
    client = tracking.client(tracking_uri)
    champion = client.get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS)
    served = served_version(store, model_name)
    assert served == str(champion.version), f"TensorFlow Serving serves {served}, the champion is {champion.version}"
    manifest = store / model_name / "serving" / served / storage.MANIFEST_NAME
    assert hashlib.sha256(manifest.read_bytes()).hexdigest() == champion.tags["manifest_sha256"]
    checksums = dict(reversed(line.split("  ", 1)) for line in manifest.read_text().splitlines())
    storage.verify_dir(str(manifest.parent), checksums)  # every file the manifest lists, and no other
