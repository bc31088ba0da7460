"""The model card from a real evaluation: the bundled taxi file validated, a hand-set raw-in model scored by
the evaluate step, on a real SQLite MLflow store."""

from __future__ import annotations

import hashlib
import html
import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import mlflow
import pytest
import tensorflow as tf
from markdown_it import MarkdownIt

from components.common import tracking
from components.common.specs import get_spec, spec_fingerprint
from components.data.sources import resolve_source
from components.evaluate.task import GateSettings, run_evaluate_step
from components.push.card_variants import add_variants_table
from components.push.model_card import MAX_DESCRIPTION, METRICS_ARTIFACT, ModelCard, ModelCardError, build_card
from components.runs import step_runs
from components.validate.task import run_validate_step

MODEL_NAME = "taxi-classifier"
SPEC = get_spec("modeldata_taxi")
EVAL_ROWS = 2000


class TipModel(tf.Module):
    """A raw-in serving model like the trainer's exports: long trips and Flash Cab riders tip more."""

    @tf.function(
        input_signature=[
            {
                "distance": tf.TensorSpec([None], tf.float64, name="distance"),
                "company": tf.TensorSpec([None], tf.string, name="company"),
            }
        ]
    )
    def serve(self, dense: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        flash_cab = tf.cast(tf.equal(dense["company"], "Flash Cab"), tf.float64)
        logit = 2.4 + 0.05 * (dense["distance"] - 3.0) + 0.5 * flash_cab
        return {"probability": tf.cast(tf.sigmoid(logit), tf.float32)}


class Evaluated(NamedTuple):
    uri: str
    run_id: str
    data: Path
    card: ModelCard
    evaluation: dict[str, Any]


def validated_run(uri: str, data: Path, scratch: Path, job: str) -> str:
    """A pipeline run opened by the real validate step on `data`, with training params as train logs them."""
    outcome = run_validate_step(str(data), SPEC.name, uri, "card-tests", job, scratch / "r.html", scratch / "s.json")
    tracking.log_pipeline_params(uri, outcome.mlflow_run_id, "train", {"epochs": 3, "learning_rate": 0.001})
    return outcome.mlflow_run_id


def log_evaluation(uri: str, run_id: str, metrics_json: str) -> None:
    """An evaluate step run whose metrics.json is `metrics_json`, as the step logs it."""
    with step_runs.step_run(uri, run_id, "evaluate"):
        mlflow.log_text(metrics_json, METRICS_ARTIFACT)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, bundled_dataset: Path, _empty_mlflow_db: Path) -> Evaluated:
    root = tmp_path_factory.mktemp("card")
    shutil.copyfile(_empty_mlflow_db, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    run_id = validated_run(uri, bundled_dataset, root, "job-card")
    eval_csv = root / "eval.csv"
    eval_csv.write_text("\n".join(bundled_dataset.read_text().splitlines()[: EVAL_ROWS + 1]) + "\n")
    model = TipModel()
    tf.saved_model.save(model, str(root / "model"), signatures={"serving_default": model.serve})
    result = run_evaluate_step(
        root / "model",
        eval_csv,
        SPEC.name,
        uri,
        run_id,
        MODEL_NAME,
        GateSettings(SPEC.thresholds, baseline_margin=SPEC.baseline_margin),
        root / "out",
    )
    card = build_card(tracking.client(uri), run_id, MODEL_NAME)
    return Evaluated(uri, run_id, bundled_dataset, card, json.loads(result.metrics_file.read_text()))


def test_the_card_names_the_data_its_digest_and_its_lineage(evaluated: Evaluated) -> None:
    markdown, page = evaluated.card.markdown("7"), evaluated.card.html("7")
    source = resolve_source(str(evaluated.data))
    sha256 = source.digest().sha256  # the digest of the manifest of files read, which names this file's own
    assert hashlib.sha256(evaluated.data.read_bytes()).hexdigest() in "\n".join(source.manifest_lines())

    assert markdown.startswith("# Model card: taxi-classifier version 7\n")
    assert "<title>Model card: taxi-classifier version 7</title>" in page
    expected = {
        "dataset": SPEC.name,
        "data_sha256": sha256,
        "data_size": str(evaluated.data.stat().st_size),
        "spec_fingerprint": spec_fingerprint(SPEC.name),
    }
    assert {key: evaluated.card.lineage_tags[key] for key in expected} == expected
    assert evaluated.card.lineage_tags["code_version"]
    for text in (markdown, page):
        assert all(value in text for value in expected.values())
        assert "| rows | 10000 |" in markdown and sha256[:12] in text  # the MLflow dataset's digest
        assert 'binary classification of tipped (tip == "yes")' in html.unescape(text)
    assert "| numeric, log1p, z-scored; missing as 0 | distance |" in markdown
    assert "bucket(s) | company, local, dow, month, hour |" in markdown
    assert "| epochs | 3 |" in markdown and "| learning_rate | 0.001 |" in markdown


def test_the_card_shows_metrics_with_the_gate_bounds_the_champion_and_the_prior(evaluated: Evaluated) -> None:
    metrics, prior = evaluated.evaluation["metrics"], evaluated.evaluation["prior"]
    markdown = evaluated.card.markdown("1")

    # The taxi spec gates ROC AUC only: its accuracy and log-loss bounds are off.
    assert f"| roc_auc | {metrics['roc_auc']:.4f} | &gt;= 0.56 | — | 0.5000 |" in markdown
    assert f"| accuracy | {metrics['accuracy']:.4f} | off | — | {prior['accuracy']:.4f} |" in markdown
    assert f"| log_loss | {metrics['log_loss']:.4f} | off | — | {prior['log_loss']:.4f} |" in markdown
    assert "| metric | candidate | gate bound | no champion | prior (base rate) |" in markdown
    assert "No previous champion" in markdown
    assert "champion_tolerance 0.0100, baseline_margin 0.0100, allow_unscored_champion False" in markdown


def test_the_card_shows_slices_importance_gaps_the_decision_and_the_known_limits(evaluated: Evaluated) -> None:
    evaluation, card = evaluated.evaluation, evaluated.card
    markdown, page = card.markdown("1"), html.unescape(card.html("1"))

    for key, metrics in evaluation["slices"].items():
        assert f"<td>{key}</td><td>{metrics['example_count']}</td><td>{metrics['roc_auc']:.4f}</td>" in page
    assert evaluation["importance"], "the evaluate step measures importance"
    ranked = sorted(evaluation["importance"], key=lambda column: -evaluation["importance"][column]["mean"])
    section = markdown.split("## Feature importance (permutation)")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "roc_auc" in line]
    assert [row[0].removeprefix("| ") for row in rows] == ranked
    assert ranked[0] == "distance"  # what the model reads most
    for column, gap in evaluation["slice_gaps"].items():
        assert f"| {column} | roc_auc | {gap['gap']:.4f} | {gap['best']} | {gap['worst']} |" in markdown
    verdict = "BLESSED" if evaluation["blessed"] else "NOT BLESSED"
    assert f"Gate: {verdict}." in markdown
    assert all(f"<li>{reason}</li>" in page for reason in evaluation["reasons"])
    assert all(f"- {limit}" in markdown for limit in SPEC.known_limits)


