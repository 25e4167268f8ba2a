"""The real upstream controllers on a :class:`tests.infra.kube.ControlPlane`.

No Django imports: shared by the pytest fixtures (``tests/infra/fixtures.py``) and
``tools/devcluster.py``. Binaries and upstream config come from
``bash tools/build-controllers.sh`` (Go module proxy, cached by version), found through the
variables of ``$MODELPORT_CACHE/controllers-env.sh`` or the default cache paths.

- :class:`KServeController` – KServe v0.20 controller manager, its webhooks served over a
  self-signed certificate and registered with the apiserver by ``clientConfig.url`` (the
  upstream Mutating/ValidatingWebhookConfigurations), the upstream ``inferenceservice-config``
  ConfigMap and the vLLM / Hugging Face ClusterServingRuntimes.
- :class:`KedaOperator` – KEDA v2.21 operator (ScaledObject -> HPA) and, with
  ``adapter=True``, its external-metrics adapter registered as APIService
  ``v1beta1.external.metrics.k8s.io`` through the aggregation layer, so the HPA controller of
  kube-controller-manager really reads KEDA's metric and computes replicas.
- :class:`KubeStateMetrics` – kube-state-metrics v2.15 out of cluster (``--kubeconfig``) with
  the label allowlist billing joins on (``billing/queries.py``).

:func:`start_controllers` starts any of them in parallel and waits until all are ready.
Every process listens on 127.0.0.1 on free ports (the KServe webhook server binds all
addresses: it has no host flag), logs into ``<cluster workdir>/<name>.log`` (so
:meth:`ControlPlane.logs` includes them) and is stopped by its process group.
"""

from __future__ import annotations

import base64
import copy
import glob
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from .kube import DEFAULT_CACHE, ControlPlane, MissingBinaries, _Proc, free_port

HOW_TO_GET = "run `bash tools/build-controllers.sh` (Go module proxy; ~25-35 min cold on 2 cores)"
KSERVE_NAMESPACE = "kserve"
KEDA_NAMESPACE = "keda"

# What billing/queries.py and portal/metrics.py join on (label_* of kube_*_labels).
KSM_LABEL_ALLOWLIST = {
    "pods": [
        "modelport.io/team",
        "modelport.io/endpoint",
        "modelport.io/endpoint-uuid",
        "modelport.io/batch-job",
        "modelport.io/batch-job-uuid",
        "serving.kserve.io/inferenceservice",
        "app",
    ],
    "nodes": [
        "node.kubernetes.io/instance-type",
        "karpenter.sh/capacity-type",
        "eks.amazonaws.com/capacityType",
        "nvidia.com/gpu.product",
    ],
    "namespaces": ["modelport.io/team"],
}
KSM_RESOURCES = [
    "pods",
    "nodes",
    "namespaces",
    "deployments",
    "replicasets",
    "horizontalpodautoscalers",
]


def _find(env: str, pattern: str, what: str) -> Path:
    """``$env`` if set, else the newest match of ``<cache>/<pattern>``; MissingBinaries if none."""
    value = os.environ.get(env)
    if value:
        path = Path(value)
        if path.exists():
            return path
        raise MissingBinaries(f"{env}={value} does not exist: {HOW_TO_GET}")
    found = sorted(glob.glob(str(DEFAULT_CACHE / pattern)))
    if not found:
        raise MissingBinaries(f"{what} not found ({DEFAULT_CACHE / pattern}): {HOW_TO_GET}")
    return Path(found[-1])


def kserve_paths() -> tuple[Path, Path]:
    return (
        _find("MODELPORT_KSERVE_MANAGER", "bin/kserve-v*/manager", "KServe manager"),
        _find("MODELPORT_KSERVE_CONFIG_DIR", "controllers/kserve-v*", "KServe config"),
    )


def keda_paths() -> tuple[Path, Path, Path]:
    return (
        _find("MODELPORT_KEDA_OPERATOR", "bin/keda-v*/keda-operator", "KEDA operator"),
        _find("MODELPORT_KEDA_ADAPTER", "bin/keda-v*/keda-adapter", "KEDA adapter"),
        _find("MODELPORT_KEDA_CONFIG_DIR", "controllers/keda-v*", "KEDA config"),
    )


