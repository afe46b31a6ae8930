#!/usr/bin/env bash
# Build the five service images and the e2e Git server, and load them into the kind cluster
# (they exist in no registry: the served commit names them with imagePullPolicy
# IfNotPresent). Run from anywhere:
#   tests/cluster/kind/build-images.sh            # cluster agent-system, tag e2e
# Environment: KIND_CLUSTER (agent-system), IMAGE_TAG (e2e).
set -euo pipefail

cluster="${KIND_CLUSTER:-agent-system}"
tag="${IMAGE_TAG:-e2e}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
services=(frontend gateway orchestrator chat worker)

for service in "${services[@]}"; do
  echo "::group::build agent-system-${service}:${tag}"
  docker build -f "${repo}/services/${service}/Dockerfile" -t "agent-system-${service}:${tag}" "${repo}"
  echo "::endgroup::"
done
docker build -t "agent-system-gitserver:${tag}" "${repo}/tests/cluster/kind/gitserver"

for image in "${services[@]}" gitserver; do
  kind load docker-image "agent-system-${image}:${tag}" --name "${cluster}"
done
