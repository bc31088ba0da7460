"""The train step's input: the transformed examples parsed once into columns, fed as whole batches.

A split is parsed in big batches into NumPy columns and put in a fixed order (sorted by its values,
whatever order Beam wrote them in), so that a rerun on the same transform output
trains the same model bit for bit. Training batches are gathered from the columns by a permutation
of row indices, drawn anew each epoch from the seed: one `tf.gather` per column per batch, no
per-example tf.data work (per-example shuffling and batching ran at half the in-memory bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from components.train.roles import ONE_WORKER, WorkerRole
from components.transform.layout import TRANSFORMED_FILE_SUFFIX

PARSE_BATCH = 65_536


def _parsed_columns(files: Sequence[str], feature_spec: dict) -> dict[str, np.ndarray]:
    """Every record of `files` parsed (the caller fixes their order): big batches of records read on
    a tf.data thread, each parsed at once. Not `num_parallel_reads`: on 1M flights
    rows its interleave tripled the CPU time (1.7 s to 4.7 s) for no gain in wall time."""
    records = tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(PARSE_BATCH).prefetch(1)
    parsed: dict[str, list[np.ndarray]] = {name: [] for name in feature_spec}
    for batch in records:
        for name, values in tf.io.parse_example(batch, feature_spec).items():
            parsed[name].append(values.numpy())
    return {name: np.concatenate(chunks) if chunks else np.array([]) for name, chunks in parsed.items()}


def _value_order(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Row order sorted by every value of every column (a sequence feature's positions one by one)."""
    keys: list[np.ndarray] = []
    for name in sorted(columns):
        values = columns[name]
        keys.extend(values.reshape(values.shape[0], -1).T)
    return np.lexsort(keys)


def split_in_fixed_order(
    examples_dir: Path, split: str, feature_spec: dict, role: WorkerRole = ONE_WORKER
) -> dict[str, np.ndarray]:
    """The split's examples parsed once, as arrays sorted by their values: the same order on every rerun.

    Not by their serialized bytes: a tf.Example's map of features serializes in an order that differs
    from one process to the next. Among several workers, each gets its shard: by file (every worker
    reads only its own files) when there are at least as many files as workers, else by example
    (every worker reads all, keeps every n-th row of the fixed order), so that no worker is left idle.
    """
    files = sorted(str(path) for path in examples_dir.glob(f"{split}-*{TRANSFORMED_FILE_SUFFIX}"))
    if not files:
        raise FileNotFoundError(f"{examples_dir}: no {split}-*{TRANSFORMED_FILE_SUFFIX} files from the transform step")
    by_file = role.count > 1 and len(files) >= role.count
    if by_file:
        files = files[role.index :: role.count]
    columns = _parsed_columns(files, feature_spec)
    if not len(next(iter(columns.values()))):
        raise ValueError(f"{examples_dir}: the {split} split is empty; the data has too few rows")
    order = _value_order(columns)
    if role.count > 1 and not by_file:
        order = order[role.index :: role.count]
    return {name: values[order] for name, values in columns.items()}


def _unsharded(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Each worker's data is already its shard: tf.distribute must not shard it again."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


@dataclass(frozen=True)
class Split:
    """One split's transformed features and labels, in the fixed order."""

    features: dict[str, np.ndarray]
    labels: np.ndarray

    @classmethod
    def read(
        cls, examples_dir: Path, split: str, feature_spec: dict, label: str, role: WorkerRole = ONE_WORKER
    ) -> Split:
        columns = split_in_fixed_order(examples_dir, split, feature_spec, role)
        labels = columns.pop(label)
        return cls(columns, labels)

    def _columns(self, model_inputs: Sequence[str]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        with tf.device("/CPU:0"):
            return {name: tf.constant(self.features[name]) for name in model_inputs}, tf.constant(self.labels)

    def batches(self, model_inputs: Sequence[str], batch_size: int) -> tf.data.Dataset:
        """Consecutive batches in the fixed order (validation)."""
        features, labels = self._columns(model_inputs)
        rows = int(labels.shape[0])

        def take(start: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
            end = tf.minimum(start + batch_size, rows)
            return {name: values[start:end] for name, values in features.items()}, labels[start:end]

        return _unsharded(tf.data.Dataset.range(0, rows, batch_size).map(take).prefetch(tf.data.AUTOTUNE))

    def shuffled_batches(self, model_inputs: Sequence[str], batch_size: int, seed: int) -> tf.data.Dataset:
        """One epoch of batches per iteration, gathered by a permutation of the rows; every iteration
        (epoch) draws a new permutation, the same sequence of them on every run with this seed."""
        features, labels = self._columns(model_inputs)
        rows = int(labels.shape[0])
        steps = -(-rows // batch_size)

        def epoch(draw: tf.Tensor) -> tf.data.Dataset:
            order = tf.random.experimental.stateless_shuffle(
                tf.range(rows, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), draw])
            )

            def gather(start: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
                picked = order[start : start + batch_size]
                return {name: tf.gather(values, picked) for name, values in features.items()}, tf.gather(labels, picked)

            return tf.data.Dataset.range(0, rows, batch_size).map(gather)

        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        dataset = draws.flat_map(epoch).apply(tf.data.experimental.assert_cardinality(steps))
        return _unsharded(dataset.prefetch(tf.data.AUTOTUNE))
