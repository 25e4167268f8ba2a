#!/usr/bin/env python3
"""Run the local development cluster: etcd + kube-apiserver (+ kube-controller-manager,
kube-scheduler) with the KServe and KEDA CRDs, and the real controllers the tests use: the
KServe controller manager (webhooks registered, ClusterServingRuntimes), the KEDA operator and
its external-metrics adapter, kube-state-metrics, and a Prometheus scraping kube-state-metrics.

    python tools/devcluster.py [--workdir DIR] [--with-controllers] [--env-file PATH]
                               [--no-real-controllers] [--no-prometheus] [--gpu-nodes N]
                               [--node '{"name": ..., "gpus": N, "labels": {...}}' ...]
                               [--engine-node NAME ...] [--token-secret NS/NAME/KEY ...]
                               [--karpenter | --no-karpenter] [--karpenter-instance-types FILE]

Prints the environment for the portal (``KUBECONFIG``, ``PROMETHEUS_URL``,
``KEDA_PROMETHEUS_URL``, the scrape intervals) and runs until Ctrl-C / SIGTERM, then stops
every process it started. With ``--workdir`` the etcd data, certificates and kubeconfig
persist across runs (same directory = same cluster state). ``--gpu-nodes N`` adds N fake GPU
nodes served by the in-process fake kubelet (pods on them become Running/Ready); ``--node``
adds one with the given labels (``manage.py devcluster --catalog-nodes`` passes one per
instance offering of the catalog, labelled as the endpoints' nodeSelector asks).
``--engine-node NAME``: the pods bound to that node run the real engine (tests/infra/engine.py:
KServe's huggingfaceserver on vLLM, the tiny model, at most two servers) when the vLLM
environment is built (``bash tools/build-vllm.sh``, ``MODELPORT_VLLM_PYTHON`` and
``MODELPORT_TINY_MODEL`` set); otherwise it says so and they stay played. Their pods are added
to Prometheus as scrape targets (pod IP, ``namespace``/``pod`` labels) once started.
``--token-secret NS/NAME/KEY``: once namespace NS exists (the portal creates it), a Secret NAME
with a placeholder value under KEY: the gated model's Hugging Face token, which only unlocks
the weights download the real engine replaces with the tiny model.
``--karpenter`` (the default when ``bash tools/build-karpenter.sh`` built it and the scheduler
runs): the real Karpenter's KWOK provider (tests/infra/karpenter.py), as in the tests, so a
pending pod makes a NodeClaim and a Node, which the fake kubelet then serves; its instance
types are ``--karpenter-instance-types`` (the JSON of ``manage.py karpenter_instance_types``;
``manage.py devcluster`` passes the catalog's), else the provider's built-in ones (no GPUs).
The printed environment then switches the portal's NodePools on (``KARPENTER_NODEPOOLS=true``,
``KARPENTER_NODE_CLASS=kwok``), and the KWOKNodeClass it applies is marked Ready (played: the
KWOK provider has no NodeClass controller).
The ingress stand-in (tests/infra/ingress.py) maps each InferenceService's URL to its ready
pod: the printed ``HTTP_PROXY`` lets the portal's playground and ``manage.py demo_traffic``
reach it.
Needs the binaries from ``bash tools/build-k8s.sh`` and ``bash tools/build-controllers.sh``
(found via ``MODELPORT_KUBE_BIN_DIR`` / ``MODELPORT_CRD_DIR`` / the variables of
``controllers-env.sh`` or the default cache); without the controllers' binaries it says so
and runs the bare control plane. No Django imports: the management command wraps :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.infra.controllers import ControllerStack, start_controllers  # noqa: E402
from tests.infra.ingress import IngressProxy, kserve_resolver  # noqa: E402
from tests.infra.karpenter import Karpenter, ready_node_classes  # noqa: E402
from tests.infra.kube import ControlPlane, MissingBinaries  # noqa: E402
from tests.infra.prom import MissingPrometheus, PrometheusServer  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Local Kubernetes control plane for ModelPort development"
    )
    ap.add_argument("--workdir", help="persistent state dir (default: temp dir removed on exit)")
    ap.add_argument(
        "--with-controllers",
        action="store_true",
        default=None,
        help="require kube-controller-manager + kube-scheduler (default: run them if built)",
    )
    ap.add_argument("--no-controllers", dest="with_controllers", action="store_false")
    ap.add_argument("--env-file", help="also write the `export ...` lines to this file")
    ap.add_argument(
        "--no-real-controllers",
        dest="real_controllers",
        action="store_false",
        help="do not start KServe, KEDA, kube-state-metrics (and their Prometheus)",
    )
    ap.add_argument("--no-prometheus", dest="prometheus", action="store_false")
    ap.add_argument("--gpu-nodes", type=int, default=0, help="fake GPU nodes to add (8 GPUs)")
    ap.add_argument(
        "--node",
        action="append",
        default=[],
        metavar="JSON",
        help='a fake GPU node: {"name": ..., "gpus": N, "labels": {...}} (repeatable)',
    )
    ap.add_argument(
        "--engine-node",
        action="append",
        default=[],
        metavar="NAME",
        help="a node whose pods run the real engine when the vLLM environment is built",
    )
    ap.add_argument(
        "--token-secret",
        action="append",
        default=[],
        metavar="NS/NAME/KEY",
        help="create this Secret (placeholder value) once its namespace exists",
    )
    ap.add_argument(
        "--karpenter",
        action="store_true",
        default=None,
        help="require Karpenter's KWOK provider: pending pods make nodes (default: if built)",
    )
    ap.add_argument("--no-karpenter", dest="karpenter", action="store_false")
    ap.add_argument(
        "--karpenter-instance-types",
        metavar="FILE",
        help="the instance types Karpenter launches (JSON of manage.py karpenter_instance_types)",
    )
    args = ap.parse_args(argv)

    workdir = Path(args.workdir).resolve() if args.workdir else None
    if workdir:
        workdir.mkdir(parents=True, exist_ok=True)
    cp = ControlPlane(
        workdir=workdir, with_controllers=args.with_controllers, keep_workdir=bool(workdir)
    )
    if workdir and (workdir / "ports").exists():  # reuse ports so an old kubeconfig stays valid
        cp.etcd_port, cp.etcd_peer_port, cp.port = map(int, (workdir / "ports").read_text().split())
    try:
        cp.start()
    except MissingBinaries as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if workdir:
        (workdir / "ports").write_text(f"{cp.etcd_port} {cp.etcd_peer_port} {cp.port}\n")

    def _terminate(*_):  # SIGTERM while the controllers start: stop everything, exit 0
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    if args.env_file:  # usable now; rewritten below with Prometheus once the controllers run
        Path(args.env_file).write_text(f"export KUBECONFIG={cp.kubeconfig_path}\n")
    t0 = time.monotonic()
    stack = prom = karpenter = None
    try:
        if args.real_controllers:
            try:
                stack = ControllerStack(cp)
            except MissingBinaries as e:
                print(f"# warning: real controllers not started: {e}", file=sys.stderr)
            if stack is not None:
                stack.start()
                cp.controller_stack = stack
                if args.prometheus:
                    try:
                        prom = PrometheusServer(
                            workdir=cp.workdir / "prometheus" if workdir else None,
                            scrape_interval="5s",
                        )
                    except MissingPrometheus as e:
                        print(f"# warning: no Prometheus: {e}", file=sys.stderr)
                    if prom is not None:
                        prom.start()
                        prom.add_scrape_target(
                            stack.ksm.url,
                            interval="5s",
                            honor_labels=True,
                            job="kube-state-metrics",
                        )
        nodes = [
            {
                "name": f"dev-gpu-{i + 1}",
                "gpus": 8,
                "labels": {
                    "node.kubernetes.io/instance-type": "p5.48xlarge",
                    "karpenter.sh/capacity-type": "on-demand",
                },
            }
            for i in range(args.gpu_nodes)
        ] + [json.loads(spec) for spec in args.node]
        for node in nodes:
            if not _node_exists(cp, node["name"]):
                cp.add_fake_node(node["name"], gpus=int(node["gpus"]), labels=node["labels"])
            else:  # a persistent workdir: serve the node made by an earlier run again
                cp.fake_kubelet.adopt_node(node["name"])
        engine = _engine(cp, args.engine_node)
        karpenter = _karpenter(cp, args.karpenter, args.karpenter_instance_types)
    except KarpenterRefused as e:
        print(f"error: {e}", file=sys.stderr)
        if prom is not None:
            prom.stop()
        cp.stop()
        return 2
    except BaseException:
        if karpenter is not None:
            karpenter.stop()
        if prom is not None:
            prom.stop()
        cp.stop()
        raise
    ingress = IngressProxy(kserve_resolver(cp.get_json), passthrough=True).start()

    lines = [f"export KUBECONFIG={cp.kubeconfig_path}"]
    if prom is not None:
        lines += [
            f"export PROMETHEUS_URL={prom.url}",
            f"export KEDA_PROMETHEUS_URL={prom.url}",
            "export PROMETHEUS_SCRAPE_INTERVAL_SECONDS=5",
        ]
    lines += [f"export {k}={v}" for k, v in ingress.env().items()]
    if karpenter is not None:
        lines += ["export KARPENTER_NODEPOOLS=true", "export KARPENTER_NODE_CLASS=kwok"]
    if args.env_file:
        Path(args.env_file).write_text("\n".join(lines) + "\n")
    version = cp.get_json("/version")["gitVersion"]
    print(
        f"# kube-apiserver {version} at {cp.server} (pids {cp.pids()}); logs in {cp.workdir}",
        flush=True,
    )
    if karpenter is not None:
        print(f"# karpenter (KWOK provider) pid {karpenter.pids()}", flush=True)
    if stack is not None:
        print(
            f"# real controllers up in {time.monotonic() - t0:.1f} s: "
            + ", ".join(f"{n} pid {p}" for n, p in stack.pids().items()),
            flush=True,
        )
    print("# point the portal (runserver and the Celery worker) at it with:", flush=True)
    for line in lines:
        print(line, flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    scraped: dict[str, str] = {}
    secrets = [tuple(spec.split("/", 2)) for spec in args.token_secret]
    try:
        while not stop:
            time.sleep(1)
            secrets = [s for s in secrets if not _placeholder_secret(cp, *s)]
            if karpenter is not None:
                ready_node_classes(cp)
            if engine is not None and prom is not None:
                _scrape_engine_pods(engine, prom, scraped)
            dead = [n for n, p in cp._procs.items() if not p.running]
            if dead:
                print(f"error: {dead} exited\n{cp.logs()}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        ingress.stop()
        if karpenter is not None:
            karpenter.stop()
        if prom is not None:
            prom.stop()
        cp.stop()
        if engine is not None:  # after the kubelet stopped: it cannot start another server
            engine.stop_all()
    return 0


class KarpenterRefused(Exception):
    """``--karpenter`` asked for and it cannot run here."""


def _karpenter(cp: ControlPlane, wanted: bool | None, types_file: str | None):
    """The running Karpenter (KWOK provider) and the fake kubelet serving its nodes, or None
    when not wanted, or not built / no scheduler and not required."""
    if wanted is False:
        return None
    if not cp.with_controllers:
        if wanted:
            raise KarpenterRefused("--karpenter needs kube-scheduler (drop --no-controllers)")
        return None
    try:
        types = json.loads(Path(types_file).read_text()) if types_file else None
        karpenter = Karpenter(cp, types)
    except MissingBinaries as e:
        if wanted:
            raise KarpenterRefused(str(e)) from e
        print(f"# warning: Karpenter not started: {e}", file=sys.stderr)
        return None
    start_controllers([karpenter])
    cp.fake_kubelet.serve_provisioned_nodes()
    return karpenter


def _engine(cp: ControlPlane, nodes: list[str]):
    """The real engine for the pods of ``nodes``, or None (with the reason) when not built."""
    if not nodes:
        return None
    from tests.infra.engine import EngineUnavailable, RealEngine

    try:
        engine = RealEngine()
    except EngineUnavailable as e:
        print(f"# the real engine is not used: {e}; the pods of {', '.join(nodes)} are "
              "played (Ready, but nothing answers the playground)", flush=True)  # fmt: skip
        return None
    for name in nodes:
        cp.fake_kubelet.serve_real(name, engine)
    print(f"# real engine (vLLM) for the pods of {', '.join(nodes)}; logs in {engine.log_dir}",
          flush=True)  # fmt: skip
    return engine


def _placeholder_secret(cp: ControlPlane, namespace: str, name: str, key: str) -> bool:
    """Create the Secret once its namespace exists; True when it exists."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, labels={"modelport.io/devcluster": "placeholder"}),
        string_data={key: "placeholder-the-real-engine-serves-a-local-tiny-model"},
    )
    try:
        client.CoreV1Api(cp.api_client()).create_namespaced_secret(namespace, secret)
    except ApiException as e:
        if e.status == 409:
            return True
        if e.status == 404:
            return False  # the namespace is not there yet
        raise
    print(f"# placeholder Secret {namespace}/{name} created (key {key})", flush=True)
    return True


def _scrape_engine_pods(engine, prom, scraped: dict[str, str]) -> None:
    """Scrape each started engine pod at its pod IP with the labels a Kubernetes scrape gives;
    forget the ones that are gone."""
    live = dict(engine.pods)
    for uid, pod in live.items():
        if uid not in scraped and pod.snapshot().started:
            scraped[uid] = prom.add_scrape_target(
                f"http://{pod.pod_ip}:8080/metrics",
                interval="5s",
                labels={"namespace": pod.namespace, "pod": pod.name},
                job=f"engine-{pod.name}",
            )
    for uid in set(scraped) - set(live):
        prom.remove_scrape_target(scraped.pop(uid))


def _node_exists(cp: ControlPlane, name: str) -> bool:
    try:
        cp.get_json(f"/api/v1/nodes/{name}")
        return True
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(main())
