"""A variant's MLflow files: the candidate's signature and input example, so that it takes the same request
and answers with the same schema, and the variant's own loader."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import mlflow
from mlflow.models import Model

from components.train import mlflow_model


def save_pyfunc(
    candidate_dir: Path, out_dir: Path, loader: Path, requirements: Sequence[str], missing: Sequence[str]
) -> None:
    """Write MLflow's files into `out_dir` (which already holds the variant's own files): `loader` (a module
    beside mlflow_model.py in code/) loads it; the signature and input example are the candidate's."""
    candidate = Model.load(str(candidate_dir))
    example = candidate.load_input_example(str(candidate_dir)) if candidate.saved_input_example_info else None
    with tempfile.TemporaryDirectory(prefix="variant-mlflow-") as scratch:
        files = Path(scratch) / "model"
        mlflow.pyfunc.save_model(
            path=str(files),
            loader_module=loader.stem,
            code_paths=[str(loader), mlflow_model.__file__],
            signature=candidate.signature,
            input_example=example,
            pip_requirements=[*mlflow_model.requirements(), *requirements],
            model_config={mlflow_model.MISSING_VALUES_CONFIG: list(missing)},
        )
        for path in files.iterdir():
            shutil.move(str(path), str(out_dir / path.name))


def size_bytes(model_dir: Path) -> int:
    """Bytes of the model's own files (MLflow's environment and code files included)."""
    return sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file())
