"""What push publishes: an MLflow model directory, and the logged model the version is linked to.

The train step makes its export an MLflow model in place and logs it (components/train/mlflow_model.py):
the SavedModel's files with MLmodel beside them. Push uploads that directory as it is, so the version's
files are what `mlflow.pyfunc.load_model("models:/<name>@champion")` loads, and what evaluate loads as a
SavedModel. A bare SavedModel is refused: no serving tool could load it as an MLflow model. The logged
model that MLmodel names must exist in this tracking store; an MLflow model saved but never logged
(no model id) is published without that link.
"""

from __future__ import annotations

from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

MLMODEL = "MLmodel"


def logged_model_id(client: MlflowClient, model_dir: Path) -> str | None:
    """The logged model `model_dir` was made as (None: never logged), once it is checked to be an MLflow
    model that pyfunc can load whose logged model is on record."""
    if not (model_dir / MLMODEL).is_file():
        raise ValueError(
            f"{model_dir} has no {MLMODEL}: push publishes MLflow models (the train step makes its export one; "
            f"components.train.mlflow_model.make_mlflow_model wraps a SavedModel)"
        )
    meta = Model.load(str(model_dir / MLMODEL))
    if "python_function" not in meta.flavors:
        raise ValueError(f"{model_dir}/{MLMODEL} has no python_function flavor: mlflow.pyfunc could not load it")
    if meta.model_id is not None:
        try:
            client.get_logged_model(meta.model_id)
        except MlflowException as error:
            raise ValueError(
                f"{model_dir}/{MLMODEL} names logged model {meta.model_id}, which the tracking store does not "
                f"have: {error.message}"
            ) from None
    return meta.model_id
