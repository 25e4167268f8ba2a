"""The complexity policy: the vLLM Semantic Router's config (validated by the pinned `vllm-sr`
CLI), its Deployment / Service / ConfigMap, the extProc policy (validated against the real
Envoy Gateway CRD), the HTTPRoute rules on the router's header, and the preview."""

import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from deployments.endpoints.manifests import ManifestError
from deployments.routing import complexity, manifests
from tests.factories import CatalogModelFactory, EndpointFactory

from .conftest import make_route, priced_tiers, route_validator

VLLM_SR = shutil.which("vllm-sr", path=str(Path(sys.executable).parent)) or shutil.which("vllm-sr")


def objects_of(route):
    return manifests.render(route, list(route.tiers.all()))


def by_kind(objects):
    return {o["kind"]: o for o in objects}


def config_of(route) -> dict:
    cm = by_kind(objects_of(route))["ConfigMap"]
    return yaml.safe_load(cm["data"]["config.yaml"])


def validate(tmp_path: Path, name: str, config_text: str) -> subprocess.CompletedProcess:
    if VLLM_SR is None:
        pytest.fail("vllm-sr is not installed (it is in the test extra: pip install -e .[test])")
    path = tmp_path / name
    path.write_text(config_text)
    return subprocess.run(
        [VLLM_SR, "config", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


@pytest.fixture
def priced(team):
    """chat-8b on a $1.20/h 1-GPU node, chat-70b on 4 of a $20/h 4-GPU node; the catalog says
    the models do 2500 and 500 tokens per GPU-second."""
    small, large = priced_tiers(team)
    small.model = CatalogModelFactory(batch_tokens_per_gpu_second=Decimal("2500"))
    large.model = CatalogModelFactory(batch_tokens_per_gpu_second=Decimal("500"))
    small.save()
    large.save()
    return small, large


def test_rendered_configs_pass_the_routers_own_validator(tmp_path, team, priced):
    small, large = priced
    own = make_route(team, "complexity", small=small, large=large)
    own.easy_examples = ["Say hello in German."]
    own.hard_examples = ["Prove the scheduler never starves a queue."]
    own.hard_keywords = ["formal proof"]
    own.medium_to_small = True
    own.save()
    defaults = make_route(team, "complexity", name="chat2", small=small, large=large)
    for name, route in (("own.yaml", own), ("defaults.yaml", defaults)):
        text = by_kind(objects_of(route))["ConfigMap"]["data"]["config.yaml"]
        result = validate(tmp_path, name, text)
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        assert "Configuration is valid" in result.stdout


def test_the_validator_rejects_a_broken_config(tmp_path, team, priced):
    """The check above can fail: a wrong type in the rendered document is named."""
    small, large = priced
    config = config_of(make_route(team, "complexity", small=small, large=large))
    config["listeners"][0]["port"] = "abc"
    result = validate(tmp_path, "bad.yaml", complexity.config_yaml(config))
    assert result.returncode != 0
    assert "listeners.0.port" in result.stdout + result.stderr


def test_decisions_map_easy_to_small_and_hard_to_large(team, priced):
    small, large = priced
    config = config_of(make_route(team, "complexity", small=small, large=large))
    picks = {d["name"]: d["modelRefs"][0]["model"] for d in config["routing"]["decisions"]}
    assert picks == {"easy": "chat-8b", "medium": "chat-70b", "hard": "chat-70b"}
    assert config["providers"]["defaults"]["model"] == "chat-8b"


def test_budget_steering_sends_medium_to_small(team, priced):
    small, large = priced
    route = make_route(team, "complexity", small=small, large=large)
    route.medium_to_small = True
    config = config_of(route)
    medium = next(d for d in config["routing"]["decisions"] if d["name"] == "medium")
    assert medium["modelRefs"] == [{"model": "chat-8b", "use_reasoning": False}]


def test_every_condition_names_a_signal_the_config_defines(team, priced):
    """vllm-sr 0.4.0 does not check signal references; the renderer's test does."""
    small, large = priced
    config = config_of(make_route(team, "complexity", small=small, large=large))
    signals = config["routing"]["signals"]
    defined = {("keyword", s["name"]) for s in signals["keywords"]}
    defined |= {("context", s["name"]) for s in signals["context"]}
    for s in signals["complexity"]:
        defined |= {("complexity", f"{s['name']}:{level}") for level in ("easy", "medium", "hard")}

    def conditions(node):
        if "type" in node:
            yield node["type"], node["name"]
        for child in node.get("conditions", []):
            yield from conditions(child)

    used = {c for d in config["routing"]["decisions"] for c in conditions(d["rules"])}
    assert used and used <= defined


def test_team_examples_replace_the_platform_defaults(team, priced):
    small, large = priced
    route = make_route(team, "complexity", small=small, large=large)
    assert config_of(route)["routing"]["signals"]["complexity"][0]["easy"]["candidates"] == (
        complexity.DEFAULT_EASY
    )
    route.easy_examples = ["Say hello."]
    route.hard_examples = ["Prove it."]
    signal = config_of(route)["routing"]["signals"]["complexity"][0]
    assert signal["easy"] == {"candidates": ["Say hello."]}
    assert signal["hard"] == {"candidates": ["Prove it."]}


def test_providers_point_at_the_predictors_with_catalog_prices(team, priced):
    small, large = priced
    config = config_of(make_route(team, "complexity", small=small, large=large))
    models = {m["name"]: m for m in config["providers"]["models"]}
    ns = team.namespace
    assert models["chat-8b"]["backend_refs"][0]["endpoint"] == (
        f"chat-8b-predictor.{ns}.svc.cluster.local:80"
    )
    assert models["chat-70b"]["backend_refs"][0]["endpoint"] == (
        f"chat-70b-predictor.{ns}.svc.cluster.local:80"
    )
    # independently: $ per GPU-hour / (tokens per GPU-second x 3600) x 1e6
    small_1m = 1.20 / 1 / (2500 * 3600) * 1e6  # 0.1333...
    large_1m = 20.0 / 4 / (500 * 3600) * 1e6  # 2.7777...
    assert models["chat-8b"]["pricing"]["prompt_per_1m"] == pytest.approx(small_1m, abs=1e-4)
    assert models["chat-70b"]["pricing"]["completion_per_1m"] == pytest.approx(large_1m, abs=1e-4)


def test_a_tier_without_catalog_throughput_is_left_unpriced(team, small, large):
    config = config_of(make_route(team, "complexity", small=small, large=large))
    assert all("pricing" not in m for m in config["providers"]["models"])


def test_router_objects_and_ext_proc_in_front_of_the_route(team, priced, settings):
    settings.SEMANTIC_ROUTER_IMAGE = "registry.example/vsr/extproc:pinned"
    small, large = priced
    route = make_route(team, "complexity", small=small, large=large)
    objs = objects_of(route)
    kinds = [o["kind"] for o in objs]
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Service",
        "Backend",
        "Backend",
        "HTTPRoute",
        "EnvoyExtensionPolicy",
        "BackendTrafficPolicy",
    ]
    k = by_kind(objs)
    pod = k["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example/vsr/extproc:pinned"
    assert pod["volumes"][0] == {"name": "config", "configMap": {"name": "chat-router"}}
    assert k["Service"]["spec"]["selector"] == k["Deployment"]["spec"]["selector"]["matchLabels"]
    policy = k["EnvoyExtensionPolicy"]["spec"]
    assert "lua" not in policy
    assert policy["extProc"][0]["backendRefs"] == [
        {"kind": "Service", "name": "chat-router", "port": 50051}
    ]
    assert policy["extProc"][0]["processingMode"]["request"] == {"body": "Buffered"}
    rules = k["HTTPRoute"]["spec"]["rules"]
    headers = [r["matches"][0].get("headers") for r in rules]
    assert headers == [
        [{"type": "Exact", "name": "x-selected-model", "value": "chat-70b"}],
        [{"type": "Exact", "name": "x-selected-model", "value": "chat-8b"}],
        None,
    ]
    assert [r["backendRefs"][0]["name"] for r in rules] == [
        "chat-large",
        "chat-small",
        "chat-small",
    ]


def test_a_new_config_rolls_the_router(team, priced):
    small, large = priced
    route = make_route(team, "complexity", small=small, large=large)
    before = by_kind(objects_of(route))["Deployment"]["spec"]["template"]["metadata"]
    route.medium_to_small = True
    after = by_kind(objects_of(route))["Deployment"]["spec"]["template"]["metadata"]
    assert before["annotations"] != after["annotations"]


PLURALS = {
    "Backend": "backends",
    "HTTPRoute": "httproutes",
    "EnvoyExtensionPolicy": "envoyextensionpolicies",
    "BackendTrafficPolicy": "backendtrafficpolicies",
}


def test_gateway_objects_validate_against_their_crds(team, priced):
    small, large = priced
    objs = objects_of(make_route(team, "complexity", small=small, large=large))
    checked = 0
    for obj in objs:
        if obj["kind"] not in PLURALS:
            continue
        group, version = obj["apiVersion"].split("/")
        validator = route_validator(group, PLURALS[obj["kind"]], version)
        if validator is None:
            pytest.skip("router CRDs not fetched (run tools/fetch-route-crds.sh)")
        assert not [e.message for e in validator.iter_errors(obj)], obj["kind"]
        checked += 1
    assert checked == 5


def test_deletion_names_the_router_objects(team, small, large):
    route = make_route(team, "complexity", small=small, large=large)
    names = {(o["kind"], o["metadata"]["name"]) for o in manifests.deletable(route)}
    assert {("ConfigMap", "chat-router"), ("Deployment", "chat-router")} <= names
    assert ("Service", "chat-router") in names


def test_a_fallback_tier_or_bad_examples_render_nothing(team, small, large, fallback_ep):
    route = make_route(team, "complexity", small=small, large=large, fallback=fallback_ep)
    with pytest.raises(ManifestError, match="no fallback tier"):
        objects_of(route)
    ok = make_route(team, "complexity", name="ok", small=small, large=large)
    ok.hard_keywords = ["x" * 3000]
    with pytest.raises(ManifestError, match="longer than"):
        objects_of(ok)


# --- preview ------------------------------------------------------------------------------------


def test_preview_decides_keywords_and_length_and_defers_the_rest(team, small, large):
    route = make_route(team, "complexity", small=small, large=large)
    route.prompt_length_threshold = 400  # 100 tokens at 4 bytes a token
    route.hard_keywords = ["root cause"]
    long_prompt = "word " * 100  # 500 bytes: 125 tokens
    rows = complexity.preview(route, ["Find the ROOT CAUSE here", long_prompt, "Say hi"])
    assert [r.tier for r in rows] == ["large", "large", None]
    assert '"root cause"' in rows[0].reason
    assert "125 tokens" in rows[1].reason
    assert "cannot be computed here" in rows[2].reason and "medium → large" in rows[2].reason
    route.medium_to_small = True
    assert "medium → small" in complexity.preview(route, ["Say hi"])[0].reason


def test_sample_prompts_from_the_page(team):
    assert complexity.sample_prompts("") == complexity.SAMPLE_PROMPTS
    assert complexity.sample_prompts("a\n\n  b  c \n" + "\n".join("xyz" for _ in range(9))) == [
        "a",
        "b c",
        "xyz",
        "xyz",
        "xyz",
    ]


def test_clean_phrases_names_bad_input():
    assert complexity.clean_phrases(" a \n\n b", "easy") == ["a", "b"]
    with pytest.raises(complexity.ExamplesError, match="list of texts"):
        complexity.clean_phrases([1, 2], "easy")
    with pytest.raises(complexity.ExamplesError, match="at most 50"):
        complexity.clean_phrases(["x"] * 51, "easy")


def test_an_unpriced_endpoint_still_renders(team):
    small = EndpointFactory(team=team, name="s1", offering=None)
    large = EndpointFactory(team=team, name="l1")
    route = make_route(team, "complexity", small=small, large=large)
    assert by_kind(objects_of(route))["ConfigMap"]["data"]["config.yaml"]


# --- status: the gateway accepted it and the router answers -------------------------------------


def _deployment(generation=1, observed=1, available=0, progressing="True", message=""):
    return {
        "metadata": {"generation": generation},
        "status": {
            "observedGeneration": observed,
            "availableReplicas": available,
            "conditions": [{"type": "Progressing", "status": progressing, "message": message}],
        },
    }


@pytest.mark.parametrize(
    "observed, deployment, want",
    [
        (("ready", "Routing."), _deployment(available=1), ("ready", "Routing.")),
        (("ready", "Routing."), _deployment(available=0), "provisioning"),
        (("ready", "Routing."), None, "provisioning"),
        (("ready", "Routing."), _deployment(generation=2, observed=1, available=1), None),
        (
            ("ready", "Routing."),
            _deployment(progressing="False", message="ProgressDeadlineExceeded"),
            ("failed", "Semantic Router: ProgressDeadlineExceeded"),
        ),
        (("failed", "Accepted: no"), _deployment(available=1), ("failed", "Accepted: no")),
        (None, _deployment(available=1), None),
    ],
)
def test_router_status_holds_ready_until_the_router_answers(observed, deployment, want):
    got = complexity.router_status(observed, deployment)
    assert (got[0] if isinstance(want, str) else got) == want


def test_sync_waits_for_the_router_then_reports_ready(team, small, large, fake_cluster):
    from deployments.routing import reconcile
    from deployments.routing.models import Route

    route = make_route(team, "complexity", small=small, large=large)
    assert reconcile.apply_route(route.pk, 1) == "applied"
    http_route = fake_cluster.objects[("HTTPRoute", team.namespace, "chat")]
    http_route["metadata"]["generation"] = 1
    http_route["status"] = {
        "parents": [
            {
                "conditions": [
                    {"type": t, "status": "True", "observedGeneration": 1}
                    for t in ("Accepted", "ResolvedRefs")
                ]
            }
        ]
    }
    router = fake_cluster.objects[("Deployment", team.namespace, "chat-router")]
    router["metadata"]["generation"] = 1
    router["status"] = {"observedGeneration": 1, "availableReplicas": 0}
    reconcile.sync_routes()
    route = Route.objects.get(pk=route.pk)
    assert route.status == "provisioning" and "Semantic Router" in route.status_message
    router["status"]["availableReplicas"] = 1
    reconcile.sync_routes()
    assert Route.objects.get(pk=route.pk).status == "ready"
