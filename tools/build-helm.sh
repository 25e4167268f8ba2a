#!/usr/bin/env bash
# Build the helm CLI (for `helm lint` / `helm template` of charts/modelport) from the Go module
# proxy, since Debian serves no helm package. Cached by version like tools/build-k8s.sh:
# $MODELPORT_CACHE/bin/helm-$HELM_VERSION/helm, rebuilt only when missing or when
# `helm version` does not print the pinned version.
#
# It also copies the prometheus-operator ServiceMonitor CRD (the chart renders one) out of its Go
# module, so the chart tests can dry-run it on the test apiserver, and writes
# $MODELPORT_CACHE/helm-env.sh with MODELPORT_HELM and MODELPORT_MONITORING_CRD_DIR (source it).
#
# Usage: bash tools/build-helm.sh      (the last line of stdout is the helm binary)
# Env: HELM_VERSION, PROMETHEUS_OPERATOR_VERSION (defaults below), MODELPORT_CACHE
#      (default ~/.cache/modelport), GO.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.21.4}"
PROMETHEUS_OPERATOR_VERSION="${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

BIN="$CACHE/bin/helm-$HELM_VERSION"
log() { echo "[build-helm] $*" >&2; }

CRDS="$CACHE/crds-monitoring/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
if [ ! -s "$CRDS/monitoring.coreos.com_servicemonitors.yaml" ]; then
  dir=$(cd /tmp && GOFLAGS=-mod=mod "$GO" mod download -json \
    "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Dir",""))')
  mkdir -p "$CRDS"
  cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" "$CRDS/"
  chmod u+w "$CRDS"/*
  log "ServiceMonitor CRD from prometheus-operator $PROMETHEUS_OPERATOR_VERSION in $CRDS"
fi
write_env() {
  cat >"$CACHE/helm-env.sh" <<ENV
export MODELPORT_HELM="$BIN/helm"
export MODELPORT_MONITORING_CRD_DIR="$CRDS"
ENV
}

if [ -x "$BIN/helm" ] && "$BIN/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
  log "helm $HELM_VERSION up to date in $BIN"
  write_env
  echo "$BIN/helm"
  exit 0
fi

t0=$(date +%s)
mkdir -p "$BIN"
cd "$HERE/helm"
if ! grep -Eq "helm\.sh/helm/v3 $HELM_VERSION( |\$)" go.mod 2>/dev/null; then
  log "pinning helm.sh/helm/v3@$HELM_VERSION"
  rm -f go.mod go.sum
  "$GO" mod init example.invalid/helm >&2
  "$GO" mod edit -require="helm.sh/helm/v3@$HELM_VERSION" -tool=helm.sh/helm/v3/cmd/helm
  "$GO" mod tidy >&2
fi
# The Kubernetes version `helm template` and `helm lint` assume (.Capabilities.KubeVersion) is
# the client-go minor helm is built with, as helm's own Makefile does.
kminor=$("$GO" list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)
ldf="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldf="$ldf -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor"
ldf="$ldf -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor"
"$GO" build -trimpath -ldflags "$ldf" -o "$BIN/helm.new" helm.sh/helm/v3/cmd/helm >&2
mv "$BIN/helm.new" "$BIN/helm"
log "helm $("$BIN/helm" version --short) built in $(( $(date +%s) - t0 ))s"
write_env
echo "$BIN/helm"
