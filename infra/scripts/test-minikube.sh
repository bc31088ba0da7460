#!/usr/bin/env bash
# Runs the pipeline's steps as real pipeline runs in the minikube of minikube-up.sh and checks the outcome:
#   1. a run on the dataset (uploaded to MinIO) must SUCCEED: validate, transform, train on the GPU (on the
#      CPU, --gpus 0, when no node offers one), evaluate, push, all in pods, against the in-cluster MLflow and MinIO;
#   2. a run on a file with a broken row must FAIL (validate stops it);
#   3. a run on the dataset with train_workers=2 must SUCCEED through a TFJob (two CPU workers);
#   4. the champion deployed on KServe (python -m components.serve deploy, as `make deploy-model` does) must
#      become Ready and answer a prediction over HTTP;
#   5. the project's real-KFP tests (pytest -m cluster: deploy, schedule, unschedule) against this cluster.
# It builds the step images for the current VERSION, deploys that version and uses the project's own
# cluster verbs (python -m pipelines deploy / run-remote), as `make deploy-pipeline` and `make run-remote` do.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools minikube kubectl
cd "$REPO_ROOT"
PY=.venv/bin/python
[[ -x $PY ]] || die "no .venv: run 'make setup' first"

minikube --profile "$MINIKUBE_PROFILE" status >/dev/null 2>&1 \
  || die "minikube profile $MINIKUBE_PROFILE is not running: run 'make minikube-up' first"
kubectl config use-context "$MINIKUBE_PROFILE" >/dev/null
kubectl -n "$PLATFORM_NAMESPACE" get deployment/mlflow >/dev/null 2>&1 \
  || die "MLflow is not deployed in $PLATFORM_NAMESPACE: run 'make minikube-up' first"
gpus=$(kubectl get nodes -o jsonpath='{.items[*].status.allocatable.nvidia\.com/gpu}')
train_gpus=1
if [[ -z $gpus || $gpus == 0 ]]; then
  train_gpus=0
  log "no node offers nvidia.com/gpu: train runs on the CPU (--gpus 0; MINIKUBE_GPUS=all make minikube-up for GPUs)"
fi

build_pipeline_images

forwards=()
workdir=$(mktemp -d)
trap 'kill "${forwards[@]}" 2>/dev/null || true; rm -rf "$workdir"' EXIT
kubectl -n "$PIPELINE_NAMESPACE" port-forward svc/ml-pipeline-ui 18080:80 >/dev/null &
forwards+=($!)
kubectl -n "$PLATFORM_NAMESPACE" port-forward svc/minio 19000:9000 >/dev/null &
forwards+=($!)
sleep 3

# Inputs go to the bucket first: the dataset as it is, and a copy whose last row is cut short.
local_data=$("$PY" -c 'from components.common.settings import Settings; print(Settings.from_env().data_uri)')
[[ -f $local_data ]] || "$PY" -m pipelines data
good="data/$(basename "$local_data")"
bad="data/broken-$(basename "$local_data")"
head -n 50 "$local_data" >"$workdir/broken.csv"
printf '%s\n' "$(tail -n 1 "$local_data" | cut -c1-5)" >>"$workdir/broken.csv"
upload() {
  AWS_ACCESS_KEY_ID=$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_ACCESS_KEY_ID) \
  AWS_SECRET_ACCESS_KEY=$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_SECRET_ACCESS_KEY) \
    "$PY" -c 'import sys, boto3
boto3.client("s3", endpoint_url="http://127.0.0.1:19000", region_name="us-east-1").upload_file(sys.argv[1], "tabular-mlops", sys.argv[2])' "$1" "$2"
  log "uploaded $1 to s3://tabular-mlops/$2"
}
upload "$local_data" "$good"
upload "$workdir/broken.csv" "$bad"

# Settings as the pipeline pods see them: in-cluster service names.
export KFP_HOST=http://127.0.0.1:18080
export MLFLOW_TRACKING_URI=http://mlflow.tabular-mlops.svc.cluster.local:5000
export MLFLOW_S3_ENDPOINT_URL=http://minio.tabular-mlops.svc.cluster.local:9000
export MODEL_STORE_URI=s3://tabular-mlops/models

"$PY" -m pipelines deploy

log "run 1: the dataset, must succeed"
DATA_URI="s3://tabular-mlops/$good" "$PY" -m pipelines run-remote --gpus "$train_gpus" --wait \
  || die "the run on s3://tabular-mlops/$good did not succeed (see the KFP UI: kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80)"

