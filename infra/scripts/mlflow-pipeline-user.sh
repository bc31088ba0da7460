#!/usr/bin/env bash
# Creates (or re-keys) the pipeline's MLflow user from Secret kubeflow/mlflow-credentials, through the
# admin account inside the MLflow pod. The user is not an admin: with default_permission = READ it reads
# everything and manages only the experiments and registered models it creates.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools kubectl

username=$(secret_value "$PIPELINE_NAMESPACE" mlflow-credentials MLFLOW_TRACKING_USERNAME)
password=$(secret_value "$PIPELINE_NAMESPACE" mlflow-credentials MLFLOW_TRACKING_PASSWORD)
[[ $username =~ ^[A-Za-z0-9._-]+$ && $password =~ ^[A-Za-z0-9._-]+$ ]] \
  || die "Secret $PIPELINE_NAMESPACE/mlflow-credentials must hold a username and password of letters, digits, '.', '_' or '-'"

# The program arrives on stdin, so the password is on no command line; the admin's come from the pod's env.
kubectl -n "$PLATFORM_NAMESPACE" exec -i deploy/mlflow -- python - <<PY
import base64, json, os, urllib.error, urllib.request

admin = f"{os.environ['MLFLOW_AUTH_ADMIN_USERNAME']}:{os.environ['MLFLOW_AUTH_ADMIN_PASSWORD']}"
headers = {"Authorization": "Basic " + base64.b64encode(admin.encode()).decode(), "Content-Type": "application/json"}
body = json.dumps({"username": "$username", "password": "$password"}).encode()

def call(method, path):
    request = urllib.request.Request("http://127.0.0.1:5000" + path, data=body, headers=headers, method=method)
    return urllib.request.urlopen(request, timeout=30)

try:
    call("POST", "/api/2.0/mlflow/users/create")
    print("created MLflow user $username")
except urllib.error.HTTPError as error:
    if "RESOURCE_ALREADY_EXISTS" not in error.read().decode():
        raise
    call("PATCH", "/api/2.0/mlflow/users/update-password")
    print("MLflow user $username exists; password set from the Secret")
PY
