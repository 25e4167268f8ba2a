#!/usr/bin/env bash
# Build the real controllers the cluster tests and `manage.py devcluster` run, from the Go
# module proxy only (nothing is vendored into this repository):
#   - KServe controller manager      github.com/kserve/kserve@$KSERVE_VERSION        ./cmd/manager
#   - KEDA operator + metrics adapter github.com/kedacore/keda/v2@$KEDA_VERSION      ./cmd/operator ./cmd/adapter
#   - kube-state-metrics              k8s.io/kube-state-metrics/v2@$KSM_VERSION      .
# and copy their upstream config out of the same modules: all KServe CRDs of
# config/crd/full (its kustomization), all six KEDA CRDs, KServe's inferenceservice-config
# ConfigMap, the vLLM and Hugging Face ClusterServingRuntimes (image placeholders set to a
# fixed tag) and KServe's webhook configurations.
#
# Method (see ../shared/reference/real-controllers.md): `go mod download -json MOD@VER`, copy
# the module dir out of the module cache, make it writable and `go build` inside it, so that
# the module's own go.mod/go.sum and replace directives apply (`go install` refuses replaces).
#
# Cached by version: $MODELPORT_CACHE/bin/<name>-<version>/ holds the binaries plus
# BUILD-INFO (module, version, module hash, Go version, sha256 of each binary); a component
# is rebuilt only when a binary is missing or that check fails. Config goes to
# $MODELPORT_CACHE/controllers/{kserve,keda}-<version>/.
#
# Usage:
#   bash tools/build-controllers.sh              # everything (missing parts only)
#   bash tools/build-controllers.sh ksm kserve   # only some: ksm kserve keda config
#   bash tools/build-controllers.sh --download   # only fetch the modules and their deps
#                                                # (network; can overlap another build)
# Env: KSERVE_VERSION, KEDA_VERSION, KSM_VERSION, MODELPORT_CACHE (default ~/.cache/modelport),
#      GO (go binary), MODELPORT_BUILD_NICE (default 10).
# Output: writes $MODELPORT_CACHE/controllers-env.sh (source it); its path is the last line.
set -euo pipefail

KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
KEDA_VERSION="${KEDA_VERSION:-v2.21.0}"
KSM_VERSION="${KSM_VERSION:-v2.15.0}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
NICE="nice -n ${MODELPORT_BUILD_NICE:-10}"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false"

KSERVE_MOD=github.com/kserve/kserve
KEDA_MOD=github.com/kedacore/keda/v2
KSM_MOD=k8s.io/kube-state-metrics/v2
KSERVE_BIN="$CACHE/bin/kserve-$KSERVE_VERSION"
KEDA_BIN="$CACHE/bin/keda-$KEDA_VERSION"
KSM_BIN="$CACHE/bin/kube-state-metrics-$KSM_VERSION"
KSERVE_CFG="$CACHE/controllers/kserve-$KSERVE_VERSION"
KEDA_CFG="$CACHE/controllers/keda-$KEDA_VERSION"
SRC="$CACHE/src"

log() { echo "[build-controllers $(date -u +%H:%M:%S)] $*" >&2; }
now() { date +%s; }

DOWNLOAD_ONLY=0
WANT=()
for arg in "$@"; do
  case "$arg" in
    --download) DOWNLOAD_ONLY=1 ;;
    ksm|kserve|keda|config) WANT+=("$arg") ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
