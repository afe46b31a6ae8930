#!/usr/bin/env bash
# Bring the cluster in the current kubectl context to where a user of the laptop profile is
# after the README's bootstrap, with this commit as their fork's main:
#   1. the e2e Git server (tests/cluster/kind/gitserver), in the namespace git-server
#   2. the served commit: HEAD's files with every Argo CD source pointed at that server
#      and the overlays at the images build-images.sh loaded (tests/cluster/served.py),
#      pushed to it as main
#   3. Argo CD from argocd/install (server-side apply, as the README says)
#   4. apps/root.yaml of the served commit: Argo CD takes it from there
# Then `make test-cluster` checks the result. Needs make install (.venv), kubectl, git.
# Environment: IMAGE_TAG (e2e), E2E_WORKDIR (test-artifacts/e2e: the served clone lives there
# and the tests push to the server from it).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
tag="${IMAGE_TAG:-e2e}"
work="${E2E_WORKDIR:-${repo}/test-artifacts/e2e}"
served_url="http://git-server.git-server.svc.cluster.local/agent-system.git"
python="${repo}/.venv/bin/python"

step() { echo "== $*"; }

wait_until() {  # wait_until SECONDS DESCRIPTION COMMAND...
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "timed out after ${seconds}s waiting for ${what}" >&2
      return 1
    fi
    sleep 3
  done
}

step "the Git server"
kubectl apply -f "${repo}/tests/cluster/kind/gitserver/deploy.yaml"
kubectl -n git-server rollout status deployment/git-server --timeout=180s

step "the served commit"
rm -rf "${work}/repo"
mkdir -p "${work}/repo"
git -C "${repo}" archive HEAD | tar -x -C "${work}/repo"
(cd "${repo}" && "${python}" -m tests.cluster.served prepare --repo "${work}/repo" \
  --git-url "${served_url}" --image-tag "${tag}" --source "$(git -C "${repo}" rev-parse HEAD)")
port=18080
kubectl -n git-server port-forward service/git-server "${port}:80" >"${work}/port-forward.log" 2>&1 &
forward=$!
trap 'kill "${forward}" 2>/dev/null || true' EXIT
wait_until 30 "the port-forward to the Git server" \
  git ls-remote "http://127.0.0.1:${port}/none.git"
git -C "${work}/repo" push --quiet "http://127.0.0.1:${port}/agent-system.git" HEAD:refs/heads/main
git ls-remote "http://127.0.0.1:${port}/agent-system.git" refs/heads/main

step "Argo CD"
kubectl apply --server-side --force-conflicts -k "${repo}/argocd/install"
for deployment in argocd-repo-server argocd-applicationset-controller argocd-server argocd-redis; do
  kubectl -n argocd rollout status "deployment/${deployment}" --timeout=300s
done
kubectl -n argocd rollout status statefulset/argocd-application-controller --timeout=300s

step "the root Application (laptop profile)"
kubectl apply -f "${work}/repo/apps/root.yaml"
echo "E2E_REPO=${work}/repo"
