"""Scoring the staged rows on Beam, through the MLflow model's serving signature, a batch at a time.

Each staged part is one Beam element; a worker loads the model once (DoFn.setup) and answers the part in
batches of `batch_rows` with `pyfunc.predict`, which enforces the model's signature and calls its
`serving_default`: the same code path as the HTTP server's, so a scored row equals the server's answer.
Each part's output is one Parquet file: the row's keys (or its number), the model's outputs, the model's
name and version and the run's scoring time. An image column is staged as the images' references: the
model is fed their bytes, read as the one reader reads them (components/data/images.py), while the output
keeps the references. The parts are local to the step, so the runner must be one whose workers share its
disk (DirectRunner); another is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import apache_beam as beam
import pandas as pd
from apache_beam.options.pipeline_options import PipelineOptions

from components.data.images import read_image_bytes

MODEL_NAME, MODEL_VERSION, SCORED_AT = "model_name", "model_version", "scored_at"
LOCAL_RUNNERS = ("DirectRunner",)


class PredictPart(beam.DoFn):
    """Staged input part -> its predictions' Parquet file under `out_dir`; yields the rows it scored."""

    def __init__(
        self,
        model_dir: str,
        out_dir: str,
        ids: Sequence[str],
        meta: dict[str, Any],
        batch_rows: int,
        images: Sequence[str] = (),
        endpoint_url: str = "",
    ):
        self._model_dir, self._out_dir, self._ids = model_dir, out_dir, list(ids)
        self._meta, self._batch_rows = meta, batch_rows
        self._images, self._endpoint_url = list(images), endpoint_url

    def setup(self) -> None:
        import mlflow

        self._model = mlflow.pyfunc.load_model(self._model_dir)
        self._inputs = self._model.metadata.get_input_schema().input_names()

    def process(self, part: str) -> Iterator[int]:
        frame = pd.read_parquet(part)
        answers = [
            self._model.predict(self._fed(frame.iloc[start : start + self._batch_rows][self._inputs]))
            for start in range(0, len(frame), self._batch_rows)
        ]
        predictions = pd.concat(answers, ignore_index=True)
        scored = pd.concat([frame[self._ids].reset_index(drop=True), predictions], axis=1).assign(**self._meta)
        scored.to_parquet(Path(self._out_dir) / Path(part).name.replace("input-", "part-"), index=False)
        yield len(scored)

    def _fed(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The rows as the model takes them: each image column's references replaced by the images' bytes."""
        rows = rows.reset_index(drop=True)
        for name in self._images:
            if name in rows.columns:
                rows[name] = [
                    read_image_bytes(ref, self._endpoint_url) if isinstance(ref, str) else None for ref in rows[name]
                ]
        return rows


def score_parts(
    parts: Sequence[Path],
    model_dir: Path,
    out_dir: Path,
    id_columns: Sequence[str],
    meta: dict[str, Any],
    batch_rows: int,
    beam_runner: str,
    beam_flags: Sequence[str],
    image_columns: Sequence[str] = (),
    endpoint_url: str = "",
) -> int:
    """Score every staged part into `out_dir` (one Parquet file each, `id_columns` first); returns the rows scored."""
    if beam_runner not in LOCAL_RUNNERS:
        raise ValueError(
            f"beam_runner {beam_runner}: scoring stages its rows on the step's own disk, which only "
            f"{list(LOCAL_RUNNERS)} workers share; expected one of those"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = list(id_columns)
    with beam.Pipeline(options=PipelineOptions(list(beam_flags), runner=beam_runner)) as pipeline:
        _ = (
            pipeline
            | "Parts" >> beam.Create([str(part) for part in parts])
            | "Predict"
            >> beam.ParDo(PredictPart(str(model_dir), str(out_dir), ids, meta, batch_rows, image_columns, endpoint_url))
        )
    return sum(len(pd.read_parquet(path, columns=ids)) for path in sorted(out_dir.glob("part-*.parquet")))