def ksm_path() -> Path:
    return _find(
        "MODELPORT_KSM", "bin/kube-state-metrics-v*/kube-state-metrics", "kube-state-metrics"
    )


# ---------------------------------------------------------------------------- PKI
class TestPKI:
    """A self-signed CA and one server/client certificate (ECDSA P-256) for 127.0.0.1,
    ``localhost`` and the in-cluster service names, made with openssl in ``directory``."""

    __test__ = False  # not a pytest class

    DNS = [
        "localhost",
        "keda-operator",
        "keda-operator.keda",
        "keda-operator.keda.svc",
        "keda-operator.keda.svc.cluster.local",
        "keda-metrics-apiserver.keda.svc",
        "kserve-webhook-server-service.kserve.svc",
    ]

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.ca_crt = self.dir / "ca.crt"
        self.tls_crt = self.dir / "tls.crt"
        self.tls_key = self.dir / "tls.key"
        if not (self.ca_crt.exists() and self.tls_crt.exists() and self.tls_key.exists()):
            self._make()

    def _run(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=self.dir)

    def _make(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._run(
            "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
            "-subj", "/CN=modelport-test-ca",
        )  # fmt: skip
        self._run(
            "req", *ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=modelport-local"
        )  # fmt: skip
        san = ",".join(["IP:127.0.0.1", *(f"DNS:{d}" for d in self.DNS)])
        (self.dir / "ext.cnf").write_text(
            f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n"
        )
        self._run(
            "x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tls.crt", "-days", "3650", "-extfile", "ext.cnf",
        )  # fmt: skip

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca_crt.read_bytes()).decode()

    def copy_to(self, directory: Path, names=("ca.crt", "tls.crt", "tls.key")) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            (directory / name).write_bytes((self.dir / name).read_bytes())
        return directory


def _pki(cp: ControlPlane) -> TestPKI:
    return TestPKI(cp.workdir / "controller-pki")


# ---------------------------------------------------------------------------- helpers
def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _ensure_namespace(cp: ControlPlane, name: str, labels: dict | None = None):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        client.CoreV1Api(cp.api_client()).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels or {}))
        )
    except ApiException as e:
        if e.status != 409:
            raise


def apply_objects(cp: ControlPlane, docs: list[dict]):
    """Create or replace each object (server-side apply with force, field manager modelport-tests)."""
    import json

    dyn = cp.dynamic_client()
    for doc in docs:
        api = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        ns = doc["metadata"].get("namespace")
        dyn.server_side_apply(
            api,
            body=json.loads(json.dumps(doc)),
            name=doc["metadata"]["name"],
            namespace=ns,
            field_manager="modelport-tests",
            force_conflicts=True,
        )


class _Component:
    name = "component"

    def __init__(self, cp: ControlPlane):
        self.cp = cp
        self.procs: list[_Proc] = []
        self.env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig_path)}

    def _spawn(self, name: str, args: list[str], env: dict | None = None) -> _Proc:
        proc = _Proc(name, [str(a) for a in args], self.cp.workdir / f"{name}.log")
        proc.start(env=env or self.env)
        self.procs.append(proc)
        self.cp._procs[name] = proc  # ControlPlane.pids()/logs() see it; stop() is ours
        return proc

    @property
    def running(self) -> bool:
        return bool(self.procs) and all(p.running for p in self.procs)

    def _wait(self, check, what: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if not p.running:
                    raise RuntimeError(f"{p.name} exited early:\n{self.logs()}")
            if check():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout} s:\n{self.logs()}")

    def logs(self, tail: int = 60) -> str:
        out = []
        for p in self.procs:
            lines = (
                p.log_path.read_text(errors="replace").splitlines() if p.log_path.exists() else []
            )
            out.append(f"----- {p.log_path.name} (last {min(tail, len(lines))} lines) -----")
            out.extend(lines[-tail:])
        return "\n".join(out)

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
            if self.cp._procs.get(p.name) is p:
                del self.cp._procs[p.name]
        self.procs = []

    def pids(self) -> dict[str, int]:
        return {p.name: p.popen.pid for p in self.procs if p.running}

    # start() spawns and prepares; wait_ready() blocks; both are called by start_controllers
    def start(self):
        raise NotImplementedError

    def wait_ready(self, timeout: float = 90.0):
        raise NotImplementedError


