"""Fault injection for the hardening tests: an S3 proxy that misbehaves on cue, a real MLflow server
behind a TCP cable that can be unplugged, and checks of what the registry and the store hold.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlparse

from gate_records import record_gate

from components.common import storage, tracking
from components.push.lock import (
    AFTER_TAG,
    HOLDER_RUN_TAG,
    LOCK_OF_TAG,
    LOCKS_MODEL,
    RELEASED_TAG,
    TOKEN_TAG,
    claim_source,
    lock_claims,
    registry_now_ms,
    valid_epochs,
)

MODEL_NAME = "taxi-classifier"
ERROR_XML = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"


@dataclass
class Fault:
    """Misbehave on the next `times` requests whose method is `method` and whose path contains `path_part`.

    `kind`: "500" (InternalError), "slowdown" (503 SlowDown) or "cut" (read half the body, then reset
    the connection without a reply).
    """

    method: str
    kind: str
    times: int
    path_part: str = ""


@dataclass
class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of the S3 server; `faults` and `seen` are shared with its threads."""

    url: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, what happened)

    def take(self, method: str, path: str) -> str | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path_part in path:
                fault.times -= 1
                return fault.kind
        return None

    def count(self, method: str, outcome: str) -> int:
        return sum(1 for m, _, what in self.seen if m == method and what == outcome)


def proxy_handler(proxy: FaultProxy, upstream: str) -> type[BaseHTTPRequestHandler]:
    target = urlparse(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raw = b""
                while True:
                    size_line = self.rfile.readline()
                    raw += size_line
                    size = int(size_line.split(b";")[0], 16)
                    raw += self.rfile.read(size + 2)
                    if size == 0:
                        return raw
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def _reply_error(self, status: int, code: str) -> None:
            body = ERROR_XML.format(code=code, message=f"injected by the test proxy ({code})").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _cut(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            self.rfile.read(length // 2)
            # SO_LINGER 0: close with a TCP reset, as a dropped connection looks to the client.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def _forward(self) -> None:
            fault = proxy.take(self.command, self.path)
            proxy.seen.append((self.command, self.path, fault or "forwarded"))
            if fault == "cut":
                self._cut()
                return
            body = self._body()
            if fault == "500":
                self._reply_error(500, "InternalError")
                return
            if fault == "slowdown":
                self._reply_error(503, "SlowDown")
                return
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            connection.request(self.command, self.path, body=body, headers=dict(self.headers))
            response = connection.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in {"transfer-encoding", "connection", "content-length", "server", "date"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MlflowServer:
    """A real `mlflow server` process on 127.0.0.1 over a SQLite file or PostgreSQL, reached through a `Cable`."""

    root: Path
    port: int
    process: subprocess.Popen | None = None
    backend_uri: str | None = None  # a PostgreSQL database; SQLite's root/mlflow.db when None

    def start(self) -> None:
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--backend-store-uri",
                self.backend_uri or f"sqlite:///{self.root}/mlflow.db",
                "--default-artifact-root",
                (self.root / "artifacts").as_uri(),
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the server's workers are its children: stop() ends the whole group
        )
        url = f"http://127.0.0.1:{self.port}/health"
        deadline = time.monotonic() + 240  # a loaded 2-core CI machine needs over a minute
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}; see {self.root}/server.log")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server on port {self.port} did not answer /health; see {self.root}/server.log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class Cable:
    """A TCP forwarder on 127.0.0.1 in front of the server: `unplug` refuses and resets every connection
    (the server is unreachable, as when it dies or the network drops), `plug` restores the same address."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plug(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def unplug(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(); close() alone does not
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._open:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # unplugged
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            return


def new_pipeline_run(tracking_uri: str, champion_seen_by_gate: str | None = None) -> str:
    """A pipeline run as validate opens it; with `champion_seen_by_gate`, as evaluate leaves it after blessing."""
    run_id = tracking.start_pipeline_run(tracking_uri, "hardening", f"job-{uuid.uuid4().hex[:6]}", {"epochs": 1})
    if champion_seen_by_gate is not None:
        record_gate(tracking_uri, run_id, champion_seen_by_gate)
    return run_id


def live_versions(tracking_uri: str, model_name: str = MODEL_NAME) -> dict[str, dict[str, str]]:
    """{version: tags} of every version the registry still has."""
    client = tracking.client(tracking_uri)
    return {str(v.version): v.tags for v in client.search_model_versions(f"name = '{model_name}'")}


def champion_version(tracking_uri: str, model_name: str = MODEL_NAME) -> str:
    return str(tracking.client(tracking_uri).get_model_version_by_alias(model_name, tracking.CHAMPION_ALIAS).version)


def assert_registry_sound(
    tracking_uri: str, scratch: Path, endpoint: str | None = None, model_name: str = MODEL_NAME
) -> None:
    """Every version of the model is published, its files are complete and match the manifest the
    registry recorded, the champion lock is released and at most its last two epochs are kept."""
    for version, tags in live_versions(tracking_uri, model_name).items():
        assert tags.get("push_state") == "published", f"version {version} is {tags.get('push_state')}"
        copy = storage.download_dir(tags[tracking.STORE_URI_TAG], scratch / f"{model_name}-v{version}", endpoint)
        manifest = (copy / storage.MANIFEST_NAME).read_bytes()
        assert hashlib.sha256(manifest).hexdigest() == tags["manifest_sha256"], f"version {version}"
        assert len(manifest.splitlines()) == int(tags["files"])
    claims = lock_claims(tracking.client(tracking_uri), model_name)
    epochs = valid_epochs(claims)
    if epochs:
        last = claims[max(epochs)]
        assert last.tags.get(RELEASED_TAG) == "true", (
            f"epoch {max(epochs)} is still held by {last.tags.get(HOLDER_RUN_TAG)}"
        )
    # The last epoch and the claim before it, on which its validity rests.
    assert len(claims) <= 2, f"old lock claims left behind: {sorted(claims)}"


def plant_dead_claim(tracking_uri: str, model_name: str, holder_run: str) -> tuple[int, dict[str, str]]:
    """A valid claim on the lock as a killed holder leaves it: never released, never renewed again."""
    client = tracking.client(tracking_uri)
    registry_now_ms(client)  # makes the locks model
    after = max(lock_claims(client, model_name), default=0)
    tags = {LOCK_OF_TAG: model_name, AFTER_TAG: str(after), HOLDER_RUN_TAG: holder_run, TOKEN_TAG: "its-own"}
    return int(client.create_model_version(LOCKS_MODEL, claim_source(model_name), tags=tags).version), tags
