import functools
import os
from pathlib import Path

import pytest

from deployments.route_models import Route, RouteTier
from tests.factories import EndpointFactory

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
