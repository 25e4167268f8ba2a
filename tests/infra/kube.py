"""A real local Kubernetes control plane (etcd + kube-apiserver) for tests and development.

No Django imports: this module is shared by the pytest fixtures (``tests/infra/fixtures.py``)
and ``tools/devcluster.py``.

Binaries come from ``bash tools/build-k8s.sh`` (built from the Go module proxy); they are
found through ``MODELPORT_KUBE_BIN_DIR`` (a directory holding ``kube-apiserver`` and ``etcd``),
else the default cache ``${MODELPORT_CACHE:-~/.cache/modelport}/bin/k8s-*``. The KServe and
KEDA CRDs come from ``MODELPORT_CRD_DIR`` or ``<cache>/crds/*``.

Typical use::

    cp = ControlPlane().start()          # etcd + apiserver + CRDs, ~10-20 s on 2 cores
    api = cp.api_client()                # kubernetes.client.ApiClient (not the global config)
    ns = cp.new_namespace()
    ...
    cp.stop()                            # SIGTERM, then SIGKILL, by recorded process group

Everything listens on 127.0.0.1 on free ports. Authentication is a static token in
``system:masters`` (``cp.token``); RBAC is on, so other users/tokens can be added with
``extra_tokens`` and real RBAC objects. The serving certificate is self-signed by the
apiserver into ``<workdir>/certs``; the kubeconfig points at ``certs/apiserver.crt`` as CA.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import stop_process_group

DEFAULT_CACHE = Path(os.environ.get("MODELPORT_CACHE", Path.home() / ".cache" / "modelport"))
ADMIN_TOKEN = "modelport-admin-token"
HOW_TO_GET = (
    "run `bash tools/build-k8s.sh` (needs Go >= 1.26 and the Go module proxy; ~10 min cold)"
)


class MissingBinaries(RuntimeError):
    """The control plane binaries or CRDs are not available on this machine."""


def _version_key(path: str) -> tuple:
    name = os.path.basename(path.rstrip("/"))
    parts = name.split("-v", 1)[-1].split(".")
    return tuple(int(p) if p.isdigit() else 0 for p in parts)


def find_bin_dir() -> Path:
    """Directory containing kube-apiserver and etcd, or raise MissingBinaries."""
    env = os.environ.get("MODELPORT_KUBE_BIN_DIR")
    candidates = (
        [Path(env)]
        if env
        else [
            Path(p)
            for p in sorted(
                glob.glob(str(DEFAULT_CACHE / "bin" / "k8s-v*")), key=_version_key, reverse=True
            )
        ]
    )
    for d in candidates:
        if (d / "kube-apiserver").is_file() and os.access(d / "kube-apiserver", os.X_OK):
            if find_etcd(d):
                return d
    where = env or str(DEFAULT_CACHE / "bin" / "k8s-v*")
    raise MissingBinaries(f"kube-apiserver/etcd not found in {where}: {HOW_TO_GET}")


def find_etcd(bin_dir: Path) -> Path | None:
    if (bin_dir / "etcd").exists():
        return bin_dir / "etcd"
    found = sorted(
        glob.glob(str(DEFAULT_CACHE / "bin" / "etcd-v*" / "etcd")),
        key=lambda p: _version_key(os.path.dirname(p)),
    )
    return Path(found[-1]) if found else None


def find_crd_dir() -> Path:
    env = os.environ.get("MODELPORT_CRD_DIR")
    candidates = (
        [Path(env)]
        if env
        else [Path(p) for p in sorted(glob.glob(str(DEFAULT_CACHE / "crds" / "*")))]
    )
    for d in reversed(candidates):
        if d.is_dir() and list(d.glob("*.yaml")):
            return d
    raise MissingBinaries(
        f"CRD directory not found ({env or DEFAULT_CACHE / 'crds'}): {HOW_TO_GET}"
    )


def find_route_crd_dir() -> Path | None:
    """The router CRDs for model routes (tools/fetch-route-crds.sh), or None when not fetched."""
    env = os.environ.get("MODELPORT_ROUTE_CRD_DIR")
    candidates = (
        [Path(env)]
        if env
        else [Path(p) for p in sorted(glob.glob(str(DEFAULT_CACHE / "crds-routing" / "*")))]
    )
    for d in reversed(candidates):
        if d.is_dir() and list(d.glob("*.yaml")):
            return d
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Proc:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen | None = None
    log_file: object = None

    def start(self, env=None):
        self.log_file = open(self.log_path, "ab")
        self.log_file.write(
            f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(self.args)}\n".encode()
        )
        self.log_file.flush()
        self.popen = subprocess.Popen(
            self.args,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0):
        if self.popen is None:
            return
        stop_process_group(self.popen, timeout)  # the child leads its own session/group
        self.popen = None
        if self.log_file:
            self.log_file.close()
            self.log_file = None


@dataclass
class ControlPlane:
    """etcd + kube-apiserver (+ optional kube-controller-manager/kube-scheduler) on loopback.

    Parameters:
        bin_dir: directory with ``kube-apiserver`` and ``etcd`` (default: :func:`find_bin_dir`).
        crd_dir: directory of CRD YAML files to install on start (default: :func:`find_crd_dir`);
            pass ``install_crds=False`` to :meth:`start` to skip.
        workdir: where data, certs, logs and the kubeconfig go (default: a new temp dir,
            removed by :meth:`stop` unless ``keep_workdir``).
        with_controllers: also run kube-controller-manager and kube-scheduler (built with
            ``build-k8s.sh --with-controllers``): namespaces really delete, default
            ServiceAccounts appear, Deployments create ReplicaSets/Pods that get scheduled onto
            Node objects, ResourceQuota status is computed (so quota admission works).
            ``None`` (default) = env ``MODELPORT_KUBE_CONTROLLERS`` (``1``/``0``), else "if built".
        extra_tokens: more ``(token, user, uid, groups)`` rows for the static token file.
    """

    bin_dir: Path | None = None
    crd_dir: Path | None = None
    workdir: Path | None = None
    with_controllers: bool | None = None
    keep_workdir: bool = False
    extra_tokens: list[tuple[str, str, str, str]] = field(default_factory=list)
    ready_timeout: float = 90.0
    # Service ClusterIPs (one per KServe predictor): a /24 holds 253 endpoints
    service_cidr: str = "10.0.0.0/24"

    token: str = ADMIN_TOKEN
    etcd_port: int = 0
    etcd_peer_port: int = 0
    port: int = 0
    _procs: dict = field(default_factory=dict)
    _own_workdir: bool = False
    _kubelet: FakeKubelet | None = None
    _admin: object = None
    # set by the session fixture / devcluster: tests.infra.controllers.ControllerStack, or
    # the reason (str) the real controllers are not running
    controller_stack: object = None

    # ------------------------------------------------------------------ paths
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "apiserver.crt"

    @property
    def kubeconfig_path(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def front_proxy_ca(self) -> Path:
        """CA of the aggregation layer's client certificate (``--requestheader-client-ca-file``):
        aggregated API servers (KEDA's metrics adapter) trust proxied requests signed by it."""
        return self.workdir / "certs" / "front-proxy-ca.crt"

    # ------------------------------------------------------------------ lifecycle
    def start(self, install_crds: bool = True) -> ControlPlane:
        self.bin_dir = Path(self.bin_dir) if self.bin_dir else find_bin_dir()
        if self.with_controllers is None:
            env = os.environ.get("MODELPORT_KUBE_CONTROLLERS", "")
            built = all(
                (self.bin_dir / c).exists() for c in ("kube-controller-manager", "kube-scheduler")
            )
            self.with_controllers = built if env == "" else env not in ("0", "false", "no")
        if install_crds and self.crd_dir is None:
            self.crd_dir = find_crd_dir()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="modelport-kube-"))
            self._own_workdir = True
        self.workdir = Path(self.workdir)
        (self.workdir / "certs").mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        atexit.register(self.stop)
        try:
            self._with_port_retry("etcd", self._start_etcd)
            self._with_port_retry("kube-apiserver", self.start_apiserver)
            self._write_kubeconfig()
            if install_crds:
                route_dir = find_route_crd_dir()
                route_crds = sorted(route_dir.glob("*.yaml")) if route_dir else []
                self.install_crds(sorted(Path(self.crd_dir).glob("*.yaml")) + route_crds)
            if self.with_controllers:
                self._start_controllers()
        except BaseException:
            print(self.logs())
            self.stop()
            raise
        return self

    def _with_port_retry(self, name: str, start, attempts: int = 3):
        """free_port() can race with another process: on a bind failure pick new ports."""
        for attempt in range(attempts):
            try:
                return start()
            except RuntimeError:
                log = (self.workdir / f"{name}.log").read_text(errors="replace")[-4000:]
                if attempt == attempts - 1 or "address already in use" not in log:
                    raise
                self._procs[name].stop()
                if name == "etcd":
                    self.etcd_port = self.etcd_peer_port = 0
                    shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
                else:
                    self.port = 0

    def stop(self):
        """Stop every process this object started (reverse order), remove the temp workdir."""
        if self._kubelet is not None:
            self._kubelet.stop()
            self._kubelet = None
        core = ["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]
        others = [n for n in reversed(list(self._procs)) if n not in core]  # e.g. controllers
        for name in others + core:
            proc = self._procs.get(name)
            if proc:
                proc.stop()
        if self._own_workdir and not self.keep_workdir and self.workdir and self.workdir.exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._own_workdir = False
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop_apiserver(self):
        """Stop only kube-apiserver; etcd data, port, certificate and kubeconfig stay valid."""
        self._procs["kube-apiserver"].stop()

    def start_apiserver(self):
        """(Re)start kube-apiserver on the same port against the same etcd; waits for /readyz."""
        if not self.port:
            self.port = free_port()
        args = [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.workdir / 'sa.key'}",
            f"--service-account-signing-key-file={self.workdir / 'sa.key'}",
            "--allow-privileged=true",
            "--profiling=false",
            # aggregation layer (APIService -> an extension apiserver such as KEDA's adapter)
            f"--requestheader-client-ca-file={self.front_proxy_ca}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            f"--proxy-client-cert-file={self.workdir / 'certs' / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={self.workdir / 'certs' / 'front-proxy-client.key'}",
        ]
        if not self.with_controllers:
            args.append("--disable-admission-plugins=ServiceAccount")
        proc = self._procs.get("kube-apiserver") or _Proc(
            "kube-apiserver", args, self.workdir / "kube-apiserver.log"
        )
        proc.args = args
        self._procs["kube-apiserver"] = proc
        proc.start()
        self._wait_ready(proc)

    # ------------------------------------------------------------------ internals
    def _write_credentials(self):
        rows = [(self.token, "admin", "admin-uid", "system:masters"), *self.extra_tokens]
        with open(self.workdir / "tokens.csv", "w") as f:
            for tok, user, uid, groups in rows:
                f.write(f'{tok},{user},{uid},"{groups}"\n')
        key = self.workdir / "sa.key"
        if not key.exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
            )
        self._write_front_proxy_certs()

    def _write_front_proxy_certs(self):
        certs = self.workdir / "certs"
        if (certs / "front-proxy-client.crt").exists() and self.front_proxy_ca.exists():
            return
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        (certs / "front-proxy-ext.cnf").write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"
        )
        for args in (
            ["req", "-x509", *ec, "-keyout", "front-proxy-ca.key", "-out", "front-proxy-ca.crt"]
            + ["-days", "3650", "-subj", "/CN=front-proxy-ca"],
            ["req", *ec, "-keyout", "front-proxy-client.key", "-out", "front-proxy-client.csr"]
            + ["-subj", "/CN=front-proxy-client"],
            ["x509", "-req", "-in", "front-proxy-client.csr", "-CA", "front-proxy-ca.crt"]
            + ["-CAkey", "front-proxy-ca.key", "-CAcreateserial", "-days", "3650"]
            + ["-out", "front-proxy-client.crt", "-extfile", "front-proxy-ext.cnf"],
        ):
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=certs)

    def _start_etcd(self):
        self.etcd_port = self.etcd_port or free_port()
        self.etcd_peer_port = self.etcd_peer_port or free_port()
        c, p = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{self.etcd_peer_port}"
        etcd = find_etcd(self.bin_dir)
        if etcd is None:
            raise MissingBinaries(f"etcd not found next to {self.bin_dir}: {HOW_TO_GET}")
        proc = _Proc(
            "etcd",
            [
                str(etcd),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={c}",
                f"--advertise-client-urls={c}",
                f"--listen-peer-urls={p}",
                f"--initial-advertise-peer-urls={p}",
                f"--initial-cluster=default={p}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                "--quota-backend-bytes=4294967296",
            ],
            self.workdir / "etcd.log",
        )
        self._procs["etcd"] = proc
        proc.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not proc.running:
                raise RuntimeError(f"etcd exited early:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{c}/health", timeout=2) as r:
                    if b'"health":"true"' in r.read():
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"etcd not healthy after 30 s:\n{self.logs()}")

    def _wait_ready(self, proc: _Proc):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the serving cert is created by the process we wait for
        req = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        while time.monotonic() < deadline:
            if not proc.running:
                raise RuntimeError(f"{proc.name} exited early:\n{self.logs()}")
            try:
                with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except OSError as e:
                last = str(e)
            time.sleep(0.25)
        raise TimeoutError(
            f"{proc.name} not ready after {self.ready_timeout} s ({last}):\n{self.logs()}"
        )

    def _write_kubeconfig(self):
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": "modelport-local",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "modelport-local",
                    "context": {"cluster": "modelport-local", "user": "admin"},
                }
            ],
            "current-context": "modelport-local",
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def _start_controllers(self):
        kubeconfig = str(self.kubeconfig_path)
        for name, extra in [
            (
                "kube-controller-manager",
                [
                    f"--service-account-private-key-file={self.workdir / 'sa.key'}",
                    f"--root-ca-file={self.ca_file}",
                    "--use-service-account-credentials=false",
                ],
            ),
            ("kube-scheduler", []),
        ]:
            binary = self.bin_dir / name
            if not binary.exists():
                raise MissingBinaries(
                    f"{binary} not found: run `bash tools/build-k8s.sh --with-controllers`"
                )
            proc = _Proc(
                name,
                [
                    str(binary),
                    f"--kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    "--secure-port=0",
                    *extra,
                ],
                self.workdir / f"{name}.log",
            )
            self._procs[name] = proc
            proc.start()

    # ------------------------------------------------------------------ clients and helpers
    def api_client(self):
        """A fresh ``kubernetes.client.ApiClient`` for this cluster (global config untouched)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig_path))

    def dynamic_client(self):
        """``kubernetes.dynamic.DynamicClient`` with its discovery cache inside the workdir
        (the default cache in /tmp is keyed by host:port and could be stale across runs)."""
        from kubernetes import dynamic

        return dynamic.DynamicClient(
            self.api_client(), cache_file=str(self.workdir / "discovery-cache.json")
        )

    def install_crds(self, paths, timeout: float = 60.0):
        """Create (or replace) the CRDs in ``paths`` and wait until all are Established and served."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        api = client.ApiextensionsV1Api(self.api_client())
        names = []
        for path in paths:
            for doc in yaml.safe_load_all(Path(path).read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                names.append(doc["metadata"]["name"])
                try:  # raw responses: the KServe CRDs are large, skip model deserialisation
                    api.create_custom_resource_definition(body=doc, _preload_content=False)
                except ApiException as e:
                    if e.status != 409:
                        raise
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                crd = self.get_json(
                    f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
                )
                conds = {
                    c["type"]: c["status"] for c in crd.get("status", {}).get("conditions") or []
                }
                if conds.get("Established") == "True":
                    pending.discard(name)
            if pending:
                time.sleep(0.2)
        if pending:
            raise TimeoutError(f"CRDs not Established after {timeout} s: {sorted(pending)}")
        self._wait_discovery(names, deadline)
        return names

    def _wait_discovery(self, crd_names, deadline):
        """Established can precede discovery; wait until each group/version lists the resource."""
        for name in crd_names:
            spec = self.get_json(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")[
                "spec"
            ]
            plural, group = spec["names"]["plural"], spec["group"]
            for v in spec["versions"]:
                if not v.get("served"):
                    continue
                while True:
                    try:
                        data = self.get_json(f"/apis/{group}/{v['name']}")
                        if any(r["name"] == plural for r in data.get("resources", [])):
                            break
                    except Exception:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{plural}.{group}/{v['name']} not in discovery")
                    time.sleep(0.2)

    def get_json(self, path: str):
        import json

        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        req = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return json.load(r)

    def new_namespace(self, prefix: str = "t", labels: dict | None = None) -> str:
        """Create a uniquely named namespace (``<prefix>-<8 hex>``) and return its name.

        Without kube-controller-manager, namespace deletion never finishes, so callers should
        not wait for it (the whole etcd is thrown away at the end of the session). With it,
        waits until the ``default`` ServiceAccount exists.
        """
        from kubernetes import client

        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        if self._admin is None:
            self._admin = self.api_client()
        core = client.CoreV1Api(self._admin)
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels or {}))
        )
        if self.controllers_running:
            # The ServiceAccount admission plugin is on: pods need the "default" SA, which the
            # serviceaccount controller creates shortly after the namespace. After an apiserver
            # outage KCM's informers can back off for up to ~30 s; then create it ourselves
            # (exactly what the controller would do; it accepts an existing SA).
            deadline = time.monotonic() + 5
            while not core.list_namespaced_service_account(
                name, field_selector="metadata.name=default"
            ).items:
                if time.monotonic() > deadline:
                    from kubernetes.client.rest import ApiException

                    try:
                        core.create_namespaced_service_account(
                            name,
                            client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default")),
                        )
                    except ApiException as e:
                        if e.status != 409:
                            raise
                    break
                time.sleep(0.1)
        return name

    @property
    def fake_kubelet(self) -> FakeKubelet:
        """The :class:`FakeKubelet` of this cluster (created on first use)."""
        if self._kubelet is None:
            self._kubelet = FakeKubelet(self)
        return self._kubelet

    def add_fake_node(self, name: str, gpus: int = 1, labels: dict | None = None, **kw) -> str:
        """Create a Ready GPU Node served by :attr:`fake_kubelet` (see :class:`FakeKubelet`)."""
        return self.fake_kubelet.add_node(name, gpus=gpus, labels=labels, **kw)

    @property
    def controllers_running(self) -> bool:
        return all(
            self._procs.get(n) is not None and self._procs[n].running
            for n in ("kube-controller-manager", "kube-scheduler")
        )

    def logs(self, tail: int = 80) -> str:
        """The last ``tail`` lines of each server log, for failure reports."""
        out = []
        if not self.workdir:
            return ""
        for path in sorted(Path(self.workdir).glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()
            out.append(
                f"----- {path.name} (last {min(tail, len(lines))} of {len(lines)} lines) -----"
            )
            out.extend(lines[-tail:])
        return "\n".join(out)

    def pids(self) -> dict[str, int]:
        return {n: p.popen.pid for n, p in self._procs.items() if p.running}


class FakeKubelet:
    """A minimal stand-in for kubelet/KWOK on fake Node objects (a daemon thread in-process).

    For every node added with :meth:`add_node` it: keeps the node Lease renewed (so the
    node-lifecycle controller keeps it Ready), moves pods bound to it (``spec.nodeName``) to
    Running/Ready with a pod IP, and finishes graceful deletion of its pods (as kubelet does).
    Combined with kube-controller-manager + kube-scheduler this makes Deployments really
    roll out: Deployment -> ReplicaSet -> Pods -> scheduled (GPU capacity, nodeSelector,
    taints honoured by the real scheduler) -> Ready -> Deployment Available.
    """

    def __init__(self, cp: ControlPlane, interval: float = 0.5):
        import threading

        self.cp = cp
        self.interval = interval
        self.nodes: dict[str, str] = {}  # name -> IP prefix
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kubelet", daemon=True)
        # The node Leases are renewed by a thread of their own, as kubelet's heartbeat is apart
        # from its pod sync: a pass over a thousand pods must not let the nodes go NotReady.
        self._heartbeat = threading.Thread(
            target=self._beat, name="fake-kubelet-heartbeat", daemon=True
        )
        self._lock = threading.Lock()
        self._api = None
        self._heartbeat_api = None
        self.errors: list[str] = []
        self.held: set[str] = set()  # namespaces whose pods start but stay not Ready
        # namespace -> seconds the init containers (the storage-initializer's download) run
        self.init_seconds: dict[str, float] = {}
        self.crashed: set[tuple[str, str]] = set()  # (ns, pod) in CrashLoopBackOff
        # Nodes whose pods run for real (tests/infra/engine.py), and what was last written.
        self.engine = None
        self.engine_nodes: set[str] = set()
        self._engine_written: dict[str, str] = {}
        # Label selector of Nodes a provisioner (Karpenter's KWOK provider) creates itself:
        # each one found is made Ready and served (serve_provisioned_nodes).
        self.provisioned_selector: str | None = None
        self.provisioned_held = False  # hold_provisioned_nodes(): new nodes wait unregistered
        self.provisioned: dict[str, float] = {}  # node name -> when it was first seen
        self._provisioned_count = 0

    def add_node(
        self,
        name: str,
        gpus: int = 1,
        labels: dict | None = None,
        taints: list | None = None,
        cpu: str = "32",
        memory: str = "256Gi",
        gpu_resource: str = "nvidia.com/gpu",
    ):
        """Create a Ready Node with ``gpus`` x ``gpu_resource`` capacity (plus cpu/memory/pods)."""
        from kubernetes import client

        now = _now()
        capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "500Gi"}
        if gpus:
            capacity[gpu_resource] = str(gpus)
        idx = len(self.nodes) + 1
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "fake-kubelet",
                    **(labels or {}),
                },
            },
            "spec": {"taints": taints or []},
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "fake kubelet",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    },
                    *[
                        {
                            "type": t,
                            "status": "False",
                            "reason": "KubeletHasSufficient",
                            "lastHeartbeatTime": now,
                            "lastTransitionTime": now,
                        }
                        for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
                    ],
                ],
                "addresses": [
                    {"type": "InternalIP", "address": f"10.3.{idx}.1"},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.36.3-fake",
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "containerRuntimeVersion": "fake://1",
                    "kernelVersion": "",
                    "osImage": "",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                    "kubeProxyVersion": "",
                },
            },
        }
        api = self._client()
        client.CoreV1Api(api).create_node(body)
        client.CoreV1Api(api).patch_node_status(name, {"status": body["status"]})
        with self._lock:
            self.nodes[name] = f"10.3.{idx}"
        self._renew(name)
        self._start_threads()
        return name

    def adopt_node(self, name: str) -> str:
        """Serve an existing Node (made by an earlier run on the same etcd) again."""
        with self._lock:
            self.nodes[name] = f"10.3.{len(self.nodes) + 1}"
        self._renew(name)
        self._start_threads()
        return name

    def serve_provisioned_nodes(self, selector: str = "kwok.x-k8s.io/node=fake") -> None:
        """Also play the kubelet on every Node matching ``selector`` that something else
        creates (Karpenter's KWOK provider): once seen, the node registers (Ready conditions,
        addresses, node info, capacity = its allocatable, which the provider sets from the
        instance type), keeps its Lease and runs its pods; a deleted one is forgotten."""
        with self._lock:
            self.provisioned_selector = selector
        self._start_threads()

    def hold_provisioned_nodes(self, held: bool) -> None:
        """While held, a node something else creates stays unregistered (its kubelet has not
        started yet: a slow boot), so a test can see what the portal says about a launch in
        progress; released, it registers on the next pass. Nodes already served keep running."""
        with self._lock:
            self.provisioned_held = held

    def _adopt_provisioned(self):
        from kubernetes import client

        core = client.CoreV1Api(self._client())
        with self._lock:
            selector, held = self.provisioned_selector, self.provisioned_held
        if not selector:
            return
        present = set()
        for node in core.list_node(label_selector=selector).items:
            name = node.metadata.name
            present.add(name)
            if name in self.provisioned or node.metadata.deletion_timestamp is not None:
                continue
            if held:
                continue
            now = _now()
            allocatable = dict(node.status.allocatable or {})
            status = {
                "capacity": {**(node.status.capacity or {}), **allocatable},
                "allocatable": allocatable,
                "phase": "Running",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "fake kubelet",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    },
                    *[
                        {
                            "type": t,
                            "status": "False",
                            "reason": "KubeletHasSufficient",
                            "lastHeartbeatTime": now,
                            "lastTransitionTime": now,
                        }
                        for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
                    ],
                ],
                "addresses": [{"type": "Hostname", "address": name}],
                "nodeInfo": {
                    "kubeletVersion": "v1.36.3-fake",
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "containerRuntimeVersion": "fake://1",
                    "kernelVersion": "",
                    "osImage": "",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                    "kubeProxyVersion": "",
                },
            }
            with self._lock:
                self._provisioned_count += 1
                idx = 100 + self._provisioned_count % 150
                self.provisioned[name] = time.monotonic()
                self.nodes[name] = f"10.4.{idx}"
            status["addresses"].insert(0, {"type": "InternalIP", "address": f"10.4.{idx}.1"})
            core.patch_node_status(name, {"status": status})
            self._renew(name)
        with self._lock:
            for name in [n for n in self.provisioned if n not in present]:
                self.provisioned.pop(name, None)
                self.nodes.pop(name, None)

    def serve_real(self, node: str, engine) -> None:
        """Run the pods bound to ``node`` for real with ``engine`` (a
        :class:`tests.infra.engine.RealEngine`) instead of playing them."""
        with self._lock:
            self.engine = engine
            self.engine_nodes.add(node)

    def remove_node(self, name: str):
        from kubernetes import client

        with self._lock:
            self.nodes.pop(name, None)
            self.engine_nodes.discard(name)
        try:
            client.CoreV1Api(self._client()).delete_node(name)
        except Exception:
            pass

    def _start_threads(self):
        for thread in (self._thread, self._heartbeat):
            if not thread.is_alive():
                thread.start()

    def stop(self):
        self._stop.set()
        for thread in (self._thread, self._heartbeat):
            if thread.is_alive():
                thread.join(5)

    def _client(self):
        if self._api is None:
            self._api = self.cp.api_client()
        return self._api

    def _renew(self, node: str, api=None):
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        coord = client.CoordinationV1Api(api or self._client())
        body = {
            "metadata": {"name": node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": node,
                "leaseDurationSeconds": 40,
                "renewTime": _now(micro=True),
            },
        }
        try:
            coord.patch_namespaced_lease(node, "kube-node-lease", body)
        except ApiException as e:
            if e.status != 404:
                raise
            coord.create_namespaced_lease("kube-node-lease", body)

    def _beat(self):
        """Renew every served node's Lease every 10 s (its duration is 40 s)."""
        while not self._stop.is_set():
            with self._lock:
                nodes = list(self.nodes)
            for node in nodes:
                try:
                    if self._heartbeat_api is None:
                        self._heartbeat_api = self.cp.api_client()
                    self._renew(node, self._heartbeat_api)
                except Exception as e:  # apiserver restarts etc.: keep going
                    self.errors.append(repr(e))
                    del self.errors[:-20]
            self._stop.wait(10)

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self._adopt_provisioned()
                with self._lock:
                    nodes = dict(self.nodes)
                for node, prefix in nodes.items():
                    self._sync_pods(node, prefix)
            except Exception as e:  # apiserver restarts etc.: keep going
                self.errors.append(repr(e))
                del self.errors[:-20]

    # ------------------------------------------------------------------ what a kubelet would see
    def hold(self, namespace: str):
        """Pods in ``namespace`` start (Running, containers started) but stay not Ready, as
        while vLLM loads a model, until :meth:`release`."""
        with self._lock:
            self.held.add(namespace)

    def release(self, namespace: str):
        with self._lock:
            self.held.discard(namespace)

    def slow_init(self, namespace: str, seconds: float):
        """Init containers of pods in ``namespace`` run ``seconds`` before they complete (the
        storage-initializer's download, played: nothing is downloaded)."""
        with self._lock:
            self.init_seconds[namespace] = seconds

    def restart_container(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        reason: str = "OOMKilled",
        exit_code: int = 137,
    ):
        """The container exited (e.g. OOM-killed) and kubelet restarted it at once:
        ``lastState.terminated`` with ``reason``/``exit_code``, ``restartCount`` + 1, running again."""
        self._terminate(namespace, pod, container, reason, exit_code, restarted=True)

    def crash_container(
        self,
        namespace: str,
        pod: str,
        container: str | None = None,
        reason: str = "Error",
        exit_code: int = 1,
    ):
        """The container exited and kubelet backs off (``CrashLoopBackOff``): pod not Ready."""
        self._terminate(namespace, pod, container, reason, exit_code, restarted=False)

    def _terminate(self, namespace, pod, container, reason, exit_code, restarted):
        from kubernetes import client

        core = client.CoreV1Api(self._client())
        obj = core.read_namespaced_pod_status(pod, namespace)
        name = container or obj.spec.containers[0].name
        now = _now()
        statuses = []
        for st in obj.status.container_statuses or []:
            st = self._client().sanitize_for_serialization(st)
            if st["name"] == name:
                started = (st.get("state", {}).get("running") or {}).get("startedAt", now)
                st["lastState"] = {
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": reason,
                        "startedAt": started,
                        "finishedAt": now,
                        "containerID": st.get("containerID", ""),
                    }
                }
                st["restartCount"] = st.get("restartCount", 0) + 1
                if restarted:
                    st["state"] = {"running": {"startedAt": now}}
                else:
                    st["state"] = {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off restarting failed container {name}",
                        }
                    }
                    st["ready"], st["started"] = False, False
            statuses.append(st)
        if not any(st["name"] == name for st in statuses):
            raise ValueError(f"pod {namespace}/{pod} has no container status for {name!r}")
        patch = {"status": {"containerStatuses": statuses}}
        if not restarted:
            patch["status"]["conditions"] = [
                {"type": t, "status": "False", "reason": "ContainersNotReady",
                 "lastTransitionTime": now}
                for t in ("ContainersReady", "Ready")
            ]  # fmt: skip
            with self._lock:
                self.crashed.add((namespace, pod))
        core.patch_namespaced_pod_status(pod, namespace, patch)

    def _sync_pods(self, node: str, prefix: str):
        """One kubelet pass over the pods bound to ``node``.

        Pending -> (with init containers: ``Initialized=False``, the first init container
        running) -> Running with every init container ``terminated: Completed`` and every
        container running and Ready (not Ready while its namespace is :meth:`hold`-ed).
        Graceful deletion is finished at once (grace period 0)."""
        from kubernetes import client

        core = client.CoreV1Api(self._client())
        with self._lock:
            held, crashed = set(self.held), set(self.crashed)
            init_seconds = dict(self.init_seconds)
            real = node in self.engine_nodes
        for pod in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items:
            ns, name = pod.metadata.namespace, pod.metadata.name
            if real:
                self._sync_real_pod(core, pod, prefix)
                continue
            if pod.metadata.deletion_timestamp is not None:
                core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
                continue
            ready = ns not in held
            if pod.status.phase == "Running":
                if (ns, name) in crashed:
                    continue
                cond = {c.type: c.status for c in pod.status.conditions or []}
                if (cond.get("Ready") == "True") != ready:
                    core.patch_namespaced_pod_status(
                        name, ns, {"status": self._ready_patch(pod, ready, _now())}
                    )
                continue
            if pod.status.phase != "Pending":
                continue
            now = _now()
            ip = f"{prefix}.{(abs(hash(pod.metadata.uid)) % 250) + 2}"
            base = {
                "hostIP": f"{prefix}.1",
                "hostIPs": [{"ip": f"{prefix}.1"}],
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": pod.status.start_time and _iso(pod.status.start_time) or now,
            }
            inits = pod.spec.init_containers or []
            if inits and not pod.status.init_container_statuses:
                # first pass: the init containers (storage-initializer) run first
                status = {
                    **base,
                    "phase": "Pending",
                    "conditions": [
                        {"type": "PodScheduled", "status": "True",
                         "lastTransitionTime": _since(pod, "PodScheduled", now)},
                        {"type": "PodReadyToStartContainers", "status": "True",
                         "lastTransitionTime": now},
                        *({"type": t, "status": "False", "reason": r, "lastTransitionTime": now}
                          for t, r in (("Initialized", "ContainersNotInitialized"),
                                       ("ContainersReady", "ContainersNotReady"),
                                       ("Ready", "ContainersNotReady"))),
                    ],
                    "initContainerStatuses": [
                        {
                            "name": c.name,
                            "image": c.image or "fake",
                            "imageID": "",
                            "ready": False,
                            "started": i == 0,
                            "restartCount": 0,
                            "state": {"running": {"startedAt": now}}
                            if i == 0
                            else {"waiting": {"reason": "PodInitializing"}},
                        }
                        for i, c in enumerate(inits)
                    ],
                    "containerStatuses": [
                        {
                            "name": c.name,
                            "image": c.image or "fake",
                            "imageID": "",
                            "ready": False,
                            "started": False,
                            "restartCount": 0,
                            "state": {"waiting": {"reason": "PodInitializing"}},
                        }
                        for c in pod.spec.containers
                    ],
                }  # fmt: skip
                core.patch_namespaced_pod_status(name, ns, {"status": status})
                continue
            init_started = {
                s.name: s.state.running.started_at
                for s in pod.status.init_container_statuses or []
                if s.state and s.state.running
            }
            if init_started and ns in init_seconds:
                began = min(_iso(t) for t in init_started.values())
                if time.time() - _epoch(began) < init_seconds[ns]:
                    continue  # still "downloading"
            status = {
                **base,
                "phase": "Running",
                "initContainerStatuses": [
                    {
                        "name": c.name,
                        "image": c.image or "fake",
                        "imageID": "",
                        "ready": True,
                        "started": False,
                        "restartCount": 0,
                        "state": {
                            "terminated": {
                                "exitCode": 0,
                                "reason": "Completed",
                                "startedAt": _iso(init_started[c.name])
                                if c.name in init_started
                                else now,
                                "finishedAt": now,
                            }
                        },
                    }
                    for c in inits
                ],
                "containerStatuses": [
                    {
                        "name": c.name,
                        "image": c.image or "fake",
                        "imageID": "",
                        "ready": ready,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": now}},
                    }
                    for c in pod.spec.containers
                ],
            }
            status.update(self._ready_patch(pod, ready, now, initialized=True))
            if not inits:
                status.pop("initContainerStatuses")
            core.patch_namespaced_pod_status(name, ns, {"status": status})

    def _sync_real_pod(self, core, pod, prefix: str):
        """A pod on an engine node: its container runs as a process (tests/infra/engine.py);
        the status written is what that process and its probes show, as a kubelet writes it.
        The init containers (the storage-initializer) are played Completed: substitution 2."""
        ns, name, uid = pod.metadata.namespace, pod.metadata.name, pod.metadata.uid
        if pod.metadata.deletion_timestamp is not None:
            self.engine.stop(uid)
            self._engine_written.pop(uid, None)
            core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
            return
        if pod.status.phase not in ("Pending", "Running") or not self.engine.runs(ns):
            return  # an earlier test's pod, rescheduled here: never started (stays Pending)
        real = self.engine.get(uid) or self.engine.start(_sanitize(pod))
        st = real.snapshot()
        main = pod.spec.containers[0]
        if st.running_since:
            state = {"running": {"startedAt": st.running_since}}
        else:
            state = {"waiting": {"reason": st.waiting_reason, "message": st.waiting_message}}
        container = {
            "name": main.name,
            "image": main.image or "fake",
            "imageID": "",
            "ready": st.ready,
            "started": st.started,
            "restartCount": st.restart_count,
            "state": state,
        }
        if st.last_terminated:
            container["lastState"] = {"terminated": {**st.last_terminated,
                                                     "finishedAt": _now()}}  # fmt: skip
        status = {
            "phase": "Running",
            "hostIP": f"{prefix}.1",
            "hostIPs": [{"ip": f"{prefix}.1"}],
            "podIP": real.pod_ip,
            "podIPs": [{"ip": real.pod_ip}],
            "startTime": pod.status.start_time and _iso(pod.status.start_time) or _now(),
            "containerStatuses": [container],
        }
        if pod.spec.init_containers:
            status["initContainerStatuses"] = [
                {"name": c.name, "image": c.image or "fake", "imageID": "", "ready": True,
                 "started": False, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                          "startedAt": status["startTime"],
                                          "finishedAt": status["startTime"]}}}
                for c in pod.spec.init_containers
            ]  # fmt: skip
        key = repr((st.ready, st.started, st.restart_count, st.running_since, st.waiting_reason))
        if self._engine_written.get(uid) == key:
            return
        status.update(self._ready_patch(pod, st.ready, _now(), initialized=True))
        core.patch_namespaced_pod_status(name, ns, {"status": status})
        self._engine_written[uid] = key

    @staticmethod
    def _ready_patch(pod, ready: bool, now: str, initialized: bool = False) -> dict:
        flag = "True" if ready else "False"
        # A condition keeps its lastTransitionTime while its status stays (as kubelet does):
        # the scheduler's PodScheduled time is a cold start's 'scheduled' stage.
        conds = [
            {"type": t, "status": "True", "lastTransitionTime": _since(pod, t, now)}
            for t in ("PodScheduled", "PodReadyToStartContainers", "Initialized")
        ] if initialized else []  # fmt: skip
        conds += [
            {"type": t, "status": flag, "lastTransitionTime": _since(pod, t, now, flag),
             **({} if ready else {"reason": "ContainersNotReady"})}
            for t in ("ContainersReady", "Ready")
        ]  # fmt: skip
        out = {"conditions": conds}
        if not initialized and pod.status.container_statuses:
            out["containerStatuses"] = [
                {**_sanitize(st), "ready": ready} for st in pod.status.container_statuses
            ]
        return out


_SERIALIZER = None


def _sanitize(obj) -> dict:
    global _SERIALIZER
    if _SERIALIZER is None:
        from kubernetes.client import ApiClient

        _SERIALIZER = ApiClient()
    return _SERIALIZER.sanitize_for_serialization(obj)


def _since(pod, kind: str, now: str, status: str = "True") -> str:
    """The pod's lastTransitionTime of condition ``kind`` if it already has ``status``, else now."""
    for cond in pod.status.conditions or []:
        if cond.type == kind and cond.status == status and cond.last_transition_time:
            return _iso(cond.last_transition_time)
    return now


def _epoch(value: str) -> float:
    import calendar

    return calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S"))


def _iso(value) -> str:
    if isinstance(value, str):
        return value
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now(micro: bool = False) -> str:
    t = time.time()
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return f"{base}.{int((t % 1) * 1e6):06d}Z" if micro else f"{base}Z"
