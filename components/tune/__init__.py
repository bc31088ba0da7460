"""Hyperparameter search before training: KerasTuner locally, a Katib Experiment on a cluster."""
