"""Failover sends a model name the answering tier serves: the rendered Lua filter runs in LuaJIT
(the interpreter Envoy embeds) with a small stand-in for Envoy's stream handle, and the body it
produces is checked against every Backend of the HTTPRoute rule its headers select (the objects
validated by the real CRDs in test_route_manifests.py)."""

import json
import os
import shutil
import subprocess

import pytest

from deployments.routing import manifests

from .conftest import make_route, route_validator
from .test_route_manifests import PLURALS

# Envoy's handle, as far as the filter uses it: body(), getBytes/setBytes, headers():replace,
# clearRouteCache. Prints the headers and the body the upstream would get.
HARNESS = """
local req_body = io.read("*a")
local headers = {}
local body = {
  length = function(self) return #req_body end,
  getBytes = function(self, i, n) return string.sub(req_body, i + 1, i + n) end,
  setBytes = function(self, s) req_body = s end,
}
local handle = {
  body = function(self, always) return body end,
  headers = function(self)
    return { replace = function(_, k, v) headers[k] = v end }
  end,
  clearRouteCache = function(self) headers["(route cache cleared)"] = "yes" end,
}
envoy_on_request(handle)
for k, v in pairs(headers) do io.write(k, "\\t", v, "\\n") end
io.write("\\n", req_body)
"""

LUAJIT = shutil.which("luajit")
needs_luajit = pytest.mark.skipif(
    LUAJIT is None and os.environ.get("MODELPORT_REQUIRE_SERVICES") != "1",
    reason="luajit not installed (scripts/setup.sh --test)",
)


def run_filter(lua: str, body: dict, tmp_path) -> tuple[dict, dict]:
    if LUAJIT is None:
        pytest.fail("MODELPORT_REQUIRE_SERVICES=1 and luajit is not installed")
    script = tmp_path / "filter.lua"
    script.write_text(lua + "\n" + HARNESS)
    out = subprocess.run(
        [LUAJIT, str(script)], input=json.dumps(body), capture_output=True, text=True, check=True
    ).stdout
    head, _, sent = out.partition("\n\n")
    headers = dict(line.split("\t", 1) for line in head.splitlines())
    assert int(headers["content-length"]) == len(sent.encode())
    return headers, json.loads(sent)


def rule_for(http_route: dict, headers: dict) -> dict:
    """The first HTTPRoute rule whose header matches hold (Gateway API: most specific first)."""
    for rule in http_route["spec"]["rules"]:
        wanted = rule["matches"][0].get("headers") or []
        if all(headers.get(h["name"]) == h["value"] for h in wanted):
            return rule
    raise AssertionError("no rule matches")


def accepted_by(model: str, endpoint) -> bool:
    """vLLM's OpenAI server takes its served name, or an empty name as its own model."""
    return model in ("", endpoint.isvc_name)


CASES = [
    ("alias", {"model": "large"}, "large"),
    ("alias", {"model": "small"}, "small"),
    ("alias", {"model": "gpt-4o"}, "small"),
    ("prompt_length", {"model": "auto", "messages": [{"content": "x" * 5000}]}, "large"),
    ("prompt_length", {"model": "auto", "messages": [{"content": "hi"}]}, "small"),
    ("fallback", {"model": "auto", "messages": [{"content": "x" * 5000}]}, "small"),
]


@needs_luajit
@pytest.mark.parametrize("with_spare", [False, True], ids=["two-tiers", "with-fallback-tier"])
@pytest.mark.parametrize("policy,body,tier", CASES)
def test_every_backend_a_request_can_reach_serves_the_model_in_its_body(
    team, small, large, fallback_ep, policy, body, tier, with_spare, tmp_path
):
    route = make_route(
        team, policy, small=small, large=large, fallback=fallback_ep if with_spare else None
    )
    tiers = list(route.tiers.all())
    objects = manifests.render(route, tiers)
    for obj in objects:  # the same objects the CRD test validates
        validator = route_validator(
            obj["apiVersion"].split("/")[0], PLURALS[obj["kind"]], obj["apiVersion"].split("/")[1]
        )
        if validator is not None:
            assert not list(validator.iter_errors(obj))
    lua = next(o for o in objects if o["kind"] == "EnvoyExtensionPolicy")["spec"]["lua"][0]
    headers, sent = run_filter(lua["inline"], body, tmp_path)
    assert headers[manifests.TIER_HEADER] == tier
    rule = rule_for(next(o for o in objects if o["kind"] == "HTTPRoute"), headers)
    by_backend = {manifests.backend_name(route, str(t.role)): t.endpoint for t in tiers}
    reachable = [by_backend[ref["name"]] for ref in rule["backendRefs"]]
    assert reachable[0] == {str(t.role): t.endpoint for t in tiers}[tier]
    for endpoint in reachable:  # the active tier and every tier Envoy may fail over to
        assert accepted_by(sent["model"], endpoint), (sent["model"], endpoint.isvc_name)
    assert {k: v for k, v in sent.items() if k != "model"} == {
        k: v for k, v in body.items() if k != "model"
    }


@needs_luajit
def test_a_tier_without_failover_gets_its_served_name(team, small, large, tmp_path):
    route = make_route(team, "alias", small=small, large=large)
    lua = manifests.lua_source(route, list(route.tiers.all()))
    _, sent = run_filter(lua, {"model": "large", "stream": True}, tmp_path)
    assert sent == {"model": large.isvc_name, "stream": True}


def test_body_models_empty_exactly_where_a_rule_has_a_lower_priority_tier(
    team, small, large, fallback_ep
):
    two = make_route(team, "prompt_length", small=small, large=large)
    assert manifests.body_models(two, list(two.tiers.all())) == {
        "large": large.isvc_name,
        "small": small.isvc_name,
    }
    fb = make_route(team, "fallback", small=small, large=large, name="fb")
    assert manifests.body_models(fb, list(fb.tiers.all())) == {"small": ""}
    spare = make_route(team, "alias", small=small, large=large, fallback=fallback_ep, name="sp")
    assert manifests.body_models(spare, list(spare.tiers.all())) == {
        "large": "",
        "small": "",
        "fallback": fallback_ep.isvc_name,
    }
