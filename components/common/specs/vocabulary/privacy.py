"""What the pipeline does with a column that holds personal data: `DatasetSpec.sensitive` maps its name to one.

Validate reads every raw column (its checks need them); past validate, a sensitive column exists only as
its treatment's output, computed inside the transform graph so that serving treats a raw request exactly
as training treated the data. A feature that names a sensitive column reads the treated value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.common.specs.vocabulary.checks import Checked, SpecError

# The environment variable that holds the pseudonymisation key (on a cluster, from a Kubernetes Secret).
PSEUDONYMIZE_KEY_VARIABLE = "PSEUDONYMIZE_KEY"
# The Secret that holds it on a cluster, under that same key (infra/k8s/pseudonymize-key-secret.yaml); a
# pipeline run may name another (its `pseudonymize_key_secret` parameter), the model servers read this one.
PSEUDONYMIZE_KEY_SECRET = "pseudonymize-key"  # pragma: allowlist secret (a Secret's name, not a value)
DEFAULT_BUCKETS = 1024


@dataclass(frozen=True)
class Drop(Checked):
    """Never read past validate's checks: no feature, label, slice or key column, not in any artifact."""

    kind: Literal["drop"] = "drop"


@dataclass(frozen=True)
class Pseudonymize(Checked):
    """A keyed hash (SipHash, key from PSEUDONYMIZE_KEY) of the value, as one of `buckets` tokens.

    The same value gives the same token across runs with the same key, another with another key. As a
    feature (Categorical only) it is a hashed bucket; no vocabulary of raw values exists.
    """

    buckets: int = DEFAULT_BUCKETS
    kind: Literal["pseudonymize"] = "pseudonymize"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.buckets < 2:
            raise SpecError("Pseudonymize.buckets", f"expected at least 2, got {self.buckets}")


@dataclass(frozen=True)
class Generalize(Checked):
    """A coarser value; exactly one of:

    - `to`: an ISO date (`YYYY-MM-DD...`) to its "month" (`YYYY-MM`) or "year" (`YYYY`); any other text
      becomes missing;
    - `bins`: a number to the lower edge of its bin (ascending edges; below the first is the first);
    - `prefix`: a text (a postcode) to its first `prefix` characters.
    """

    to: Literal["month", "year"] | None = None
    bins: tuple[float, ...] | None = None
    prefix: int | None = None
    kind: Literal["generalize"] = "generalize"

    def __post_init__(self) -> None:
        super().__post_init__()
        chosen = [name for name in ("to", "bins", "prefix") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise SpecError("Generalize", f"expected exactly one of to, bins, prefix; got {chosen or 'none'}")
        if self.bins is not None and (len(self.bins) < 2 or list(self.bins) != sorted(set(self.bins))):
            raise SpecError("Generalize.bins", f"expected two or more ascending distinct edges, got {self.bins}")
        if self.prefix is not None and self.prefix < 1:
            raise SpecError("Generalize.prefix", f"expected at least 1 character, got {self.prefix}")

    @property
    def numeric(self) -> bool:
        return self.bins is not None


@dataclass(frozen=True)
class Keep(Checked):
    """Kept as it is, on purpose: the reason is listed in the model card."""

    reason: str
    kind: Literal["keep"] = "keep"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.reason.strip():
            raise SpecError("Keep.reason", "expected why the raw value is kept, got an empty reason")


Treatment = Drop | Pseudonymize | Generalize | Keep


def describe_treatment(treatment: Treatment) -> str:
    """One line for the card and the registry's tags, e.g. `pseudonymize(buckets=1024)`, `generalize(to=month)`."""
    if isinstance(treatment, Pseudonymize):
        return f"pseudonymize(buckets={treatment.buckets})"
    if isinstance(treatment, Generalize):
        if treatment.to is not None:
            return f"generalize(to={treatment.to})"
        if treatment.bins is not None:
            return f"generalize(bins={list(treatment.bins)})"
        return f"generalize(prefix={treatment.prefix})"
    if isinstance(treatment, Keep):
        return f"keep(reason={treatment.reason})"
    return "drop"
