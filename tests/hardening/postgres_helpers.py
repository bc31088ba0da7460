"""A real PostgreSQL on 127.0.0.1 for the hardening tests' MLflow server: the store the cluster's MLflow uses.

The Debian `postgresql` package (`make system-deps`) puts its programs in /usr/lib/postgresql/<n>/bin.
PostgreSQL refuses to run as root: as root, the server runs as the package's `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

USER = "mlflow"
# The registry's tables, emptied between tests that share one server (CASCADE takes versions, tags, aliases).
REGISTRY_TABLES = (
    "registered_models, model_versions, registered_model_tags, model_version_tags, registered_model_aliases"
)


def postgres_program(name: str) -> str:
    """The path of a PostgreSQL program; fails the test (never skips) when PostgreSQL is not installed."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is not installed: run `make system-deps` (Debian package postgresql)")
    return found


@dataclass
class Postgres:
    port: int
    root: Path | None = None
    process: subprocess.Popen | None = None

    def start(self) -> None:
        # Under /tmp, not pytest's root-only folders: the server's user must reach its data directory.
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-postgres-"))
        runs_as = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if runs_as is not None:
            os.chown(self.root, runs_as.pw_uid, runs_as.pw_gid)
        user = {"user": runs_as.pw_uid, "group": runs_as.pw_gid} if runs_as is not None else {}
        data = self.root / "data"
        subprocess.run(
            [postgres_program("initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            **user,
        )
        log = (self.root / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [postgres_program("postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port)]
            + ["-k", str(self.root), "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **user,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg2.connect(self.uri("postgres")).close()
                return
            except psycopg2.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"postgres did not start; see {self.root}/postgres.log") from None
                time.sleep(0.2)

    def uri(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        connection = psycopg2.connect(self.uri("postgres"))
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.uri(name)

    def clear_registry(self, database: str) -> None:
        with psycopg2.connect(self.uri(database)) as connection, connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {REGISTRY_TABLES} CASCADE")
        connection.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