# ---------------------------------------------------------------------------- KServe
class KServeController(_Component):
    """KServe controller manager with real admission webhooks.

    After :meth:`wait_ready`: ``inferenceservice-config`` in namespace ``kserve``, the
    upstream webhook configurations registered with ``clientConfig.url`` +
    ``caBundle`` (so ``InferenceService`` defaulting/validation and the pod mutator that injects
    the ``storage-initializer`` really run), and the ClusterServingRuntimes
    ``kserve-vllmserver`` and ``kserve-huggingfaceserver`` (created through the validating
    webhook, which proves it answers).
    """

    name = "kserve-controller"

    def __init__(self, cp: ControlPlane):
        super().__init__(cp)
        self.manager, self.config_dir = kserve_paths()
        self.webhook_port = 0
        self.probe_port = 0
        self.metrics_port = 0

    @property
    def webhook_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook_port}"

    def crd_paths(self) -> list[Path]:
        return sorted((self.config_dir / "crds").glob("*.yaml"))

    def start(self):
        pki = _pki(self.cp)
        tmp = self.cp.workdir / "kserve-tmp"
        pki.copy_to(tmp / "k8s-webhook-server" / "serving-certs", names=("tls.crt", "tls.key"))
        _ensure_namespace(self.cp, KSERVE_NAMESPACE, {"control-plane": "kserve-controller-manager"})
        cm = yaml.safe_load((self.config_dir / "inferenceservice-config.yaml").read_text())
        cm["metadata"]["namespace"] = KSERVE_NAMESPACE
        apply_objects(self.cp, [cm])
        self.webhook_port, self.probe_port, self.metrics_port = (free_port() for _ in range(3))
        env = {**self.env, "TMPDIR": str(tmp), "POD_NAMESPACE": KSERVE_NAMESPACE}
        self._spawn(
            self.name,
            [
                self.manager,
                f"--webhook-port={self.webhook_port}",
                f"--health-probe-addr=127.0.0.1:{self.probe_port}",
                f"--metrics-addr=127.0.0.1:{self.metrics_port}",
                "--leader-elect=false",
            ],
            env,
        )

    def webhook_configurations(self) -> list[dict]:
        """The upstream webhook configurations with ``clientConfig.url`` + ``caBundle``."""
        bundle = _pki(self.cp).ca_bundle
        docs = []
        for doc in yaml.safe_load_all((self.config_dir / "webhook" / "manifests.yaml").read_text()):
            if not doc:
                continue
            doc = copy.deepcopy(doc)
            doc["metadata"].pop("creationTimestamp", None)
            for hook in doc["webhooks"]:
                path = hook["clientConfig"]["service"]["path"]
                hook["clientConfig"] = {"url": f"{self.webhook_url}{path}", "caBundle": bundle}
            docs.append(doc)
        return docs

    def runtimes(self) -> list[dict]:
        return [
            yaml.safe_load(p.read_text()) for p in sorted((self.config_dir / "runtimes").glob("*"))
        ]

    def wait_ready(self, timeout: float = 90.0):
        self._wait(
            lambda: _http_ok(f"http://127.0.0.1:{self.probe_port}/readyz"),
            "KServe controller /readyz",
            timeout,
        )
        apply_objects(self.cp, self.webhook_configurations())
        # the apiserver calls the validating webhook for these: retry while it warms up
        deadline = time.monotonic() + 30
        while True:
            try:
                apply_objects(self.cp, self.runtimes())
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


# ---------------------------------------------------------------------------- KEDA
EXTERNAL_METRICS_APISERVICE = "v1beta1.external.metrics.k8s.io"


