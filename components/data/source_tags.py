"""What a run read, as tags: the spans, the spans a window allowed to be missing, and the files.

Validate sets them on the pipeline's MLflow run; push copies them onto the registered version and the
model card names the spans. They live here, below both steps, so that neither imports the other.
"""

from __future__ import annotations

from components.data.sources import DataSource

SPANS_TAG = "data_spans"
MISSING_SPANS_TAG = "data_missing_spans"
FILES_TAG = "data_files"
FILES_DIGEST_TAG = "data_files_sha256"
SOURCE_TAGS = (SPANS_TAG, MISSING_SPANS_TAG, FILES_TAG, FILES_DIGEST_TAG)


def source_tags(source: DataSource) -> dict[str, str]:
    """Spans comma-separated, oldest first (only for a span pattern); the file count and manifest digest always."""
    tags = {FILES_TAG: str(len(source.files)), FILES_DIGEST_TAG: source.digest().sha256}
    if source.spans:
        tags[SPANS_TAG] = ",".join(source.spans)
    if source.missing_spans:
        tags[MISSING_SPANS_TAG] = ",".join(source.missing_spans)
    return tags
