#!/usr/bin/env bash
# Deploys to the production cluster (kubectl's current context), as the deploy workflow
# (.github/workflows/deploy.yml) does; the same commands work by hand (infra/README.md).
#
#   infra/deploy.sh image <service> <image@sha256:...>
#       rolls <service> out to that image (by digest, never a tag), waits for the rollout and
#       rolls it back if it does not complete.
#   infra/deploy.sh manifests
#       applies infra/k8s-prod, each service keeping the image (digest) it runs, waits for every
#       rollout and rolls back those that do not complete.
#   infra/deploy.sh render <service>=<image@sha256:...> ...   (one per service)
#       prints infra/k8s-prod with those images, without touching any cluster.
set -euo pipefail

NAMESPACE=ticketing
SERVICES=(auth tickets orders payments expiration client)
TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
INFRA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
  echo "deploy: $*" >&2
  exit 2
}

by_digest() { # image reference
  [[ "$1" =~ ^[a-z0-9./_-]+@sha256:[0-9a-f]{64}$ ]] || fail "not an image by digest: '$1'"
}

# Wait for each deployment's rollout; roll back those that do not complete. Fails if any did not.
rollout_or_undo() {
  local failed=() deployment
  for deployment in "$@"; do
    if ! kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$TIMEOUT"; then
      failed+=("$deployment")
    fi
  done
  for deployment in "${failed[@]}"; do
    echo "deploy: $deployment did not roll out; rolling back" >&2
    kubectl -n "$NAMESPACE" rollout undo "deployment/$deployment"
    kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$TIMEOUT" || true
  done
  [ "${#failed[@]}" -eq 0 ]
}

# infra/k8s-prod with every service's image set by digest: service=image@sha256:... arguments.
render() {
  local overlay assignment service reference seen=()
  overlay=$(mktemp -d)
  trap 'rm -rf "$overlay"' RETURN
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "  - $(realpath --relative-to="$overlay" "$INFRA/k8s-prod")"
    echo "images:"
  } >"$overlay/kustomization.yaml"
  for assignment in "$@"; do
    service=${assignment%%=*}
    reference=${assignment#*=}
    [[ " ${SERVICES[*]} " == *" $service "* ]] || fail "unknown service '$service'"
    by_digest "$reference"
    printf '  - name: docker.io/ticketing/%s\n    newName: %s\n    digest: %s\n' \
      "$service" "${reference%@*}" "${reference#*@}" >>"$overlay/kustomization.yaml"
    seen+=("$service")
  done
  for service in "${SERVICES[@]}"; do
    [[ " ${seen[*]} " == *" $service "* ]] || fail "no image given for $service"
  done
  kubectl kustomize "$overlay"
}

running_image() { # service
  kubectl -n "$NAMESPACE" get "deployment/$1-depl" \
    -o jsonpath='{.spec.template.spec.containers[0].image}'
}

case "${1:-}" in
  image)
    [ $# -eq 3 ] || fail "usage: $0 image <service> <image@sha256:...>"
    service=$2
    reference=$3
    by_digest "$reference"
    kubectl -n "$NAMESPACE" set image "deployment/$service-depl" "$service=$reference"
    kubectl -n "$NAMESPACE" annotate "deployment/$service-depl" --overwrite \
      "kubernetes.io/change-cause=$reference"
    rollout_or_undo "$service-depl"
    ;;
  manifests)
    [ $# -eq 1 ] || fail "usage: $0 manifests"
    deployments=()
    for service in "${SERVICES[@]}"; do deployments+=("$service-depl"); done
    # A service's rollout in progress finishes first, so its new image is the one kept.
    for deployment in "${deployments[@]}"; do
      kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$TIMEOUT"
    done
    images=()
    for service in "${SERVICES[@]}"; do images+=("$service=$(running_image "$service")"); done
    render "${images[@]}" | kubectl apply -f -
    rollout_or_undo "${deployments[@]}"
    ;;
  render)
    shift
    render "$@"
    ;;
  *)
    fail "usage: $0 image <service> <image@sha256:...> | manifests | render <service>=<image> ..."
    ;;
esac
