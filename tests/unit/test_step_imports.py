"""Each step's process imports only what the step needs: kfp.local starts a fresh Python per step, so every
library a step module pulls in at import time is paid by every run of that step.

Each check imports, in a fresh interpreter, what the KFP component module and its function import, then
asks which heavy libraries came with them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# What a step may not load at import time, and why it does not need it.
NOT_IMPORTED = {
    # push copies files and talks to the registry; validate reads CSV with pandas and GX
    "components.push": ("tensorflow", "keras", "matplotlib", "sklearn", "great_expectations", "boto3"),
    "components.validate": ("tensorflow", "keras", "matplotlib", "sklearn"),
    # deploy renders and applies an InferenceService; tune searches (training loads TensorFlow when it runs)
    "components.deploy": ("tensorflow", "keras", "matplotlib", "sklearn", "great_expectations"),
    "components.tune": ("tensorflow", "keras", "matplotlib", "sklearn", "great_expectations", "boto3"),
}
STEP_MODULES = {
    "components.push": ("components.push.component", "components.push.task"),
    "components.validate": ("components.validate.component", "components.validate.task"),
    "components.deploy": ("components.deploy.component", "components.deploy.task"),
    "components.tune": (
        "components.tune.component",
        "components.tune.task",
        "components.tune.katib",
        "components.tune.space",
        "components.train.distributed",
        "components.train.hyperparameters",
    ),
}


def _loaded(modules: tuple[str, ...], libraries: tuple[str, ...]) -> list[str]:
    """The `libraries` present in sys.modules after importing `modules` in a fresh interpreter."""
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(' '.join(name for name in {libraries!r} if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("step", sorted(NOT_IMPORTED))
def test_a_step_imports_none_of_the_libraries_it_does_not_use(step: str) -> None:
    # MLflow, which every one of these steps logs to, is the check's proof that it sees an imported library.
    loaded = _loaded(STEP_MODULES[step], (*NOT_IMPORTED[step], "mlflow"))
    assert loaded == ["mlflow"], f"{step} loaded {loaded}; of these it should load only mlflow"


def test_tune_without_trials_hands_the_values_on_without_loading_the_search() -> None:
    # tune_trials 0 is the default: the step then only hands the given values on, so it loads no MLflow.
    code = (
        "import sys\n"
        "from components.tune.component import tune\n"
        "out = tune.python_func('chicago_taxi', None, None, 'sqlite:///unused.db', 'run', 0, 1, 'random', '{}', 0,\n"
        "    '', '', 3, 256, 0.001, [64, 32], 0.1, 2, 0, 'wide_and_deep', '')\n"
        "print(tuple(out), 'mlflow' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "(0.001, [64, 32], 0.1, 256, 'no search (tune_trials 0)') False False"