class KedaOperator(_Component):
    """KEDA operator, optionally with its external-metrics adapter behind the aggregation layer.

    The adapter is registered as APIService ``v1beta1.external.metrics.k8s.io`` pointing at a
    Service of type ExternalName ``localhost`` in namespace ``keda``: the aggregator resolves
    such a Service to ``https://localhost:<port>`` (``--enable-aggregator-routing`` stays off,
    so no Endpoints with loopback addresses are needed, which the apiserver would reject).
    """

    name = "keda-operator"

    def __init__(self, cp: ControlPlane, adapter: bool = True):
        super().__init__(cp)
        self.operator, self.adapter_bin, self.config_dir = keda_paths()
        self.adapter = adapter
        self.grpc_port = self.probe_port = self.metrics_port = 0
        self.adapter_port = self.adapter_metrics_port = 0

    def crd_paths(self) -> list[Path]:
        return sorted((self.config_dir / "crds").glob("*.yaml"))

    def start(self):
        pki = _pki(self.cp)
        certs = pki.copy_to(self.cp.workdir / "keda-certs")
        ca_dir = pki.copy_to(self.cp.workdir / "keda-ca", names=("ca.crt",))
        _ensure_namespace(self.cp, KEDA_NAMESPACE)
        self.grpc_port, self.probe_port, self.metrics_port = (free_port() for _ in range(3))
        env = {
            **self.env,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": KEDA_NAMESPACE,
            "POD_NAMESPACE": KEDA_NAMESPACE,
            "WATCH_NAMESPACE": "",
        }
        self._spawn(
            self.name,
            [
                self.operator,
                "--leader-elect=false",
                f"--metrics-bind-address=127.0.0.1:{self.metrics_port}",
                f"--health-probe-bind-address=127.0.0.1:{self.probe_port}",
                f"--metrics-service-bind-address=127.0.0.1:{self.grpc_port}",
                f"--cert-dir={certs}",
                f"--ca-dir={ca_dir}",
                "--enable-cert-rotation=false",
                "--enable-webhook-patching=false",
                "--enable-apiservice-patching=false",
                "--zap-log-level=info",
            ],
            env,
        )
        if self.adapter:
            self.adapter_port, self.adapter_metrics_port = free_port(), free_port()
            kubeconfig = str(self.cp.kubeconfig_path)
            self._spawn(
                "keda-adapter",
                [
                    self.adapter_bin,
                    f"--secure-port={self.adapter_port}",
                    "--bind-address=127.0.0.1",
                    f"--cert-dir={certs}",
                    f"--tls-cert-file={certs / 'tls.crt'}",
                    f"--tls-private-key-file={certs / 'tls.key'}",
                    f"--lister-kubeconfig={kubeconfig}",
                    f"--authentication-kubeconfig={kubeconfig}",
                    f"--authorization-kubeconfig={kubeconfig}",
                    f"--requestheader-client-ca-file={self.cp.front_proxy_ca}",
                    f"--port={self.adapter_metrics_port}",
                    f"--metrics-service-address=127.0.0.1:{self.grpc_port}",
                    "--metrics-service-grpc-authority=keda-operator.keda.svc.cluster.local",
                ],
                env,
            )

    def apiservice_objects(self) -> list[dict]:
        return [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "keda-metrics-apiserver", "namespace": KEDA_NAMESPACE},
                "spec": {"type": "ExternalName", "externalName": "localhost"},
            },
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": EXTERNAL_METRICS_APISERVICE},
                "spec": {
                    "group": "external.metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "service": {
                        "name": "keda-metrics-apiserver",
                        "namespace": KEDA_NAMESPACE,
                        "port": self.adapter_port,
                    },
                    "caBundle": _pki(self.cp).ca_bundle,
                },
            },
        ]

    def apiservice_available(self) -> bool:
        try:
            svc = self.cp.get_json(
                f"/apis/apiregistration.k8s.io/v1/apiservices/{EXTERNAL_METRICS_APISERVICE}"
            )
        except Exception:
            return False
        conds = {c["type"]: c["status"] for c in svc.get("status", {}).get("conditions") or []}
        return conds.get("Available") == "True"

    def wait_ready(self, timeout: float = 90.0):
        self._wait(
            lambda: _http_ok(f"http://127.0.0.1:{self.probe_port}/readyz"),
            "KEDA operator /readyz",
            timeout,
        )
        if self.adapter:
            apply_objects(self.cp, self.apiservice_objects())
            self._wait(self.apiservice_available, f"APIService {EXTERNAL_METRICS_APISERVICE}", 60)

    def external_metric(self, namespace: str, metric: str, scaled_object: str) -> dict:
        """What the HPA controller reads: ``GET /apis/external.metrics.k8s.io/v1beta1/...``."""
        import urllib.parse

        sel = urllib.parse.quote(f"scaledobject.keda.sh/name={scaled_object}")
        return self.cp.get_json(
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
            f"?labelSelector={sel}"
        )


