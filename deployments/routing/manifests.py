"""PURE: Route -> Envoy Gateway objects (no I/O). The exact objects applied are `render(route)`.

Per route, in the team namespace:

* one ``gateway.envoyproxy.io/v1alpha1 Backend`` per tier, pointing at the member endpoint's
  KServe predictor Service ``<isvc>-predictor.<ns>.svc.cluster.local:80``. The fallback tier
  (and, for the ``fallback`` policy, the large tier) is ``fallback: true``: Envoy puts it in a
  lower priority and sends traffic there when the active tier's hosts are ejected.
* one Gateway API ``HTTPRoute`` on the shared Gateway with the route's own host, whose rules
  pick the tier: by the ``x-modelport-model`` header (alias), by ``x-modelport-tier``
  (prompt length), or one rule small + fallback large (fallback).
* an ``EnvoyExtensionPolicy`` with a Lua filter that reads the OpenAI request body, sets
  those headers (``model`` field; body length over the threshold), writes the model name the
  chosen tier serves into the body (or the empty name, which every vLLM serves as its own
  model, when the tier's rule can fail over to another tier: see ``body_models``) and clears
  the route cache so the HTTPRoute rules see the headers.
* a ``BackendTrafficPolicy``: retries on connect failures and 502/503/504, passive health
  checks (outlier ejection, which triggers the priority failover) and a circuit breaker whose
  pending-request cap is the route's queue-depth threshold: a deep queue overflows with 503s,
  which are retried and eject the small tier's hosts, so traffic falls back.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from deployments.endpoints.manifests import LABEL_MANAGED_BY, LABEL_TEAM, MANAGED_BY, ManifestError
from deployments.routing import complexity
from deployments.routing.choices import RouteStatus
from deployments.routing.models import RoutePolicy, TierRole
from deployments.workloads.choices import DesiredState
from portal.validators import DNS_LABEL_RE

EG_API = "gateway.envoyproxy.io/v1alpha1"
EG_GROUP = "gateway.envoyproxy.io"
GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"
LABEL_ROUTE = "modelport.io/route"
LABEL_ROUTE_UUID = "modelport.io/route-uuid"
MODEL_HEADER = "x-modelport-model"
TIER_HEADER = "x-modelport-tier"
# The complexity policy's router (routing/complexity.py), named "<route>-router".
ROUTER_KINDS = (("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("v1", "Service"))
KINDS = (
    (EG_API, "Backend"),
    (GATEWAY_API, "HTTPRoute"),
    (EG_API, "EnvoyExtensionPolicy"),
    (EG_API, "BackendTrafficPolicy"),
)

# Runs in Envoy before routing: headers for the HTTPRoute rules, the model name in the body,
# then a fresh route match. Envoy Gateway has no per-backend body filter, so the body is
# rewritten once, before Envoy picks a host: a tier whose rule can fail over to another tier
# (a lower-priority Backend) gets the empty model name, which every vLLM OpenAI server serves
# as its own model, so the request is valid on whichever tier answers; a tier with no failover
# gets its served model name (the InferenceService name).
LUA_TEMPLATE = """\
-- tier -> the model name written into the body ("" = the serving tier's own model)
local model_for = {model_for}
function envoy_on_request(handle)
  local body = handle:body(true)
  local text = body and body:getBytes(0, body:length()) or ""
  local asked = string.match(text, '"model"%s*:%s*"([^"]*)"') or ""
  local tier = "small"
  if "{policy}" == "alias" then
    if model_for[asked] ~= nil then tier = asked end
  elseif "{policy}" == "prompt_length" and #text > {threshold} then
    tier = "large"
  end
  handle:headers():replace("{model_header}", asked)
  handle:headers():replace("{tier_header}", tier)
  local model = model_for[tier]
  if model ~= nil and body then
    local swapped, n = string.gsub(text, '("model"%s*:%s*")[^"]*(")', "%1" .. model .. "%2", 1)
    if n == 1 then
      body:setBytes(swapped)
      handle:headers():replace("content-length", tostring(#swapped))
    end
  end
  handle:clearRouteCache()
end
"""


def check_renderable(route, tiers) -> None:
    """Raise ManifestError unless every value is safe to place in a manifest."""
    problems = []
    if len(route.name) > 40 or not DNS_LABEL_RE.match(route.name):
        problems.append(f"route name {route.name!r} is not a DNS label")
    if not DNS_LABEL_RE.match(route.namespace):
        problems.append(f"namespace {route.namespace!r} is not a DNS label")
    if str(route.policy) not in RoutePolicy.values:
        problems.append(f"unknown policy {route.policy!r}")
    if route.policy == RoutePolicy.COMPLEXITY:
        if any(str(t.role) == TierRole.FALLBACK for t in tiers):
            problems.append(complexity.NO_FALLBACK)
        for field in ("easy_examples", "hard_examples", "hard_keywords"):
            try:
                complexity.clean_phrases(getattr(route, field), field)
            except complexity.ExamplesError as exc:
                problems.append(str(exc))
    for tier in tiers:
        if str(tier.role) not in TierRole.values:
            problems.append(f"unknown tier role {tier.role!r}")
        if tier.endpoint.team_id != route.team_id:
            problems.append(f"endpoint {tier.endpoint} belongs to another team")
        if not DNS_LABEL_RE.match(tier.endpoint.isvc_name):
            problems.append(f"endpoint name {tier.endpoint.isvc_name!r} is not a DNS label")
    if problems:
        raise ManifestError("; ".join(problems))


def labels(route) -> dict[str, str]:
    return {
        LABEL_TEAM: route.team.slug,
        LABEL_ROUTE: route.name,
        LABEL_ROUTE_UUID: str(route.uuid),
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def selector() -> str:
    return f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_ROUTE_UUID}"


def _meta(route, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": route.namespace, "labels": labels(route)}


def predictor_host(endpoint) -> str:
    return f"{endpoint.isvc_name}-predictor.{endpoint.namespace}.svc.cluster.local"


def backend_name(route, role: str) -> str:
    return f"{route.name}-{role}"


def _is_fallback(route, role: str) -> bool:
    return role == TierRole.FALLBACK or (
        route.policy == RoutePolicy.FALLBACK and role == TierRole.LARGE
    )


def _backend(route, tier) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "endpoints": [{"fqdn": {"hostname": predictor_host(tier.endpoint), "port": 80}}]
    }
    if _is_fallback(route, str(tier.role)):
        spec["fallback"] = True
    return {
        "apiVersion": EG_API,
        "kind": "Backend",
        "metadata": _meta(route, backend_name(route, str(tier.role))),
        "spec": spec,
    }


def _ref(route, role: str) -> dict[str, Any]:
    return {"group": EG_GROUP, "kind": "Backend", "name": backend_name(route, role)}


def _rule(route, roles: list[str], match: tuple[str, str] | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"backendRefs": [_ref(route, r) for r in roles]}
    prefix = {"path": {"type": "PathPrefix", "value": "/v1"}}
    if match:
        prefix["headers"] = [{"type": "Exact", "name": match[0], "value": match[1]}]
    rule["matches"] = [prefix]
    return rule


def tier_backends(route, roles: list[str]) -> dict[str, list[str]]:
    """Per tier the Lua can pick: the roles of the Backends its rule sends to, active first
    (the rest are lower-priority fallbacks Envoy fails over to)."""
    spare = [TierRole.FALLBACK.value] if TierRole.FALLBACK in roles else []
    if route.policy == RoutePolicy.FALLBACK:
        return {TierRole.SMALL.value: [TierRole.SMALL.value, TierRole.LARGE.value, *spare]}
    picked = [r.value for r in (TierRole.LARGE, TierRole.SMALL, TierRole.FALLBACK) if r in roles]
    return {r: [r, *[s for s in spare if s != r]] for r in picked}


def body_models(route, tiers) -> dict[str, str]:
    """Per tier the Lua can pick: the model name it writes into the request body. The served
    name when the rule has that one Backend; "" (the serving vLLM's own model) when the rule
    can fail over to another tier, whose vLLM serves a different name."""
    served = {str(t.role): t.endpoint.isvc_name for t in tiers}
    return {
        tier: served[tier] if len(backends) == 1 else ""
        for tier, backends in tier_backends(route, list(served)).items()
    }


def _rules(route, roles: list[str], served_names=None) -> list[dict[str, Any]]:
    """Most specific rules first; the last one (no header) is the default: the small tier."""
    by_tier = tier_backends(route, roles)
    if route.policy == RoutePolicy.FALLBACK:
        return [_rule(route, by_tier[TierRole.SMALL], None)]
    if route.policy == RoutePolicy.COMPLEXITY:
        # the Semantic Router names the chosen provider model (the tier's served name)
        served = dict(served_names or {})
        rules = [
            _rule(route, backends, (complexity.SELECTED_MODEL_HEADER, served[tier]))
            for tier, backends in by_tier.items()
        ]
        rules.append(_rule(route, by_tier[TierRole.SMALL], None))
        return rules
    rules = [_rule(route, backends, (TIER_HEADER, tier)) for tier, backends in by_tier.items()]
    rules.append(_rule(route, by_tier[TierRole.SMALL], None))
    return rules


def _http_route(route, roles: list[str], served_names=None) -> dict[str, Any]:
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": _meta(route, route.name),
        "spec": {
            "parentRefs": [
                {
                    "group": GATEWAY_GROUP,
                    "kind": "Gateway",
                    "name": settings.ROUTE_GATEWAY_NAME,
                    "namespace": settings.ROUTE_GATEWAY_NAMESPACE,
                }
            ],
            "hostnames": [route.host],
            "rules": _rules(route, roles, served_names),
        },
    }


def _target(route) -> list[dict[str, str]]:
    return [{"group": GATEWAY_GROUP, "kind": "HTTPRoute", "name": route.name}]


def lua_source(route, tiers) -> str:
    models = body_models(route, tiers)
    table = ", ".join(f'["{tier}"] = "{models[tier]}"' for tier in sorted(models))
    return (
        LUA_TEMPLATE.replace("{model_for}", "{" + table + "}")
        .replace("{policy}", str(route.policy))
        .replace("{model_header}", MODEL_HEADER)
        .replace("{tier_header}", TIER_HEADER)
        .replace("{threshold}", str(int(route.prompt_length_threshold)))
    )


def _extension_policy(route, tiers) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRefs": _target(route)}
    if route.policy == RoutePolicy.COMPLEXITY:
        spec["extProc"] = complexity.ext_proc(route)
    else:
        spec["lua"] = [{"type": "Inline", "inline": lua_source(route, tiers)}]
    return {
        "apiVersion": EG_API,
        "kind": "EnvoyExtensionPolicy",
        "metadata": _meta(route, route.name),
        "spec": spec,
    }


def _traffic_policy(route) -> dict[str, Any]:
    return {
        "apiVersion": EG_API,
        "kind": "BackendTrafficPolicy",
        "metadata": _meta(route, route.name),
        "spec": {
            "targetRefs": _target(route),
            "retry": {
                "numRetries": 2,
                "retryOn": {
                    "triggers": ["connect-failure", "refused-stream", "retriable-status-codes"],
                    "httpStatusCodes": [502, 503, 504],
                },
            },
            "healthCheck": {
                "passive": {
                    "consecutive5XxErrors": 3,
                    "interval": "10s",
                    "baseEjectionTime": "30s",
                    "maxEjectionPercent": 100,
                }
            },
            "circuitBreaker": {"maxPendingRequests": int(route.queue_depth_threshold)},
        },
    }


def render(route, tiers) -> list[dict[str, Any]]:
    """The route's objects in apply order (Backends before the HTTPRoute that names them)."""
    check_renderable(route, tiers)
    tiers = sorted(tiers, key=lambda t: str(t.role))
    roles = [str(t.role) for t in tiers]
    objects = [_backend(route, t) for t in tiers]
    if route.policy == RoutePolicy.COMPLEXITY:
        # the router first: the extension policy names its Service
        objects = complexity.objects(route, tiers, lambda n: _meta(route, n)) + objects
    served = {str(t.role): t.endpoint.isvc_name for t in tiers}
    objects.append(_http_route(route, roles, served))
    objects.append(_extension_policy(route, tiers))
    objects.append(_traffic_policy(route))
    return objects


def deletable(route) -> list[dict[str, Any]]:
    """Every object a route may own (the kinds of any policy), for deletion by name."""
    names = [(EG_API, "Backend", backend_name(route, r)) for r in TierRole.values]
    names += [(api, kind, route.name) for api, kind in KINDS if kind != "Backend"]
    names += [(api, kind, complexity.router_name(route)) for api, kind in ROUTER_KINDS]
    return [
        {"apiVersion": api, "kind": kind, "metadata": {"name": n, "namespace": route.namespace}}
        for api, kind, n in names
    ]


def status_from(http_route: dict[str, Any]) -> tuple[str, str] | None:
    """Map an HTTPRoute's status (set by Envoy Gateway per parent) to (status, message).

    None: the gateway has not reported on this generation yet (keep the current status).
    """
    meta, status = http_route.get("metadata") or {}, http_route.get("status") or {}
    parents = status.get("parents") or []
    if not parents:
        return RouteStatus.PROVISIONING, "Waiting for Envoy Gateway to accept the route."
    conditions = {c.get("type"): c for c in parents[0].get("conditions") or []}
    if any(c.get("observedGeneration", 0) < meta.get("generation", 0) for c in conditions.values()):
        return None
    for kind in ("Accepted", "ResolvedRefs"):
        cond = conditions.get(kind) or {}
        if cond.get("status") == "False":
            text = cond.get("message") or cond.get("reason") or kind
            return RouteStatus.FAILED, f"{kind}: {text}"
    if all((conditions.get(k) or {}).get("status") == "True" for k in ("Accepted", "ResolvedRefs")):
        return RouteStatus.READY, "Routing."
    return RouteStatus.PROVISIONING, "Waiting for Envoy Gateway to accept the route."


def wanted_in_cluster(route) -> bool:
    return route.desired_state == DesiredState.PRESENT


# What the route's gateway checks (nothing: the HTTPRoute has no SecurityPolicy), said in the
# snippet instead of a token placeholder nobody can fill in.
ROUTE_PROTECTION = (
    "No token: the gateway checks no API key on this route, so anyone who can reach its URL "
    "can call it (who can reach it is set by the platform team's network). The OpenAI client "
    "insists on a key, so the snippet passes a placeholder."
)


def client_snippet(route) -> str:
    """The OpenAI client code that calls the route."""
    model = "small" if route.policy == RoutePolicy.ALIAS else "auto"
    return (
        "from openai import OpenAI\n\n"
        "# No token: the gateway checks no API key on this route; any value will do.\n"
        f'client = OpenAI(base_url="{route.url}", api_key="no-key-needed")\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        '    messages=[{"role": "user", "content": "Hello"}],\n'
        ")\n"
        "print(reply.choices[0].message.content)\n"
    )
