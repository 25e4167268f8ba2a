#!/usr/bin/env bash
# Build the local Kubernetes control plane used by the integration tests and
# `python tools/devcluster.py`, from the Go module proxy only:
#   - kube-apiserver, kube-controller-manager, kube-scheduler (unless --no-controllers) from k8s.io/kubernetes
#   - etcd 3.6 from go.etcd.io/etcd/server/v3
#   - the KServe and KEDA CRDs from their Go modules (tools/fetch-crds.sh)
#
# Idempotent: binaries live in a cache directory keyed by version and are rebuilt only
# when missing or when `--version` does not print the pinned version.
#
# Usage:
#   bash tools/build-k8s.sh                     # apiserver, controller-manager, scheduler, etcd, CRDs
#   bash tools/build-k8s.sh --no-controllers    # only kube-apiserver + etcd + CRDs (saves ~2.5 min cold)
#   bash tools/build-k8s.sh --update-modules    # regenerate tools/k8sbins/go.mod for $K8S_VERSION
#
# Env: K8S_VERSION (default below), ETCD_VERSION, MODELPORT_CACHE (default ~/.cache/modelport),
#      MODELPORT_K8S_CONTROLLERS=0 (same as --no-controllers), GO (go binary).
# Output: the last line of stdout is the k8s bin dir. It also writes
#   $MODELPORT_CACHE/env.sh with MODELPORT_KUBE_BIN_DIR, MODELPORT_CRD_DIR (source it).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
WITH_CONTROLLERS="${MODELPORT_K8S_CONTROLLERS:-1}"
UPDATE_MODULES=0
for arg in "$@"; do
  case "$arg" in
    --with-controllers) WITH_CONTROLLERS=1 ;;
    --no-controllers) WITH_CONTROLLERS=0 ;;
    --update-modules) UPDATE_MODULES=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

K8S_BIN="$CACHE/bin/k8s-$K8S_VERSION"
ETCD_BIN="$CACHE/bin/etcd-$ETCD_VERSION"
mkdir -p "$K8S_BIN" "$ETCD_BIN"

log() { echo "[build-k8s] $*" >&2; }
now() { date +%s; }

# ---------------------------------------------------------------- etcd
build_etcd() {
  local want="${ETCD_VERSION#v}"
  if [ -x "$ETCD_BIN/etcd" ] && "$ETCD_BIN/etcd" --version 2>/dev/null | grep -q "etcd Version: $want\$"; then
    log "etcd $ETCD_VERSION up to date in $ETCD_BIN"; return
  fi
  local t0; t0=$(now)
  cd "$HERE/etcd"
  if ! grep -Eq "go\.etcd\.io/etcd/server/v3 $ETCD_VERSION( |\$)" go.mod 2>/dev/null || [ "$UPDATE_MODULES" = 1 ]; then
    log "pinning go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    [ -f go.mod ] || "$GO" mod init example.invalid/etcd >&2
    "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    "$GO" mod tidy >&2
  fi
  "$GO" build -trimpath -ldflags "-s -w" -o "$ETCD_BIN/etcd.new" . >&2
  mv "$ETCD_BIN/etcd.new" "$ETCD_BIN/etcd"
  "$ETCD_BIN/etcd" --version >&2
  log "etcd built in $(( $(now) - t0 ))s"
}

# ---------------------------------------------------------------- kubernetes
k8s_modfile() {
  # Generate tools/k8sbins/go.mod: require k8s.io/kubernetes@K8S_VERSION and replace every
  # staging module that its go.mod requires at v0.0.0 with the published tag v0.Y.Z.
  local staging="v0.${K8S_VERSION#v1.}"
  local gomod
  gomod=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local k8s_go; k8s_go=$(awk '$1=="go"{print $2; exit}' "$gomod")
  log "k8s.io/kubernetes@$K8S_VERSION wants go $k8s_go (have $("$GO" env GOVERSION))"
  cd "$HERE/k8sbins"
  rm -f go.mod go.sum
  "$GO" mod init example.invalid/k8sbins >&2
  "$GO" mod edit -go="$k8s_go"
  grep -E '^\s+k8s\.io/[^ ]+ v0\.0\.0(\s|$)' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
    "$GO" mod edit -replace="$m=$m@$staging"
  done
  "$GO" mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
  local tools=(kube-apiserver kube-controller-manager kube-scheduler)
  for c in "${tools[@]}"; do "$GO" mod edit -tool="k8s.io/kubernetes/cmd/$c"; done
  "$GO" mod tidy >&2
}

build_k8s() {
  local cmds=(kube-apiserver)
  [ "$WITH_CONTROLLERS" = 1 ] && cmds+=(kube-controller-manager kube-scheduler)
  local missing=()
  for c in "${cmds[@]}"; do
    if ! { [ -x "$K8S_BIN/$c" ] && "$K8S_BIN/$c" --version 2>/dev/null | grep -q "Kubernetes $K8S_VERSION\$"; }; then
      missing+=("$c")
    fi
  done
  if [ ${#missing[@]} = 0 ]; then log "${cmds[*]} $K8S_VERSION up to date in $K8S_BIN"; return; fi
  local t0; t0=$(now)
  if ! grep -Eq "k8s\.io/kubernetes $K8S_VERSION( |\$)" "$HERE/k8sbins/go.mod" 2>/dev/null || [ "$UPDATE_MODULES" = 1 ]; then
    k8s_modfile
  fi
  cd "$HERE/k8sbins"
  local minor; minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  local V=k8s.io/component-base/version
  local ldf="-s -w -X $V.gitVersion=$K8S_VERSION -X $V.gitMajor=1 -X $V.gitMinor=$minor -X $V.gitTreeState=clean"
  for c in "${missing[@]}"; do
    local t1; t1=$(now)
    log "building $c $K8S_VERSION"
    "$GO" build -trimpath -ldflags "$ldf" -o "$K8S_BIN/$c.new" "k8s.io/kubernetes/cmd/$c" >&2
    mv "$K8S_BIN/$c.new" "$K8S_BIN/$c"
    log "$c built in $(( $(now) - t1 ))s: $("$K8S_BIN/$c" --version)"
  done
  log "kubernetes binaries built in $(( $(now) - t0 ))s"
}

T0=$(now)
build_etcd
build_k8s
CRD_DIR=$(bash "$HERE/fetch-crds.sh" | tail -n 1)
ln -sf "$ETCD_BIN/etcd" "$K8S_BIN/etcd"
cat >"$CACHE/env.sh" <<EOF
export MODELPORT_KUBE_BIN_DIR="$K8S_BIN"
export MODELPORT_CRD_DIR="$CRD_DIR"
EOF
log "done in $(( $(now) - T0 ))s; sizes: $(du -shL "$K8S_BIN"/* | awk '{printf "%s=%s ", $2, $1}')"
log "env file: $CACHE/env.sh"
echo "$K8S_BIN"
