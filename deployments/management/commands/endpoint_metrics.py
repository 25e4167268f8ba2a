"""manage.py endpoint_metrics: one endpoint's window figures from Prometheus, as JSON.

Contract (automation and acceptance checks rely on it; keep it stable)::

    manage.py endpoint_metrics --namespace NS --model MODEL_NAME --start ISO --end ISO --json

reads PROMETHEUS_URL and prints one JSON object with at least generation_tokens_per_s,
prompt_tokens_per_s, ttft_p50_s, ttft_p95_s, kv_cache_usage_mean, kv_cache_usage_max,
queue_depth_mean, queue_depth_max, request_rate_per_s, error_rate and gpu_util_mean (null when
the window holds no data for a figure). Exit status 2 for bad arguments, 1 when Prometheus
cannot answer. How each figure is computed: deployments.endpoints.metrics.window_summary.
"""

import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from deployments.endpoints import metrics
from portal.prometheus import PrometheusError, get_client


class Command(BaseCommand):
    help = (
        "Print an endpoint's tokens/s, TTFT, KV cache, queue, error rate and GPU use over a window."
    )

    def add_arguments(self, parser):
        parser.add_argument("--namespace", required=True, help="Kubernetes namespace (the team's)")
        parser.add_argument(
            "--model", required=True, help="vLLM model_name label (the InferenceService name)"
        )
        parser.add_argument("--start", help="ISO 8601 start (default: end - 1 h)")
        parser.add_argument("--end", help="ISO 8601 end (default: now)")
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="print one JSON object (the contract)",
        )

    def handle(self, *args, namespace, model, start, end, as_json=False, **options):
        try:
            start_dt, end_dt = metrics.parse_window_bounds(start, end, datetime.now(UTC))
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        try:
            figures = metrics.endpoint_figures(get_client(), namespace, model, start_dt, end_dt)
        except PrometheusError as exc:
            raise CommandError(f"Prometheus could not answer: {exc}", returncode=1) from exc
        if as_json:
            self.stdout.write(json.dumps(figures, allow_nan=False))
            return
        for name, value in figures.items():
            self.stdout.write(f"{name:26} {'—' if value is None else value}")
