"""The model batch scoring runs: a published version of the registry, its files verified before use.

The version is the champion or the one named; it must be published (registry.resolve). Its folder in the
model store is copied and checked file by file against its MANIFEST.sha256, and that manifest against the
digest push recorded on the version: a model whose files differ from what was pushed is never scored with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from components.common import storage, tracking
from components.serve import registry

# Set by push on every version: the SHA-256 of its MANIFEST.sha256 (components/push/leftovers.py).
MANIFEST_DIGEST_TAG = "manifest_sha256"


class ModelCheckError(RuntimeError):
    """The version cannot be scored with: unpublished, missing files, or files that differ from the push."""


@dataclass(frozen=True)
class VerifiedModel:
    name: str
    version: str
    store_uri: str
    local_dir: Path
    manifest_sha256: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def fetch_verified(
    tracking_uri: str, model_name: str, version: str, workdir: Path, endpoint_url: str = ""
) -> VerifiedModel:
    """Version `version` (empty: the champion) of `model_name`, copied into `workdir` and verified."""
    try:
        served = registry.resolve(tracking_uri, model_name, version)
    except registry.ServingError as error:
        raise ModelCheckError(str(error)) from None
    tags = tracking.client(tracking_uri).get_model_version(served.name, served.version).tags
    label = f"{served.name} version {served.version}"
    store_uri, recorded = tags.get(tracking.STORE_URI_TAG), tags.get(MANIFEST_DIGEST_TAG)
    if not store_uri or not recorded:
        raise ModelCheckError(f"{label} has no {tracking.STORE_URI_TAG!r} or {MANIFEST_DIGEST_TAG!r} tag to verify")
    try:
        local = storage.download_dir(store_uri, workdir / "model", endpoint_url or None)
    except (storage.ChecksumMismatchError, storage.StorageError) as error:
        raise ModelCheckError(f"{label}: {error}") from None
    manifest = local / storage.MANIFEST_NAME
    actual = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else "missing"
    if actual != recorded:
        raise ModelCheckError(
            f"{label}: {store_uri}/{storage.MANIFEST_NAME} has sha256 {actual}, push recorded {recorded}"
        )
    return VerifiedModel(served.name, served.version, store_uri, local, recorded)
