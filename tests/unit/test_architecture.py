"""Imports flow one way (docs/architecture.md): each module's imports, read with `ast`, may only go down the
floors, a step may use another step only along `STEP_USES`, and no modules import each other in a circle.

Every import counts: at the top of a module, inside a function, or under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, Mapping

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("components", "pipelines", "bench")
# The floors, bottom first; a module may import its own floor and those below it.
FLOORS = ("common", "tasks/specs", "steps", "pipelines", "tools")
# The packages on the tasks/specs floor: what a dataset is and what its task computes, and the code that
# needs to know them (raw data as the spec reads it; a run's settings and its task-named run metrics).
TASKS_SPECS = ("components.tasks", "components.common.specs", "components.data", "components.runs")
# What one step may use of another (the package, not only its component): each pair is a
# contract the first builds on; the pairs must form no circle. Anything else two steps share moves down.
STEP_USES = {
    "deploy": {"serve"},  # deploy rolls out the InferenceService serve defines, with serve's registry look-ups
    "infra_validate": {"evaluate"},  # the served answers must equal evaluate's: its eval-row reader and scorer
    "serve": {"push"},  # serve reads what push writes: the serving layout, the champion lock, the leftovers
    "tune": {"train"},  # a tuning trial is a training run: train's workers, hyperparameters and train_model
    "train": {"transform"},  # train reads transform's output: its file layout and the transformed features
    # score resolves a published version as serve does, validates with validate's suite, runs Beam as transform
    "score": {"serve", "transform", "validate"},
    "monitor": {"score"},  # monitor checks a scoring output: read as score publishes it, its answers as score writes
    # variants compress train's export behind transform's graph, scored as evaluate, served as infra_validate checks
    # ... and publishing them beside a pushed version extends push's model card with their table
    "variants": {"train", "transform", "evaluate", "infra_validate", "push"},
}

Graph = Mapping[str, set[str]]


def modules(root: Path) -> dict[str, Path]:
    """Every module of the PACKAGES under `root`, by dotted name (a package by its __init__)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _nearest(name: str, known: Iterable[str]) -> str | None:
    """`name`, or the nearest package above it, among the project's modules; None for another library."""
    known = set(known)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    # `from package import module` imports the module; `from module import name` the module itself.
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project's modules it imports."""
    found = modules(root)
    known = set(found)
    graph: dict[str, set[str]] = {}
    for module, path in found.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(module, path, node, known):
                    target = _nearest(name, known)
                    if target is not None and target != module:
                        edges.add(target)
        graph[module] = edges
    return graph


def place(module: str) -> tuple[int, str]:
    """The module's floor (an index into FLOORS) and its package on that floor."""
    top, _, rest = module.partition(".")
    if top == "pipelines":
        return FLOORS.index("pipelines"), top
    if top == "bench":
        return FLOORS.index("tools"), top
    if top != "components":
        raise ValueError(f"{module}: not in any of {PACKAGES}; give its package a floor in this test and the page")
    if any(module == package or module.startswith(package + ".") for package in TASKS_SPECS):
        return FLOORS.index("tasks/specs"), module
    step = rest.partition(".")[0]
    if module == "components" or step == "common":
        return FLOORS.index("common"), "common"
    return FLOORS.index("steps"), step


def back_imports(graph: Graph) -> list[str]:
    """One line per import that runs up the floors or between steps along no declared `STEP_USES` pair."""
    found = []
    for module in sorted(graph):
        floor, package = place(module)
        for target in sorted(graph[module]):
            target_floor, target_package = place(target)
            if target_floor > floor:
                found.append(f"{module} ({FLOORS[floor]}) imports {target} ({FLOORS[target_floor]}), a higher floor")
            elif floor == target_floor == FLOORS.index("steps") and package != target_package:
                if target_package not in STEP_USES.get(package, set()):
                    found.append(
                        f"{module} imports {target}: step {package} may use {sorted(STEP_USES.get(package, ()))}"
                    )
    return found


