#!/usr/bin/env bash
# Build Karpenter's KWOK cloud provider, the real Karpenter controller the cluster tests run
# (it provisions NodeClaims and Node objects instead of cloud instances), from the Go module
# proxy only (nothing is vendored into this repository):
#   sigs.k8s.io/karpenter@$KARPENTER_VERSION   ./kwok   (main: kwok/main.go)
# and copy its CRDs out of the same module: pkg/apis/crds/*.yaml (NodePool, NodeClaim,
# NodeOverlay, CapacityBuffer) and kwok/apis/crds/*.yaml (KWOKNodeClass).
#
# Same method as tools/build-controllers.sh: `go mod download -json MOD@VER`, copy the module
# dir out of the module cache, make it writable and `go build` inside it with the module's own
# go.mod/go.sum. v1.15.0 needs Go >= 1.26.9: GOTOOLCHAIN=$KARPENTER_GOTOOLCHAIN (go1.27.3, the
# approved toolchain; the go command fetches it once through the module proxy).
#
# Cached by version: $MODELPORT_CACHE/karpenter/<version>/ holds the binary `karpenter-kwok`,
# BUILD-INFO (module, version, module hash, Go version, sha256 of the binary) and crds/; it is
# rebuilt only when the binary is missing or that check fails.
#
# Usage:
#   bash tools/build-karpenter.sh              # build (missing parts only)
#   bash tools/build-karpenter.sh --download   # only fetch the module, its deps and the
#                                              # toolchain (network; can overlap other builds)
# Env: KARPENTER_VERSION, KARPENTER_GOTOOLCHAIN, MODELPORT_CACHE (default ~/.cache/modelport),
#      GO (go binary), MODELPORT_BUILD_NICE (default 10).
# Output: writes $MODELPORT_CACHE/karpenter-env.sh (source it); its path is the last line.
set -euo pipefail

KARPENTER_VERSION="${KARPENTER_VERSION:-v1.15.0}"
KARPENTER_GOTOOLCHAIN="${KARPENTER_GOTOOLCHAIN:-go1.27.3}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
NICE="nice -n ${MODELPORT_BUILD_NICE:-10}"
export CGO_ENABLED=0 GOTOOLCHAIN="$KARPENTER_GOTOOLCHAIN" GOFLAGS="-mod=mod -buildvcs=false"

MOD=sigs.k8s.io/karpenter
OUT="$CACHE/karpenter/$KARPENTER_VERSION"
SRC="$CACHE/src/karpenter-$KARPENTER_VERSION"
BIN=karpenter-kwok

log() { echo "[build-karpenter $(date -u +%H:%M:%S)] $*" >&2; }
now() { date +%s; }

DOWNLOAD_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --download) DOWNLOAD_ONLY=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# module@version -> "dir<TAB>h1-sum" of the extracted module in the Go module cache
module_info() {
  (cd / && $NICE "$GO" mod download -json "$1") | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d.get("Error") or not d.get("Dir"):
    sys.exit("go mod download: " + d.get("Error", "no Dir"))
print(d["Dir"] + "\t" + d.get("Sum", ""))'
}

# Writable copy of the module source in $SRC (kept: a warm rebuild reuses it); prints its dir
module_copy() {
  local info dir sum
  info=$(module_info "$MOD@$KARPENTER_VERSION") \
    || { log "ERROR: $MOD@$KARPENTER_VERSION not served by the module proxy"; return 1; }
  dir=${info%%$'\t'*}; sum=${info#*$'\t'}
  if [ ! -f "$SRC/.module-sum" ] || [ "$(cat "$SRC/.module-sum")" != "$sum" ]; then
    rm -rf "$SRC" "$SRC.tmp"
    mkdir -p "$(dirname "$SRC")"
    cp -r "$dir" "$SRC.tmp"
    chmod -R u+w "$SRC.tmp"
    echo "$sum" >"$SRC.tmp/.module-sum"
    mv "$SRC.tmp" "$SRC"
  fi
  echo "$SRC"
}

up_to_date() {
  [ -x "$OUT/$BIN" ] && [ -f "$OUT/BUILD-INFO" ] && [ -f "$OUT/crds/.complete" ] || return 1
  grep -q "^module $MOD $KARPENTER_VERSION " "$OUT/BUILD-INFO" || return 1
  (cd "$OUT" && grep -E '^[0-9a-f]{64}  ' BUILD-INFO | sha256sum --quiet -c -) >/dev/null 2>&1
}

copy_crds() {  # src -> $OUT/crds (NodePool, NodeClaim, NodeOverlay, CapacityBuffer, KWOKNodeClass)
  local src=$1
  rm -rf "$OUT/crds.tmp"; mkdir -p "$OUT/crds.tmp"
  cp "$src"/pkg/apis/crds/*.yaml "$src"/kwok/apis/crds/*.yaml "$OUT/crds.tmp/"
  chmod -R u+w "$OUT/crds.tmp"
  local want
  for want in karpenter.sh_nodepools.yaml karpenter.sh_nodeclaims.yaml karpenter.kwok.sh_kwoknodeclasses.yaml; do
    [ -f "$OUT/crds.tmp/$want" ] || { log "ERROR: $want missing from $MOD@$KARPENTER_VERSION"; return 1; }
  done
  echo "$MOD $KARPENTER_VERSION" >"$OUT/crds.tmp/.complete"
  rm -rf "$OUT/crds"; mv "$OUT/crds.tmp" "$OUT/crds"
}

T0=$(now)
if [ "$DOWNLOAD_ONLY" = 1 ]; then
  src=$(module_copy)
  (cd "$src" && $NICE "$GO" mod download) >&2
  log "module, dependencies and toolchain $KARPENTER_GOTOOLCHAIN downloaded in $(( $(now) - T0 ))s"
  exit 0
fi

if up_to_date; then
  log "karpenter $KARPENTER_VERSION up to date in $OUT"
else
  src=$(module_copy)
  log "source ready in $(( $(now) - T0 ))s ($src)"
  t1=$(now)
  (cd "$src" && $NICE "$GO" mod download) >&2
  log "dependencies downloaded in $(( $(now) - t1 ))s"
  mkdir -p "$OUT"
  t1=$(now)
  (cd "$src" && $NICE "$GO" build -trimpath -ldflags "-s -w" -o "$OUT/$BIN.new" ./kwok) >&2
  mv "$OUT/$BIN.new" "$OUT/$BIN"
  log "$BIN built in $(( $(now) - t1 ))s ($(du -h "$OUT/$BIN" | cut -f1)); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  copy_crds "$src"
  {
    echo "module $MOD $KARPENTER_VERSION $(cat "$src/.module-sum")"
    echo "go $("$GO" env GOVERSION)"
    (cd "$OUT" && sha256sum "$BIN")
  } >"$OUT/BUILD-INFO"
  up_to_date || { log "ERROR: build check failed in $OUT"; exit 1; }
  log "karpenter $KARPENTER_VERSION done in $(( $(now) - T0 ))s"
fi

ENV_FILE="$CACHE/karpenter-env.sh"
cat >"$ENV_FILE" <<EOF
export MODELPORT_KARPENTER="$OUT/$BIN"
export MODELPORT_KARPENTER_CRD_DIR="$OUT/crds"
EOF
log "done in $(( $(now) - T0 ))s; env file: $ENV_FILE"
echo "$ENV_FILE"
