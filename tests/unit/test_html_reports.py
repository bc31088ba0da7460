"""The HTML reports and the MLflow UI, opened in a real headless browser (Debian's chromium).

Each report is rendered from real inputs (the bundled taxi file; metrics computed on its rows) and loaded
from a file:// URL; chromium is driven over the DevTools protocol (websocket-client, from the lock), so
the checks read what the page rendered: its text, its console and uncaught errors, a screenshot. Then a
real `mlflow server` over the store where a push happened shows the run's dataset and the registered
version's model card.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import mlflow
import numpy as np
import pandas as pd
import pytest
import websocket
from gate_records import record_infra_validation
from PIL import Image
from sklearn.linear_model import LogisticRegression

from components.common import tracking
from components.common.specs import get_spec
from components.data.baseline import build_baseline, spec_kinds
from components.evaluate.gate import ChampionScore, GateDecision, gate
from components.evaluate.importance import Importance
from components.evaluate.report import html_report, write_plots
from components.evaluate.slices import slice_gaps
from components.monitor.drift import DriftThresholds, compare
from components.monitor.report import html_report as drift_html
from components.push.model_card import METRICS_ARTIFACT
from components.push.task import PushResult, push_model
from components.runs import step_runs
from components.tasks import task_of
from components.tasks.binary_metrics import BinaryMetrics, binary_metrics
from components.validate.images import THUMBNAILS
from components.validate.report import THUMBNAIL_PIXELS
from components.validate.task import DataValidationError, run_validate_step, validate_data
from pipelines.images import png_bytes

SPEC = get_spec("modeldata_taxi")
TASK = task_of(SPEC)
MODEL_NAME = "taxi-classifier"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


class Browser:
    """One headless chromium page over the DevTools protocol: load a URL, read its text, console and pixels."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=(profile.parent / "chromium.log").open("wb"),
            start_new_session=True,  # its renderer and GPU processes go with it in close()
        )
        port = _wait_for(lambda: _devtools_port(profile / "DevToolsActivePort"), 60, "chromium's DevTools port")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            page = next(target for target in json.load(reply) if target["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._last_id = 0
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        self.socket.send(json.dumps({"id": self._last_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") != self._last_id:
                self.events.append(message)
            elif "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            else:
                return message["result"]

    def open(self, url: str, expect: Sequence[str] = (), timeout: float = 30) -> str:
        """Load `url`; its rendered text once it has loaded and shows every string in `expect`."""
        self.events.clear()
        self.call("Page.navigate", url=url)

        def shown() -> str | None:
            text = self.call("Runtime.evaluate", expression=RENDERED_TEXT, returnByValue=True)["result"]["value"]
            return text if text is not None and all(item in text for item in expect) else None

        return _wait_for(shown, timeout, f"{url} to show {list(expect)}")

    def console_errors(self) -> list[str]:
        """Uncaught exceptions, console.error and console.assert calls, and error log entries since `open`."""
        errors = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                errors.append(details.get("exception", {}).get("description") or details["text"])
            elif event.get("method") == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
            elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
        return errors

    def screenshot(self) -> Image.Image:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("L")

    def close(self) -> None:
        self.socket.close()
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


RENDERED_TEXT = "document.readyState === 'complete' && document.body ? document.body.innerText : null"


def _devtools_port(path: Path) -> int | None:
    lines = path.read_text().splitlines() if path.exists() else []
    return int(lines[0]) if lines else None


def _wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.25)
    return found


@pytest.fixture(scope="module")
def browser(debian_tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    opened = Browser(debian_tool("chromium"), tmp_path_factory.mktemp("chromium") / "profile")
    yield opened
    opened.close()


def check_page(browser: Browser, page: Path, title: str, figures: Sequence[str]) -> str:
    """Open a report: it renders (a screenshot that is not blank), logs no errors, and shows its figures."""
    text = browser.open(page.as_uri(), expect=[title])
    assert browser.console_errors() == []
    darkest, lightest = browser.screenshot().getextrema()
    assert darkest < 100 < lightest, "the screenshot is blank"
    missing = [figure for figure in figures if figure not in text]
    assert missing == [], f"not on the rendered page: {missing}"
    return text


class Scored(NamedTuple):
    """Metrics of a logistic regression on the bundled rows, gated with the spec's defaults."""

    metrics: BinaryMetrics
    slices: dict[str, BinaryMetrics]
    importance: dict[str, Importance]
    decision: GateDecision
    prior: BinaryMetrics
    labels: np.ndarray
    probabilities: np.ndarray


@pytest.fixture(scope="module")
def scored(bundled_dataset: Path) -> Scored:
    rows = pd.read_csv(bundled_dataset)
    labels = (rows["tip"] == "yes").to_numpy(np.int64)
    features = pd.get_dummies(rows[["company", "local", "dow", "hour"]].astype(str))
    features["distance"] = np.log1p(rows["distance"])
    probabilities = LogisticRegression(max_iter=1000).fit(features, labels).predict_proba(features)[:, 1]
    slices = {}
    for column in SPEC.slice_columns:
        for value in sorted(rows[column].unique()):
            mask = (rows[column] == value).to_numpy()
            slices[f"{column}={value}"] = binary_metrics(labels[mask], probabilities[mask])
    metrics = binary_metrics(labels, probabilities)
    prior = TASK.metrics(labels, TASK.prior_predictions(labels))
    decision = gate(TASK, metrics, SPEC.thresholds, 0.01, prior, SPEC.baseline_margin, ChampionScore(None))
    assert decision.blessed, decision.reasons
    importance = {
        "distance": Importance(0.0421, 0.0302, 0.054, "roc_auc"),
        "company": Importance(0.0113, 0.0021, 0.0205, "roc_auc"),
    }
    return Scored(metrics, slices, importance, decision, prior, labels, probabilities)


def test_the_validation_report_renders_its_failures(browser: Browser, bundled_dataset: Path, tmp_path: Path) -> None:
    data = tmp_path / "taxi.csv"
    data.write_text(bundled_dataset.read_text().replace(",Thu,", ",Funday,", 1))
    with pytest.raises(DataValidationError) as failed:
        validate_data(data, SPEC, tmp_path / "report.html", tmp_path / "summary.json")
    summary = failed.value.summary

    check_page(
        browser,
        tmp_path / "report.html",
        "Data validation FAILED: modeldata_taxi",
        [f"Rows: {summary.row_count}", "Columns: 7", f"failed: {summary.expectations_failed}", "'Funday'"],
    )


def test_the_validation_report_shows_an_image_columns_thumbnails(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    rng = np.random.default_rng(0)
    for number in range(8):
        (tmp_path / "img" / f"{number}.png").write_bytes(png_bytes(rng.integers(0, 256, (8, 8), dtype=np.uint8)))
    index = tmp_path / "index.csv"
    index.write_text("image,digit\n" + "".join(f"img/{number}.png,{number}\n" for number in range(8)))
    validate_data(index, replace(get_spec("digits"), min_rows=1), tmp_path / "report.html", tmp_path / "summary.json")

    check_page(browser, tmp_path / "report.html", "Data validation passed: digits", ["Images: column 'image'", "8 x 8"])
    shown = "[...document.images].map(image => [image.complete, image.naturalWidth, image.width])"
    images = browser.call("Runtime.evaluate", expression=shown, returnByValue=True)["result"]["value"]
    assert images == [[True, 8, THUMBNAIL_PIXELS]] * THUMBNAILS  # each decoded, shown scaled up


def test_the_evaluation_report_renders_its_metrics_slices_and_plots(
    browser: Browser, scored: Scored, tmp_path: Path
) -> None:
    plots = write_plots(TASK, scored.metrics, scored.labels, scored.probabilities, tmp_path, scored.importance)
    gaps = slice_gaps(TASK, scored.slices, SPEC.slice_columns)
    page = tmp_path / "evaluation.html"
    page.write_text(
        html_report(
            "taxi evaluation", TASK, scored.metrics, scored.decision, plots, scored.slices, gaps, scored.importance
        )
    )

    check_page(
        browser,
        page,
        "taxi evaluation: BLESSED",
        [f"{scored.metrics.roc_auc:.4f}", f"{scored.metrics.log_loss:.4f}", "company=Flash Cab", "0.0421"],
    )
    loaded = browser.call(
        "Runtime.evaluate",
        expression="[...document.images].filter(image => image.complete && image.naturalWidth > 0).length",
        returnByValue=True,
    )
    assert loaded["result"]["value"] == len(plots) >= 3


def test_the_drift_report_renders_the_drifted_feature(browser: Browser, bundled_dataset: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(bundled_dataset, dtype={"hour": object})
    reference, new = rows.iloc[:5000], rows.iloc[5000:].assign(distance=lambda frame: frame["distance"] * 3)
    baseline = build_baseline([reference], SPEC.name, "first half", spec_kinds(SPEC))
    report = compare(baseline, new.reset_index(drop=True), "second half, distances x3", DriftThresholds())
    page = tmp_path / "drift.html"
    page.write_text(drift_html(report))
    distance = next(feature for feature in report.features if feature.name == "distance")

    check_page(
        browser,
        page,
        "Drift check: modeldata_taxi",
        ["Verdict: DRIFT", "second half, distances x3 (5000 rows)", f"{distance.score:.4f}"],
    )
    assert report.drifted_features == ["distance"]


class Pushed(NamedTuple):
    uri: str
    database: Path
    run_id: str
    experiment_id: str
    result: PushResult
    card: Path


@pytest.fixture(scope="module")
def pushed(
    scored: Scored, bundled_dataset: Path, saved_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Pushed:
    """A store where the pipeline's validate step ran on the bundled file, evaluate logged its metrics.json
    (hand-made from `scored`, as the step writes it) and push registered version 1 with its card."""
    root = tmp_path_factory.mktemp("pushed")
    uri = f"sqlite:///{root}/mlflow.db"
    validated = run_validate_step(
        str(bundled_dataset), SPEC.name, uri, "browser", "job-browser", root / "r.html", root / "s.json"
    )
    run_id = validated.mlflow_run_id
    tracking.log_pipeline_params(uri, run_id, "train", {"epochs": 3, "learning_rate": 0.001})
    evaluation = {
        "task": TASK.kind,
        "headline_metric": TASK.headline_metric,
        "higher_is_better": dict(TASK.directions),
        "table_metrics": list(TASK.table_metrics),
        "prior_name": TASK.prior_name,
        "metrics": scored.metrics.to_dict(),
        "headline": scored.metrics.headline(),
        "slices": {key: value.to_dict() for key, value in scored.slices.items()},
        "skipped_slices": {},
        "slice_gaps": {k: gap.to_dict() for k, gap in slice_gaps(TASK, scored.slices, SPEC.slice_columns).items()},
        "importance": {column: value.to_dict() for column, value in scored.importance.items()},
        "champion": {"version": None, "metrics": None, "headline": None},
        "prior": scored.prior.headline(),
        "gate": {
            "thresholds": dict(SPEC.thresholds),
            "champion_tolerance": 0.01,
            "baseline_margin": 0.01,
            "allow_unscored_champion": False,
        },  # fmt: skip
        "blessed": True,
        "reasons": scored.decision.reasons,
    }
    with step_runs.step_run(uri, run_id, "evaluate"):
        mlflow.log_metric("blessed", 1.0)
        mlflow.log_text(json.dumps(evaluation), METRICS_ARTIFACT)
    record_infra_validation(uri, run_id, passed=True)
    card = root / "model_card.html"
    result = push_model(saved_model, str(root / "store"), MODEL_NAME, uri, run_id, card_path=card)
    experiment_id = tracking.client(uri).get_run(run_id).info.experiment_id
    return Pushed(uri, root / "mlflow.db", run_id, experiment_id, result, card)


def test_the_model_card_renders_its_figures(browser: Browser, scored: Scored, pushed: Pushed) -> None:
    metrics = scored.metrics
    check_page(
        browser,
        pushed.card,
        f"Model card: {MODEL_NAME} version {pushed.result.model_version}",
        [
            f"{metrics.roc_auc:.4f}",
            ">= 0.56",
            f"{scored.slices['company=Flash Cab'].roc_auc:.4f}",
            "0.0421",
            "Gate: BLESSED.",
            SPEC.known_limits[0],
        ],
    )


@pytest.fixture(scope="module")
def mlflow_ui(pushed: Pushed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` over the pushed store (one worker, no job execution), on a free 127.0.0.1 port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("mlflow-ui") / "server.log"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        [*command, "--backend-store-uri", pushed.uri],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        start_new_session=True,  # its uvicorn worker goes with it
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool | None:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                return reply.status == 200 or None
        except OSError:
            return None

    try:
        _wait_for(healthy, 240, f"{url}/health")  # a loaded 2-core machine needs over a minute
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_mlflow_ui_lists_the_runs_dataset(browser: Browser, pushed: Pushed, mlflow_ui: str) -> None:
    digest = tracking.client(pushed.uri).get_run(pushed.run_id).inputs.dataset_inputs[0].dataset.digest
    page = f"{mlflow_ui}/#/experiments/{pushed.experiment_id}/runs/{pushed.run_id}"

    text = browser.open(page, expect=["Datasets", f"{SPEC.name} ({digest})"], timeout=90)

    assert "job-browser" in text and "Training" in text.split(f"{SPEC.name} ({digest})")[1][:40]


def test_the_mlflow_ui_shows_the_versions_model_card(
    browser: Browser, scored: Scored, pushed: Pushed, mlflow_ui: str
) -> None:
    version = pushed.result.model_version
    expect = [
        f"Model card: {MODEL_NAME} version {version}",
        "Metrics per slice",
        f"{scored.metrics.roc_auc:.4f}",
        "company=Flash Cab",
        "Feature importance (permutation)",
        "Gate: BLESSED.",
    ]

    text = browser.open(f"{mlflow_ui}/#/models/{MODEL_NAME}/versions/{version}", expect=expect, timeout=90)

    assert ">= 0.56" in text
    # The description is rendered Markdown: its tables are tables, not text with pipes.
    cells = browser.call(
        "Runtime.evaluate", expression="document.querySelectorAll('table td').length", returnByValue=True
    )
    assert cells["result"]["value"] > 20
    assert "| metric |" not in text
