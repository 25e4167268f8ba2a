"""Owner / member / viewer / outsider / anonymous x every route, generated from the URL
resolver: a new route fails this test until it is given arguments here, so none is forgotten.

GET only (POST-only views answer 405). Nobody gets a 500; anonymous callers get the login
page (pages) or 401/403 (API); an outsider never reads another team's objects (no 200)."""

import uuid

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from deployments.routing.models import Route, RouteTier
from tests.factories import EndpointFactory, UsageRecordFactory

pytestmark = pytest.mark.django_db

PUBLIC = {
    "login", "api-schema", "api-docs", "healthz", "readyz",
    "oidc_authentication_init", "oidc_authentication_callback",
}  # fmt: skip
# Routes that name no team object: an outsider may read them (their own teams' view of it).
UNSCOPED = {
    "home", "team_switch", "api_token", "fleet_metrics", "endpoint_list", "endpoint_create",
    "endpoint_estimate", "approval_list", "costs_home", "platform_costs", "month_close",
    "month_reopen", "logout", "catalogmodel-list", "catalogmodel-detail", "gputype-list",
    "gputype-detail", "sizing", "endpoint-list", "approval-list", "api-root",
    "chargeback-platform", "usagerecord-list", "statement-list", "team-list",
    "prometheus-django-metrics", "login", "api-schema", "api-docs",
    "batch_job_list", "batch_job_create", "batch_job_estimate", "batch-job-list", "route-list",
    "healthz", "readyz", "route_list", "route_create", "model_catalog", "gpu_inventory",
    "oidc_authentication_init", "oidc_authentication_callback",
}  # fmt: skip


def _routes():
    def walk(patterns, namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("admin/"):
                    continue  # the admin is staff-only as a whole (tests/test_admin.py)
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                yield from walk(p.url_patterns, ns)
            elif p.name and "format" not in str(p.pattern):
                yield namespace + p.name, p

    return sorted({name: p for name, p in walk(get_resolver().url_patterns)}.items())


@pytest.fixture
def world(team, owner, member, viewer, outsider, llama_8b, gpu_l4):
    ep = EndpointFactory(team=team, name="chat", model=llama_8b, gpu_type=gpu_l4)
    usage = UsageRecordFactory(team=team, endpoint=ep)
    route = Route.objects.create(team=team, name="chat", policy="alias", status="ready")
    RouteTier.objects.create(route=route, endpoint=ep, role="small")
    RouteTier.objects.create(
        route=route, endpoint=EndpointFactory(team=team, name="big"), role="large"
    )
    return {
        "route_uuid": route.uuid,
        "uuid": ep.uuid,
        "slug": team.slug,
        "user_uuid": member.uuid,
        "pk": usage.pk,
        "catalog_uuid": llama_8b.uuid,
        "gpu_uuid": gpu_l4.uuid,
        "action": "cancel",
    }


def _kwargs(name: str, pattern, world) -> dict:
    wanted = set(pattern.pattern.regex.groupindex)
    kwargs = {}
    for key in wanted:
        if key == "uuid" and name.endswith(("catalogmodel-detail",)):
            kwargs[key] = world["catalog_uuid"]
        elif key == "uuid" and name.endswith("gputype-detail"):
            kwargs[key] = world["gpu_uuid"]
        elif key == "uuid" and name.split(":")[-1].startswith(("route_", "route-")):
            kwargs[key] = world["route_uuid"]
        elif key == "uuid" and "statement" in name:
            kwargs[key] = uuid.uuid4()  # no statement yet: 404 for everybody
        elif key == "uuid" and name.endswith(("team-detail", "team-members")):
            kwargs[key] = world["team_uuid"]
        elif key in world:
            kwargs[key] = world[key]
        else:
            pytest.fail(
                f"route {name} takes {key!r}: give it a value in tests/test_route_matrix.py"
            )
    return kwargs


def _client(user, api: bool):
    client = APIClient() if api else Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_route_for_every_role(world, team, owner, member, viewer, outsider, settings):
    settings.PROMETHEUS_URL = ""
    world["team_uuid"] = team.uuid
    roles = {"owner": owner, "member": member, "viewer": viewer, "outsider": outsider}
    roles["anonymous"] = None
    problems, seen = [], 0
    for name, pattern in _routes():
        url_name = name
        url = reverse(url_name, kwargs=_kwargs(name, pattern, world))
        api = url.startswith("/api/v1/")
        for role, user in roles.items():
            resp = _client(user, api).get(url)
            seen += 1
            code = resp.status_code
            if code >= 500 and code != 503:  # 503: Prometheus is not configured (documented)
                problems.append(f"{role} GET {url}: {code}")
            elif user is None and name.split(":")[-1] not in PUBLIC:
                ok = code in (401, 403, 405) if api else code in (302, 403, 405)
                if name.endswith("prometheus-django-metrics"):
                    ok = code == 403
                if not ok or (code == 302 and "login/" not in resp["Location"]):
                    problems.append(f"anonymous GET {url}: {code}")
            elif role == "outsider" and name.split(":")[-1] not in UNSCOPED and code == 200:
                problems.append(f"outsider GET {url}: 200 (another team's object)")
    assert seen > 5 * 60
    assert not problems, "\n".join(problems)