log "run 2: a broken row, must fail"
status=0
DATA_URI="s3://tabular-mlops/$bad" "$PY" -m pipelines run-remote --gpus "$train_gpus" --wait || status=$?
((status == 1)) || die "the run on s3://tabular-mlops/$bad should have finished FAILED (exit 1), got exit $status"

log "run 3: the dataset on two training workers (a TFJob of the training operator), must succeed"
kubectl get crd tfjobs.kubeflow.org >/dev/null 2>&1 \
  || die "the TFJob CRD is missing: re-run 'make minikube-up', which installs the training operator"
# Workers are fixed when the pipeline is built (TRAIN_WORKERS): deploy that build, as its own version.
# CPU workers: two workers each asking for a GPU would wait forever on a one-GPU minikube.
TRAIN_WORKERS=2 "$PY" -m pipelines deploy
DATA_URI="s3://tabular-mlops/$good" TRAIN_WORKERS=2 "$PY" -m pipelines run-remote --gpus 0 --wait \
  || die "the two-worker run did not succeed (kubectl -n kubeflow get tfjobs; kubectl -n kubeflow logs -l training.kubeflow.org/job-name)"
succeeded=$(kubectl -n "$PIPELINE_NAMESPACE" get tfjobs -l app.kubernetes.io/component=train \
  -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Succeeded")].status}{"\n"}{end}')
[[ $succeeded == *True* ]] || die "the two-worker run succeeded without a succeeded TFJob: did train run on one pod?"

log "pipeline runs passed: the dataset SUCCEEDED (one pod and two workers), the broken input FAILED as it must"

log "serving: the champion on KServe (make deploy-model), one prediction over HTTP"
kubectl get crd inferenceservices.serving.kserve.io >/dev/null 2>&1 \
  || die "KServe is not installed: re-run 'make minikube-up' without SKIP_KSERVE"
kubectl -n "$PLATFORM_NAMESPACE" port-forward svc/mlflow 15000:5000 >/dev/null &
forwards+=($!)
sleep 3
# The verbs read the registry from here, as the admin (and MinIO through its port-forward, for the example).
serving_env=(
  MLFLOW_TRACKING_URI=http://127.0.0.1:15000
  MLFLOW_TRACKING_USERNAME=admin
  "MLFLOW_TRACKING_PASSWORD=$(secret_value "$PLATFORM_NAMESPACE" mlflow-admin MLFLOW_AUTH_ADMIN_PASSWORD)"
  SERVING_PLATFORM=minikube
  MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:19000
  "AWS_ACCESS_KEY_ID=$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_ACCESS_KEY_ID)"
  "AWS_SECRET_ACCESS_KEY=$(secret_value "$PLATFORM_NAMESPACE" s3-credentials AWS_SECRET_ACCESS_KEY)"
)
env "${serving_env[@]}" "$PY" -m components.serve deploy || die "make deploy-model failed"
isvc=$("$PY" -c 'from components.common.settings import Settings
from components.serve.kserve import isvc_name
print(isvc_name(Settings.from_env().model_name))')
kubectl -n tabular-mlops-serving wait --for=condition=Ready "inferenceservice/$isvc" --timeout=900s \
  || die "InferenceService $isvc is not Ready (kubectl -n tabular-mlops-serving describe inferenceservice $isvc)"
kubectl -n tabular-mlops-serving port-forward "svc/$isvc-predictor" 18082:80 >/dev/null &
forwards+=($!)
sleep 3
# The champion's own serving input example (rows of training values) is the request.
env "${serving_env[@]}" "$PY" -c 'import json, sys, urllib.request
import mlflow
from components.common import tracking
from components.common.settings import Settings
settings = Settings.from_env()
tracking.client(settings.mlflow_tracking_uri)
example = mlflow.artifacts.download_artifacts(f"models:/{settings.model_name}@champion/serving_input_example.json")
body = json.dumps(json.loads(open(example).read(), parse_constant=lambda constant: None)).encode()
request = urllib.request.Request("http://127.0.0.1:18082/invocations", body, {"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=60) as reply:
    predictions = json.loads(reply.read())["predictions"]
assert predictions, "no predictions"
print(f"KServe answered {len(predictions)} predictions, first {predictions[0]}")' \
  || die "the InferenceService did not answer a prediction"

log "the cluster tests (pytest -m cluster) against this KFP"
status=0
"$PY" -m pytest -m cluster "$@" || status=$?
((status != 5)) || die "pytest collected no test marked 'cluster'"
exit "$status"