def test_the_description_is_markdown_with_headings_tables_and_no_raw_html(evaluated: Evaluated) -> None:
    rendered = MarkdownIt("commonmark").enable("table").render(evaluated.card.markdown("1"))

    assert rendered.startswith("<h1>Model card: taxi-classifier version 1</h1>")
    headings = [line for line in rendered.splitlines() if line.startswith("<h2>")]
    assert headings[:4] == [
        "<h2>Dataset and lineage</h2>",
        "<h2>Task</h2>",
        "<h2>Metrics on the eval split</h2>",
        "<h2>Metrics per slice</h2>",
    ]
    assert "<h2>Known limits</h2>" in headings and "<h2>Decision</h2>" in headings
    assert rendered.count("<table>") >= 6
    assert "<td>&gt;= 0.56</td>" in rendered  # a bound in a reason or cell stays text, never a tag
    assert len(evaluated.card.markdown("1")) <= MAX_DESCRIPTION


def test_a_card_too_long_for_the_registry_keeps_every_row_in_its_html(evaluated: Evaluated, tmp_path: Path) -> None:
    evaluation = dict(evaluated.evaluation)
    one_slice = next(iter(evaluation["slices"].values()))
    evaluation["slices"] = {f"company=company number {i}": one_slice for i in range(200)}
    evaluation["importance"] = {f"column_{i}": {"mean": 0.5 - i / 100, "ci_low": 0.0, "ci_high": 1.0, "metric": "x"}
                                for i in range(40)}  # fmt: skip
    run_id = tracking.start_pipeline_run(evaluated.uri, "card-tests", "job-long", {"dataset": SPEC.name})
    log_evaluation(evaluated.uri, run_id, json.dumps(evaluation))

    card = build_card(tracking.client(evaluated.uri), run_id, MODEL_NAME)

    markdown = card.markdown("12")
    assert len(markdown) <= MAX_DESCRIPTION
    assert "more rows in the HTML card" in markdown
    assert all(f"company number {i}<" in card.html("12") for i in range(200))

    evaluation["reasons"] = [f"INFO: note {i} " + "x" * 80 for i in range(60)]  # bullets are never cut short
    run_id = tracking.start_pipeline_run(evaluated.uri, "card-tests", "job-longer", {"dataset": SPEC.name})
    log_evaluation(evaluated.uri, run_id, json.dumps(evaluation))
    card = build_card(tracking.client(evaluated.uri), run_id, MODEL_NAME)
    markdown = card.markdown("12")
    assert len(markdown) <= MAX_DESCRIPTION
    assert markdown.endswith("the full card is the push run's artifact `model_card/model_card.html`.*\n")
    assert "INFO: note 59 " in card.html("12")


