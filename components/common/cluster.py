"""What the pipeline asks of a Kubernetes cluster, named once.

The compiled pipeline (pipelines/), the manifests and Terraform (infra/) and the tests all read these
names, so a GPU node pool labelled or tainted differently from what the train task selects is caught
offline instead of as a pod stuck in Pending.
"""

GPU_RESOURCE = "nvidia.com/gpu"

NODE_POOL_LABEL_KEY = "tabular-mlops.io/node-pool"
GPU_NODE_POOL = "gpu"
CPU_NODE_POOL = "cpu"

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"

# Namespace where Kubeflow Pipelines (standalone) runs pipeline pods; the Secrets below live there.
PIPELINE_NAMESPACE = "kubeflow"

# ServiceAccount the pipeline pods run as (least-privilege RBAC and, on EKS, the IRSA role attach to it).
PIPELINE_SERVICE_ACCOUNT = "tabular-mlops-pipeline"

# Secret name -> the keys it must hold; each key becomes an environment variable of the same name.
S3_CREDENTIALS_SECRET = "s3-credentials"
S3_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
MLFLOW_CREDENTIALS_SECRET = "mlflow-credentials"
MLFLOW_CREDENTIAL_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")

# The launcher pod's own name and UID (the downward API puts them in its environment): the TFJob or Katib
# Experiment it creates names the pod as its owner, so Kubernetes deletes them when the pod is deleted.
LAUNCHER_POD_NAME_ENV = "LAUNCHER_POD_NAME"
LAUNCHER_POD_UID_ENV = "LAUNCHER_POD_UID"
