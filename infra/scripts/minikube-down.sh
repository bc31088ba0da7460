#!/usr/bin/env bash
# Deletes the minikube profile made by minikube-up.sh, with everything in it (runs, models, MinIO data).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools minikube

minikube delete --profile "$MINIKUBE_PROFILE"
