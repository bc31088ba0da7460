"""The compiled pipeline package: what `compile` writes and `deploy` uploads, built one way."""

from __future__ import annotations

from pathlib import Path

from components.runs.settings import Settings


def compile_pipeline(settings: Settings, output: Path, pipeline: str = "training") -> Path:
    """Compile a pipeline of pipelines.deployables to YAML, the train task selecting the settings' GPU node pool."""
    from kfp import compiler

    from pipelines.deployables import PIPELINES

    output.parent.mkdir(parents=True, exist_ok=True)
    built = PIPELINES[pipeline].build(
        settings.gpu_node_pool_label_key, settings.gpu_node_pool_label_value, train_workers=settings.train_workers
    )
    compiler.Compiler().compile(built, str(output))
    return output