def cycles(graph: Graph) -> list[list[str]]:
    """The import circles: each strongly connected set of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            circle = []
            while not circle or circle[-1] != module:
                circle.append(stack.pop())
            if len(circle) > 1:
                found.append(sorted(circle))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def test_no_import_runs_back_up_the_floors_or_between_steps() -> None:
    graph = import_graph(REPO)
    # The graph is the real one: the task's own metrics module, the run metrics named by the task (so they stand
    # on the tasks/specs floor), and the pipeline's use of every step.
    assert "components.tasks.binary_metrics" in graph["components.tasks.binary"]
    assert "components.tasks" in graph["components.runs.run_metrics"]
    assert "components.deploy.component" in graph["pipelines.training_pipeline"]
    assert back_imports(graph) == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert cycles(import_graph(REPO)) == []


def test_the_step_uses_are_one_way_and_each_is_used() -> None:
    graph = import_graph(REPO)
    used = {(place(module)[1], place(target)[1]) for module, targets in graph.items() for target in targets}
    declared = {(step, other) for step, others in STEP_USES.items() for other in others}
    assert declared <= used, f"declared but unused, drop them: {sorted(declared - used)}"
    as_graph = {f"components.{step}": {f"components.{other}" for other in others} for step, others in STEP_USES.items()}
    assert cycles(as_graph) == []


def test_the_check_reports_planted_back_imports_and_circles() -> None:
    planted = {
        "components.tasks.binary": {"components.evaluate.gate"},  # a task reaching up into a step
        "components.common.cluster": {"components.tasks"},  # common on the tasks
        "components.common.content": {"components.common.specs.base"},  # common on a spec
        "components.common.images": {"components.data.baseline", "components.runs.settings"},  # on the floor above
        "components.common.tracking": {"components.common.storage"},
        "components.common.storage": {"components.common.tracking"},  # a circle on one floor
        "components.train.mlflow_model": {"components.monitor.baseline"},  # a step into another, undeclared
        "components.push.task": {"pipelines.summary"},  # a step into the pipelines
        # Down, or along the floor: allowed.
        "components.runs.run_metrics": {"components.tasks", "components.common.specs", "components.common.tracking"},
        "components.data.baseline": {"components.common.specs.base", "components.common.tracking"},
        "components.evaluate.gate": {"components.data.raw_tensors", "components.tasks"},
        "components.monitor.baseline": set(),
        "pipelines.summary": {"components.runs.settings"},
    }
    reported = back_imports(planted)
    assert reported == [
        "components.common.cluster (common) imports components.tasks (tasks/specs), a higher floor",
        "components.common.content (common) imports components.common.specs.base (tasks/specs), a higher floor",
        "components.common.images (common) imports components.data.baseline (tasks/specs), a higher floor",
        "components.common.images (common) imports components.runs.settings (tasks/specs), a higher floor",
        "components.push.task (steps) imports pipelines.summary (pipelines), a higher floor",
        "components.tasks.binary (tasks/specs) imports components.evaluate.gate (steps), a higher floor",
        "components.train.mlflow_model imports components.monitor.baseline: step train may use ['transform']",
    ], reported
    assert cycles(planted) == [["components.common.storage", "components.common.tracking"]]


def test_the_graph_sees_imports_in_functions_under_type_checking_and_relative(tmp_path: Path) -> None:
    """A planted tree: each kind of import that runs back up is found in the files themselves."""
    files = {
        "components/__init__.py": "",
        "components/tasks/__init__.py": "",
        "components/tasks/kind.py": "def draw():\n    from components.evaluate import figures\n",
        "components/common/__init__.py": "",
        "components/common/store.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pipelines.run\n",
        "components/common/names.py": "def noun(spec):\n    from components.tasks import kind\n",
        "components/evaluate/__init__.py": "",
        "components/evaluate/figures.py": "from ..tasks import kind\n",
        "pipelines/__init__.py": "",
        "pipelines/run.py": "from components.common import store\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "bench").mkdir()
    graph = import_graph(tmp_path)
    assert graph["components.evaluate.figures"] == {"components.tasks.kind"}  # relative, and downward: allowed
    assert back_imports(graph) == [
        "components.common.names (common) imports components.tasks.kind (tasks/specs), a higher floor",
        "components.common.store (common) imports pipelines.run (pipelines), a higher floor",
        "components.tasks.kind (tasks/specs) imports components.evaluate.figures (steps), a higher floor",
    ]
    assert cycles(graph) == [
        ["components.common.store", "pipelines.run"],
        ["components.evaluate.figures", "components.tasks.kind"],
    ]
