"""The real Karpenter (its KWOK cloud provider) on a :class:`tests.infra.kube.ControlPlane`.

No Django imports (like ``tests/infra/controllers.py``). The binary and CRDs come from
``bash tools/build-karpenter.sh`` (``sigs.k8s.io/karpenter`` from the Go module proxy, cached by
version), found through ``$MODELPORT_KARPENTER`` / ``$MODELPORT_KARPENTER_CRD_DIR``
(``$MODELPORT_CACHE/karpenter-env.sh``) or the default cache paths.

What is real: Karpenter's provisioner, scheduler simulation, NodePool limits, NodeClaim
lifecycle (launch, registration, initialization), disruption and termination controllers, and
its events. The KWOK provider "launches" an instance by creating the Node object itself (taint
``karpenter.sh/unregistered``, labels of the instance type and offering, allocatable from the
instance-types file); the test's :class:`~tests.infra.kube.FakeKubelet` then plays the kubelet
on it (:meth:`FakeKubelet.serve_provisioned_nodes`: Ready, lease, pods).

What is played: the readiness of the ``KWOKNodeClass`` (no controller in the KWOK provider sets
its ``Ready`` condition, which Karpenter requires of a NodePool's NodeClass; a cloud provider's
own controller does it for an ``EC2NodeClass``): :func:`mark_node_class_ready`.
"""

from __future__ import annotations

import glob
import json
import os
import time
from pathlib import Path

from .controllers import _Component, _http_ok
from .kube import DEFAULT_CACHE, ControlPlane, MissingBinaries, free_port

HOW_TO_GET = "run `bash tools/build-karpenter.sh` (Go module proxy; a few minutes cold)"


def karpenter_paths() -> tuple[Path, Path]:
    """(binary, CRD dir) from the env file's variables, else the newest cached version."""
    binary = os.environ.get("MODELPORT_KARPENTER")
    crds = os.environ.get("MODELPORT_KARPENTER_CRD_DIR")
    if binary and crds:
        if not (Path(binary).exists() and Path(crds).is_dir()):
            raise MissingBinaries(f"{binary} or {crds} does not exist: {HOW_TO_GET}")
        return Path(binary), Path(crds)
    found = sorted(glob.glob(str(DEFAULT_CACHE / "karpenter" / "v*" / "karpenter-kwok")))
    if not found:
        raise MissingBinaries(f"Karpenter (KWOK provider) not found: {HOW_TO_GET}")
    return Path(found[-1]), Path(found[-1]).parent / "crds"


class Karpenter(_Component):
    """Karpenter's KWOK provider out of cluster, reading ``instance_types`` (the portal's
    ``manage.py karpenter_instance_types`` JSON) as its instance types (None: the KWOK
    provider's own built-in types, which have no GPUs).

    ``batch_idle`` / ``batch_max``: how long Karpenter batches pending pods before it decides
    (upstream defaults 1 s / 10 s; shorter here so tests do not wait).
    """

    name = "karpenter"

    def __init__(
        self,
        cp: ControlPlane,
        instance_types: list[dict] | None,
        batch_idle: str = "1s",
        batch_max: str = "3s",
    ):
        super().__init__(cp)
        self.binary, self.crd_dir = karpenter_paths()
        self.instance_types = instance_types
        self.batch_idle, self.batch_max = batch_idle, batch_max
        self.metrics_port = self.probe_port = 0

    def crd_paths(self) -> list[Path]:
        return [
            self.crd_dir / "karpenter.sh_nodepools.yaml",
            self.crd_dir / "karpenter.sh_nodeclaims.yaml",
            self.crd_dir / "karpenter.sh_nodeoverlays.yaml",
            self.crd_dir / "karpenter.kwok.sh_kwoknodeclasses.yaml",
        ]

    def start(self):
        self.metrics_port, self.probe_port = free_port(), free_port()
        env = {**self.env}
        if self.instance_types is not None:  # None: the provider's built-in (CPU-only) types
            types_file = self.cp.workdir / "karpenter-instance-types.json"
            types_file.write_text(json.dumps(self.instance_types, indent=1))
            env["INSTANCE_TYPES_FILE_PATH"] = str(types_file)
        env = {
            **env,
            "DISABLE_LEADER_ELECTION": "true",
            "METRICS_PORT": str(self.metrics_port),
            "HEALTH_PROBE_PORT": str(self.probe_port),
            "BATCH_IDLE_DURATION": self.batch_idle,
            "BATCH_MAX_DURATION": self.batch_max,
            "LOG_LEVEL": "debug",
            "SYSTEM_NAMESPACE": "kube-system",
            "CPU_REQUESTS": "1000",
        }
        self._spawn(self.name, [self.binary], env)

    def wait_ready(self, timeout: float = 90.0):
        self._wait(
            lambda: _http_ok(f"http://127.0.0.1:{self.probe_port}/readyz"),
            "karpenter /readyz",
            timeout,
        )


def mark_node_class_ready(cp: ControlPlane, name: str, timeout: float = 30.0) -> None:
    """Play the NodeClass controller: set ``status.conditions`` Ready=True on the KWOKNodeClass
    ``name`` (waits until the portal applied it)."""
    from kubernetes.client.rest import ApiException

    dyn = cp.dynamic_client()
    api = dyn.resources.get(api_version="karpenter.kwok.sh/v1alpha1", kind="KWOKNodeClass")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    deadline = time.monotonic() + timeout
    while True:
        try:
            obj = api.get(name=name)
            body = {
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "Ready",
                            "message": "",
                            "lastTransitionTime": now,
                            "observedGeneration": obj.metadata.generation,
                        }
                    ]
                }
            }
            api.status.patch(name=name, body=body, content_type="application/merge-patch+json")
            return
        except ApiException as e:
            if e.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def ready_node_classes(cp: ControlPlane) -> list[str]:
    """Play the NodeClass controller once, without waiting (``tools/devcluster.py`` calls it
    every second): mark every KWOKNodeClass that is not Ready yet; the names marked now."""
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    dyn = cp.dynamic_client()
    try:
        api = dyn.resources.get(api_version="karpenter.kwok.sh/v1alpha1", kind="KWOKNodeClass")
        items = api.get().items
    except (ApiException, ResourceNotFoundError):
        return []
    marked = []
    for obj in items:
        conditions = (obj.get("status") or {}).get("conditions") or []
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            mark_node_class_ready(cp, obj.metadata.name, timeout=0)
            marked.append(obj.metadata.name)
    return marked
