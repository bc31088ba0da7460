"""One typed settings object, read from the environment once and passed down."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from components.common.cluster import GPU_NODE_POOL, NODE_POOL_LABEL_KEY
from components.common.model_names import check_model_name
from components.common.specs import DEFAULT_DATASET, get_spec, is_spec_file
from components.tasks import task_of

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# How the transform holds out eval rows: by a hash of each row, or the newest span (a span DATA_URI only).
SPLITS = ("hash", "time")
# Where train starts (components.train.warm_start.MODES): the champion's weights when they fit, or scratch.
WARM_STARTS = ("auto", "none")


@dataclass(frozen=True)
class Settings:
    """Where data comes from and where runs, metrics and models go.

    Every field has a default that works on a fresh clone: the bundled dataset,
    MLflow on SQLite and a local model store, all under the repository root.
    """

    dataset: str
    data_uri: str
    mlflow_tracking_uri: str
    mlflow_experiment: str
    model_store_uri: str
    model_name: str
    s3_endpoint_url: str
    pipeline_root: str
    epochs: int
    # The node label the train task selects on a cluster (compile time); infra/ labels the GPU pool so.
    gpu_node_pool_label_key: str
    gpu_node_pool_label_value: str
    # Training workers, fixed when the pipeline is built (pipelines.training_pipeline says why).
    train_workers: int = 1
    # Spans (components.data.spans): the newest TRAIN_WINDOW spans of a DATA_URI pattern (0: every span),
    # a missing one refused unless ALLOW_MISSING_SPANS=1; DATA_AS_OF (YYYY-MM-DD) ends the window on that
    # day instead of the run's (a backfill). SPLIT=time evaluates on the newest span, hash (default) by row.
    train_window: int = 0
    allow_missing_spans: bool = False
    data_as_of: str = ""
    split: str = "hash"
    # WARM_START=none trains from scratch; auto (default) starts from the champion when it was built the same way.
    warm_start: str = "auto"
    # VARIANTS=float16,int8: the kinds built and gated beside a blessed model, "" for none (VARIANTS=none);
    # None leaves the pipeline's default. The kinds are checked where the pipeline's arguments are made.
    variants: str | None = None

    def __post_init__(self) -> None:
        check_model_name(self.model_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; a variable set to the empty string counts as unset (as `make` exports them)."""
        env = {key: value for key, value in (os.environ if env is None else env).items() if value}
        dataset = env.get("DATASET", DEFAULT_DATASET)
        if is_spec_file(dataset):  # a spec file of one's own: every step, whatever its cwd, reads the same one
            dataset = _absolute_unless_remote(dataset)
        spec = get_spec(dataset)
        if "DATA_URI" in env:
            data_uri = env["DATA_URI"]
        elif spec.default_data_uri:
            data_uri = str(PROJECT_ROOT / spec.default_data_uri)
        else:
            raise ValueError(f"DATASET={dataset} ships no data: set DATA_URI to its CSV file")
        epochs = env.get("EPOCHS", "20")
        if not epochs.isdigit() or int(epochs) < 1:
            raise ValueError(f"EPOCHS must be a positive integer, got {epochs!r}")
        train_workers = env.get("TRAIN_WORKERS", "1")
        if not train_workers.isdigit() or int(train_workers) < 1:
            raise ValueError(f"TRAIN_WORKERS must be a positive integer, got {train_workers!r}")
        train_window = env.get("TRAIN_WINDOW", "0")
        if not train_window.isdigit():
            raise ValueError(f"TRAIN_WINDOW must be a number of spans (0: every span), got {train_window!r}")
        allow_missing_spans = env.get("ALLOW_MISSING_SPANS", "0")
        if allow_missing_spans not in ("0", "1"):
            raise ValueError(f"ALLOW_MISSING_SPANS must be 0 or 1, got {allow_missing_spans!r}")
        data_as_of = env.get("DATA_AS_OF", "")
        if data_as_of and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", data_as_of):
            raise ValueError(f"DATA_AS_OF must be a day written YYYY-MM-DD, got {data_as_of!r}")
        split = env.get("SPLIT", "hash")
        if split not in SPLITS:
            raise ValueError(f"SPLIT must be one of {list(SPLITS)}, got {split!r}")
        warm_start = env.get("WARM_START", "auto")
        if warm_start not in WARM_STARTS:
            raise ValueError(f"WARM_START must be one of {list(WARM_STARTS)}, got {warm_start!r}")
        variants = env.get("VARIANTS", "").strip() or None
        return cls(
            dataset=dataset,
            data_uri=_absolute_unless_remote(data_uri),
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI", f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"),
            mlflow_experiment=env.get("MLFLOW_EXPERIMENT", f"{spec.name}-training"),
            model_store_uri=_absolute_unless_remote(
                env.get("MODEL_STORE_URI", str(PROJECT_ROOT / "mlruns" / "model-store"))
            ),
            model_name=env.get("MODEL_NAME", f"{spec.name}-{task_of(spec).model_noun}"),
            s3_endpoint_url=env.get("MLFLOW_S3_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL", "")),
            pipeline_root=env.get("PIPELINE_ROOT", str(PROJECT_ROOT / "build" / "kfp-local")),
            epochs=int(epochs),
            gpu_node_pool_label_key=env.get("GPU_NODE_POOL_LABEL_KEY", NODE_POOL_LABEL_KEY),
            gpu_node_pool_label_value=env.get("GPU_NODE_POOL", GPU_NODE_POOL),
            train_workers=int(train_workers),
            train_window=int(train_window),
            allow_missing_spans=allow_missing_spans == "1",
            data_as_of=data_as_of,
            split=split,
            warm_start=warm_start,
            variants="" if variants == "none" else variants,
        )


def _absolute_unless_remote(uri: str) -> str:
    """Local paths become absolute so that every pipeline step, whatever its cwd, sees the same file."""
    if "://" in uri:
        return uri
    # A folder's trailing "/" stays: a span pattern such as data/trips/date={YYYY-MM-DD}/ names folders.
    return str(Path(uri).expanduser().resolve()) + ("/" if uri.endswith("/") else "")
