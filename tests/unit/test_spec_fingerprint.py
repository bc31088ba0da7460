"""spec_fingerprint changes when a spec module the spec imports changes, bundled or beside a spec file."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import components.common.specs as specs
from components.common.specs import spec_fingerprint

SPEC_FILE = """from dataclasses import replace

from churn_parts_{tag} import CHURN

SPEC = replace(CHURN, name="churn_by_file")
"""
PARTS = "from components.common.specs.mlc_churn import SPEC as CHURN\n"


def test_a_spec_file_is_fingerprinted_with_the_module_beside_it_that_it_imports(tmp_path, monkeypatch):
    tag = tmp_path.name.replace("-", "_")  # one module name per test run: sys.modules keeps what was imported
    (tmp_path / f"churn_parts_{tag}.py").write_text(PARTS)
    (tmp_path / "notes.py").write_text("# beside the spec, imported by nothing\n")
    spec_file = tmp_path / "churn_by_file.py"
    spec_file.write_text(SPEC_FILE.format(tag=tag))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, f"churn_parts_{tag}", raising=False)
    before = spec_fingerprint(str(spec_file))
    assert spec_fingerprint(str(spec_file)) == before
    (tmp_path / "notes.py").write_text("# changed, and still imported by nothing\n")
    assert spec_fingerprint(str(spec_file)) == before
    (tmp_path / f"churn_parts_{tag}.py").write_text(PARTS + "# the imported module changed\n")
    assert spec_fingerprint(str(spec_file)) != before


@pytest.fixture
def specs_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the bundled specs' folder, read by spec_fingerprint in place of the package's own."""
    copy = tmp_path / "specs"
    shutil.copytree(Path(specs.__path__[0]), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(specs, "__path__", [str(copy)])
    return copy


def test_a_bundled_spec_is_fingerprinted_with_the_bundled_spec_it_imports(specs_copy):
    """mlc_churn_pii imports mlc_churn: a change to mlc_churn alone changes mlc_churn_pii's fingerprint."""
    pii, churn, penguins = (spec_fingerprint(name) for name in ("mlc_churn_pii", "mlc_churn", "penguins"))
    with (specs_copy / "mlc_churn.py").open("a") as module:
        module.write("# mlc_churn changed\n")
    assert spec_fingerprint("mlc_churn_pii") != pii
    assert spec_fingerprint("mlc_churn") != churn
    assert spec_fingerprint("penguins") == penguins  # imports no other spec
