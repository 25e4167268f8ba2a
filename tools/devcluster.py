#!/usr/bin/env python3
"""Run the local development cluster: etcd + kube-apiserver (+ kube-controller-manager,
kube-scheduler) with the KServe and KEDA CRDs, and the real controllers the tests use: the
KServe controller manager (webhooks registered, ClusterServingRuntimes), the KEDA operator and
its external-metrics adapter, kube-state-metrics, and a Prometheus scraping kube-state-metrics.

    python tools/devcluster.py [--workdir DIR] [--with-controllers] [--env-file PATH]
                               [--no-real-controllers] [--no-prometheus] [--gpu-nodes N]
                               [--node '{"name": ..., "gpus": N, "labels": {...}}' ...]

Prints the environment for the portal (``KUBECONFIG``, ``PROMETHEUS_URL``,
``KEDA_PROMETHEUS_URL``, the scrape intervals) and runs until Ctrl-C / SIGTERM, then stops
every process it started. With ``--workdir`` the etcd data, certificates and kubeconfig
persist across runs (same directory = same cluster state). ``--gpu-nodes N`` adds N fake GPU
nodes served by the in-process fake kubelet (pods on them become Running/Ready); ``--node``
adds one with the given labels (``manage.py devcluster --catalog-nodes`` passes one per
instance offering of the catalog, labelled as the endpoints' nodeSelector asks).
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

from tests.infra.controllers import ControllerStack  # noqa: E402
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
    stack = prom = None
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
    except BaseException:
        if prom is not None:
            prom.stop()
        cp.stop()
        raise

    lines = [f"export KUBECONFIG={cp.kubeconfig_path}"]
    if prom is not None:
        lines += [
            f"export PROMETHEUS_URL={prom.url}",
            f"export KEDA_PROMETHEUS_URL={prom.url}",
            "export PROMETHEUS_SCRAPE_INTERVAL_SECONDS=5",
        ]
    if args.env_file:
        Path(args.env_file).write_text("\n".join(lines) + "\n")
    version = cp.get_json("/version")["gitVersion"]
    print(
        f"# kube-apiserver {version} at {cp.server} (pids {cp.pids()}); logs in {cp.workdir}",
        flush=True,
    )
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
    try:
        while not stop:
            time.sleep(1)
            dead = [n for n, p in cp._procs.items() if not p.running]
            if dead:
                print(f"error: {dead} exited\n{cp.logs()}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        if prom is not None:
            prom.stop()
        cp.stop()
    return 0


def _node_exists(cp: ControlPlane, name: str) -> bool:
    try:
        cp.get_json(f"/api/v1/nodes/{name}")
        return True
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(main())
