"""The transform, unchanged, on Beam's portable runner: an embedded job server, SDK workers looping back into
this process, the raw data read from and the examples and eval rows written to the object store (a moto S3
server on 127.0.0.1), through Beam's own S3 file system.

What travels through the store is what Beam writes. tf.Transform writes its graph and its temp files with
TensorFlow's file systems, which have no s3:// in TF 2.21: with LOOPBACK they stay on this machine's disk
(the workers share it); a runner whose workers are elsewhere needs a gs:// or hdfs:// root for them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import boto3
import numpy as np
import pytest
import tensorflow_transform as tft
from shop_spec import SPEC, write_csv

from components.train.task import Split
from components.transform.layout import EVAL, TRAIN, VALIDATION
from components.transform.task import OutputLocations, beam_flags, run_transform

pytestmark = pytest.mark.slow

PORTABLE = ["--job_endpoint=embed", "--environment_type=LOOPBACK"]


def _download(s3, bucket: str, prefix: str, into: Path) -> Path:
    into.mkdir(parents=True)
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        s3.download_file(bucket, item["Key"], str(into / Path(item["Key"]).name))
    return into


def test_the_transform_runs_unchanged_on_the_portable_runner_with_outputs_on_the_store(
    s3_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="root")
    data = write_csv(tmp_path / "shop.csv", 400, seed=7)
    s3.upload_file(str(data), "root", "data/shop.csv")
    paths = [str(tmp_path / "graph"), str(tmp_path / "examples"), str(tmp_path / "eval.csv")]
    uris = ["s3://root/run/transform/graph", "s3://root/run/transform/examples", "s3://root/run/transform/eval.csv"]
    where = OutputLocations.for_runner("PortableRunner", paths, uris, PORTABLE)
    assert where == OutputLocations(paths[0], uris[1], uris[2], temp=None)

    with caplog.at_level(logging.INFO, logger="apache_beam.runners.portability.portable_runner"):
        portable = run_transform(
            "s3://root/data/shop.csv",
            SPEC,
            where.transform_graph,
            where.examples,
            where.eval_data,
            beam_runner="PortableRunner",
            beam_options=beam_flags('["--job_endpoint=embed", "--environment_type=LOOPBACK"]', s3_endpoint),
        )
    # The job went through the portable job service to the end, not a DirectRunner in disguise.
    assert "Job state changed to DONE" in caplog.text
    assert portable.runner == "PortableRunner"
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="root", Prefix="run/")["Contents"]}
    for split in (TRAIN, VALIDATION, EVAL):
        assert any(key.startswith(f"run/transform/examples/{split}-") for key in keys), keys
    assert "run/transform/eval.csv" in keys and not any("graph" in key for key in keys)

    direct = run_transform(str(data), SPEC, tmp_path / "d-graph", tmp_path / "d-examples", tmp_path / "d-eval.csv")
    assert (portable.train_rows, portable.validation_rows, portable.eval_rows) == (
        direct.train_rows,
        direct.validation_rows,
        direct.eval_rows,
    )
    assert portable.train_rows + portable.validation_rows + portable.eval_rows == 400
    # Same transformed examples, value for value, from the store as from the DirectRunner's disk.
    from_store = _download(s3, "root", "run/transform/examples/", tmp_path / "from-store")
    feature_spec = tft.TFTransformOutput(str(tmp_path / "graph")).transformed_feature_spec()
    for split in (TRAIN, VALIDATION, EVAL):
        ours = Split.read(from_store, split, feature_spec, SPEC.label.name)
        theirs = Split.read(tmp_path / "d-examples", split, feature_spec, SPEC.label.name)
        np.testing.assert_array_equal(ours.labels, theirs.labels)
        for name, values in ours.features.items():
            np.testing.assert_allclose(values, theirs.features[name], rtol=1e-6)
    eval_rows = s3.get_object(Bucket="root", Key="run/transform/eval.csv")["Body"].read().decode().splitlines()
    assert eval_rows == (tmp_path / "d-eval.csv").read_text().splitlines()


def test_a_distributed_runner_cannot_put_tensorflows_outputs_on_s3() -> None:
    paths, uris = ["/p/g", "/p/e", "/p/d"], ["s3://b/g", "s3://b/e", "s3://b/d"]
    with pytest.raises(ValueError, match=r"no s3:// file system .*--environment_type=LOOPBACK"):
        OutputLocations.for_runner("PortableRunner", paths, uris, ["--job_endpoint=flink:8099"])
    gcs = [uri.replace("s3://", "gs://") for uri in uris]
    assert OutputLocations.for_runner("FlinkRunner", paths, gcs) == OutputLocations(*gcs, temp="gs://b/tft-temp")
