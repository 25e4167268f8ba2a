"""`manage.py demo_traffic`: send a bounded number of prompts to a Ready endpoint, so its charts
fill from real traffic (the local cluster: `scripts/run.sh --with-cluster`).

    manage.py demo_traffic --endpoint TEAM/NAME|UUID [--requests 50] [--concurrency 2]
                           [--max-tokens 64] [--json]

In the local cluster, load its environment first (`set -a; . var/devcluster.env; set +a`):
its HTTP_PROXY is the ingress that maps the endpoint's URL to its pod.

Every prompt goes the way the playground sends it (`deployments.endpoints.inference`: the
endpoint's own OpenAI-compatible URL, streamed, usage included), alternating chat and
completion. At the end it prints what it sent and got: requests answered and failed, prompt
and completion tokens (the server's usage), time to first token p50/max, the wall time. Those
counts are what the endpoint's charts show once Prometheus has scraped the pod.

Bounded: at most MAX_REQUESTS prompts, MAX_CONCURRENCY at once, max tokens capped by
PLAYGROUND_MAX_TOKENS; it stops early after MAX_FAILURES_IN_A_ROW failures. Exit status 2 for
bad arguments or an endpoint that cannot answer, 1 when every request failed.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from deployments.endpoints import inference, page
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint

MAX_REQUESTS = 1000
MAX_CONCURRENCY = 8
MAX_FAILURES_IN_A_ROW = 5
PROMPTS = (
    "Explain in two sentences what a GPU does.",
    "Write a haiku about autumn leaves.",
    "List three uses of a hash map.",
    "What is the capital of France? Answer briefly.",
    "Summarise the plot of a heist film in one paragraph.",
)


def find_endpoint(ref: str) -> Endpoint:
    """An endpoint by UUID or by `team-slug/name` (the newest of that name)."""
    ref = ref.strip()
    try:
        return Endpoint.objects.get(uuid=uuid.UUID(ref))
    except (ValueError, Endpoint.DoesNotExist):
        pass
    team, _, name = ref.partition("/")
    found = (
        Endpoint.objects.filter(team__slug=team, name=name).order_by("-created_at").first()
        if team and name
        else None
    )
    if found is None:
        raise CommandError(
            f"No endpoint {ref!r}: give its UUID or TEAM/NAME (e.g. search/chat).", returncode=2
        )
    return found


def send_one(base_url: str, model: str, number: int, max_tokens: int) -> dict:
    """One streamed prompt; the playground's `done` event (or the error) plus the mode."""
    mode = inference.CHAT if number % 2 == 0 else inference.COMPLETION
    prompt = PROMPTS[number % len(PROMPTS)]
    last = {"type": "error", "message": "no answer"}
    for event in inference.stream_prompt(
        base_url,
        model,
        prompt,
        mode=mode,
        max_tokens=max_tokens,
        timeout=settings.PLAYGROUND_TIMEOUT_SECONDS,
        deadline=settings.PLAYGROUND_DEADLINE_SECONDS,
        max_bytes=settings.PLAYGROUND_MAX_RESPONSE_BYTES,
    ):
        if event["type"] in ("done", "error"):
            last = event
    return {**last, "mode": mode}


def summarise(results: list[dict], seconds: float) -> dict:
    done = [r for r in results if r["type"] == "done"]
    ttfts = sorted(r["ttft_ms"] for r in done if r.get("ttft_ms") is not None)
    return {
        "requests": len(results),
        "answered": len(done),
        "failed": len(results) - len(done),
        "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in done),
        "completion_tokens": sum(r.get("tokens") or 0 for r in done),
        "ttft_p50_ms": statistics.median(ttfts) if ttfts else None,
        "ttft_max_ms": ttfts[-1] if ttfts else None,
        "seconds": round(seconds, 2),
        "errors": sorted({r["message"] for r in results if r["type"] == "error"})[:5],
    }


class Command(BaseCommand):
    help = "Send a bounded number of prompts to a Ready endpoint (demo traffic for its charts)."

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", required=True, help="TEAM/NAME or the endpoint's UUID")
        parser.add_argument("--requests", type=int, default=50, help=f"1-{MAX_REQUESTS}")
        parser.add_argument("--concurrency", type=int, default=2, help=f"1-{MAX_CONCURRENCY}")
        parser.add_argument("--max-tokens", type=int, default=64, help="per prompt")
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object")

    def handle(self, *args, endpoint, requests, concurrency, max_tokens, as_json=False, **opts):
        if not 1 <= requests <= MAX_REQUESTS:
            raise CommandError(f"--requests must be 1-{MAX_REQUESTS}.", returncode=2)
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise CommandError(f"--concurrency must be 1-{MAX_CONCURRENCY}.", returncode=2)
        if not 1 <= max_tokens <= settings.PLAYGROUND_MAX_TOKENS:
            raise CommandError(
                f"--max-tokens must be 1-{settings.PLAYGROUND_MAX_TOKENS} (PLAYGROUND_MAX_TOKENS).",
                returncode=2,
            )
        ep = find_endpoint(endpoint)
        base_url = page.openai_base_url(ep)
        if ep.status != EndpointStatus.READY or not base_url:
            raise CommandError(
                f"{ep.team.slug}/{ep.name} is {ep.get_status_display()}, not Ready with a URL: "
                "it cannot answer yet (wait for Ready on its page).",
                returncode=2,
            )
        if not as_json:
            self.stdout.write(f"Sending {requests} prompts to {base_url} ({concurrency} at once)")
        started = time.monotonic()
        results: list[dict] = []
        failures_in_a_row = 0
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for start in range(0, requests, concurrency):
                numbers = range(start, min(start + concurrency, requests))
                batch = list(
                    pool.map(lambda n: send_one(base_url, ep.isvc_name, n, max_tokens), numbers)
                )
                results += batch
                for r in batch:
                    failures_in_a_row = failures_in_a_row + 1 if r["type"] == "error" else 0
                if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    break
        summary = summarise(results, time.monotonic() - started)
        if as_json:
            self.stdout.write(json.dumps(summary))
        else:
            for key, value in summary.items():
                self.stdout.write(f"{key:18} {value}")
        if summary["answered"] == 0:
            raise CommandError(
                f"Every request failed: {'; '.join(summary['errors'])}", returncode=1
            )
