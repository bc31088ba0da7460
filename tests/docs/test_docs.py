"""The docs name only what exists, and the checker that says so reports each kind of drift."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from doc_checks import check_markdown, heading_anchors
from project_facts import ROOT, Project

DOCS = sorted((ROOT / "docs").glob("**/*.md"))
CHECKED = [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOCS]


@pytest.mark.parametrize("doc", CHECKED, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_doc_names_only_what_exists(project: Project, doc: Path) -> None:
    problems = check_markdown(doc, project)
    assert not problems, "\n".join(map(str, problems))


def test_benchmarks_report_names_only_what_exists(project: Project) -> None:
    """BENCHMARKS.md is written by `make bench`, which states its machine and date at the top."""
    problems = check_markdown(ROOT / "BENCHMARKS.md", project, figures=False)
    assert not problems, "\n".join(map(str, problems))


def test_readme_is_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for must in ("make setup && make run", "make test", "](docs/index.md)", "Measured with `make run`"):
        assert must in readme, must


def test_every_docs_page_opens_with_what_a_reader_can_do_with_it() -> None:
    assert len(DOCS) >= 10, [doc.name for doc in DOCS]
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        assert lines[0].startswith("# ") and lines[1] == "", f"{doc.name}: a title, then a blank line"
        assert lines[2].strip() and not lines[3].strip(), f"{doc.name}: one line on what it is for, then a blank"


def test_the_index_links_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert {doc.name for doc in DOCS if doc.parent == ROOT / "docs"} - {"index.md"} <= linked


def test_every_phony_target_is_listed_by_make_help(project: Project) -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", makefile, flags=re.M) for name in line.split()}
    assert phony and phony <= project.help_targets, sorted(phony - project.help_targets)


# The checker itself, on small docs each naming one thing that does not exist.


def problems_in(tmp_path: Path, project: Project, markdown: str) -> list[str]:
    doc = tmp_path / "doc.md"
    doc.write_text(markdown)
    return [problem.message for problem in check_markdown(doc, project)]


def test_a_correct_doc_has_no_problems(tmp_path: Path, project: Project) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Serving on KServe\n")
    markdown = """# Title

## Run it

```bash
make setup && make run          # comment: make nothing
EPOCHS=2 make run DATASET=mlc_churn
.venv/bin/python -m pipelines run --epochs 2 --threshold roc_auc=off
python -m components.serve rollback --reason "p99"
kubectl apply --server-side -f infra/katib/pipeline-rbac.yaml
```

`make help`, `KFP_HOST`, `--baseline-margin`, `components/serve/`, `build/logs/x.log`, `pyproject.toml`,
`tests/unit/text_builders.py:lstm`, [other](other.md#serving-on-kserve), [here](#run-it), [web](https://x.org/a).

| variable | default |
|---|---|
| `DATASET` | mlc_churn |

| command | wall time |
|---|---|
| `make run` | 49 s |

Measured with `make run` on 2026-12-07.
"""
    assert problems_in(tmp_path, project, markdown) == []


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("`make rnu`", "`make rnu`: no such target"),
        ("```bash\nmake setup tset\n```", "`make tset`: no such target"),
        ("`DATSET=mlc_churn make run`", "variable DATSET: read nowhere"),
        ("`make run EPOCH=2`", "variable EPOCH: read nowhere"),
        ("Set `KFP_HOTS` first.", "variable KFP_HOTS: read nowhere"),
        ("| variable | meaning |\n|---|---|\n| `EPOCH` | epochs |", "variable EPOCH: read nowhere"),
        ("`python -m pipelines runn`", "`python -m pipelines runn`: no such verb"),
        ("`.venv/bin/python -m pipelines run --epoch 2`", "`python -m pipelines run`: no flag --epoch"),
        ("`python -m components.serve serve --canary 5`", "`python -m components.serve serve`: no flag --canary"),
        ("`--thresholds`", "`--thresholds`: not a flag of any project command line"),
        ("`components/serve/verbz.py`", "`components/serve/verbz.py`: no such file or folder"),
        ("```bash\nkubectl apply -f infra/katib/rbac.yaml\n```", "`infra/katib/rbac.yaml`: no such file"),
        ("`CHANGES.md`", "`CHANGES.md`: no such file or folder"),
        ("[docs](missing.md)", "link missing.md: missing.md does not exist"),
        ("# Top\n\n[up](#top) [down](#bottom)", "link #bottom: no heading #bottom in doc.md"),
        ("| command | wall time |\n|---|---|\n| `make run` | 49 s |", "figures without a 'Measured with"),
        ("```\nvalidate   ok   25.1s\n```\n\nMeasured on a good day.", "figures without a 'Measured with"),
    ],
)
def test_the_checker_reports_what_does_not_exist(
    tmp_path: Path, project: Project, markdown: str, expected: str
) -> None:
    problems = problems_in(tmp_path, project, markdown)
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_target_missing_from_make_help_is_reported(tmp_path: Path, project: Project) -> None:
    hidden = dataclasses.replace(project, help_targets=project.help_targets - {"run"})
    assert problems_in(tmp_path, hidden, "`make run`") == [
        "`make run`: not listed by `make help` (give its rule a ## comment)"
    ]


def test_a_link_to_a_missing_anchor_of_another_page_is_reported(tmp_path: Path, project: Project) -> None:
    (tmp_path / "gate.md").write_text("# The gate\n\n## Thresholds\n\n## Thresholds\n")
    assert problems_in(tmp_path, project, "[a](gate.md#thresholds-1) [b](gate.md#threshold)") == [
        "link gate.md#threshold: no heading #threshold in gate.md"
    ]


def test_anchors_follow_github() -> None:
    assert heading_anchors("# What to expect (2-core machine, CPU only)\n## `make run`: the gate\n```\n# no\n```") == {
        "what-to-expect-2-core-machine-cpu-only",
        "make-run-the-gate",
    }
