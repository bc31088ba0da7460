"""Variants of a real pushed champion (test_serving_support: taxi, trained by the train step, pushed to a local
store and a SQLite registry): a lossy variant at tolerance 0 is refused and not pushed while the full model
stays the champion; a passing one is gated in the serving runtime, pushed beside the version, tagged, and
its server answers the full model's server's request (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_serving_support import MODEL_NAME, Champion, champion_fixture  # noqa: F401

from components.common import tracking
from components.common.specs import get_spec
from components.infra_validate import checks
from components.infra_validate.server import ModelServer
from components.serve import registry
from components.serve.registry import ServingError
from components.tasks import task_of
from components.variants.base import Candidate
from components.variants.publish import publish_variants
from components.variants.task import build_and_gate

SPEC = get_spec("modeldata_taxi")


def _candidate(champion: Champion) -> Candidate:
    root = champion.export_dir.parent
    return Candidate(SPEC, champion.export_dir, root / "graph", root / "examples")


@pytest.mark.slow
@pytest.mark.acceptance
def test_variants_gated_pushed_beside_the_version_and_served(champion: Champion, tmp_path: Path) -> None:
    candidate, eval_file = _candidate(champion), champion.export_dir.parent / "eval.csv"
    name, version = MODEL_NAME, champion.pushed.model_version
    # Full-integer int8 answers probabilities in steps of 1/256: ties lower the ROC AUC, which tolerance 0 refuses.
    (lossy,) = build_and_gate(candidate, eval_file, tmp_path / "strict", "int8_full", "mlp", tolerance=0.0)
    assert not lossy.passed and "roc_auc" in lossy.reason and "(full model" in lossy.reason, lossy
    assert not (tmp_path / "strict" / "int8_full").exists()
    (kept,) = build_and_gate(candidate, eval_file, tmp_path / "kept", "float16", "mlp")
    assert kept.passed, kept
    assert any(line.startswith("infra PASS eval_rows") for line in kept.lines), kept.lines
    assert kept.figures["size_bytes"] > 0 and abs(kept.figures["metric_delta"]) <= 0.005

    assert publish_variants(tmp_path / "strict", name, version, champion.pushed.store_uri, champion.tracking_uri) == []
    assert publish_variants(tmp_path / "kept", name, version, champion.pushed.store_uri, champion.tracking_uri) == [
        "float16"
    ]
    tags = champion.client().get_model_version(name, version).tags
    assert tags["variant.int8_full.refused"] == lossy.reason
    assert not (Path(champion.pushed.store_uri) / "variants" / "int8_full").exists()
    assert int(tags["variant.float16.size_bytes"]) == kept.figures["size_bytes"]
    assert float(tags["variant.float16.metric_delta"]) == pytest.approx(kept.figures["metric_delta"], abs=1e-6)
    # The full model is still the champion, its files untouched by its variants.
    assert champion.client().get_model_version_by_alias(name, tracking.CHAMPION_ALIAS).version == version
    assert (Path(champion.pushed.store_uri) / "variants" / "float16" / "MANIFEST.sha256").is_file()

    served = registry.resolve(champion.tracking_uri, name)
    variant = registry.variant_of(champion.tracking_uri, served, "float16")
    assert variant.name == f"{name}-float16" and variant.source.endswith("/variants/float16")
    with pytest.raises(ServingError, match="has no variant 'int8_full' \\(it was refused: FAIL: roc_auc"):
        registry.variant_of(champion.tracking_uri, served, "int8_full")
    body = json.dumps({"dataframe_records": json.loads(champion.eval_rows.head(20).to_json(orient="records"))})
    answers = []
    for model_dir in (Path(champion.pushed.store_uri), Path(variant.source)):
        with ModelServer(model_dir, tmp_path / f"{model_dir.name}.log") as server:
            assert server.wait_ready(120) is None, server.log_tail()
            status, answer = checks.post(server.port, body.encode())
            answers.append(checks.served_outputs("same request", status, answer, 20))
    full, ours = answers
    assert sorted(full) == sorted(ours) == sorted(task_of(SPEC).serving_output_names)
    assert np.abs(full["probability"].astype(float) - ours["probability"].astype(float)).max() < 0.01