def test_a_run_pushed_without_an_evaluation_says_so(evaluated: Evaluated) -> None:
    run_id = tracking.start_pipeline_run(evaluated.uri, "card-tests", "job-bare", {"epochs": 1})

    card = build_card(tracking.client(evaluated.uri), run_id, MODEL_NAME)

    assert "No evaluate step on record: pushed without a gate." in card.markdown("1")
    assert card.lineage_tags == dict.fromkeys(card.lineage_tags, "not recorded")


@pytest.mark.parametrize(
    ("metrics_json", "message"),
    [
        ("{not json", "evaluation/metrics.json of run .*: Expecting property name"),
        ('{"blessed": true, "reasons": []}', "evaluation/metrics.json of its evaluate step lacks or mangles KeyError"),
    ],
)
def test_a_metrics_file_that_cannot_be_read_fails_naming_it(
    evaluated: Evaluated, metrics_json: str, message: str
) -> None:
    run_id = tracking.start_pipeline_run(evaluated.uri, "card-tests", "job-bad", {"dataset": SPEC.name})
    log_evaluation(evaluated.uri, run_id, metrics_json)

    with pytest.raises(ModelCardError, match=message):
        build_card(tracking.client(evaluated.uri), run_id, MODEL_NAME)


def test_the_card_says_what_the_transform_makes_of_a_text_column():
    from components.common.specs import get_spec
    from components.common.specs.base import Text
    from components.push.card_sections import feature_role

    bag = next(feature for feature in get_spec("fine_foods").features if isinstance(feature, Text))
    assert feature_role(bag) == (
        f"text: a set of the first {bag.sequence_length} distinct 1- to {bag.ngrams}-grams; vocabulary: the "
        f"{bag.vocab_size} found in the most rows of the train split, {bag.oov_buckets} out-of-vocabulary bucket(s)"
    )
    sequence = Text("review", mode="sequence", sequence_length=32, vocab_size=500)
    assert feature_role(sequence).startswith("text: the first 32 tokens in order; vocabulary: the 500 most frequent")


PRIVATE_SPEC = """
import dataclasses

from components.common.specs import get_spec
from components.common.specs.base import Generalize, Keep

SPEC = dataclasses.replace(
    get_spec("modeldata_taxi"),
    name="taxi_private",
    sensitive={"company": Keep(reason="a business, not a person"), "hour": Generalize(bins=(0, 6, 12, 18))},
    min_slice_rows=40,
)
"""


