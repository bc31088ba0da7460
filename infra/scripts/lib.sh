# Shared by the scripts in infra/scripts (sourced, not run).
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export REPO_ROOT

# The minikube profile every script works on, and the namespaces of infra/k8s.
export MINIKUBE_PROFILE=${MINIKUBE_PROFILE:-tabular-mlops}
export PLATFORM_NAMESPACE=tabular-mlops
export PIPELINE_NAMESPACE=kubeflow

die() {
  echo "error: $*" >&2
  exit 1
}

log() {
  echo "==> $*"
}

# Fails before doing anything when a command-line tool is missing, naming each one and where to get it.
require_tools() {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) && return 0
  for tool in "${missing[@]}"; do
    case $tool in
      minikube) echo "error: minikube not found on PATH; install it: https://minikube.sigs.k8s.io/docs/start/" >&2 ;;
      kubectl) echo "error: kubectl not found on PATH; run 'make setup' (it installs .venv/bin/kubectl) or install kubectl" >&2 ;;
      *) echo "error: $tool not found on PATH" >&2 ;;
    esac
  done
  exit 127
}

# The value of one key of a Secret, decoded.
secret_value() {
  local namespace=$1 name=$2 key=$3
  kubectl -n "$namespace" get secret "$name" -o "jsonpath={.data.$key}" | base64 -d
}

# Builds the pipeline's step images inside the minikube node, tagged exactly as the compiled pipeline
# names them (components/common/images.py: REGISTRY/<name>:VERSION, VERSION defaulting to the commit).
build_pipeline_images() {
  local name dockerfile
  [[ -x "$REPO_ROOT/.venv/bin/python" ]] || die "no .venv: run 'make setup' first"
  while read -r name dockerfile; do
    log "image $name ($dockerfile)"
    (cd "$REPO_ROOT" && minikube --profile "$MINIKUBE_PROFILE" image build -t "$name" -f "$dockerfile" .)
  done < <("$REPO_ROOT/.venv/bin/python" -c \
    'from components.common.images import DOCKERFILES, image_ref
for name, dockerfile in DOCKERFILES.items(): print(image_ref(name), dockerfile)')
}
