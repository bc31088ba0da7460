"""Round trips through a local store and a real S3 API (moto's server over HTTP)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from components.common import storage


@pytest.fixture
def model_files(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(b"\x08\x01graph" * 100)
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(bytes(range(256)) * 50)
    (root / "fingerprint.pb").write_bytes(b"")
    return root


def _expected(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def _same_tree(left: Path, right: Path) -> bool:
    return _expected(left) == _expected(right)


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"store-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _keys(s3: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.mark.parametrize("as_file_uri", [False, True], ids=["path", "file-uri"])
def test_local_round_trip(model_files: Path, tmp_path: Path, as_file_uri: bool) -> None:
    target = tmp_path / "store" / "taxi" / "v1"
    uri = target.as_uri() if as_file_uri else str(target)

    checksums = storage.upload_dir(model_files, uri)

    assert checksums == _expected(model_files)
    manifest = (target / storage.MANIFEST_NAME).read_text()
    assert manifest == storage.manifest_text(checksums)
    assert f"{checksums['saved_model.pb']}  saved_model.pb\n" in manifest
    storage.verify_dir(uri, checksums)
    copy = storage.download_dir(uri, tmp_path / "copy")
    assert (copy / storage.MANIFEST_NAME).read_text() == manifest
    (copy / storage.MANIFEST_NAME).unlink()
    assert _same_tree(model_files, copy)

    storage.delete_prefix(uri)
    assert not target.exists()


def test_s3_round_trip(model_files: Path, tmp_path: Path, s3_endpoint: str, s3: Any, bucket: str) -> None:
    uri = f"s3://{bucket}/models/taxi/v1"
    s3.put_object(Bucket=bucket, Key="models/taxi/v10/keep.txt", Body=b"a neighbour sharing the prefix")

    checksums = storage.upload_dir(model_files, uri, endpoint_url=s3_endpoint)

    assert checksums == _expected(model_files)
    assert _keys(s3, bucket) == {
        "models/taxi/v10/keep.txt",
        "models/taxi/v1/MANIFEST.sha256",
        *(f"models/taxi/v1/{name}" for name in checksums),
    }
    storage.verify_dir(uri, checksums, endpoint_url=s3_endpoint)
    copy = storage.download_dir(uri, tmp_path / "copy", endpoint_url=s3_endpoint)
    (copy / storage.MANIFEST_NAME).unlink()
    assert _same_tree(model_files, copy)
    single = storage.download_file(f"{uri}/variables/variables.index", tmp_path / "one" / "index", s3_endpoint)
    assert single.read_bytes() == b"index"

    storage.delete_prefix(uri, endpoint_url=s3_endpoint)
    assert _keys(s3, bucket) == {"models/taxi/v10/keep.txt"}


def test_s3_endpoint_comes_from_the_environment(
    model_files: Path, s3_endpoint: str, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)

    checksums = storage.upload_dir(model_files, f"s3://{bucket}/m")

    assert f"m/{storage.MANIFEST_NAME}" in _keys(s3, bucket)
    storage.verify_dir(f"s3://{bucket}/m", checksums)


def test_verify_names_an_object_altered_behind_its_back(
    model_files: Path, tmp_path: Path, s3_endpoint: str, s3: Any, bucket: str
) -> None:
    uri = f"s3://{bucket}/models/v1"
    checksums = storage.upload_dir(model_files, uri, endpoint_url=s3_endpoint)
    s3.put_object(Bucket=bucket, Key="models/v1/variables/variables.index", Body=b"tampered")
    s3.delete_object(Bucket=bucket, Key="models/v1/fingerprint.pb")

    with pytest.raises(storage.ChecksumMismatchError) as caught:
        storage.verify_dir(uri, checksums, endpoint_url=s3_endpoint)

    message = str(caught.value)
    assert f"{uri}/variables/variables.index: sha256 {hashlib.sha256(b'tampered').hexdigest()}" in message
    assert f"{uri}/fingerprint.pb: missing" in message
    assert "saved_model.pb" not in message
    with pytest.raises(storage.ChecksumMismatchError, match="variables/variables.index: sha256 differs"):
        storage.download_dir(uri, tmp_path / "copy", endpoint_url=s3_endpoint)


def test_verify_names_a_local_file_that_was_not_uploaded(model_files: Path, tmp_path: Path) -> None:
    target = tmp_path / "store"
    checksums = storage.upload_dir(model_files, str(target))
    (target / "stray.txt").write_text("not ours")

    with pytest.raises(storage.ChecksumMismatchError, match=f"{target}/stray.txt: not written by this upload"):
        storage.verify_dir(str(target), checksums)


def test_missing_bucket_and_object_errors_name_the_uri(
    model_files: Path, tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"

    with pytest.raises(storage.StorageError, match=rf"uploading s3://{missing}/models/.+ failed: NoSuchBucket"):
        storage.upload_dir(model_files, f"s3://{missing}/models", endpoint_url=s3_endpoint)
    with pytest.raises(storage.StorageError, match=rf"listing s3://{missing}/models failed: NoSuchBucket"):
        storage.verify_dir(f"s3://{missing}/models", {}, endpoint_url=s3_endpoint)
    with pytest.raises(storage.StorageError, match=rf"downloading s3://{bucket}/nothing.csv failed: 404"):
        storage.download_file(f"s3://{bucket}/nothing.csv", tmp_path / "x.csv", endpoint_url=s3_endpoint)
    with pytest.raises(storage.StorageError, match=rf"downloading s3://{bucket}/empty failed: no objects"):
        storage.download_dir(f"s3://{bucket}/empty", tmp_path / "copy", endpoint_url=s3_endpoint)
    storage.delete_prefix(f"s3://{missing}/models", endpoint_url=s3_endpoint)  # nothing to clean: no error


def test_unsupported_scheme_is_refused(model_files: Path) -> None:
    with pytest.raises(ValueError, match="'gs://bucket/m': unsupported scheme 'gs'"):
        storage.upload_dir(model_files, "gs://bucket/m")


@pytest.mark.parametrize("planted", ["m/../../escaped.txt", "m/a/../../../escaped.txt", "m//etc/escaped.txt"])
def test_a_listed_key_that_leaves_its_prefix_is_refused_before_anything_is_written(
    planted: str, model_files: Path, tmp_path: Path, s3: Any, bucket: str, s3_endpoint: str
) -> None:
    storage.upload_dir(model_files, f"s3://{bucket}/m", endpoint_url=s3_endpoint)
    s3.put_object(Bucket=bucket, Key=planted, Body=b"outside")
    assert planted in _keys(s3, bucket)  # the store really holds the key as written
    destination = tmp_path / "deep" / "copy"
    name = planted.removeprefix("m/")
    with pytest.raises(storage.StorageError, match=f"downloading s3://{bucket}/m: key '{name}' leaves its prefix"):
        storage.download_dir(f"s3://{bucket}/m", destination, endpoint_url=s3_endpoint)
    assert not destination.exists() and not list(tmp_path.rglob("escaped.txt"))


def test_keys_are_normalised_below_the_download_folder(tmp_path: Path, s3: Any, bucket: str, s3_endpoint: str) -> None:
    for key in ("m/./a.txt", "m/sub//b.txt", "m/"):  # "m/" is a folder marker: no file
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    copy = storage.download_dir(f"s3://{bucket}/m", tmp_path / "copy", endpoint_url=s3_endpoint)
    assert {path.relative_to(copy).as_posix() for path in copy.rglob("*") if path.is_file()} == {"a.txt", "sub/b.txt"}
    assert (copy / "sub" / "b.txt").read_bytes() == b"m/sub//b.txt"


@pytest.mark.parametrize("uri", ["s3://bucket/models/../other", "s3://bucket/../x", "s3://bucket/a/.."])
def test_a_uri_whose_prefix_climbs_out_is_refused(uri: str, model_files: Path) -> None:
    with pytest.raises(ValueError, match=rf"{uri!s}: key '.*' leaves its prefix"):
        storage.upload_dir(model_files, uri)


def test_a_manifest_naming_a_path_outside_the_copy_is_refused(model_files: Path, tmp_path: Path) -> None:
    target = tmp_path / "store" / "v1"
    storage.upload_dir(model_files, str(target))
    (tmp_path / "store" / "secret").write_bytes(b"not part of the model")
    with (target / storage.MANIFEST_NAME).open("a") as manifest:
        manifest.write(f"{hashlib.sha256(b'not part of the model').hexdigest()}  ../../store/secret\n")
    with pytest.raises(storage.StorageError, match=r"MANIFEST.sha256: key '../../store/secret' leaves its prefix"):
        storage.download_dir(str(target), tmp_path / "copy")
