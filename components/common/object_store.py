"""The object store's cluster-wide settings, named once for the pipeline, the manifests and the tests.

The endpoint is per run (the `s3_endpoint_url` pipeline parameter, which every task receives, as
`components.common.storage` takes it). Region and server-side encryption are facts of the cluster's
bucket: the ConfigMap below holds them, and every task gets its keys as environment variables, which
boto3 (AWS_DEFAULT_REGION) and `storage.encryption_args` (S3_SSE, S3_SSE_KMS_KEY_ID) read. Locally the
same variables come from the shell.
"""

OBJECT_STORE_CONFIG_MAP = "object-store"
OBJECT_STORE_VARIABLES = ("AWS_DEFAULT_REGION", "S3_SSE", "S3_SSE_KMS_KEY_ID")
