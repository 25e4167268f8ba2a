#!/usr/bin/env bash
# Build Prometheus with Kubernetes service discovery from the Go module proxy. Debian's
# prometheus package (the one the other tests use) is built without it (`field
# kubernetes_sd_configs not found in type config.ScrapeConfig`), and the engine tests scrape
# the predictor pods as a cluster does: discovered through the apiserver
# (deploy/prometheus-predictors.yml, tests/infra/prom.py `discover_pods`).
#
# Only the Kubernetes and file discovery plugins are compiled in (upstream build tags
# remove_all_sd,enable_kubernetes_sd), no web UI assets (the HTTP API is all tests use).
# Cached by version like tools/build-helm.sh: $MODELPORT_CACHE/bin/prometheus-$VERSION/prometheus;
# writes $MODELPORT_CACHE/prometheus-env.sh with MODELPORT_PROMETHEUS_K8S (source it).
#
# Usage: bash tools/build-prometheus.sh      (the last line of stdout is the binary)
#        bash tools/build-prometheus.sh --download   (only fetch the modules: network-bound, so
#        scripts/test.sh runs it in the background beside the other builds)
# Env: PROMETHEUS_MODULE_VERSION (Go module version v0.X.Y = Prometheus v3.X.Y), MODELPORT_CACHE, GO.
set -euo pipefail

MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.314.0}"
VERSION="v3.$(echo "$MODULE_VERSION" | sed -E 's/^v0\.([0-9]+)([0-9]{2})\.([0-9]+)$/\1.\2.\3/' | sed -E 's/^([0-9]+)\.0?([0-9]+)\.([0-9]+)$/\2.\3/')"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

BIN="$CACHE/bin/prometheus-$MODULE_VERSION"
log() { echo "[build-prometheus] $*" >&2; }
write_env() {
  echo "export MODELPORT_PROMETHEUS_K8S=\"$BIN/prometheus\"" >"$CACHE/prometheus-env.sh"
}

if [ -x "$BIN/prometheus" ] && "$BIN/prometheus" --version 2>/dev/null | grep -q "version ${VERSION#v} "; then
  log "prometheus $VERSION up to date in $BIN"
  write_env
  echo "$BIN/prometheus"
  exit 0
fi

t0=$(date +%s)
mkdir -p "$BIN"
cd "$HERE/prometheus"
if [ "${1:-}" = "--download" ]; then
  if grep -Eq "github.com/prometheus/prometheus $MODULE_VERSION( |\$)" go.mod 2>/dev/null; then
    "$GO" mod download >&2
    log "modules for prometheus $VERSION downloaded in $(( $(date +%s) - t0 ))s"
  fi
  exit 0
fi
if ! grep -Eq "github.com/prometheus/prometheus $MODULE_VERSION( |\$)" go.mod 2>/dev/null; then
  log "pinning github.com/prometheus/prometheus@$MODULE_VERSION"
  rm -f go.mod go.sum tools.go
  "$GO" mod init example.invalid/prometheus >&2
  "$GO" mod edit -require="github.com/prometheus/prometheus@$MODULE_VERSION"
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
GO
  GOFLAGS=-tags=remove_all_sd,enable_kubernetes_sd,tools "$GO" mod tidy >&2
fi
pkg=github.com/prometheus/common/version
ldf="-s -w -X $pkg.Version=${VERSION#v} -X $pkg.Revision=module-$MODULE_VERSION -X $pkg.Branch=module"
"$GO" build -trimpath -tags remove_all_sd,enable_kubernetes_sd -ldflags "$ldf" \
  -o "$BIN/prometheus.new" github.com/prometheus/prometheus/cmd/prometheus >&2
mv "$BIN/prometheus.new" "$BIN/prometheus"
log "$("$BIN/prometheus" --version 2>&1 | head -1) built in $(( $(date +%s) - t0 ))s"
write_env
echo "$BIN/prometheus"
