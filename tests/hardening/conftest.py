"""Fixtures of the hardening tests; the helpers they start are in hardening_helpers.py."""

from __future__ import annotations

import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from hardening_helpers import Cable, FaultProxy, MlflowServer, free_port, proxy_handler
from postgres_helpers import Postgres


@pytest.fixture
def fault_proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    """A fresh proxy per test, so that faults and counts never leak between tests."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    proxy = FaultProxy(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = proxy_handler(proxy, s3_endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"hardening-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory, _empty_mlflow_db: Path) -> Iterator[MlflowServer]:
    """One server per module (it takes a minute to start on a loaded machine); tests use their own model names."""
    root = tmp_path_factory.mktemp("mlflow-server")
    shutil.copyfile(_empty_mlflow_db, root / "mlflow.db")  # skips the migrations
    server = MlflowServer(root, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mlflow_cable(mlflow_server: MlflowServer) -> Iterator[Cable]:
    cable = Cable(mlflow_server.port)
    cable.plug()
    try:
        yield cable
    finally:
        cable.unplug()


@pytest.fixture(scope="session")
def postgres_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowServer, Postgres]]:
    """One `mlflow server` over a real PostgreSQL for the session (it migrates a fresh database first)."""
    postgres = Postgres(free_port())
    postgres.start()
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-postgres"), free_port())
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the lock file has psycopg2.
    server.backend_uri = postgres.create_database("mlflow").replace("postgresql://", "postgresql+psycopg2://")
    try:
        server.start()
        yield server, postgres
    finally:
        server.stop()
        postgres.stop()


@pytest.fixture(params=["sqlite", "postgresql-server"])
def registry_uri(request: pytest.FixtureRequest, tmp_path: Path, _empty_mlflow_db: Path) -> str:
    """A fresh registry: a SQLite file, or the PostgreSQL-backed server's, emptied (runs stay, with their own ids)."""
    if request.param == "sqlite":
        shutil.copyfile(_empty_mlflow_db, tmp_path / "mlflow.db")
        return f"sqlite:///{tmp_path}/mlflow.db"
    server, postgres = request.getfixturevalue("postgres_mlflow_server")
    postgres.clear_registry("mlflow")
    return f"http://127.0.0.1:{server.port}"