def test_the_card_lists_sensitive_columns_tags_them_and_names_no_slice_under_min_slice_rows(
    evaluated: Evaluated, tmp_path: Path
) -> None:
    spec_file = tmp_path / "taxi_private.py"
    spec_file.write_text(PRIVATE_SPEC)
    evaluation = json.loads(json.dumps(evaluated.evaluation))
    shown, measured = next(iter(evaluation["slices"].items()))
    evaluation["slices"]["company=Tiny Cab"] = {**measured, "example_count": 31}
    evaluation["skipped_slices"] = {"company=Rare Cab": 5, "company=Middling Cab": 45}
    evaluation["slice_gaps"] = {
        "company": {"metric": "roc_auc", "gap": 0.2, "best": shown, "worst": "company=Tiny Cab"}
    }
    evaluation["reasons"] = [*evaluation["reasons"], "INFO: company=Rare Cab (5 rows) is under 30 rows: not gated"]
    run_id = tracking.start_pipeline_run(evaluated.uri, "card-tests", "job-private", {"dataset": str(spec_file)})
    log_evaluation(evaluated.uri, run_id, json.dumps(evaluation))

    card = build_card(tracking.client(evaluated.uri), run_id, MODEL_NAME)

    markdown, page = card.markdown("3"), html.unescape(card.html("3"))
    for text in (markdown, page):
        assert "Tiny Cab" not in text and "Rare Cab" not in text
        assert "Middling Cab (45)" in text and shown in text
        assert "2 slice(s) of fewer than 40 eval rows not shown" in text
        assert "(a slice of under 40 rows) (5 rows) is under 30 rows" in text
    assert "<td>company</td><td>keep(reason=a business, not a person)</td>" in page
    assert "<td>hour</td><td>generalize(bins=[0, 6, 12, 18])</td>" in page
    assert card.lineage_tags["sensitive.company"] == "keep(reason=a business, not a person)"
    assert card.lineage_tags["sensitive.hour"] == "generalize(bins=[0, 6, 12, 18])"
    assert "None declared in the dataset spec." in evaluated.card.markdown("1").split("## Sensitive columns")[1]
    assert not [tag for tag in evaluated.card.lineage_tags if tag.startswith("sensitive.")]


def test_the_card_gets_a_variants_table_once_its_variants_are_published(evaluated: Evaluated) -> None:
    client = tracking.client(evaluated.uri)
    client.create_registered_model("card-variants")
    version = str(client.create_model_version("card-variants", "file:///nowhere", run_id=evaluated.run_id).version)
    client.update_model_version("card-variants", version, description=evaluated.card.markdown(version))
    add_variants_table(client, "card-variants", version)  # no variant tags yet: the card stays as push wrote it
    assert client.get_model_version("card-variants", version).description == evaluated.card.markdown(version)
    tags = {
        "variant.int8.uri": "file:///nowhere/variants/int8",
        "variant.int8.size_bytes": "41000",
        "variant.int8.size_ratio": "0.21",
        "variant.int8.metric_delta": "-0.0012",
        "variant.int8.infra_latency_p99_ms": "3.5",
        "variant.distilled.refused": "FAIL roc_auc 0.91 < full model 0.95 - 0.005",
    }
    for key, value in tags.items():
        client.set_model_version_tag("card-variants", version, key, value)

    add_variants_table(client, "card-variants", version)
    add_variants_table(client, "card-variants", version)  # a rerun of push_variants replaces the table

    description = client.get_model_version("card-variants", version).description
    assert description.startswith(evaluated.card.markdown(version).rstrip("\n"))
    assert description.count("## Compressed variants") == 1
    assert "| int8 | 41,000 bytes (0.21× the full model) | -0.0012 | 3.5 ms | yes |" in description
    assert "| distilled | — | — | — | refused: FAIL roc_auc 0.91 &lt; full model 0.95 - 0.005 |" in description
    assert len(description) <= MAX_DESCRIPTION
