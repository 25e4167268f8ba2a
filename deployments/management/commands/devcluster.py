"""`manage.py devcluster`: run the local etcd + kube-apiserver (+ kube-controller-manager,
kube-scheduler) with the KServe and KEDA CRDs and the real KServe controller, KEDA operator +
metrics adapter, kube-state-metrics and a Prometheus scraping it, wrapping `tools/devcluster.py`.

    manage.py devcluster [--workdir var/devcluster] [--env-file var/devcluster.env]
                         [--gpu-nodes 2] [--catalog-nodes] [--no-real-controllers]
                         [--no-prometheus] [--engine-endpoint TEAM/NAME]
                         [--karpenter | --no-karpenter]

`--catalog-nodes` adds one fake GPU node per instance offering of the catalog, labelled the way
an endpoint on that offering selects its nodes (`manifests.node_labels`, on-demand), so the
seeded demo endpoints really schedule and become Ready (`scripts/run.sh --with-cluster`).
`--engine-endpoint TEAM/NAME` (with `--catalog-nodes`): the pods on that endpoint's node run
the real engine (KServe's huggingfaceserver on vLLM with the tiny model) when the vLLM
environment is built (`bash tools/build-vllm.sh`), so it answers in the playground and its
charts fill from real traffic (`manage.py demo_traffic`); otherwise they stay played.

`--karpenter` (the default when `bash tools/build-karpenter.sh` built it): the real Karpenter's
KWOK provider runs as in the tests and launches the catalog's instance types
(`nodepools.manifests.kwok_instance_types`, written to `karpenter-instance-types.json` in the
workdir or a temporary dir), so an endpoint whose pod finds no node gets one; the printed
environment switches the portal's NodePools on. `--no-karpenter` keeps the fixed nodes only.

It prints `export KUBECONFIG=... PROMETHEUS_URL=...`; start the portal and its worker with
those set and its endpoints are applied to this cluster (without it the portal runs in embedded
dev mode: see deployments.endpoints.reconcile). Runs until Ctrl-C, then stops every process it started.
"""

import importlib.util
import json
import re
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.models import InstanceOffering
from deployments.endpoints import manifests
from deployments.models import Endpoint
from deployments.nodepools.manifests import PoolError, kwok_instance_types

TOOL = Path(settings.BASE_DIR) / "tools" / "devcluster.py"


def node_name(offering) -> str:
    return "dev-" + re.sub(r"[^a-z0-9-]+", "-", offering.instance_type.lower()).strip("-")


def catalog_nodes() -> list[dict]:
    """One on-demand fake node per instance offering, labelled as endpoints select them."""
    nodes = []
    for offering in InstanceOffering.objects.select_related("gpu_type").order_by("instance_type"):
        labels = manifests.node_labels(offering, "on-demand")
        nodes.append(
            {"name": node_name(offering), "gpus": offering.gpus_per_node, "labels": labels}
        )
    return nodes


def engine_args(ref: str) -> list[str]:
    """tools/devcluster.py arguments that run the endpoint TEAM/NAME on the real engine: its
    catalog node, and for a gated model a placeholder token Secret in its namespace (the token
    only unlocks the download the engine replaces). Empty: no such endpoint or offering."""
    team, _, name = ref.partition("/")
    endpoint = (
        Endpoint.objects.filter(team__slug=team, name=name)
        .select_related("offering", "model", "team")
        .order_by("-created_at")
        .first()
    )
    if endpoint is None or endpoint.offering is None:
        return []
    argv = ["--engine-node", node_name(endpoint.offering)]
    if endpoint.model.gated:
        secret = f"{endpoint.namespace}/{settings.KUBE_HF_TOKEN_SECRET}/{manifests.HF_TOKEN_KEY}"
        argv += ["--token-secret", secret]
    return argv


def karpenter_args(wanted: bool | None, workdir: str | None) -> list[str]:
    """tools/devcluster.py arguments for Karpenter: off, or on (required when ``wanted``, else
    if built) launching the catalog's instance types, written to a file in ``workdir`` (a new
    temporary dir without one). An empty catalog leaves the provider's built-in types; a catalog
    it cannot launch (an offering without vCPUs/memory) turns it off, or fails when required."""
    if wanted is False:
        return ["--no-karpenter"]
    argv = ["--karpenter"] if wanted else []
    try:
        types = kwok_instance_types()
    except PoolError as exc:  # an offering Karpenter cannot fit pods against
        if wanted:
            raise CommandError(f"Karpenter cannot launch the catalog's nodes: {exc}") from exc
        return ["--no-karpenter"]
    if types:
        folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="modelport-kwok-"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "karpenter-instance-types.json"
        path.write_text(json.dumps(types, indent=1))
        argv += ["--karpenter-instance-types", str(path)]
    return argv


class Command(BaseCommand):
    help = "Run a local Kubernetes control plane with the KServe and KEDA CRDs."

    def add_arguments(self, parser):
        parser.add_argument("--workdir", help="persistent state dir (same dir = same cluster)")
        parser.add_argument("--env-file", help="also write `export KUBECONFIG=...` here")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--with-controllers", action="store_true", default=None)
        group.add_argument("--no-controllers", dest="with_controllers", action="store_false")
        parser.add_argument("--no-real-controllers", action="store_true")
        parser.add_argument("--no-prometheus", action="store_true")
        parser.add_argument("--gpu-nodes", type=int, default=0)
        parser.add_argument("--catalog-nodes", action="store_true")
        parser.add_argument(
            "--engine-endpoint",
            metavar="TEAM/NAME",
            help="with --catalog-nodes: run this endpoint's pods on the real engine (if built)",
        )
        karpenter = parser.add_mutually_exclusive_group()
        karpenter.add_argument(
            "--karpenter",
            action="store_true",
            default=None,
            help="require Karpenter (KWOK provider): pending pods make nodes (default: if built)",
        )
        karpenter.add_argument("--no-karpenter", dest="karpenter", action="store_false")

    def handle(self, *args, **opts):
        if not TOOL.exists():
            raise CommandError(f"{TOOL} is missing.")
        spec = importlib.util.spec_from_file_location("modelport_devcluster", TOOL)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        argv = []
        if opts["workdir"]:
            argv += ["--workdir", opts["workdir"]]
        if opts["env_file"]:
            argv += ["--env-file", opts["env_file"]]
        if opts["with_controllers"] is True:
            argv.append("--with-controllers")
        elif opts["with_controllers"] is False:
            argv.append("--no-controllers")
        if opts["no_real_controllers"]:
            argv.append("--no-real-controllers")
        if opts["no_prometheus"]:
            argv.append("--no-prometheus")
        if opts["gpu_nodes"]:
            argv += ["--gpu-nodes", str(opts["gpu_nodes"])]
        if opts["catalog_nodes"]:
            for node in catalog_nodes():
                argv += ["--node", json.dumps(node)]
            if opts["engine_endpoint"]:
                extra = engine_args(opts["engine_endpoint"])
                if not extra:
                    self.stderr.write(
                        f"No endpoint {opts['engine_endpoint']} with an offering: every pod "
                        "stays played."
                    )
                argv += extra
        if opts["with_controllers"] is False and not opts["karpenter"]:
            argv.append("--no-karpenter")  # no scheduler: no pod is ever found unschedulable
        else:
            argv += karpenter_args(opts["karpenter"], opts["workdir"])
        code = module.main(argv)
        if code:
            raise CommandError(f"devcluster exited with status {code}")
