"""Credentials stay out of the repository, out of the code and off the network.

- a secret scan (detect-secrets) of every file git would commit, against the reviewed
  `.secrets.baseline`: any new finding fails, and a planted fake AWS key is caught;
- S3 credentials come only from the environment (boto3's chain: variables that a Kubernetes
  Secret fills, or a web identity token); with none there, the store refuses clearly;
- objects are written with server-side encryption when `S3_SSE` asks for it;
- the servers the project and its tests start listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest
from detect_secrets import SecretsCollection
from detect_secrets.core import baseline

from components.common import storage
from components.common.settings import Settings

pytestmark = pytest.mark.hardening

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ".secrets.baseline"


def _committable_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file() and name != BASELINE]


def new_secrets(root: Path, files: list[str]) -> list[str]:
    """Findings in `files` (relative to `root`) that `root/.secrets.baseline` does not list."""
    # From `root`, as the detect-secrets CLI runs: findings are then named by relative path, as in the baseline.
    with contextlib.chdir(root):
        known = baseline.load(baseline.load_from_file(BASELINE), BASELINE)  # also its plugins and filters
        found = SecretsCollection()
        found.scan_files(*files, num_processors=2)
    return sorted(f"{name}:{secret.line_number}: {secret.type}" for name, secret in found - known)


@pytest.mark.slow
def test_no_secret_beyond_the_reviewed_baseline() -> None:
    new = new_secrets(ROOT, _committable_files())
    assert not new, (
        "possible secrets not in .secrets.baseline (remove them; if they are false positives, run "
        "`detect-secrets scan --baseline .secrets.baseline $(git ls-files -co --exclude-standard)` "
        "and review the diff):\n  " + "\n  ".join(new)
    )


def test_the_scan_catches_a_planted_aws_key(tmp_path: Path) -> None:
    (tmp_path / BASELINE).write_bytes((ROOT / BASELINE).read_bytes())
    leak = tmp_path / "components" / "leak.py"
    leak.parent.mkdir()
    key_id = "AKIA" + "Q7LM" * 4  # spelled in pieces so that this file itself holds no key
    leak.write_text(f'"""Settings."""\n\nDEFAULT_S3_KEY = "{key_id}"\n')

    assert new_secrets(tmp_path, ["components/leak.py"]) == ["components/leak.py:3: AWS Access Key"]


def test_without_credentials_in_the_environment_s3_refuses(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found first
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "saved_model.pb").write_bytes(b"graph")

    with pytest.raises(storage.StorageError, match="Unable to locate credentials"):
        storage.upload_dir(tmp_path / "model", "s3://any-bucket/models/v1", s3_endpoint)


@pytest.mark.parametrize(
    ("mode", "key_id"),
    [("AES256", ""), ("aws:kms", ""), ("aws:kms", "arn:aws:kms:us-east-1:123456789012:key/model-store")],
)
def test_objects_are_written_with_server_side_encryption_when_configured(
    mode: str, key_id: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(storage.SSE_VARIABLE, mode)
    monkeypatch.setenv(storage.SSE_KMS_KEY_VARIABLE, key_id)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    bucket = f"sse-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    (model / "variables" / "variables.index").write_bytes(b"index")

    storage.upload_dir(model, f"s3://{bucket}/models/v1", s3_endpoint)

    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == [
        "models/v1/MANIFEST.sha256",
        "models/v1/saved_model.pb",
        "models/v1/variables/variables.index",
    ]
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == mode, key
        if key_id:
            assert head["SSEKMSKeyId"] == key_id, key


def test_no_encryption_is_asked_for_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(storage.SSE_VARIABLE, raising=False)
    monkeypatch.delenv(storage.SSE_KMS_KEY_VARIABLE, raising=False)
    assert storage.encryption_args() == {}


@pytest.mark.parametrize(
    ("mode", "key_id", "message"),
    [
        ("aes256", "", r"S3_SSE='aes256': expected one of AES256, aws:kms"),
        ("AES256", "some-key", r"S3_SSE_KMS_KEY_ID needs S3_SSE=aws:kms, not 'AES256'"),
        ("", "some-key", r"S3_SSE_KMS_KEY_ID is set but S3_SSE is not"),
    ],
)
def test_a_wrong_encryption_setting_is_refused(
    mode: str, key_id: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(storage.SSE_VARIABLE, mode)
    monkeypatch.setenv(storage.SSE_KMS_KEY_VARIABLE, key_id)
    with pytest.raises(ValueError, match=message):
        storage.encryption_args()


def test_the_mlflow_ui_listens_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import __main__ as cli

    started: list[list[str]] = []
    real_popen = cli.subprocess.Popen

    def record_then_run_true(command: list[str], **options: object):
        """Records the server's command line and starts `true` in its place, in a session of its own."""
        started.append(command)
        return real_popen(["true"], start_new_session=True)

    monkeypatch.setattr(cli.subprocess, "Popen", record_then_run_true)

    assert cli._mlflow_ui(Settings.from_env({}), argparse.Namespace(port=5555)) == 0

    (command,) = started
    assert command[command.index("--host") + 1] == "127.0.0.1"
