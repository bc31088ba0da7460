"""The variants of a pushed version under faults (issue 26): push_variants SIGKILLed half-way through a
variant's upload leaves the version without that variant (never a half-written one that serving finds),
and its rerun publishes complete variants only, dropping what the killed attempt left. Every variant lies
below its version's files, so deleting those (the sweep, a rolled-back push) takes its variants along.

The version is registered as push leaves it (published, its files in a file:// store); the variants are
small folders of files, since publishing reads only the step's report and copies what it names.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from components.common import storage, tracking
from components.push.leftovers import PUBLISHED, PUSH_STATE_TAG
from components.serve import registry
from components.serve.registry import ServingError
from components.variants.publish import publish_variants, variant_uri
from components.variants.task import REPORT, VariantOutcome

pytestmark = [pytest.mark.hardening, pytest.mark.slow]  # the killed child imports TensorFlow: ~30 s

MODEL_NAME = "variant-faults"
KILLED = -signal.SIGKILL

# Publishes the variants, SIGKILLed once the second file has been copied into the store.
PUBLISH_CHILD = """
import os, signal, sys
from pathlib import Path
from components.common import storage
from components.variants.publish import publish_variants
variants, name, version, store, tracking_uri = sys.argv[1:]
store_dir = str(storage.parse(store))
copies = []
real_copy = storage.shutil.copyfile
def copy_then_die(source, target, *args, **kwargs):
    copied = real_copy(source, target, *args, **kwargs)
    if str(target).startswith(store_dir):
        copies.append(copied)
    if len(copies) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
storage.shutil.copyfile = copy_then_die
publish_variants(Path(variants), name, version, store, tracking_uri)
"""


def _variants_step_output(root: Path) -> Path:
    """What the variants step leaves: int8 passed (three files), distilled refused with its reason."""
    out = root / "variants"
    for name, body in {
        "model.tflite": b"\x00" * 4096,
        "MLmodel": b"flavors: {}\n",
        "frame/saved_model.pb": b"pb",
    }.items():
        (out / "int8" / name).parent.mkdir(parents=True, exist_ok=True)
        (out / "int8" / name).write_bytes(body)
    outcomes = [
        VariantOutcome("int8", True, figures={"size_bytes": 4200, "size_ratio": 0.2, "metric_delta": -0.001}),
        VariantOutcome("distilled", False, "FAIL roc_auc 0.91 < full model 0.95 - 0.005"),
    ]
    (out / REPORT).write_text(json.dumps([asdict(outcome) for outcome in outcomes]))
    return out


def _published_version(tracking_uri: str, store_uri: str) -> str:
    """A version as push leaves it: its files in the store, registered and published."""
    client = tracking.client(tracking_uri)
    client.create_registered_model(MODEL_NAME)
    version = client.create_model_version(MODEL_NAME, store_uri, tags={PUSH_STATE_TAG: PUBLISHED})
    return str(version.version)


def test_a_killed_variants_push_leaves_no_half_variant_and_its_rerun_completes(
    tmp_path: Path, tmp_mlflow_uri: str
) -> None:
    store = tmp_path / "store" / "v1"
    (store / "saved_model.pb").parent.mkdir(parents=True)
    (store / "saved_model.pb").write_bytes(b"the full model")
    store_uri = store.as_uri()
    version = _published_version(tmp_mlflow_uri, store_uri)
    variants = _variants_step_output(tmp_path)
    stale = Path(storage.parse(variant_uri(store_uri, "int8"))) / "stale.bin"  # an older attempt's file
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an attempt killed before")

    child = subprocess.run(
        [sys.executable, "-c", PUBLISH_CHILD, str(variants), MODEL_NAME, version, store_uri, tmp_mlflow_uri],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == KILLED, child.stderr[-2000:]
    written = storage.local_files(Path(storage.parse(variant_uri(store_uri, "int8"))))
    assert 0 < len(written) and storage.MANIFEST_NAME not in written  # the kill landed mid-upload
    tags = tracking.client(tmp_mlflow_uri).get_model_version(MODEL_NAME, version).tags
    assert not [tag for tag in tags if tag.startswith("variant.int8")], tags  # not even its figures
    served = registry.ServedVersion(MODEL_NAME, version, store_uri, None)
    with pytest.raises(ServingError, match="has no variant 'int8'"):
        registry.variant_of(tmp_mlflow_uri, served, "int8")

    assert publish_variants(variants, MODEL_NAME, version, store_uri, tmp_mlflow_uri) == ["int8"]
    tags = tracking.client(tmp_mlflow_uri).get_model_version(MODEL_NAME, version).tags
    assert tags["variants"] == "int8"
    assert tags["variant.int8.size_bytes"] == "4200"
    assert tags["variant.distilled.refused"].startswith("FAIL roc_auc")
    uri = registry.variant_of(tmp_mlflow_uri, served, "int8").source
    assert uri == variant_uri(store_uri, "int8") and uri.startswith(store_uri + "/")
    copy = storage.download_dir(uri, tmp_path / "copy")  # checked against the variant's own manifest
    assert sorted(storage.local_files(copy)) == sorted([*storage.local_files(variants / "int8"), storage.MANIFEST_NAME])

    storage.delete_prefix(store_uri)  # as the sweep deletes a dead version's files: its variants go too
    with pytest.raises(storage.StorageError, match="no such directory"):
        storage.download_dir(uri, tmp_path / "gone")
