"""Personal columns planted in a bundled dataset, for the privacy example (`mlc_churn_pii`) and its leak test.

Faker makes an email, a phone number, a birth date and a postcode per row, seeded by the row's number: the
same rows every time, so a test can search what a run wrote for exactly these values.
"""

from __future__ import annotations

import pandas as pd
from faker import Faker

SEED = 25
PLANTED_COLUMNS = ("email", "phone", "birth_date", "postcode")


def planted_values(rows: int, seed: int = SEED) -> pd.DataFrame:
    """`rows` rows of the four personal columns; distinct emails (a customer's own)."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return pd.DataFrame(
        {
            "email": [f"{fake.user_name()}.{number}@{fake.free_email_domain()}" for number in range(rows)],
            "phone": [fake.phone_number() for _ in range(rows)],
            "birth_date": [fake.date_of_birth(minimum_age=18, maximum_age=90).isoformat() for _ in range(rows)],
            # ZIP+4: a five-digit code alone is any five-digit number, too common for a byte search to tell apart.
            "postcode": [fake.zipcode_plus4() for _ in range(rows)],
        }
    )


def with_planted_columns(frame: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    """The frame with the planted columns `wanted` asks for (in `wanted`'s order, the spec's column order)."""
    planted = planted_values(len(frame))
    return pd.concat([frame.reset_index(drop=True), planted], axis=1)[wanted]
