#!/usr/bin/env bash
# Writes the eks overlay's deployment values (IRSA role ARNs, MLflow's artifact destination, the bucket's
# region and encryption for every pipeline task) from the
# outputs of infra/terraform, after `terraform apply`, and prints the pipeline settings to export.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools terraform

overlay="$REPO_ROOT/infra/k8s/overlays/eks"
output() { terraform -chdir="$REPO_ROOT/infra/terraform" output -raw "$1"; }

printf 'PIPELINE_ROLE_ARN=%s\nMLFLOW_ROLE_ARN=%s\n' "$(output pipeline_role_arn)" "$(output mlflow_role_arn)" \
  >"$overlay/irsa.env"
printf 'MLFLOW_ARTIFACTS_DESTINATION=%s\n' "$(output mlflow_artifacts_destination)" >"$overlay/mlflow.env"
printf 'AWS_DEFAULT_REGION=%s\nS3_SSE=aws:kms\n' "$(output region)" >"$overlay/object-store.env"
echo "wrote $overlay/irsa.env, $overlay/mlflow.env and $overlay/object-store.env"

cat <<SETTINGS
Pipeline settings for this deployment:
  export MODEL_STORE_URI=$(output model_store_uri)
  export DATA_URI=$(output data_uri_prefix)/<your file>.csv
  export MLFLOW_TRACKING_URI=http://mlflow.tabular-mlops.svc.cluster.local:5000
  export AWS_DEFAULT_REGION=$(output region)
SETTINGS
