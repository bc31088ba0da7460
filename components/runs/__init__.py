"""A pipeline run's settings and records: what they name comes from the dataset's spec and task.

It stands on the floor of the specs and tasks (docs/architecture.md), above components/common: the settings
(`settings`: the default dataset, and the model named by its task), a step's MLflow run and what is pushed as
it ends (`step_runs`), and the run metrics, named by the dataset's task (`run_metrics`). The MLflow helpers
that know nothing of a dataset (`components.common.tracking`) stay below.
"""
