"""The project as the docs checker sees it, read once per session (`make help` runs, the CLIs' parsers are built)."""

from __future__ import annotations

import pytest
from project_facts import Project, load_project


@pytest.fixture(scope="session")
def project() -> Project:
    return load_project()
