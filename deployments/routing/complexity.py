"""PURE: a ``complexity`` route -> the vLLM Semantic Router's own objects (no cluster I/O).

The router (project ``vllm-project/semantic-router``) runs as an Envoy external processor in
the team namespace, one per route. It reads the OpenAI request, evaluates its signals and
decisions (this module renders them as its canonical v0.3 config, the contract the pinned
``vllm-sr`` CLI validates), rewrites ``model`` in the body to the chosen provider model and
sets the ``x-selected-model`` header, which the route's HTTPRoute rules match to send the
request to that tier's Backend.

Rendered per route (``objects``): a ConfigMap holding ``config.yaml``, the router Deployment and its Service (gRPC 50051); the image is the platform team's
(``SemanticRouterSettings``, edited in the admin; ``settings.SEMANTIC_ROUTER_IMAGE`` seeds it);
``ext_proc_policy`` is the ``EnvoyExtensionPolicy`` that puts the router in front of the
route's HTTPRoute.

The config:

* ``routing.signals.complexity`` ``difficulty``: the team's easy and hard example prompts (or
  the platform defaults below); the router labels a request ``difficulty:easy|medium|hard``
  by embedding similarity, which needs its classifier models (Hugging Face hub);
* ``routing.signals.keywords`` ``hard_keywords`` and ``routing.signals.context``
  ``long_context`` (prompt over the route's threshold, in tokens at ~4 bytes a token): two
  signals that need no model, so the page can preview them (``preview``);
* ``routing.decisions``: hard (complexity hard, or a keyword, or a long context) -> large;
  easy -> small; medium -> large, or small while budget steering is on
  (``route.medium_to_small``, set by routing/steering.py); anything else -> the default model,
  the small tier;
* ``providers.models``: one per tier, named by its served model (the InferenceService name),
  ``backend_refs`` at its KServe predictor Service, ``pricing`` per 1M tokens from the catalog
  (``catalog.pricing.per_million_tokens``: the GPU price in force over the model's catalog
  throughput), left out when the catalog has no price or throughput for the tier.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml
from django.conf import settings

from catalog.pricing import current_rates, per_million_tokens, to_unit_price
from deployments.routing.models import SemanticRouterSettings, TierRole

CONFIG_VERSION = "v0.3"
CONFIG_KEY = "config.yaml"
CONFIG_PATH = "/app/config/config.yaml"
GRPC_PORT = 50051
METRICS_PORT = 9190
API_PORT = 8080
LISTENER_PORT = 8899
SELECTED_MODEL_HEADER = "x-selected-model"
COMPLEXITY_SIGNAL = "difficulty"
KEYWORD_SIGNAL = "hard_keywords"
CONTEXT_SIGNAL = "long_context"
BYTES_PER_TOKEN = 4  # the context-length estimate of the preview and the threshold conversion
MAX_EXAMPLES = 50
MAX_EXAMPLE_CHARS = 2000

# The platform's defaults when a team gives no examples of its own.
DEFAULT_EASY = [
    "Translate this short message into French.",
    "Summarize the facts stated in this paragraph in one sentence.",
    "Return the order number shown on this receipt.",
    "Fix the spelling in this sentence.",
]
DEFAULT_HARD = [
    "Prove that this algorithm is correct and analyse its time and space complexity.",
    "Design a multi-region architecture and explain the latency, cost and failure trade-offs.",
    "Find the root cause of this bug from the stack trace and the logs, and justify the fix.",
    "Plan a migration under these interacting constraints and defend each step.",
]
DEFAULT_KEYWORDS = ["step by step", "root cause", "prove that", "analyze the tradeoffs"]


NO_FALLBACK = (
    "A complexity route has no fallback tier: the router writes the chosen tier's model name "
    "into the request, which another tier's vLLM would answer with 404."
)


class ExamplesError(ValueError):
    """Example prompts or keywords a router config cannot hold."""


def clean_phrases(value: Any, what: str) -> list[str]:
    """The one check of examples and keywords (form, API and service call it): a list of
    non-empty strings, at most MAX_EXAMPLES of at most MAX_EXAMPLE_CHARS characters."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ExamplesError(f"{what}: give a list of texts, one per line.")
    phrases = [v.strip() for v in value if v.strip()]
    if len(phrases) > MAX_EXAMPLES:
        raise ExamplesError(f"{what}: at most {MAX_EXAMPLES} entries, got {len(phrases)}.")
    long = [p for p in phrases if len(p) > MAX_EXAMPLE_CHARS]
    if long:
        raise ExamplesError(f"{what}: an entry is longer than {MAX_EXAMPLE_CHARS} characters.")
    return phrases


def router_name(route) -> str:
    return f"{route.name}-router"


def easy_examples(route) -> list[str]:
    return list(route.easy_examples or DEFAULT_EASY)


def hard_examples(route) -> list[str]:
    return list(route.hard_examples or DEFAULT_HARD)


def hard_keywords(route) -> list[str]:
    return list(route.hard_keywords or DEFAULT_KEYWORDS)


