"""mlc_churn with personal data planted, every personal column declared: the privacy example (docs/privacy.md).

mlc_churn's real rows plus an email, a phone number, a birth date and a postcode per customer, made by
Faker, seeded (pipelines/planted.py); `make data DATASET=mlc_churn_pii` writes them to
data/mlc_churn_pii.csv. The email and the phone are pseudonymised (a keyed hash: set PSEUDONYMIZE_KEY),
the birth date is generalised to its month and the postcode to its first three digits, all inside the
transform graph, so the served model treats a raw request the same way. None of the planted values may
appear in anything a run writes (tests/e2e/test_privacy_leak.py).
"""

from dataclasses import replace

from components.common.specs.base import Categorical, Column, Generalize, Pseudonymize
from components.common.specs.mlc_churn import SPEC as CHURN

PERSONAL = (
    Column("email", "string"),
    Column("phone", "string"),
    Column("birth_date", "string"),
    Column("postcode", "string"),
)

SPEC = replace(
    CHURN,
    name="mlc_churn_pii",
    description="mlc_churn's 5,000 telecom customers with a planted email, phone, birth date and postcode each.",
    columns=(*CHURN.columns[:-1], *PERSONAL, CHURN.columns[-1]),
    # The email is a feature as hashed buckets (no vocabulary of emails exists); birth month and postcode area
    # as categories of the generalised values.
    features=(*CHURN.features, Categorical("email"), Categorical("birth_date", top_k=200), Categorical("postcode")),
    sensitive={
        "email": Pseudonymize(buckets=64),
        "phone": Pseudonymize(),
        "birth_date": Generalize(to="month"),
        "postcode": Generalize(prefix=3),
    },
    min_rows=200,
    # The example exists for its privacy, and its runs are small (the leak test: 600 rows): a few dozen eval
    # rows per area code make the slice bounds noise, so it gates on the headline bounds only.
    slice_gate=None,
    default_data_uri="data/mlc_churn_pii.csv",
    known_limits=(
        *CHURN.known_limits,
        "The personal columns are synthetic (Faker): they carry no signal about churn.",
    ),
)
