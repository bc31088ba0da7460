"""Training hyperparameters: pipeline parameters, logged with the run, handed to the model builder."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 0.003
    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    early_stopping_patience: int = 3
    seed: int = 0
