"""Container images the pipeline's components run in on a cluster."""

PIPELINE_IMAGE = "ghcr.io/tabular-mlops/pipeline:0.1.0"
TRAINER_IMAGE = "ghcr.io/tabular-mlops/trainer:0.1.0"
