"""KFP wrapper of the transform step; the logic is in components.transform.task."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Output

from components.common.images import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def transform(
    data_uri: str,
    data_sha256: str,
    data_size: int,
    dataset: str,
    spec_fingerprint: str,
    beam_runner: str,
    beam_options: str,
    s3_endpoint_url: str,
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
    eval_data: Output[Dataset],
    split: str = "hash",
    train_window: int = 0,
    allow_missing_spans: bool = False,
    data_as_of: str = "",
) -> int:
    """tf.Transform on Beam: returns the number of training rows.

    Every input is content (the digest and fingerprint validate handed on, the Beam settings), so a
    cluster's cache hits when the same bytes are transformed by the same code. `beam_options` is a JSON
    list of Beam pipeline flags, e.g. '["--runner=...", "--project=p", "--region=r"]' for Dataflow.
    An empty `s3_endpoint_url` means AWS itself. `split` is "hash" (a hash of each row) or "time" (the
    newest span of a spanned DATA_URI is the eval split). `train_window`, `allow_missing_spans` and
    `data_as_of` (the day validate's window ended) resolve a span pattern to the spans validate read.
    """
    from datetime import date
    from pathlib import Path

    from components.common.content import ContentDigest
    from components.transform.task import OutputLocations, beam_flags, run_transform_step

    artifacts = (transform_graph, transformed_examples, eval_data)
    where = OutputLocations.for_runner(
        beam_runner, [a.path for a in artifacts], [a.uri for a in artifacts], beam_flags(beam_options, s3_endpoint_url)
    )
    result = run_transform_step(
        data_uri=data_uri,
        data_digest=ContentDigest(data_sha256, data_size),
        dataset=dataset,
        expected_spec_fingerprint=spec_fingerprint,
        beam_runner=beam_runner,
        beam_options_json=beam_options,
        transform_graph_dir=where.transform_graph,
        examples_dir=where.examples,
        eval_data_file=where.eval_data,
        s3_endpoint_url=s3_endpoint_url,
        temp_dir=where.temp,
        split=split,
        window=train_window or None,
        at=date.fromisoformat(data_as_of) if data_as_of else None,
        allow_missing_spans=allow_missing_spans,
    )
    if where.eval_data != eval_data.path:
        # KFP uploads the local paths after the step: empty folders add nothing, the eval file must be real.
        from apache_beam.io.filesystems import FileSystems

        for folder in (transform_graph.path, transformed_examples.path):
            Path(folder).mkdir(parents=True, exist_ok=True)
        with FileSystems.open(where.eval_data) as remote, open(eval_data.path, "wb") as local:
            local.write(remote.read())
    transformed_examples.metadata.update(
        {
            "train_rows": result.train_rows,
            "validation_rows": result.validation_rows,
            "eval_rows": result.eval_rows,
            "beam_runner": result.runner,
            "data_sha256": data_sha256,
        }
    )
    return result.train_rows
