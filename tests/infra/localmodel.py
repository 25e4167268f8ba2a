"""KServe v0.20's local-model controller (`cmd/localmodel`, the same Go module as the manager)
against the test apiserver, and the CRDs it serves.

Built by `bash tools/build-localmodel.sh` into
``${MODELPORT_CACHE:-~/.cache/modelport}/bin/kserve-localmodel-<version>/localmodel`` (found
through ``MODELPORT_KSERVE_LOCALMODEL`` too). What it does here for real: the finalizer on each
LocalModelCache, a LocalModelNode per node of a node group, the download PV/PVC in the job
namespace and, in every namespace with an InferenceService that uses a cache, the PV
``<cache>-<group>-<namespace>`` and the PVC ``<cache>-<group>`` the predictor pod mounts. Not
run: the node agent (`cmd/localmodelnode`), which downloads onto each node's disk with Jobs; a
LocalModelNode's models stay pending, nothing is downloaded.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .controllers import KSERVE_NAMESPACE, _Component, _ensure_namespace, _pki
from .kube import DEFAULT_CACHE, MissingBinaries, free_port

KSERVE_SRC = DEFAULT_CACHE / "src"
JOB_NAMESPACE = "kserve-localmodel-jobs"  # inferenceservice-config's localModel.jobNamespace


def crd_paths() -> list[Path]:
    """The four local-model CRDs from the KServe module source (config/crd/full/localmodel)."""
    found = sorted(glob.glob(str(KSERVE_SRC / "kserve-v*" / "config/crd/full/localmodel/*.yaml")))
    paths = [Path(p) for p in found if not p.endswith("kustomization.yaml")]
    if not paths:
        raise MissingBinaries(f"no local-model CRDs under {KSERVE_SRC}/kserve-v*/config/crd/full")
    return paths


def binary() -> Path:
    env = os.environ.get("MODELPORT_KSERVE_LOCALMODEL")
    candidates = (
        [env]
        if env
        else sorted(glob.glob(str(DEFAULT_CACHE / "bin" / "kserve-localmodel-v*" / "localmodel")))
    )
    for c in reversed(candidates):
        if c and os.access(c, os.X_OK):
            return Path(c)
    raise MissingBinaries(
        "the KServe local-model controller is not built: bash tools/build-localmodel.sh"
    )


class LocalModelController(_Component):
    name = "kserve-localmodel"

    def __init__(self, cp):
        super().__init__(cp)
        self.binary = binary()
        self.probe_port = 0

    def start(self):
        tmp = self.cp.workdir / "localmodel-tmp"
        _pki(self.cp).copy_to(
            tmp / "k8s-webhook-server" / "serving-certs", names=("tls.crt", "tls.key")
        )
        _ensure_namespace(self.cp, JOB_NAMESPACE)
        self.probe_port = free_port()
        env = {**self.env, "TMPDIR": str(tmp), "POD_NAMESPACE": KSERVE_NAMESPACE}
        self._spawn(
            self.name,
            [
                self.binary,
                f"--webhook-port={free_port()}",
                f"--health-probe-addr=127.0.0.1:{self.probe_port}",
                f"--metrics-addr=127.0.0.1:{free_port()}",
                "--leader-elect=false",
            ],
            env,
        )

    def wait_ready(self, timeout: float = 90.0):
        from .controllers import _http_ok

        self._wait(
            lambda: _http_ok(f"http://127.0.0.1:{self.probe_port}/readyz"),
            "KServe local-model controller /readyz",
            timeout,
        )
