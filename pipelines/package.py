"""The compiled pipeline package: what `compile` writes and `deploy` uploads, built one way."""

from __future__ import annotations

from pathlib import Path

from components.common.settings import Settings


def compile_pipeline(settings: Settings, output: Path) -> Path:
    """Compile the training pipeline to YAML, the train task selecting the settings' GPU node pool."""
    from kfp import compiler

    from pipelines.training_pipeline import build_training_pipeline

    output.parent.mkdir(parents=True, exist_ok=True)
    pipeline = build_training_pipeline(settings.gpu_node_pool_label_key, settings.gpu_node_pool_label_value)
    compiler.Compiler().compile(pipeline, str(output))
    return output
