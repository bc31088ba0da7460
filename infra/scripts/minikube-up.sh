#!/usr/bin/env bash
# Stands up everything the pipeline needs on a local minikube: the cluster (Calico, so NetworkPolicies
# are enforced; optionally the host's NVIDIA GPUs), the ingress controller, Kubeflow Pipelines standalone
# at a pinned version, the Secrets, the images, and infra/k8s/overlays/minikube (MLflow, PostgreSQL, MinIO).
# Re-running it is safe. Settings (environment):
#   MINIKUBE_GPUS=all            pass the host's NVIDIA GPUs through (docker driver, NVIDIA container toolkit);
#                                without it, train runs on the CPU when runs pass GPUS=0 (test-minikube.sh does)
#   MINIKUBE_CPUS / MINIKUBE_MEMORY / MINIKUBE_DISK_SIZE   default 6 / 16g / 80g
#   PIPELINE_VERSION             Kubeflow Pipelines release, default 2.14.3
#   TRAINING_OPERATOR_VERSION    Kubeflow Training Operator (TFJob, multi-worker train), default v1.9.4
#   KATIB_VERSION                Katib (the tune step's Experiments), default v0.19.0
#   KSERVE_VERSION               KServe release, default v0.15.2 (with cert-manager CERT_MANAGER_VERSION, v1.16.1),
#                                in raw deployment mode: no Knative, so no canary (the serving verbs say so)
#   SKIP_KSERVE=1                do not install KServe
#   SKIP_PIPELINE_IMAGES=1       do not build the pipeline's images into the cluster
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools minikube kubectl

PIPELINE_VERSION=${PIPELINE_VERSION:-2.14.3}
TRAINING_OPERATOR_VERSION=${TRAINING_OPERATOR_VERSION:-v1.9.4}
KATIB_VERSION=${KATIB_VERSION:-v0.19.0}
KSERVE_VERSION=${KSERVE_VERSION:-v0.15.2}
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.16.1}
SERVING_NAMESPACE=tabular-mlops-serving
KUBERNETES_VERSION=${MINIKUBE_KUBERNETES_VERSION:-v1.33.1}
MLFLOW_IMAGE=ghcr.io/tabular-mlops/mlflow-server:3.17.2
KFP_MANIFESTS=github.com/kubeflow/pipelines/manifests/kustomize
cd "$REPO_ROOT"

log "minikube profile $MINIKUBE_PROFILE (Kubernetes $KUBERNETES_VERSION)"
start_args=(
  --profile "$MINIKUBE_PROFILE"
  --driver docker
  --kubernetes-version "$KUBERNETES_VERSION"
  --cpus "${MINIKUBE_CPUS:-6}"
  --memory "${MINIKUBE_MEMORY:-16g}"
  --disk-size "${MINIKUBE_DISK_SIZE:-80g}"
  --cni calico
)
# With --gpus minikube also enables its nvidia-device-plugin addon, so infra/k8s carries no plugin for it.
if [[ -n ${MINIKUBE_GPUS:-} ]]; then
  start_args+=(--gpus "$MINIKUBE_GPUS")
fi
minikube start "${start_args[@]}"
minikube --profile "$MINIKUBE_PROFILE" addons enable ingress
kubectl config use-context "$MINIKUBE_PROFILE" >/dev/null

# One node does all the work, so it carries the pool label the train task selects, GPUs or not (without
# them, runs pass GPUS=0: train then requests no nvidia.com/gpu and trains on the CPU). It gets no taint,
# or the CPU steps and Kubeflow itself could not run on it.
kubectl label nodes --all --overwrite "tabular-mlops.io/node-pool=gpu"

log "Kubeflow Pipelines $PIPELINE_VERSION (standalone)"
kubectl apply -k "$KFP_MANIFESTS/cluster-scoped-resources?ref=$PIPELINE_VERSION"
kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
kubectl apply -k "$KFP_MANIFESTS/env/platform-agnostic?ref=$PIPELINE_VERSION"

log "Kubeflow Training Operator $TRAINING_OPERATOR_VERSION (TFJob) and Katib $KATIB_VERSION"
# Their CRDs are too large for client-side apply's annotation.
kubectl apply --server-side -k "github.com/kubeflow/trainer.git/manifests/overlays/standalone?ref=$TRAINING_OPERATOR_VERSION"
kubectl apply --server-side -k "github.com/kubeflow/katib.git/manifests/v1beta1/installs/katib-standalone?ref=$KATIB_VERSION"
kubectl apply -f infra/training-operator/pipeline-rbac.yaml -f infra/katib/pipeline-rbac.yaml

