#!/usr/bin/env bash
# Copy the CRDs of the model-route router (Envoy Gateway, which ships the Gateway API CRDs it
# supports) out of its Go module, downloaded by version from the Go module proxy, into
# $MODELPORT_CACHE/crds-routing/envoy-gateway-<ver>/. Only the kinds deployments/routing
# renders are kept, so the test control plane installs a few CRDs, not thirty.
# Prints the CRD dir on the last line.
set -euo pipefail
EG_VERSION="${ENVOY_GATEWAY_VERSION:-v1.5.0}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
OUT="$CACHE/crds-routing/envoy-gateway-${EG_VERSION}"
EG_FILES=(backends backendtrafficpolicies envoyextensionpolicies)
GATEWAY_API=(httproutes)

log() { echo "[fetch-route-crds] $*" >&2; }

complete() {
  for f in "${EG_FILES[@]}"; do [ -s "$OUT/gateway.envoyproxy.io_$f.yaml" ] || return 1; done
  for f in "${GATEWAY_API[@]}"; do [ -s "$OUT/gateway.networking.k8s.io_$f.yaml" ] || return 1; done
}

if ! complete; then
  dir=$( (cd /tmp && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/envoyproxy/gateway@$EG_VERSION" 2>/dev/null) \
    | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("Dir",""))
except Exception: print("")')
  if [ -z "$dir" ]; then log "ERROR: github.com/envoyproxy/gateway@$EG_VERSION not served"; exit 1; fi
  crds="$dir/charts/gateway-helm/crds"
  log "Envoy Gateway + Gateway API CRDs from module github.com/envoyproxy/gateway@$EG_VERSION"
  rm -rf "$OUT.tmp"; mkdir -p "$OUT.tmp"
  for f in "${EG_FILES[@]}"; do cp "$crds/generated/gateway.envoyproxy.io_$f.yaml" "$OUT.tmp/"; done
  # gatewayapi-crds.yaml is one multi-document file: keep the documents we render.
  for f in "${GATEWAY_API[@]}"; do
    awk -v want="  name: $f.gateway.networking.k8s.io" '
      /^---/ { if (keep) printf "%s", doc; doc=""; keep=0; next }
      { doc = doc $0 "\n"; if ($0 == want) keep=1 }
      END { if (keep) printf "%s", doc }' "$crds/gatewayapi-crds.yaml" \
      >"$OUT.tmp/gateway.networking.k8s.io_$f.yaml"
  done
  chmod u+w "$OUT.tmp"/*
  rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
  complete || { log "ERROR: CRDs missing in $OUT"; exit 1; }
fi
echo "$OUT"