[ ${#WANT[@]} = 0 ] && WANT=(config ksm kserve keda)
wants() { local w; for w in "${WANT[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

# module@version -> "dir<TAB>h1-sum" of the extracted module in the Go module cache
module_info() {
  (cd / && GOFLAGS=-mod=mod $NICE "$GO" mod download -json "$1") | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d.get("Error") or not d.get("Dir"):
    sys.exit("go mod download: " + d.get("Error", "no Dir"))
print(d["Dir"] + "\t" + d.get("Sum", ""))'
}

# Writable copy of the module source in $SRC/<name>-<version> (kept: a warm rebuild reuses it)
module_copy() {  # name module version -> prints the dir
  local name=$1 mod=$2 ver=$3 info dir sum out
  info=$(module_info "$mod@$ver") || { log "ERROR: $mod@$ver not served by the module proxy"; return 1; }
  dir=${info%%$'\t'*}; sum=${info#*$'\t'}
  out="$SRC/$name-$ver"
  if [ ! -f "$out/.module-sum" ] || [ "$(cat "$out/.module-sum")" != "$sum" ]; then
    rm -rf "$out" "$out.tmp"
    mkdir -p "$SRC"
    cp -r "$dir" "$out.tmp"
    chmod -R u+w "$out.tmp"
    echo "$sum" >"$out.tmp/.module-sum"
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}

build_info() {  # module version bin... -> BUILD-INFO text
  local mod=$1 ver=$2; shift 2
  echo "module $mod $ver $(cat "$SRC/$NAME-$ver/.module-sum")"
  echo "go $("$GO" env GOVERSION)"
  (cd "$BIN_DIR" && sha256sum "$@")
}

up_to_date() {  # bin_dir version bins... : binaries present and BUILD-INFO matches them
  local dir=$1 ver=$2; shift 2
  [ -f "$dir/BUILD-INFO" ] || return 1
  grep -q "^module [^ ]* $ver " "$dir/BUILD-INFO" || return 1
  local b; for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
  (cd "$dir" && grep -E '^[0-9a-f]{64}  ' BUILD-INFO | sha256sum --quiet -c -) >/dev/null 2>&1
}

# name module version bin_dir "out=pkg ..." extra-ldflags [version-check command]
build_component() {
  local name=$1 mod=$2 ver=$3 bin_dir=$4 targets=$5 ldx=$6 check=${7:-}
  local bins=() t; for t in $targets; do bins+=("${t%%=*}"); done
  if up_to_date "$bin_dir" "$ver" "${bins[@]}" \
     && { [ -z "$check" ] || (cd "$bin_dir" && eval "$check") >/dev/null 2>&1; }; then
    log "$name $ver up to date in $bin_dir"; return
  fi
  local t0 t1 src; t0=$(now)
  src=$(module_copy "$name" "$mod" "$ver")
  log "$name $ver: source ready in $(( $(now) - t0 ))s ($src)"
  t1=$(now)
  (cd "$src" && $NICE "$GO" mod download) >&2
  log "$name $ver: dependencies downloaded in $(( $(now) - t1 ))s"
  mkdir -p "$bin_dir"
  for t in $targets; do
    local out=${t%%=*} pkg=${t#*=}
    t1=$(now)
    (cd "$src" && $NICE "$GO" build -trimpath -ldflags "-s -w $ldx" -o "$bin_dir/$out.new" "$pkg") >&2
    mv "$bin_dir/$out.new" "$bin_dir/$out"
    log "$name $ver: $out built in $(( $(now) - t1 ))s ($(du -h "$bin_dir/$out" | cut -f1))"
  done
  NAME=$name BIN_DIR=$bin_dir build_info "$mod" "$ver" "${bins[@]}" >"$bin_dir/BUILD-INFO"
  if [ -n "$check" ] && ! (cd "$bin_dir" && eval "$check") >&2; then
    log "ERROR: $name $ver version check failed: $check"; return 1
  fi
  log "$name $ver done in $(( $(now) - t0 ))s"
}

download_all() {
  local t0; t0=$(now)
  local pids=() m
  for m in "kube-state-metrics $KSM_MOD $KSM_VERSION" "kserve $KSERVE_MOD $KSERVE_VERSION" "keda $KEDA_MOD $KEDA_VERSION"; do
    set -- $m
    ( src=$(module_copy "$1" "$2" "$3") && cd "$src" && $NICE "$GO" mod download ) &
    pids+=($!)
  done
  local rc=0 p; for p in "${pids[@]}"; do wait "$p" || rc=1; done
  log "modules and dependencies downloaded in $(( $(now) - t0 ))s"
  return $rc
}

# ---------------------------------------------------------------- upstream config
copy_config() {
  local t0; t0=$(now)
  local kdir ddir
  if [ ! -f "$KSERVE_CFG/.complete" ]; then
    kdir=$(module_info "$KSERVE_MOD@$KSERVE_VERSION"); kdir=${kdir%%$'\t'*}
    rm -rf "$KSERVE_CFG.tmp"; mkdir -p "$KSERVE_CFG.tmp"/{crds,runtimes,webhook}
    # the CRDs config/crd/full's kustomization installs (the files it lists + subdirs' files)
    python3 - "$kdir/config/crd/full" "$KSERVE_CFG.tmp/crds" <<'PY'
import pathlib, re, shutil, sys
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def resources(text):  # the `resources:` list of a kustomization.yaml (no PyYAML needed)
    items, inside = [], False
    for line in text.splitlines():
        if re.match(r"^resources:\s*$", line):
            inside = True
        elif inside and (m := re.match(r"^\s*-\s+(\S+)", line)):
            items.append(m.group(1))
        elif inside and re.match(r"^\S", line):
            inside = False
    return items
def walk(d):
    for r in resources((d / "kustomization.yaml").read_text()):
        p = (d / r).resolve()
        if p.is_dir():
            yield from walk(p)
        else:
            yield p
for p in walk(src):
    shutil.copy(p, out / p.name)
PY
    cp "$kdir/config/configmap/inferenceservice.yaml" "$KSERVE_CFG.tmp/inferenceservice-config.yaml"
    # fixed images instead of kustomize's placeholders (KServe appends -gpu for GPU requests)
    sed 's#image: vllmserver:replace#image: docker.io/vllm/vllm-openai:v0.11.0#' \
      "$kdir/config/runtimes/kserve-vllmserver.yaml" >"$KSERVE_CFG.tmp/runtimes/kserve-vllmserver.yaml"
    sed 's#image: huggingfaceserver:replace#image: docker.io/kserve/huggingfaceserver:v0.20.0#' \
      "$kdir/config/runtimes/kserve-huggingfaceserver.yaml" >"$KSERVE_CFG.tmp/runtimes/kserve-huggingfaceserver.yaml"
    if grep -q ':replace' "$KSERVE_CFG.tmp/runtimes/"*.yaml; then
      log "ERROR: image placeholder left in the runtimes"; return 1
    fi
    cp "$kdir/config/webhook/manifests.yaml" "$KSERVE_CFG.tmp/webhook/manifests.yaml"
    chmod -R u+w "$KSERVE_CFG.tmp"
    echo "$KSERVE_MOD $KSERVE_VERSION" >"$KSERVE_CFG.tmp/.complete"
    rm -rf "$KSERVE_CFG"; mv "$KSERVE_CFG.tmp" "$KSERVE_CFG"
  fi
  if [ ! -f "$KEDA_CFG/.complete" ]; then
    ddir=$(module_info "$KEDA_MOD@$KEDA_VERSION"); ddir=${ddir%%$'\t'*}
    rm -rf "$KEDA_CFG.tmp"; mkdir -p "$KEDA_CFG.tmp/crds"
    cp "$ddir"/config/crd/bases/*.yaml "$KEDA_CFG.tmp/crds/"
    [ "$(ls "$KEDA_CFG.tmp/crds" | wc -l)" = 6 ] || { log "ERROR: expected 6 KEDA CRDs"; return 1; }
    chmod -R u+w "$KEDA_CFG.tmp"
    echo "$KEDA_MOD $KEDA_VERSION" >"$KEDA_CFG.tmp/.complete"
    rm -rf "$KEDA_CFG"; mv "$KEDA_CFG.tmp" "$KEDA_CFG"
  fi
  log "config in $KSERVE_CFG ($(ls "$KSERVE_CFG/crds" | wc -l) CRDs) and $KEDA_CFG ($(ls "$KEDA_CFG/crds" | wc -l) CRDs) after $(( $(now) - t0 ))s"
}

T0=$(now)
if [ "$DOWNLOAD_ONLY" = 1 ]; then download_all; exit; fi
wants config && copy_config
PC=github.com/prometheus/common/version
wants ksm && build_component kube-state-metrics "$KSM_MOD" "$KSM_VERSION" "$KSM_BIN" \
  "kube-state-metrics=." \
  "-X $PC.Version=${KSM_VERSION#v} -X $PC.Revision=module-proxy -X $PC.Branch=release -X $PC.BuildUser=modelport -X $PC.BuildDate=module-proxy" \
  "./kube-state-metrics version | grep -q 'version ${KSM_VERSION#v}'"
wants kserve && build_component kserve "$KSERVE_MOD" "$KSERVE_VERSION" "$KSERVE_BIN" \
  "manager=./cmd/manager" ""
KV=github.com/kedacore/keda/v2/version
wants keda && build_component keda "$KEDA_MOD" "$KEDA_VERSION" "$KEDA_BIN" \
  "keda-operator=./cmd/operator keda-adapter=./cmd/adapter" \
  "-X $KV.Version=$KEDA_VERSION -X $KV.GitCommit=module-proxy"

ENV_FILE="$CACHE/controllers-env.sh"
cat >"$ENV_FILE" <<EOF
export MODELPORT_KSERVE_MANAGER="$KSERVE_BIN/manager"
export MODELPORT_KSERVE_CONFIG_DIR="$KSERVE_CFG"
export MODELPORT_KEDA_OPERATOR="$KEDA_BIN/keda-operator"
export MODELPORT_KEDA_ADAPTER="$KEDA_BIN/keda-adapter"
export MODELPORT_KEDA_CONFIG_DIR="$KEDA_CFG"
export MODELPORT_KSM="$KSM_BIN/kube-state-metrics"
EOF
log "done in $(( $(now) - T0 ))s; env file: $ENV_FILE"
echo "$ENV_FILE"
