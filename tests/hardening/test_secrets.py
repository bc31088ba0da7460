"""Credentials stay out of the repository, out of the code and off the network.

- a secret scan (detect-secrets) of every file git would commit, against the reviewed
  `.secrets.baseline`: any new finding fails, and a planted fake AWS key is caught;
- S3 credentials come only from the environment (boto3's chain: variables that a Kubernetes
  Secret fills, or a web identity token); with none there, the store refuses clearly;
- objects are written with server-side encryption when `S3_SSE` asks for it;
- the servers the project and its tests start listen on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from detect_secrets import SecretsCollection
from detect_secrets.core import baseline
from hardening_helpers import free_port

from components.common import storage

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


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (IPv4 and IPv6), from the kernel's tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(words)))
    return found


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this host on an interface other than loopback (SIOCGIFADDR per interface)."""
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address on it
                continue
        address = socket.inet_ntoa(packed[20:24])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


def test_the_mlflow_ui_listens_on_loopback_only(tmp_path: Path) -> None:
    """The real `mlflow-ui` command: its server listens on 127.0.0.1 only, and this host's other address
    refuses the connection that loopback accepts."""
    other = _non_loopback_ipv4()  # None on a host with loopback only: the socket table still decides
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    ui = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "mlflow-ui", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert ui.poll() is None, f"mlflow-ui exited with {ui.returncode} before listening"
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                break
            assert time.monotonic() < deadline, f"mlflow-ui did not answer on 127.0.0.1:{port} in 180 s"
            time.sleep(1)
        assert _listening_addresses(port) == {"127.0.0.1"}
        if other is not None:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((other, port), timeout=5).close()
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the same port, on loopback, answers
    finally:
        os.killpg(ui.pid, signal.SIGTERM)  # the command stops the server's process group on the way out
        try:
            ui.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()
