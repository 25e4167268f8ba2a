import functools
import os
from decimal import Decimal
from pathlib import Path

import pytest

from deployments.routing.models import Route, RouteTier
from tests.factories import EndpointFactory, GpuRateFactory, InstanceOfferingFactory
from tests.promdata import Load, Node, Pod, Scenario

from ..conftest import _strict

CACHE = Path(os.environ.get("MODELPORT_CACHE", Path.home() / ".cache" / "modelport"))


def route_crd_dir() -> Path | None:
    env = os.environ.get("MODELPORT_ROUTE_CRD_DIR")
    dirs = [Path(env)] if env else sorted((CACHE / "crds-routing").glob("*"), reverse=True)
    return next((d for d in dirs if d.is_dir() and list(d.glob("*.yaml"))), None)


def _draft7(schema):
    """OpenAPI 3.0 writes `exclusiveMaximum: true` next to `maximum`; draft 7 wants the number."""
    if isinstance(schema, dict):
        schema = {k: _draft7(v) for k, v in schema.items()}
        for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
            if schema.get(exclusive) is True:
                schema[exclusive] = schema.pop(bound)
            elif schema.get(exclusive) is False:
                del schema[exclusive]
        return schema
    if isinstance(schema, list):
        return [_draft7(v) for v in schema]
    return schema


@functools.cache
def route_validator(group: str, plural: str, version: str):
    """A strict jsonschema validator from the real router CRD (tools/fetch-route-crds.sh)."""
    import jsonschema
    import yaml

    d = route_crd_dir()
    path = d / f"{group}_{plural}.yaml" if d else None
    if path is None or not path.exists():
        return None
    crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return jsonschema.Draft7Validator(_draft7(_strict(v["schema"]["openAPIV3Schema"])))
    return None


@pytest.fixture
def small(team):
    return EndpointFactory(team=team, name="chat-8b")


@pytest.fixture
def large(team):
    return EndpointFactory(team=team, name="chat-70b", gpu_count=4)


@pytest.fixture
def fallback_ep(team):
    return EndpointFactory(team=team, name="chat-spare")


def make_route(team, policy, name="chat", **tiers) -> Route:
    route = Route.objects.create(team=team, name=name, policy=policy, status="approved")
    for role, endpoint in tiers.items():
        if endpoint is not None:
            RouteTier.objects.create(route=route, endpoint=endpoint, role=role)
    return route


def backfill_two_tiers(prometheus_server, team, t0, end, small_rps, large_rps) -> Scenario:
    """vLLM series of a small (chat-8b, 1 GPU) and a large (chat-70b, 4 GPUs) tier over
    [t0, end), both pods started 10 min before t0; backfilled into the real Prometheus."""
    run = team.slug
    s = Scenario(start=t0, end=end, scrape_interval=30, seed=7)
    s.add_namespace(team.namespace)
    for node in ("gpu-s", "gpu-l"):
        s.add_node(Node(f"{node}-{run}", instance_type="x", capacity_type="on-demand", gpus=4))
    for pod, isvc, node, gpus, rps, prompt in (
        ("chat-8b-predictor-a-1", "chat-8b", "gpu-s", 1, small_rps, 300),
        ("chat-70b-predictor-b-1", "chat-70b", "gpu-l", 4, large_rps, 2000),
    ):
        load = Load(model_name=isvc, requests_per_s=rps, prompt_tokens_per_request=prompt)
        s.add_pod(
            Pod(
                pod,
                team.namespace,
                node=f"{node}-{run}",
                gpus=gpus,
                start=t0 - 600,
                end=None,
                isvc=isvc,
                team=team.slug,
                load=load,
            )
        )
    prometheus_server.backfill(s.openmetrics())
    return s


def priced_tiers(team, **fields):
    """The endpoints of those two tiers, on offerings priced at $1.20/h (1 GPU per node) and
    $20/h (4 GPUs per node): one replica costs $1.20 and $20 an hour."""
    tiers = []
    for name, gpus, price in (("chat-8b", 1, "1.2000"), ("chat-70b", 4, "20.0000")):
        offer = InstanceOfferingFactory(gpus_per_node=gpus)
        GpuRateFactory(offering=offer, hourly_price=Decimal(price))
        tiers.append(
            EndpointFactory(
                team=team,
                name=name,
                offering=offer,
                gpu_type=offer.gpu_type,
                gpu_count=gpus,
                **fields,
            )
        )
    return tuple(tiers)
