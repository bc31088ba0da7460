"""Just enough of the Kubernetes API, on 127.0.0.1, for the steps that create and watch a TFJob or a Katib
Experiment: create (409 if present), get (the next scripted state on each read), delete, list pods and
read a pod's log. It records every request, and the query of every delete."""

from __future__ import annotations

import copy
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit


class FakeKubernetes(ThreadingHTTPServer):
    """The API server: `states` are the condition types each read of a job reports in turn (the last
    one stays); `existing` the jobs already there. `requests` is (method, path, body) per request."""

    def __init__(self, states: list[list[str]], existing: dict[str, Any] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.states, self.jobs, self.requests = states, dict(existing or {}), []
        self.delete_queries: list[dict[str, list[str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeKubernetes

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any] | str) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((self.command, self.path.split("?")[0], body))
        return body

    def do_POST(self) -> None:
        body = self._record()
        name = body["metadata"]["name"]
        if name in self.server.jobs:
            return self._reply(409, {"kind": "Status", "apiVersion": "v1", "code": 409, "reason": "AlreadyExists"})
        self.server.jobs[name] = copy.deepcopy(body)
        self._reply(201, body)

    def do_GET(self) -> None:
        self._record()
        path = self.path.split("?")[0]
        if path.endswith("/pods"):
            pod = {"metadata": {"name": "tabular-train-x-worker-1"}, "status": {"phase": "Failed"}}
            return self._reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [pod]})
        if path.endswith("/log"):
            return self._reply(200, "Traceback (most recent call last):\nValueError: the data has too few rows")
        name = path.rsplit("/", 1)[1]
        if name not in self.server.jobs:
            return self._reply(404, {"kind": "Status", "apiVersion": "v1", "code": 404, "reason": "NotFound"})
        job = self.server.jobs[name]
        if self.server.states and "status" not in job or job.get("status", {}).get("scripted"):
            current = self.server.states.pop(0) if len(self.server.states) > 1 else self.server.states[0]
            conditions = [{"type": kind, "status": "True", "message": f"job {kind.lower()}"} for kind in current]
            job["status"] = {"scripted": True, "conditions": conditions, "replicaStatuses": {"Worker": {"active": 2}}}
        self._reply(200, job)

    def do_DELETE(self) -> None:
        self._record()
        self.server.delete_queries.append(parse_qs(urlsplit(self.path).query))
        self.server.jobs.pop(self.path.split("?")[0].rsplit("/", 1)[1], None)
        self._reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


@contextmanager
def fake_kubernetes(
    states: list[list[str]], existing: dict[str, Any] | None = None
) -> Iterator[tuple[Any, Any, FakeKubernetes]]:
    from kubernetes import client

    server = FakeKubernetes(states, existing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        api = client.ApiClient(client.Configuration(host=server.url))
        yield client.CustomObjectsApi(api), client.CoreV1Api(api), server
    finally:
        server.shutdown()
        server.server_close()
