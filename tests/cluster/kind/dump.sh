#!/usr/bin/env bash
# What the cluster looked like, for a failed e2e run: Argo CD's view of every Application,
# then each agent-system namespace's objects, events and recent logs.
set -uo pipefail

kubectl -n argocd get applications.argoproj.io -o wide
kubectl -n argocd get applications.argoproj.io -o \
  jsonpath='{range .items[*]}{.metadata.name}{": "}{.status.sync.status}{" "}{.status.health.status}{" "}{.status.operationState.message}{"\n"}{end}'
kubectl -n argocd logs statefulset/argocd-application-controller --tail=200
kubectl -n argocd logs deployment/argocd-applicationset-controller --tail=100
for namespace in envoy-gateway-system keda agent-system-dev agent-system-staging; do
  echo "== ${namespace}"
  kubectl -n "${namespace}" get all,gateways.gateway.networking.k8s.io,httproutes.gateway.networking.k8s.io,events \
    --sort-by=.metadata.creationTimestamp
  kubectl -n "${namespace}" logs --all-containers --prefix --tail=100 \
    -l app.kubernetes.io/part-of=agent-system
done
