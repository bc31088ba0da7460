"""Names of the transform step's outputs, shared with the steps that read them (without importing Beam)."""

TRAIN, VALIDATION, EVAL = "train", "validation", "eval"
TRANSFORMED_FILE_SUFFIX = ".tfrecord.gz"
