#!/usr/bin/env bash
# Copy the KServe and KEDA CRDs out of their Go modules (downloaded by version from the
# Go module proxy) into $MODELPORT_CACHE/crds/<kserve-ver>_<keda-ver>/.
# The CRDs are not vendored in this repository. Prints the CRD dir on the last line.
# If the KServe module cannot be downloaded, falls back to ../shared/reference/kserve-crds/
# (or $MODELPORT_KSERVE_CRD_FALLBACK) and says so on stderr.
set -euo pipefail
KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$CACHE/crds/kserve-${KSERVE_VERSION}_keda-${KEDA_VERSION}"
KSERVE_FILES=(inferenceservices servingruntimes clusterservingruntimes)
KEDA_FILES=(scaledobjects triggerauthentications)

log() { echo "[fetch-crds] $*" >&2; }

complete() {
  for f in "${KSERVE_FILES[@]}"; do [ -s "$OUT/serving.kserve.io_$f.yaml" ] || return 1; done
  for f in "${KEDA_FILES[@]}"; do [ -s "$OUT/keda.sh_$f.yaml" ] || return 1; done
}

module_dir() {  # module@version -> extracted dir in the module cache ("" when not served)
  (cd /tmp && GOFLAGS=-mod=mod "$GO" mod download -json "$1" 2>/dev/null) \
    | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("Dir",""))
except Exception: print("")'
}

if ! complete; then
  mkdir -p "$OUT.tmp"
  dir=$(module_dir "github.com/kserve/kserve@$KSERVE_VERSION")
  if [ -n "$dir" ] && [ -d "$dir/config/crd/full" ]; then
    src="$dir/config/crd/full"
    log "KServe CRDs from module github.com/kserve/kserve@$KSERVE_VERSION"
  else
    src="${MODELPORT_KSERVE_CRD_FALLBACK:-$HERE/../../shared/reference/kserve-crds}"
    log "WARNING: github.com/kserve/kserve@$KSERVE_VERSION not served; using fallback $src"
  fi
  for f in "${KSERVE_FILES[@]}"; do cp "$src/serving.kserve.io_$f.yaml" "$OUT.tmp/"; done
  dir=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  if [ -z "$dir" ]; then log "ERROR: github.com/kedacore/keda/v2@$KEDA_VERSION not served"; exit 1; fi
  log "KEDA CRDs from module github.com/kedacore/keda/v2@$KEDA_VERSION"
  for f in "${KEDA_FILES[@]}"; do cp "$dir/config/crd/bases/keda.sh_$f.yaml" "$OUT.tmp/"; done
  chmod u+w "$OUT.tmp"/*
  rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
fi
echo "$OUT"
