"""Raw data as the dataset's spec reads it: the code that knows both a raw file and the spec.

It stands on the floor of the specs and tasks (docs/architecture.md), above components/common: the training
baseline (`baseline`: the profile validate writes and monitor compares new data with) and raw rows as tensors
(`raw_tensors`, for train's serving model and evaluate). The one reader of raw data every step shares comes
here next; a new data format goes here too.
"""
