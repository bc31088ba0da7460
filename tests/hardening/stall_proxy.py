"""An HTTP proxy on 127.0.0.1 in front of an MLflow server that stalls on cue, as a slowed server does.

Once the cue arrives (a method, a part of the path), it and every later request are held, each after
its body was read, until `release()`; then each is forwarded, even if its client gave up meanwhile
(the worst case: the server applies a write its client no longer waits for). Each held request
records when it arrived, when its client hung up, and what the server answered it.
"""

from __future__ import annotations

import http.client
import select
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Held:
    method: str
    path: str
    arrived: float  # time.monotonic()
    abandoned: float | None = None  # when its client closed the connection
    status: int | None = None  # the server's answer, once forwarded
    answer: bytes = b""


class StallProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.held: list[Held] = []
        self._cue: tuple[str, str] | None = None
        self._stalled = threading.Event()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stall_on(self, method: str, path_part: str) -> None:
        self._cue = (method, path_part)

    def wait_until_stalled(self, timeout_s: float, sender: subprocess.Popen) -> None:
        """Until the cue arrives from `sender`; fails at once, with its stderr, if it exits first."""
        deadline = time.monotonic() + timeout_s
        while not self._stalled.wait(0.2):
            assert sender.poll() is None, f"it exited with {sender.returncode}: {sender.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, f"no request for {self._cue} came within {timeout_s:.0f} s"

    def release(self) -> None:
        self._released.set()

    def wait_until_forwarded(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(held.status is None for held in self.held):
            assert time.monotonic() < deadline, [held for held in self.held if held.status is None]
            time.sleep(0.1)

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _hold(self, handler: BaseHTTPRequestHandler) -> Held | None:
        cued = self._cue is not None and handler.command == self._cue[0] and self._cue[1] in handler.path
        if not (self._stalled.is_set() or cued):
            return None
        if self._released.is_set():
            return None
        self._stalled.set()
        held = Held(handler.command, handler.path, time.monotonic())
        self.held.append(held)
        while not self._released.wait(0.05):
            if held.abandoned is None and _hung_up(handler.connection):
                held.abandoned = time.monotonic()
        return held

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                return

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                held = proxy._hold(self)
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
                if held is not None:
                    held.status, held.answer = response.status, payload
                try:
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in {"transfer-encoding", "connection", "content-length", "server", "date"}:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # its client gave up long ago

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        return Handler


def _hung_up(connection: socket.socket) -> bool:
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
