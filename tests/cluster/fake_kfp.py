"""A Kubeflow Pipelines v2beta1 REST server on 127.0.0.1 holding the calls the deploy verbs make.

It answers the real kfp.Client, and checks each request body the way the real API server would
(a pipeline spec that parses, known ids, parameters the pipeline declares, a six-field cron, ...).
A request it cannot accept gets the API's error JSON and is kept in `rejections`.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

API = "/apis/v2beta1"
CREATED_AT = "2026-11-22T19:00:00Z"
# What kfp.Client's run and recurring-run parameters must look like for each declared type.
PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
}


class Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class FakeKfp:
    """The server's state; `requests` lists (method, path) in order, `rejections` every refused request."""

    token: str | None = None
    final_run_state: str = "SUCCEEDED"
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    recurring_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def count(self, method: str, path: str) -> int:
        return sum(1 for request in self.requests if request == (method, path))

    # --- pipelines and versions -------------------------------------------------------------------------

    def list_pipelines(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        found = [p for p in self.pipelines.values() if _matches(p, query) and _in_namespace(p, query)]
        return {"pipelines": found, "total_size": len(found)}

    def create_pipeline(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        name = _required(body, "display_name")
        if "pipeline_id" in body:
            raise Rejected(400, "pipeline_id is assigned by the server")
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise Rejected(409, f"a pipeline named {name} already exists")
        pipeline = {
            "pipeline_id": self.new_id("pipeline"),
            "display_name": name,
            "description": body.get("description", ""),
            "created_at": CREATED_AT,
        }
        if body.get("namespace"):
            pipeline["namespace"] = body["namespace"]
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        return pipeline

    def list_versions(self, query: dict[str, str], body: Any, pipeline_id: str) -> dict[str, Any]:
        self._pipeline(pipeline_id)
        found = [_public(v) for v in self.versions.values() if v["pipeline_id"] == pipeline_id and _matches(v, query)]
        return {"pipeline_versions": found, "total_size": len(found)}

    def upload_version(self, query: dict[str, str], files: dict[str, bytes]) -> dict[str, Any]:
        pipeline = self._pipeline(query.get("pipelineid", ""))
        name = query.get("name") or query.get("display_name")
        if not name:
            raise Rejected(400, "a pipeline version needs a name")
        if any(
            v["pipeline_id"] == pipeline["pipeline_id"] and v["display_name"] == name for v in self.versions.values()
        ):
            raise Rejected(409, f"pipeline {pipeline['pipeline_id']} already has a version named {name}")
        if "uploadfile" not in files:
            raise Rejected(400, "no uploadfile part in the multipart body")
        spec = _pipeline_spec(files["uploadfile"])
        version = {
            "pipeline_id": pipeline["pipeline_id"],
            "pipeline_version_id": self.new_id("version"),
            "display_name": name,
            "name": name,
            "description": query.get("description", ""),
            "created_at": CREATED_AT,
            "spec": spec,
        }
        self.versions[version["pipeline_version_id"]] = version
        return _public(version)

    def _pipeline(self, pipeline_id: str) -> dict[str, Any]:
        if pipeline_id not in self.pipelines:
            raise Rejected(404, f"pipeline {pipeline_id!r} not found")
        return self.pipelines[pipeline_id]

    def latest_version(self, pipeline_id: str) -> dict[str, Any]:
        versions = [v for v in self.versions.values() if v["pipeline_id"] == pipeline_id]
        if not versions:
            raise Rejected(400, f"pipeline {pipeline_id} has no version to run")
        return versions[-1]

    # --- experiments -----------------------------------------------------------------------------------

    def list_experiments(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        found = [e for e in self.experiments.values() if _matches(e, query) and _in_namespace(e, query)]
        return {"experiments": found, "total_size": len(found)}

    def create_experiment(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        name = _required(body, "display_name")
        if any(e["display_name"] == name for e in self.experiments.values()):
            raise Rejected(409, f"an experiment named {name} already exists")
        experiment = {"experiment_id": self.new_id("experiment"), "display_name": name, "created_at": CREATED_AT}
        if body.get("namespace"):
            experiment["namespace"] = body["namespace"]
        self.experiments[experiment["experiment_id"]] = experiment
        return experiment

    # --- recurring runs and runs -----------------------------------------------------------------------

    def list_recurring_runs(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        found = [
            r
            for r in self.recurring_runs.values()
            if _matches(r, query) and query.get("experiment_id", r["experiment_id"]) == r["experiment_id"]
        ]
        return {"recurringRuns": found, "total_size": len(found)}

    def create_recurring_run(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        _required(body, "display_name")
        self._experiment(_required(body, "experiment_id"))
        version = self._referenced_version(body)
        _check_parameters(version["spec"], body.get("runtime_config", {}).get("parameters", {}))
        cron = body.get("trigger", {}).get("cron_schedule", {}).get("cron", "")
        if len(cron.split()) != 6:
            raise Rejected(400, f"cron must have six fields (seconds first), got {cron!r}")
        if not 1 <= int(body.get("max_concurrency", "0")) <= 10:
            raise Rejected(400, f"max_concurrency must be 1 to 10, got {body.get('max_concurrency')!r}")
        if body.get("mode") not in ("ENABLE", "DISABLE"):
            raise Rejected(400, f"mode must be ENABLE or DISABLE, got {body.get('mode')!r}")
        recurring_run = {**body, "recurring_run_id": self.new_id("recurring"), "created_at": CREATED_AT}
        recurring_run["status"] = "ENABLED" if body["mode"] == "ENABLE" else "DISABLED"
        self.recurring_runs[recurring_run["recurring_run_id"]] = recurring_run
        return recurring_run

    def delete_recurring_run(self, query: dict[str, str], body: Any, recurring_run_id: str) -> dict[str, Any]:
        if self.recurring_runs.pop(recurring_run_id, None) is None:
            raise Rejected(404, f"recurring run {recurring_run_id!r} not found")
        return {}

    def create_run(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        _required(body, "display_name")
        self._experiment(_required(body, "experiment_id"))
        if not body.get("pipeline_version_reference", {}).get("pipeline_version_id"):
            raise Rejected(400, "this fake expects runs of a named pipeline version")
        version = self._referenced_version(body)
        _check_parameters(version["spec"], body.get("runtime_config", {}).get("parameters", {}))
        run = {**body, "run_id": self.new_id("run"), "state": "PENDING", "created_at": CREATED_AT}
        self.runs[run["run_id"]] = run
        return run

    def get_run(self, query: dict[str, str], body: Any, run_id: str) -> dict[str, Any]:
        if run_id not in self.runs:
            raise Rejected(404, f"run {run_id!r} not found")
        run = self.runs[run_id]
        run["state"] = {"PENDING": "RUNNING", "RUNNING": self.final_run_state}.get(run["state"], run["state"])
        return run

    def _experiment(self, experiment_id: str) -> dict[str, Any]:
        if experiment_id not in self.experiments:
            raise Rejected(404, f"experiment {experiment_id!r} not found")
        return self.experiments[experiment_id]

    def _referenced_version(self, body: dict[str, Any]) -> dict[str, Any]:
        reference = body.get("pipeline_version_reference") or {}
        if body.get("pipeline_spec"):
            raise Rejected(400, "this fake expects a pipeline reference, not an inline spec")
        pipeline = self._pipeline(reference.get("pipeline_id", ""))
        version_id = reference.get("pipeline_version_id")
        if not version_id:
            return self.latest_version(pipeline["pipeline_id"])
        version = self.versions.get(version_id)
        if version is None or version["pipeline_id"] != pipeline["pipeline_id"]:
            raise Rejected(404, f"pipeline {pipeline['pipeline_id']} has no version {version_id!r}")
        return version

    # --- HTTP --------------------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]]:
        return [
            ("GET", re.compile(f"{API}/pipelines"), self.list_pipelines),
            ("POST", re.compile(f"{API}/pipelines"), self.create_pipeline),
            ("GET", re.compile(f"{API}/pipelines/([^/]+)/versions"), self.list_versions),
            ("GET", re.compile(f"{API}/experiments"), self.list_experiments),
            ("POST", re.compile(f"{API}/experiments"), self.create_experiment),
            ("GET", re.compile(f"{API}/recurringruns"), self.list_recurring_runs),
            ("POST", re.compile(f"{API}/recurringruns"), self.create_recurring_run),
            ("DELETE", re.compile(f"{API}/recurringruns/([^/:]+)"), self.delete_recurring_run),
            ("POST", re.compile(f"{API}/runs"), self.create_run),
            ("GET", re.compile(f"{API}/runs/([^/:]+)"), self.get_run),
        ]

    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
            try:
                if self.token is not None and headers.get("Authorization") != f"Bearer {self.token}":
                    raise Rejected(401, "Unauthenticated: a valid bearer token is required")
                if method == "GET" and path == f"{API}/healthz":
                    return 200, {"multi_user": False, "pipeline_store": "database"}
                if method == "POST" and path == f"{API}/pipelines/upload_version":
                    return 200, self.upload_version(query, _multipart(headers, body))
                for route_method, pattern, handler in self.routes():
                    match = pattern.fullmatch(path)
                    if match and route_method == method:
                        return 200, handler(query, json.loads(body) if body else {}, *match.groups())
                raise Rejected(404, f"{method} {path} is not a call this fake implements")
            except Rejected as rejected:
                self.rejections.append(f"{method} {path}: {rejected}")
                return rejected.status, {"error_message": str(rejected), "code": rejected.status}

    def serve(self) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                url = urlparse(self.path)
                query = {key: values[-1] for key, values in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                status, answer = fake.handle(self.command, url.path, query, self.headers, self.rfile.read(length))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not value:
        raise Rejected(400, f"{key} is required")
    return value


def _matches(item: dict[str, Any], query: dict[str, str]) -> bool:
    """The list filter kfp.Client sends: JSON predicates, EQUALS on a string field."""
    if "filter" not in query:
        return True
    for predicate in json.loads(query["filter"])["predicates"]:
        if predicate.get("operation") not in ("EQUALS", 1):
            raise Rejected(400, f"this fake supports EQUALS filters only, got {predicate}")
        if item.get(predicate["key"]) != predicate.get("stringValue", predicate.get("string_value")):
            return False
    return True


def _in_namespace(item: dict[str, Any], query: dict[str, str]) -> bool:
    return not query.get("namespace") or item.get("namespace") == query["namespace"]


def _public(version: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in version.items() if key != "spec"}


def _multipart(headers: Any, body: bytes) -> dict[str, bytes]:
    content_type = headers.get("Content-Type", "")
    if not content_type.startswith("multipart/form-data"):
        raise Rejected(400, f"expected multipart/form-data, got {content_type!r}")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


def _pipeline_spec(package: bytes) -> dict[str, Any]:
    """The package's PipelineSpec (and PlatformSpec), parsed as strictly as the API server does."""
    try:
        documents = list(yaml.safe_load_all(package))
        json_format.ParseDict(documents[0], pipeline_spec_pb2.PipelineSpec())
        for platform in documents[1:]:
            json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    except (yaml.YAMLError, json_format.ParseError, IndexError) as error:
        raise Rejected(400, f"the uploaded file is not a pipeline spec: {error}") from None
    return {"pipeline": documents[0], "platforms": documents[1:]}


def _check_parameters(spec: dict[str, Any], given: dict[str, Any]) -> None:
    declared = spec["pipeline"]["root"]["inputDefinitions"]["parameters"]
    unknown = sorted(set(given) - set(declared))
    missing = sorted(
        name
        for name, definition in declared.items()
        if name not in given and "defaultValue" not in definition and not definition.get("isOptional")
    )
    if unknown or missing:
        raise Rejected(400, f"parameters: unknown {unknown}, missing {missing}")
    for name, value in given.items():
        expected = PARAMETER_TYPES[declared[name]["parameterType"]]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise Rejected(400, f"parameter {name}={value!r} is not a {declared[name]['parameterType']}")
