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

Tests using the kube fixtures get the ``cluster`` marker, Prometheus ones ``prometheus``
(added automatically). When a binary is missing they skip with instructions – unless
``MODELPORT_REQUIRE_SERVICES=1`` (CI), where they fail. On a failed test the server logs
are attached to the report ("kube-apiserver/etcd logs", "prometheus log" sections).
"""

from __future__ import annotations

import os

import pytest

from tests.infra.exporter import LiveExporter
from tests.infra.kube import ControlPlane, MissingBinaries
from tests.infra.prom import MissingPrometheus, PrometheusServer

_ACTIVE: dict[str, object] = {}
KUBE_FIXTURES = {
    "kube_cluster",
    "kube_api_client",
    "kubeconfig_path",
    "kube_namespace",
    "kube_controllers",
    "fake_gpu_node",
}
PROM_FIXTURES = {"prometheus_server", "live_exporter"}


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    names = set(getattr(item, "fixturenames", ()))
    cp = _ACTIVE.get("kube")
    if cp is not None and names & KUBE_FIXTURES:
        rep.sections.append(("kube-apiserver/etcd logs", cp.logs()))
    prom = _ACTIVE.get("prometheus")
    if prom is not None and names & PROM_FIXTURES:
        rep.sections.append(("prometheus log", prom.logs()))


@pytest.fixture(scope="session")
def kube_cluster():
    cp = ControlPlane()
    try:
        cp.start()
    except MissingBinaries as e:
        _missing(str(e))
    _ACTIVE["kube"] = cp
    try:
        yield cp
    finally:
        _ACTIVE.pop("kube", None)
        cp.stop()


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
    try:  # without kube-controller-manager this only marks it Terminating; never wait
        client.CoreV1Api(kube_api_client).delete_namespace(name)
    except Exception:
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
