"""REST views of the deployments engine: POST /sizing/ and GET /endpoints/{uuid}/manifests/."""

import json

from django.shortcuts import get_object_or_404
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils import encoders
from rest_framework.views import APIView

from catalog.choices import CapacityType
from catalog.models import CatalogModel, GpuType
from catalog.pricing import offering_prices
from deployments.endpoints import manifests
from deployments.endpoints.api.serializers import CatalogRef
from deployments.endpoints.choices import KvCacheDtype
from deployments.endpoints.models import Endpoint
from deployments.workloads.sizing import DTYPES, QUANTIZATION_PRECISION, SizingInputError, size
from portal.access import scope_to_user

DTYPE_CHOICES = sorted({*DTYPES, *QUANTIZATION_PRECISION})
ARCH_FIELDS = ("params_b", "layers", "kv_heads", "head_dim")


class SizingRequestSerializer(serializers.Serializer):
    model = CatalogRef(
        key="slug",
        kind="model",
        hint="/api/v1/models/",
        required=False,
        queryset=CatalogModel.objects.filter(enabled=True),
        help_text="Catalog model (slug or UUID); supplies the architecture.",
    )
    params_b = serializers.FloatField(
        required=False,
        min_value=0.01,
        max_value=100000,
        help_text="Parameters in billions (without `model`).",
    )
    layers = serializers.IntegerField(required=False, min_value=1, max_value=10000)
    kv_heads = serializers.IntegerField(required=False, min_value=1, max_value=10000)
    head_dim = serializers.IntegerField(required=False, min_value=1, max_value=100000)
    dtype = serializers.ChoiceField(
        choices=DTYPE_CHOICES,
        default="bf16",
        help_text="Weight precision or endpoint quantisation.",
    )
    kv_dtype = serializers.ChoiceField(choices=KvCacheDtype.values, default="auto")
    context = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=10_000_000,
        help_text="Max model length; defaults to the model's.",
    )
    concurrency = serializers.IntegerField(
        default=1, min_value=1, max_value=100_000, help_text="Concurrent full-length sequences."
    )
    gpu_type = CatalogRef(
        key="name",
        kind="GPU type",
        hint="/api/v1/gpu-types/",
        required=False,
        queryset=GpuType.objects.filter(enabled=True),
        help_text="Size on this GPU type (name or UUID).",
    )
    gpu_memory_gib = serializers.FloatField(
        required=False, min_value=1, max_value=10000, help_text="Size on a GPU of this memory."
    )
    capacity_type = serializers.ChoiceField(
        choices=CapacityType.values,
        required=False,
        help_text="Only rank offerings of this capacity type.",
    )

    def validate(self, attrs):
        model = attrs.get("model")
        if model is None:
            missing = [f for f in ARCH_FIELDS if f not in attrs]
            if missing:
                raise serializers.ValidationError(
                    {f: ["Required when no catalog `model` is given."] for f in missing}
                )
            if "context" not in attrs:
                raise serializers.ValidationError({"context": ["Required without `model`."]})
        else:
            attrs.setdefault("params_b", float(model.parameters_b))
            attrs.setdefault("layers", model.num_layers)
            attrs.setdefault("kv_heads", model.num_kv_heads)
            attrs.setdefault("head_dim", model.head_dim)
            attrs.setdefault("context", model.native_context_length)
        return attrs


class SizingRequestSchema(OpenApiSerializerExtension):
    """The schema says what `validate` requires: a catalog `model`, or its architecture."""

    target_class = SizingRequestSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["anyOf"] = [{"required": ["model"]}, {"required": [*ARCH_FIELDS, "context"]}]
        return schema


class SizingResultSerializer(serializers.Serializer):
    weights_gib = serializers.FloatField()
    kv_cache_gib = serializers.FloatField()
    kv_cache_per_sequence_gib = serializers.FloatField()
    overhead_gib = serializers.FloatField(help_text="Per GPU.")
    required_gib = serializers.FloatField(help_text="Weights + KV cache + overhead on one GPU.")
    usable_gib_per_gpu = serializers.FloatField()
    tensor_parallel = serializers.IntegerField(allow_null=True)
    fits_single_gpu = serializers.BooleanField()
    gpu_count = serializers.IntegerField()
    per_gpu_gib = serializers.FloatField()
    fits = serializers.BooleanField()
    can_serve = serializers.BooleanField()
    max_sequences = serializers.IntegerField()
    concurrency = serializers.IntegerField()
    context = serializers.IntegerField()
    precision = serializers.CharField()
    kv_dtype = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    suggestion = serializers.CharField(allow_null=True)


class RankedOfferingSerializer(serializers.Serializer):
    instance_type = serializers.CharField()
    gpu_type = serializers.CharField()
    gpu_memory_gib = serializers.FloatField()
    gpus_per_node = serializers.IntegerField()
    capacity_type = serializers.CharField()
    tensor_parallel = serializers.IntegerField(help_text="GPUs per replica needed on this GPU.")
    per_gpu_gib = serializers.FloatField()
    hourly_price = serializers.DecimalField(
        max_digits=12, decimal_places=4, help_text="One node per hour."
    )
    monthly_cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="One replica for a month."
    )


