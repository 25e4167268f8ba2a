#!/usr/bin/env bash
# Build KServe's local-model controller (./cmd/localmodel of github.com/kserve/kserve, the same
# module and version as the controller manager tools/build-controllers.sh builds), for the model
# cache's cluster test (tests/infra/localmodel.py).
#
# Source: the writable module copy build-controllers.sh keeps in $MODELPORT_CACHE/src/kserve-<v>
# (run `bash tools/build-controllers.sh kserve` first); its go.mod/go.sum and the Go build cache
# apply, so a build after the manager's reuses most packages.
# Cached by version: $MODELPORT_CACHE/bin/kserve-localmodel-<v>/localmodel plus BUILD-INFO
# (version, Go version, sha256); rebuilt only when missing or the checksum fails.
# Output: the binary's path on the last line (export it as MODELPORT_KSERVE_LOCALMODEL).
set -euo pipefail

KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
SRC="$CACHE/src/kserve-$KSERVE_VERSION"
OUT="$CACHE/bin/kserve-localmodel-$KSERVE_VERSION"
BIN="$OUT/localmodel"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false"

log() { echo "[build-localmodel $(date -u +%H:%M:%S)] $*" >&2; }

if [ -x "$BIN" ] && [ -f "$OUT/BUILD-INFO" ] \
  && grep -q "sha256 $(sha256sum "$BIN" | cut -d' ' -f1)" "$OUT/BUILD-INFO"; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi
[ -d "$SRC/cmd/localmodel" ] || { log "ERROR: $SRC missing: run bash tools/build-controllers.sh kserve"; exit 1; }
mkdir -p "$OUT"
start=$(date +%s)
# -trimpath and -s -w as build-controllers.sh builds the manager: its compiled packages are reused
(cd "$SRC" && nice -n "${MODELPORT_BUILD_NICE:-10}" "$GO" build -trimpath -ldflags "-s -w" -o "$BIN.tmp" ./cmd/localmodel)
mv "$BIN.tmp" "$BIN"
{
  echo "module github.com/kserve/kserve $KSERVE_VERSION ./cmd/localmodel"
  echo "go $("$GO" env GOVERSION)"
  echo "sha256 $(sha256sum "$BIN" | cut -d' ' -f1)"
  echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - start )) s"
} > "$OUT/BUILD-INFO"
log "built $BIN in $(( $(date +%s) - start )) s"
echo "$BIN"