# ---------------------------------------------------------------------------- kube-state-metrics
class KubeStateMetrics(_Component):
    """kube-state-metrics out of cluster; :attr:`url` is its ``/metrics``."""

    name = "kube-state-metrics"

    def __init__(self, cp: ControlPlane, resources=None, allowlist=None):
        super().__init__(cp)
        self.binary = ksm_path()
        self.resources = list(resources or KSM_RESOURCES)
        self.allowlist = allowlist or KSM_LABEL_ALLOWLIST
        self.port = self.telemetry_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self):
        self.port, self.telemetry_port = free_port(), free_port()
        allow = ",".join(f"{k}=[{','.join(v)}]" for k, v in self.allowlist.items())
        self._spawn(
            self.name,
            [
                self.binary,
                f"--kubeconfig={self.cp.kubeconfig_path}",
                "--host=127.0.0.1",
                f"--port={self.port}",
                "--telemetry-host=127.0.0.1",
                f"--telemetry-port={self.telemetry_port}",
                f"--resources={','.join(self.resources)}",
                f"--metric-labels-allowlist={allow}",
            ],
        )

    def wait_ready(self, timeout: float = 90.0):
        def ready():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    return r.status == 200 and b"kube_namespace_labels" in r.read()
            except (OSError, urllib.error.URLError):
                return False

        self._wait(ready, "kube-state-metrics /metrics", timeout)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as r:
            return r.read().decode()


# ---------------------------------------------------------------------------- all together
def start_controllers(components: list[_Component], timeout: float = 120.0) -> float:
    """Install the components' CRDs, spawn them all, then wait for each in parallel.

    Returns the seconds it took. On failure everything started here is stopped."""
    t0 = time.monotonic()
    crds = [p for c in components for p in getattr(c, "crd_paths", lambda: [])()]
    try:
        if crds:
            components[0].cp.install_crds(crds)
        for c in components:
            c.start()
        errors: list[BaseException] = []

        def wait(c):
            try:
                c.wait_ready(timeout)
            except BaseException as e:  # noqa: BLE001 - re-raised below
                errors.append(e)

        threads = [threading.Thread(target=wait, args=(c,)) for c in components]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
    except BaseException:
        for c in components:
            c.stop()
        raise
    return time.monotonic() - t0


class ControllerStack:
    """KServe controller + KEDA operator (+ adapter) + kube-state-metrics on one cluster.

    ``ControllerStack(cp).start()`` starts them in parallel (~10-20 s once the binaries exist);
    :meth:`stop` stops them by PID. Components whose binaries are missing raise
    :class:`MissingBinaries` on construction.
    """

    def __init__(self, cp: ControlPlane, kserve=True, keda=True, keda_adapter=True, ksm=True):
        self.cp = cp
        self.kserve = KServeController(cp) if kserve else None
        self.keda = KedaOperator(cp, adapter=keda_adapter) if keda else None
        self.ksm = KubeStateMetrics(cp) if ksm else None
        self.start_seconds: float | None = None

    @property
    def components(self) -> list[_Component]:
        return [c for c in (self.kserve, self.keda, self.ksm) if c is not None]

    def start(self) -> ControllerStack:
        self.start_seconds = start_controllers(self.components)
        return self

    def stop(self):
        for c in self.components:
            c.stop()

    def pids(self) -> dict[str, int]:
        return {k: v for c in self.components for k, v in c.pids().items()}

    def dead(self) -> list[str]:
        return [p.name for c in self.components for p in c.procs if not p.running]
