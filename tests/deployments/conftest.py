"""Deployments test helpers: golden files (`--update-golden` or MODELPORT_UPDATE_GOLDEN=1),
CRD schemas for jsonschema validation, and a deterministic endpoint for manifests."""

import functools
import os
import uuid
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tests.factories import (
    CatalogModelFactory,
    EndpointFactory,
    GpuTypeFactory,
    InstanceOfferingFactory,
    TeamFactory,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
REFERENCE_CRDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "kserve-crds"


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/deployments/golden/*.yaml from the current output",
    )


@pytest.fixture
def golden(request):
    """golden(name, text): compare with golden/<name>, or rewrite it when updating."""
    update = (
        request.config.getoption("--update-golden", default=False)
        or os.environ.get("MODELPORT_UPDATE_GOLDEN") == "1"
    )

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update or not path.exists():
            path.write_text(text)
            if not update:
                pytest.fail(f"golden file {name} did not exist; wrote it - review and commit it")
        assert text == path.read_text(), (
            f"{name} differs from the golden file; run pytest --update-golden if intended"
        )

    return check


def _crd_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("MODELPORT_CRD_DIR"):
        dirs.append(Path(os.environ["MODELPORT_CRD_DIR"]))
    cache = Path(os.environ.get("MODELPORT_CACHE", Path.home() / ".cache" / "modelport"))
    dirs += sorted((cache / "crds").glob("*"), reverse=True)
    dirs.append(REFERENCE_CRDS)
    return [d for d in dirs if d.is_dir()]


def _strict(schema):
    """Reject unknown fields like a typo would be (the apiserver silently prunes them)."""
    if isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema = {**schema, "additionalProperties": False}
        return {k: _strict(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def crd_schema(group: str, plural: str, version: str):
    """The strict openAPIV3Schema of <plural>.<group>/<version>, or None if no CRD file."""
    for d in _crd_dirs():
        path = d / f"{group}_{plural}.yaml"
        if path.exists():
            crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
            for v in crd["spec"]["versions"]:
                if v["name"] == version:
                    return _strict(v["schema"]["openAPIV3Schema"])
    return None


@functools.cache
def crd_validator(group: str, plural: str, version: str):
    """A reusable jsonschema validator for the CRD, or None if no CRD file."""
    import jsonschema

    schema = crd_schema(group, plural, version)
    return None if schema is None else jsonschema.Draft7Validator(schema)


@pytest.fixture
def golden_endpoint(db):
    """A fully specified endpoint whose manifests never change unless the renderer does."""
    team = TeamFactory(name="Search", slug="search", max_gpus=12)
    gpu = GpuTypeFactory(name="L40S", memory_gib=Decimal("48"), node_label_value="l40s")
    offering = InstanceOfferingFactory(
        gpu_type=gpu,
        instance_type="g6e.xlarge",
        gpus_per_node=1,
        node_labels={"karpenter.sh/nodepool": "gpu"},
    )
    model = CatalogModelFactory(
        name="Llama 3.1 8B Instruct",
        slug="llama-3-1-8b",
        storage_uri="hf://meta-llama/Llama-3.1-8B-Instruct",
        quantized_storage_uris={"awq": "hf://hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"},
        gated=True,
        num_attention_heads=32,
        allowed_quantizations=["bf16", "fp8", "awq"],
    )
    return EndpointFactory(
        uuid=uuid.UUID("8f14e45f-ceea-467a-9575-000000000001"),
        team=team,
        name="chat",
        model=model,
        gpu_type=gpu,
        offering=offering,
        gpu_count=1,
        quantization="bf16",
        kv_cache_dtype="auto",
        max_context_length=8192,
        min_replicas=1,
        max_replicas=3,
        target_queue_depth=4,
        capacity_type="on-demand",
        generation=3,
    )


@pytest.fixture
def golden_job(golden_endpoint):
    """A fully specified batch job (the golden endpoint's team, model and GPU) whose Job never
    changes unless the renderer does."""
    from tests.factories import BatchJobFactory

    ep = golden_endpoint
    return BatchJobFactory(
        uuid=uuid.UUID("8f14e45f-ceea-467a-9575-0000000000b1"),
        team=ep.team,
        name="nightly",
        model=ep.model,
        gpu_type=ep.gpu_type,
        offering=ep.offering,
        gpu_count=1,
        quantization="bf16",
        max_context_length=8192,
        capacity_type="spot",
        input_uri="pvc://datasets/batches/in.jsonl",
        output_uri="s3://acme-data/batches/out",
        shards=6,
        parallelism=3,
        backoff_limit_per_index=2,
        deadline_hours=12,
        generation=4,
        run=2,
        run_shards=[1, 4, 5],
    )


@pytest.fixture
def scheduled(golden_endpoint):
    ep = golden_endpoint
    ep.schedule_enabled = True
    ep.schedule_timezone = "Europe/Berlin"
    ep.schedule_start = time(8, 0)
    ep.schedule_end = time(18, 30)
    ep.schedule_weekdays_only = True
    ep.min_replicas = 2
    ep.save()
    return ep


# --- an in-memory cluster for unit tests (integration tests use the real apiserver) -----------


class FakeCluster:
    """Stands in for deployments.k8s.ClusterClient: stores applied objects by kind/ns/name."""

    def __init__(self):
        self.objects: dict[tuple[str, str | None, str], dict] = {}
        self.applied: list[list[dict]] = []
        self.deleted: list[tuple[str, str]] = []
        self.events_by_ns: dict[str, list[dict]] = {}
        self.fail_with: Exception | None = None
        self.calls = 0
        # Kinds whose delete leaves the object behind with a deletionTimestamp until
        # `finalize()`, as KServe's and KEDA's finalizers hold theirs.
        self.finalized_kinds: set[str] = set()

    @staticmethod
    def key(obj):
        meta = obj["metadata"]
        return obj["kind"], meta.get("namespace"), meta["name"]

    def _maybe_fail(self):
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with

    def apply(self, objects, dry_run=False, reuse_kinds=()):
        import copy

        self._maybe_fail()
        self.applied.append(copy.deepcopy(objects))
        for obj in objects:
            old = self.objects.get(self.key(obj))
            new = copy.deepcopy(obj)
            gen = (old or {}).get("metadata", {}).get("generation", 0)
            if old is None or old.get("spec") != new.get("spec"):
                gen += 1
            new["metadata"]["generation"] = gen
            if old and "status" in old:
                new["status"] = old["status"]
            self.objects[self.key(obj)] = new
        return objects

    def delete(self, obj):
        self._maybe_fail()
        self.deleted.append((obj["kind"], obj["metadata"]["name"]))
        if obj["kind"] in self.finalized_kinds and self.key(obj) in self.objects:
            held = self.objects[self.key(obj)]
            held["metadata"].setdefault("deletionTimestamp", "2026-12-04T19:00:00Z")
            return True
        return self.objects.pop(self.key(obj), None) is not None

    def finalize(self):
        """The controllers' finalizers ran: every object marked for deletion goes."""
        for key, obj in list(self.objects.items()):
            if "deletionTimestamp" in obj["metadata"]:
                del self.objects[key]

    def get(self, api_version, kind, name, namespace=None):
        self._maybe_fail()
        return self.objects.get((kind, namespace, name))

    def list(self, api_version, kind, namespace=None, label_selector=None):
        """Objects of `kind` in `namespace` (None: every namespace, as the real adapter lists)
        matching `key=value` and bare `key` (exists) selectors."""
        self._maybe_fail()
        want = [p.partition("=") for p in label_selector.split(",")] if label_selector else []

        def matches(labels):
            return all(a in labels and (not eq or labels[a] == b) for a, eq, b in want)

        return [
            o
            for (k, ns, _), o in self.objects.items()
            if k == kind
            and (namespace is None or ns == namespace)
            and matches(o["metadata"].get("labels") or {})
        ]

    def events(self, namespace):
        return self.events_by_ns.get(namespace, [])

    # helpers playing the KServe controller
    def isvc(self, endpoint):
        return self.objects.get(("InferenceService", endpoint.namespace, endpoint.isvc_name))

    def set_status(self, endpoint, ready=True, url="http://chat.mp-search.example.com", **extra):
        obj = self.isvc(endpoint)
        conditions = [
            {"type": t, "status": "True" if ready else "False"}
            for t in ("PredictorReady", "IngressReady", "Ready")
        ]
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"],
            "conditions": conditions,
            **({"url": url} if ready else {}),
            **extra,
        }


@pytest.fixture
def fake_cluster(settings, monkeypatch):
    from deployments.k8s import ClusterClient

    fake = FakeCluster()
    settings.KUBECONFIG = "/nonexistent/fake-kubeconfig"
    settings.CELERY_TASK_ALWAYS_EAGER = True  # on-commit applies run in-process, even with a broker
    monkeypatch.setattr(ClusterClient, "from_settings", classmethod(lambda cls: fake))
    return fake


@pytest.fixture
def no_cluster(settings):
    settings.KUBECONFIG = ""
    settings.KUBE_IN_CLUSTER = False


@pytest.fixture
def approved_endpoint(db, golden_endpoint):
    """The golden endpoint just approved: generation 1, nothing applied yet."""
    from deployments.endpoints.choices import EndpointStatus

    ep = golden_endpoint
    ep.status = EndpointStatus.APPROVED
    ep.generation, ep.applied_generation = 1, 0
    ep.save()
    return ep


@pytest.fixture
def live_cluster(settings, kubeconfig_path, kube_namespace):
    """Point the portal at the real apiserver; team namespaces become '<test ns>-<slug>'."""
    settings.KUBECONFIG = kubeconfig_path
    settings.KUBE_CONTEXT = ""
    settings.KUBE_IN_CLUSTER = False
    settings.KUBE_NAMESPACE_PREFIX = f"{kube_namespace}-"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from deployments.k8s import ClusterClient

    return ClusterClient.from_settings()


@pytest.fixture
def real(request, live_cluster, kube_cluster, fake_gpu_node):
    """The real KServe controller and KEDA operator on the live apiserver, the played kubelet
    and GPU nodes (tests/deployments/cluster_helpers.real_controllers); skips without them."""
    from tests.deployments.cluster_helpers import real_controllers

    return real_controllers(request, live_cluster, kube_cluster, fake_gpu_node)