def context_tokens(route) -> int:
    return max(1, int(route.prompt_length_threshold) // BYTES_PER_TOKEN)


def medium_role(route) -> str:
    return TierRole.SMALL.value if route.medium_to_small else TierRole.LARGE.value


def tier_prices(tiers, rates: dict | None = None) -> dict[str, Decimal | None]:
    """Per role: what 1M tokens cost on the tier (catalog price in force / catalog
    throughput), None when the catalog lacks either."""
    rates = current_rates() if rates is None else rates
    prices: dict[str, Decimal | None] = {}
    for tier in tiers:
        ep = tier.endpoint
        throughput = getattr(ep.model, "batch_tokens_per_gpu_second", None)
        node = rates.get((ep.offering_id, str(ep.capacity_type))) if ep.offering_id else None
        prices[str(tier.role)] = (
            to_unit_price(per_million_tokens(node, ep.offering.gpus_per_node, throughput))
            if node is not None and throughput
            else None
        )
    return prices


def _provider(tier, price: Decimal | None) -> dict[str, Any]:
    ep = tier.endpoint
    model: dict[str, Any] = {
        "name": ep.isvc_name,
        "provider_model_id": ep.isvc_name,
        "backend_refs": [
            {
                "name": str(tier.role),
                "provider": "vllm",
                "endpoint": f"{ep.isvc_name}-predictor.{ep.namespace}.svc.cluster.local:80",
                "protocol": "http",
                "weight": 100,
            }
        ],
    }
    if price is not None:
        # A served model is priced per GPU time, so prompt and completion tokens cost the same.
        model["pricing"] = {
            "currency": settings.BILLING_CURRENCY,
            "prompt_per_1m": float(price),
            "completion_per_1m": float(price),
        }
    return model


def _decision(name: str, priority: int, description: str, rules, model: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "priority": priority,
        "rules": rules,
        "modelRefs": [{"model": model, "use_reasoning": False}],
    }


def _cond(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "name": name}


def router_config(route, tiers, prices: dict[str, Decimal | None] | None = None) -> dict:
    """The router's canonical config for the route (the document ``vllm-sr config validate``
    checks)."""
    by_role = {str(t.role): t for t in tiers}
    prices = tier_prices(tiers) if prices is None else prices
    served = {role: t.endpoint.isvc_name for role, t in by_role.items()}
    small, large = served[TierRole.SMALL], served[TierRole.LARGE]
    medium = served[medium_role(route)]
    steering = (
        " (budget steering: medium requests go to the small tier this month)"
        if route.medium_to_small
        else ""
    )
    return {
        "version": CONFIG_VERSION,
        "listeners": [
            {"name": "http", "address": "0.0.0.0", "port": LISTENER_PORT, "timeout": "300s"}
        ],
        "providers": {
            "defaults": {"model": small},
            "models": [
                _provider(by_role[r], prices.get(r))
                for r in (TierRole.SMALL, TierRole.LARGE)
                if r in by_role
            ],
        },
        "routing": {
            "modelCards": [{"name": small}, {"name": large}],
            "signals": {
                "complexity": [
                    {
                        "name": COMPLEXITY_SIGNAL,
                        "description": f"Easy vs hard requests of route {route}.",
                        "easy": {"candidates": easy_examples(route)},
                        "hard": {"candidates": hard_examples(route)},
                    }
                ],
                "keywords": [
                    {
                        "name": KEYWORD_SIGNAL,
                        "operator": "OR",
                        "case_sensitive": False,
                        "keywords": hard_keywords(route),
                    }
                ],
                "context": [
                    {
                        "name": CONTEXT_SIGNAL,
                        "description": "Prompts over the route's length threshold.",
                        "min_tokens": str(context_tokens(route)),
                    }
                ],
            },
            "decisions": [
                _decision(
                    "hard",
                    300,
                    "Hard, keyword or long requests go to the large tier.",
                    {
                        "operator": "OR",
                        "conditions": [
                            _cond("complexity", f"{COMPLEXITY_SIGNAL}:hard"),
                            _cond("keyword", KEYWORD_SIGNAL),
                            _cond("context", CONTEXT_SIGNAL),
                        ],
                    },
                    large,
                ),
                _decision(
                    "easy",
                    200,
                    "Easy requests go to the small tier.",
                    {
                        "operator": "AND",
                        "conditions": [_cond("complexity", f"{COMPLEXITY_SIGNAL}:easy")],
                    },
                    small,
                ),
                _decision(
                    "medium",
                    100,
                    f"Medium requests go to the {medium_role(route)} tier{steering}.",
                    {
                        "operator": "AND",
                        "conditions": [_cond("complexity", f"{COMPLEXITY_SIGNAL}:medium")],
                    },
                    medium,
                ),
            ],
        },
    }


def config_yaml(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def objects(route, tiers, meta, prices=None) -> list[dict[str, Any]]:
    """ConfigMap, Deployment and Service of the route's router. ``meta(name)`` gives the
    metadata (name, namespace, labels) every object of the route carries."""
    name = router_name(route)
    text = config_yaml(router_config(route, tiers, prices))
    base = meta(name)
    select = {
        "app.kubernetes.io/name": "semantic-router",
        "modelport.io/route-uuid": str(route.uuid),
    }
    pod_labels = {**base["labels"], **select}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": base,
        "data": {CONFIG_KEY: text},
    }
    container = {
        "name": "semantic-router",
        "image": SemanticRouterSettings.current().image,
        "ports": [
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
            {"name": "classify-api", "containerPort": API_PORT, "protocol": "TCP"},
        ],
        "env": [
            {"name": "HF_HOME", "value": "/app/cache/hf"},
            {"name": "HOME", "value": "/app/cache"},
        ],
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_PATH, "subPath": CONFIG_KEY},
            {"name": "models", "mountPath": "/app/models"},
            {"name": "cache", "mountPath": "/app/cache"},
        ],
        # The classifier models load at start (Hugging Face hub): give them time.
        "startupProbe": {
            "tcpSocket": {"port": GRPC_PORT},
            "periodSeconds": 10,
            "failureThreshold": 60,
        },
        "readinessProbe": {"tcpSocket": {"port": GRPC_PORT}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": GRPC_PORT}, "periodSeconds": 30},
        "resources": {
            "requests": {"cpu": "1", "memory": "3Gi"},
            "limits": {"memory": "6Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": select},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    # a new config rolls the router (it reads config.yaml at start)
                    "annotations": {
                        "modelport.io/config-sha256": hashlib.sha256(text.encode()).hexdigest()
                    },
                },
                "spec": {
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": name}},
                        {"name": "models", "emptyDir": {}},
                        {"name": "cache", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name),
        "spec": {
            "selector": select,
            "ports": [
                {
                    "name": "grpc",
                    "port": GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
                {
                    "name": "metrics",
                    "port": METRICS_PORT,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                },
            ],
        },
    }
    return [config_map, deployment, service]


def ext_proc(route) -> list[dict[str, Any]]:
    """The ``extProc`` list of the route's EnvoyExtensionPolicy: the router Service, the
    request body buffered (the router reads ``messages``), fail closed."""
    return [
        {
            "backendRefs": [{"kind": "Service", "name": router_name(route), "port": GRPC_PORT}],
            "processingMode": {
                "request": {"body": "Buffered"},
                "response": {},
            },
            "messageTimeout": "10s",
            "failOpen": False,
        }
    ]


def router_status(
    observed: tuple[str, str] | None, deployment: dict | None
) -> tuple[str, str] | None:
    """A complexity route is ready when the gateway accepted it and its router answers: the
    HTTPRoute's status (``observed``, manifests.status_from) held back while the router
    Deployment has no available replica of its current generation."""
    if observed is None or observed[0] != "ready":
        return observed
    if deployment is None:
        return "provisioning", "Waiting for the Semantic Router Deployment."
    meta, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return None
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    stalled = conditions.get("Progressing") or {}
    if stalled.get("status") == "False":
        return "failed", f"Semantic Router: {stalled.get('message') or stalled.get('reason')}"
    if (status.get("availableReplicas") or 0) < 1:
        return (
            "provisioning",
            "Waiting for the Semantic Router (its classifier models load at start).",
        )
    return observed


# ---- preview: what can be decided without the classifier models -----------------------------


@dataclass(frozen=True)
class Preview:
    prompt: str
    tier: str | None  # None: the complexity classifier decides
    reason: str


SAMPLE_PROMPTS = [
    "Translate 'good morning' into Spanish.",
    "Walk me through it step by step: why does my Kubernetes pod restart?",
    "Write a haiku about autumn.",
]


def _keyword_hit(route, prompt: str) -> str | None:
    words = hard_keywords(route)
    text = prompt.lower()
    return next((w for w in words if w.lower() in text), None)


def preview(route, prompts: list[str] | None = None) -> list[Preview]:
    """For each prompt, the tier the rules pick when a keyword or the context length decides
    (no model needed); otherwise None and which tier each complexity label would give."""
    out = []
    medium = medium_role(route)
    for prompt in prompts or SAMPLE_PROMPTS:
        tokens = len(prompt.encode()) // BYTES_PER_TOKEN
        word = _keyword_hit(route, prompt)
        if word is not None:
            out.append(Preview(prompt, TierRole.LARGE.value, f'keyword "{word}" (hard decision)'))
        elif tokens >= context_tokens(route):
            out.append(
                Preview(
                    prompt,
                    TierRole.LARGE.value,
                    f"about {tokens} tokens, over the {context_tokens(route)}-token context "
                    "threshold (hard decision)",
                )
            )
        else:
            out.append(
                Preview(
                    prompt,
                    None,
                    "cannot be computed here: the complexity classifier decides "
                    f"(easy → small, medium → {medium}, hard → large)",
                )
            )
    return out


_WORD = re.compile(r"\s+")


def sample_prompts(text: str | None) -> list[str]:
    """The prompts the page previews: one per line of ``text`` (at most 5), else the samples."""
    lines = [_WORD.sub(" ", line).strip() for line in (text or "").splitlines()]
    lines = [line[:MAX_EXAMPLE_CHARS] for line in lines if line]
    return lines[:5] or list(SAMPLE_PROMPTS)
