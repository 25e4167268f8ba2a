"""GET /api/v1/endpoints/{uuid}/metrics/: the window figures of one endpoint (the same numbers as
``manage.py endpoint_metrics --json``), and what its tokens cost (deployments.endpoints.unit_cost:
priced from the endpoint's offering, so only here, not in the command)."""

from datetime import UTC, datetime

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.endpoints import metrics, unit_cost
from deployments.endpoints.models import Endpoint
from portal import access
from portal.prometheus import PrometheusError, PrometheusUnavailable, get_client

FIELD_HELP = {
    "generation_tokens_per_s": "Mean generated tokens per second over the window.",
    "prompt_tokens_per_s": "Mean prompt (prefill) tokens per second over the window.",
    "ttft_p50_s": "Median time to first token (seconds), from histogram buckets.",
    "ttft_p95_s": "95th percentile time to first token (seconds).",
    "ttft_p99_s": "99th percentile time to first token (seconds).",
    "itl_p95_s": "95th percentile inter-token latency (seconds).",
    "e2e_p95_s": "95th percentile end-to-end request latency (seconds).",
    "kv_cache_usage_mean": "Mean KV-cache use per replica (fraction 0-1).",
    "kv_cache_usage_max": "Highest KV-cache use of any replica (fraction 0-1).",
    "prefix_cache_hit_rate": "Prefix-cache hits / queries (fraction 0-1).",
    "preemptions": "Preemptions in the window.",
    "queue_depth_mean": "Mean waiting requests per replica.",
    "queue_depth_max": "Most waiting requests on any replica.",
    "running_mean": "Mean running requests per replica.",
    "request_rate_per_s": "Finished requests per second.",
    "requests": "Finished requests in the window.",
    "failed_requests": "Requests finished with reason abort or error.",
    "error_rate": "failed_requests / requests (fraction 0-1).",
    "gpu_util_mean": "Mean GPU engine-active ratio of the endpoint's GPUs (0-1).",
}


class EndpointMetricsSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    model_name = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    window_seconds = serializers.FloatField()
    tokens = serializers.IntegerField(help_text="Prompt + generated tokens in the window.")
    cost = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        allow_null=True,
        help_text="What the endpoint's replicas (its floor, at least one) cost over the window at "
        "the price in force at its end.",
    )
    cost_per_million_tokens = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        allow_null=True,
        help_text="cost / tokens x 1e6 (null without tokens or a price).",
    )

    def get_fields(self):
        fields = super().get_fields()
        for name in metrics.CONTRACT_FIELDS:
            fields[name] = serializers.FloatField(
                allow_null=True, help_text=FIELD_HELP.get(name, "")
            )
        return fields


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class EndpointMetricsView(APIView):
    @extend_schema(
        summary="Window figures of an endpoint (tokens/s, TTFT, KV cache, queue, errors, GPU)",
        description="Means of counters are exact increases over the window divided by its length; "
        "quantiles come from histogram buckets; figures are null when the window has no "
        "data for them. Without start/end: the last hour.",
        parameters=[
            OpenApiParameter(
                "start",
                OpenApiTypes.DATETIME,
                description="ISO 8601 window start (default: end - 1 h)",
            ),
            OpenApiParameter(
                "end", OpenApiTypes.DATETIME, description="ISO 8601 window end (default: now)"
            ),
        ],
        responses={
            200: EndpointMetricsSerializer,
            400: ErrorSerializer,
            404: OpenApiResponse(description="No such endpoint in your teams"),
            503: ErrorSerializer,
        },
        tags=["endpoints"],
    )
    def get(self, request, uuid):
        endpoint = get_object_or_404(
            access.scope_to_user(Endpoint.objects.select_related("team", "offering"), request.user),
            uuid=uuid,
        )
        try:
            start, end = metrics.parse_window_bounds(
                request.query_params.get("start"),
                request.query_params.get("end"),
                datetime.now(UTC),
            )
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        try:
            body = metrics.endpoint_figures(
                get_client(), endpoint.namespace, endpoint.isvc_name, start, end
            )
        except PrometheusUnavailable as exc:
            return Response(
                {"detail": f"Prometheus is unavailable: {exc}"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        except PrometheusError as exc:
            return Response(
                {"detail": f"Prometheus rejected the query: {exc}"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        priced = unit_cost.endpoint_unit_cost(endpoint, body, body["window_seconds"], end)
        body.update(
            tokens=priced.tokens, cost=priced.cost, cost_per_million_tokens=priced.per_million
        )
        return Response(EndpointMetricsSerializer(body).data)
