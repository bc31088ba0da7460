#!/usr/bin/env bash
# Creates the Secrets infra/k8s references (they are never committed). Existing Secrets are kept, so a
# re-run never changes a password the database or MinIO was initialised with.
#
#   infra/scripts/create-secrets.sh minikube
#       generates every password and key, and a self-signed certificate for the MLflow ingress.
#   MLFLOW_DB_HOST=... MLFLOW_DB_USER=... MLFLOW_DB_PASSWORD=... \
#   MLFLOW_TLS_CERT=cert.pem MLFLOW_TLS_KEY=key.pem infra/scripts/create-secrets.sh eks
#       the external PostgreSQL (databases mlflow and mlflow_auth must exist) and the ingress certificate;
#       S3 access comes from IRSA roles, so no S3 keys are stored.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

target=${1:-}
[[ $target == minikube || $target == eks ]] || die "usage: $0 minikube|eks"
require_tools kubectl openssl

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
umask 077

random() { openssl rand -hex "$1"; }

# create_secret NAMESPACE NAME KEY=VALUE... : values go through a private file, never a command line.
create_secret() {
  local namespace=$1 name=$2
  shift 2
  if kubectl -n "$namespace" get secret "$name" >/dev/null 2>&1; then
    echo "kept    secret $namespace/$name"
    return 0
  fi
  printf '%s\n' "$@" >"$workdir/$name.env"
  kubectl -n "$namespace" create secret generic "$name" --from-env-file="$workdir/$name.env" >/dev/null
  echo "created secret $namespace/$name"
}

create_tls_secret() {
  local cert=$1 key=$2
  if kubectl -n "$PLATFORM_NAMESPACE" get secret mlflow-tls >/dev/null 2>&1; then
    echo "kept    secret $PLATFORM_NAMESPACE/mlflow-tls"
    return 0
  fi
  kubectl -n "$PLATFORM_NAMESPACE" create secret tls mlflow-tls --cert="$cert" --key="$key" >/dev/null
  echo "created secret $PLATFORM_NAMESPACE/mlflow-tls"
}

kubectl get namespace "$PIPELINE_NAMESPACE" >/dev/null 2>&1 \
  || die "namespace $PIPELINE_NAMESPACE does not exist: install Kubeflow Pipelines first"
kubectl get namespace "$PLATFORM_NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$PLATFORM_NAMESPACE"

create_secret "$PLATFORM_NAMESPACE" mlflow-admin \
  MLFLOW_AUTH_ADMIN_USERNAME=admin \
  "MLFLOW_AUTH_ADMIN_PASSWORD=$(random 24)" \
  "MLFLOW_FLASK_SERVER_SECRET_KEY=$(random 32)"
# The pipeline's MLflow user (created in MLflow by infra/scripts/mlflow-pipeline-user.sh).
create_secret "$PIPELINE_NAMESPACE" mlflow-credentials \
  MLFLOW_TRACKING_USERNAME=pipeline \
  "MLFLOW_TRACKING_PASSWORD=$(random 24)"
# The key of the steps that pseudonymise sensitive columns (docs/privacy.md says how to rotate it). For a key
# of one's own, create the Secret first (infra/k8s/pseudonymize-key-secret.yaml): an existing one is kept.
create_secret "$PIPELINE_NAMESPACE" pseudonymize-key "PSEUDONYMIZE_KEY=$(random 32)"

if [[ $target == minikube ]]; then
  create_secret "$PLATFORM_NAMESPACE" mlflow-db \
    PGHOST=postgres.tabular-mlops.svc.cluster.local PGPORT=5432 PGUSER=mlflow \
    "PGPASSWORD=$(random 24)" PGSSLMODE=disable
  # MinIO's root keys, used by MLflow's artifact proxy and (same values) by the pipeline.
  access_key=$(random 10)
  secret_key=$(random 20)
  if kubectl -n "$PLATFORM_NAMESPACE" get secret s3-credentials >/dev/null 2>&1; then
    access_key=$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_ACCESS_KEY_ID)
    secret_key=$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_SECRET_ACCESS_KEY)
  fi
  create_secret "$PLATFORM_NAMESPACE" s3-credentials \
    "AWS_ACCESS_KEY_ID=$access_key" "AWS_SECRET_ACCESS_KEY=$secret_key"
  create_secret "$PIPELINE_NAMESPACE" s3-credentials \
    "AWS_ACCESS_KEY_ID=$access_key" "AWS_SECRET_ACCESS_KEY=$secret_key"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=mlflow.tabular-mlops.test" \
    -addext "subjectAltName=DNS:mlflow.tabular-mlops.test" \
    -keyout "$workdir/tls.key" -out "$workdir/tls.crt" 2>/dev/null
  create_tls_secret "$workdir/tls.crt" "$workdir/tls.key"
else
  : "${MLFLOW_DB_HOST:?set MLFLOW_DB_HOST to the PostgreSQL endpoint}"
  : "${MLFLOW_DB_USER:?set MLFLOW_DB_USER}"
  : "${MLFLOW_DB_PASSWORD:?set MLFLOW_DB_PASSWORD}"
  : "${MLFLOW_TLS_CERT:?set MLFLOW_TLS_CERT to the ingress certificate (PEM)}"
  : "${MLFLOW_TLS_KEY:?set MLFLOW_TLS_KEY to its private key (PEM)}"
  create_secret "$PLATFORM_NAMESPACE" mlflow-db \
    "PGHOST=$MLFLOW_DB_HOST" "PGPORT=${MLFLOW_DB_PORT:-5432}" "PGUSER=$MLFLOW_DB_USER" \
    "PGPASSWORD=$MLFLOW_DB_PASSWORD" PGSSLMODE=require
  # Empty keys: boto3 skips them and uses the ServiceAccount's IRSA role.
  create_secret "$PIPELINE_NAMESPACE" s3-credentials AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY=
  create_tls_secret "$MLFLOW_TLS_CERT" "$MLFLOW_TLS_KEY"
fi