class SizingResponseSerializer(serializers.Serializer):
    sizing = SizingResultSerializer(
        allow_null=True,
        help_text="On `gpu_type`/`gpu_memory_gib`, else the cheapest "
        "offering's GPU; null when nothing fits.",
    )
    offerings = RankedOfferingSerializer(
        many=True, help_text="Priced offerings that fit, cheapest per month first."
    )
    cheapest = RankedOfferingSerializer(allow_null=True)


def _size(data, gpu_memory_gib: float):
    return size(
        params_b=data["params_b"],
        layers=data["layers"],
        kv_heads=data["kv_heads"],
        head_dim=data["head_dim"],
        dtype=data["dtype"],
        kv_dtype=data["kv_dtype"],
        context=data["context"],
        concurrency=data["concurrency"],
        gpu_memory_gib=gpu_memory_gib,
    )


def rank_offerings(data) -> list[dict]:
    """Every priced offering that fits (tensor-parallel size <= GPUs per node), cheapest first."""
    by_memory: dict[float, object] = {}
    ranked = []
    for price in offering_prices(capacity_type=data.get("capacity_type")):
        offering = price.offering
        memory = float(offering.gpu_type.memory_gib)
        if memory not in by_memory:
            by_memory[memory] = _size(data, memory)
        result = by_memory[memory]
        tp = result.tensor_parallel
        if tp is None or tp > offering.gpus_per_node:
            continue
        ranked.append(
            {
                "instance_type": offering.instance_type,
                "gpu_type": offering.gpu_type.name,
                "gpu_memory_gib": memory,
                "gpus_per_node": offering.gpus_per_node,
                "capacity_type": price.capacity_type,
                "tensor_parallel": tp,
                "per_gpu_gib": result.per_gpu_gib,
                "hourly_price": price.hourly_price,
                "monthly_cost": price.monthly_cost(tp, 1),
            }
        )
    ranked.sort(key=lambda r: (r["monthly_cost"], r["tensor_parallel"], r["instance_type"]))
    return ranked


class SizingView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Size a model on GPUs and rank the offerings that fit",
        description="Weights + KV cache + overhead for vLLM, the smallest tensor-parallel size "
        "(1/2/4/8) that fits, warnings when more than one GPU is needed with the "
        "quantisation that would fit one, and every priced offering that fits, "
        "cheapest first. Same calculation as `manage.py sizing --json`.",
        request=SizingRequestSerializer,
        responses={
            200: SizingResponseSerializer,
            400: OpenApiResponse(description="Invalid input; the body names the field."),
        },
    )
    def post(self, request):
        serializer = SizingRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ranked = rank_offerings(data)
        memory = data.get("gpu_memory_gib") or (
            float(data["gpu_type"].memory_gib)
            if data.get("gpu_type")
            else ranked[0]["gpu_memory_gib"]
            if ranked
            else None
        )
        try:
            sizing = _size(data, memory).as_dict() if memory else None
        except SizingInputError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from exc
        payload = {"sizing": sizing, "offerings": ranked, "cheapest": ranked[0] if ranked else None}
        return Response(SizingResponseSerializer(payload).data)


class YamlTextRenderer(renderers.BaseRenderer):
    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "yaml" in data:
            return data["yaml"].encode()
        # Errors (404, 401 ... detail) as YAML too: first as plain JSON types, since DRF's
        # ErrorDetail and lazy strings are not YAML-representable.
        plain = json.loads(json.dumps(data, cls=encoders.JSONEncoder))
        return manifests.to_yaml([plain]).encode()


class ManifestsSerializer(serializers.Serializer):
    yaml = serializers.CharField(help_text="Multi-document YAML, exactly what is applied.")
    objects = serializers.ListField(child=serializers.DictField(), help_text="The same objects.")


class EndpointManifestsView(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [renderers.JSONRenderer, YamlTextRenderer]

    @extend_schema(
        summary="The Kubernetes manifests of an endpoint",
        description="Namespace, ResourceQuota, InferenceService and ScaledObject exactly as the "
        "worker server-side-applies them (same as `manage.py render_manifests`). "
        "Send `Accept: application/yaml` (or `?format=yaml`) for the raw YAML.",
        responses={
            (200, "application/json"): ManifestsSerializer,
            (200, "application/yaml"): OpenApiTypes.STR,
            400: OpenApiResponse(description="A stored value cannot be rendered safely."),
            404: OpenApiResponse(description="No such endpoint in your teams."),
        },
    )
    def get(self, request, uuid):
        queryset = scope_to_user(Endpoint.objects.all(), request.user).select_related(
            "team", "model", "gpu_type", "offering"
        )
        endpoint = get_object_or_404(queryset, uuid=uuid)
        try:
            objects = manifests.render(endpoint)
        except manifests.ManifestError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response({"yaml": manifests.to_yaml(objects), "objects": objects})
