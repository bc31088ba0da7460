"""mlc_churn_pii with the phone's declaration forgotten: validate's scan of undeclared personal data refuses it.

The same rows (data/mlc_churn_pii.csv); the phone column is still read by validate, and nothing says
what to do with it, so the run must stop there naming the column and the kind of data.
"""

from dataclasses import replace

from components.common.specs.mlc_churn_pii import SPEC as DECLARED

SPEC = replace(
    DECLARED,
    name="mlc_churn_pii_undeclared",
    description="mlc_churn_pii whose spec forgets to declare the phone column (refused at validate).",
    sensitive={name: treatment for name, treatment in DECLARED.sensitive.items() if name != "phone"},
)