log "images"
minikube --profile "$MINIKUBE_PROFILE" image build -t "$MLFLOW_IMAGE" infra/docker/mlflow-server
if [[ -z ${SKIP_PIPELINE_IMAGES:-} ]]; then
  build_pipeline_images
fi

log "secrets and the minikube overlay"
infra/scripts/create-secrets.sh minikube
kubectl apply -k infra/k8s/overlays/minikube
kubectl apply -f infra/training-operator/minio-from-workers.yaml
kubectl -n "$PLATFORM_NAMESPACE" rollout status statefulset/postgres --timeout=300s
kubectl -n "$PLATFORM_NAMESPACE" rollout status deployment/minio --timeout=300s
kubectl -n "$PLATFORM_NAMESPACE" wait --for=condition=complete job/minio-create-bucket --timeout=300s
kubectl -n "$PLATFORM_NAMESPACE" rollout status deployment/mlflow --timeout=600s
infra/scripts/mlflow-pipeline-user.sh

if [[ -z ${SKIP_KSERVE:-} ]]; then
  log "KServe $KSERVE_VERSION in raw deployment mode, with cert-manager $CERT_MANAGER_VERSION"
  kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml"
  kubectl wait --for condition=established --timeout=120s crd/certificates.cert-manager.io
  kubectl -n cert-manager rollout status deployment/cert-manager-webhook --timeout=300s
  kserve_release=https://github.com/kserve/kserve/releases/download/$KSERVE_VERSION
  kubectl apply --server-side --force-conflicts -f "$kserve_release/kserve.yaml"
  kubectl -n kserve rollout status deployment/kserve-controller-manager --timeout=600s
  kubectl apply --server-side --force-conflicts -f "$kserve_release/kserve-cluster-resources.yaml"
  kubectl -n kserve patch configmap inferenceservice-config --type merge \
    --patch-file infra/kserve/minikube/inferenceservice-config.yaml
  kubectl -n kserve rollout restart deployment/kserve-controller-manager
  kubectl -n kserve rollout status deployment/kserve-controller-manager --timeout=600s
  kubectl apply -f infra/kserve/namespace.yaml -f infra/kserve/deployer-rbac.yaml \
    -f infra/kserve/minikube/minio-from-model-servers.yaml
  # MinIO's keys for KServe's storage initializer, beside the model servers (the ServiceAccount that
  # `make deploy-model` applies names this Secret). Kept when it exists, like every Secret here.
  if ! kubectl -n "$SERVING_NAMESPACE" get secret tabular-mlops-model-store >/dev/null 2>&1; then
    keys=$(mktemp)
    chmod 600 "$keys"
    printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' \
      "$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_ACCESS_KEY_ID)" \
      "$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_SECRET_ACCESS_KEY)" >"$keys"
    kubectl -n "$SERVING_NAMESPACE" create secret generic tabular-mlops-model-store --from-env-file="$keys" >/dev/null
    rm -f "$keys"
    echo "created secret $SERVING_NAMESPACE/tabular-mlops-model-store"
  fi
  # The pipeline's pseudonymisation key, for the model server's request log (the same tokens as training).
  if ! kubectl -n "$SERVING_NAMESPACE" get secret pseudonymize-key >/dev/null 2>&1; then
    keys=$(mktemp)
    chmod 600 "$keys"
    printf 'PSEUDONYMIZE_KEY=%s\n' "$(secret_value "$PIPELINE_NAMESPACE" pseudonymize-key PSEUDONYMIZE_KEY)" >"$keys"
    kubectl -n "$SERVING_NAMESPACE" create secret generic pseudonymize-key --from-env-file="$keys" >/dev/null
    rm -f "$keys"
    echo "created secret $SERVING_NAMESPACE/pseudonymize-key"
  fi
fi

log "waiting for Kubeflow Pipelines"
kubectl -n "$PIPELINE_NAMESPACE" wait --for=condition=available deployment --all --timeout=900s

cat <<INFO

Ready. Next:
  make test-minikube                       # pipeline runs in this cluster, then the champion on KServe
  kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80          # KFP UI, http://127.0.0.1:8080
  kubectl -n tabular-mlops port-forward svc/mlflow 5000:5000           # MLflow, http://127.0.0.1:5000
  MLflow admin password: kubectl -n tabular-mlops get secret mlflow-admin -o jsonpath='{.data.MLFLOW_AUTH_ADMIN_PASSWORD}' | base64 -d
INFO
