"""REST: /api/v1/batch-jobs/ (request, read with per-shard progress, day-2 actions, manifests).

Team-scoped through portal.access (outsiders 404, viewers 403). Changes answer 202 with the
batch job as stored now.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.api.serializers import CatalogRef
from catalog.models import CatalogModel, GpuType
from deployments.batch import manifests, services
from deployments.batch.models import BatchJob, BatchJobEvent, shard_count
from deployments.endpoints.api.serializers import TeamRef
from deployments.endpoints.manifests import ManifestError, to_yaml
from deployments.workloads.api import TeamWorkloadViewSet
from portal.models import AuditLog
from portal.validators import batch_input_uri_problem, batch_output_uri_problem

API = AuditLog.Source.API
RELATED = ("team", "model", "gpu_type", "offering", "requested_by", "approved_by")


class BatchJobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = BatchJobEvent
        fields = ["created_at", "kind", "shard", "old_status", "new_status", "message"]


class BatchJobSerializer(serializers.ModelSerializer):
    team = TeamRef(help_text="Team slug.")
    model = CatalogRef(
        key="slug",
        kind="catalog model",
        hint="/api/v1/models/",
        queryset=CatalogModel.objects.filter(enabled=True),
    )
    gpu_type = CatalogRef(
        key="name",
        kind="GPU type",
        hint="/api/v1/gpu-types/",
        queryset=GpuType.objects.filter(enabled=True),
    )
    quantization = serializers.CharField(required=False, help_text="Default: the model's first.")
    parallelism = serializers.IntegerField(required=False, min_value=1, max_value=100)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    shard_progress = serializers.SerializerMethodField()
    report = serializers.SerializerMethodField()

    class Meta:
        model = BatchJob
        fields = [
            "uuid",
            "team",
            "name",
            *services.SPEC_FIELDS,
            "estimated_gpu_hours",
            "estimated_cost",
            "estimated_cost_on_demand",
            "throughput_source",
            "status",
            "status_message",
            "desired_state",
            "generation",
            "run",
            "shard_progress",
            "report",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = [
            "uuid",
            "estimated_gpu_hours",
            "estimated_cost",
            "estimated_cost_on_demand",
            "throughput_source",
            "status",
            "status_message",
            "desired_state",
            "generation",
            "run",
            "created_at",
            "started_at",
            "finished_at",
        ]
        validators = []  # (team, name) is checked by the service under the team lock

    def validate_input_uri(self, value):
        problem = batch_input_uri_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_output_uri(self, value):
        problem = batch_output_uri_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate(self, attrs):
        model = attrs.get("model")
        if model is not None and not attrs.get("quantization"):
            attrs["quantization"] = (model.allowed_quantizations or ["bf16"])[0]
        try:
            attrs["shards"] = shard_count(
                attrs.get("shards"), attrs.get("target_shard_tokens"), attrs.get("expected_tokens")
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        attrs.setdefault("parallelism", min(attrs["shards"], 4))
        return attrs

    def get_shard_progress(self, job) -> dict:
        """Counts by state, and per shard: state, attempts failed, interruptions, GPU-seconds,
        tokens, and the progress marker (requests done of requests, percent)."""
        return {"counts": job.shard_counts, "shards": job.shard_progress}

    def get_report(self, job) -> dict:
        report = services.cost_report(job)
        return {
            k: (str(v) if v is not None and not isinstance(v, int) else v)
            for k, v in report.items()
        }


class BatchJobManifestsSerializer(serializers.Serializer):
    yaml = serializers.CharField(help_text="Multi-document YAML, as `render_batch_job` prints.")
    objects = serializers.ListField(child=serializers.DictField())


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


ACCEPTED = {202: BatchJobSerializer}


@extend_schema_view(
    list=extend_schema(summary="List your teams' batch jobs"),
    retrieve=extend_schema(summary="Get a batch job with per-shard progress"),
    create=extend_schema(
        summary="Request a batch job",
        description="Checks the fit, quota, budget and approval rules (as for endpoints) and "
        "estimates the cost. Answers 202; the Job is created asynchronously.",
        responses=ACCEPTED,
    ),
    destroy=extend_schema(summary="Delete a batch job (cleans up the cluster)", responses=ACCEPTED),
)
class BatchJobViewSet(TeamWorkloadViewSet):
    model = BatchJob
    plural = "batch jobs"
    queryset = BatchJob.objects.none()
    serializer_class = BatchJobSerializer

    def with_related(self, qs):
        return qs.select_related(*RELATED)

    def request_workload(self, team, user, data, source):
        return services.request_batch_job(team, user, data, source=source)

    def delete_workload(self, job, user, source):
        return services.delete_batch_job(job, user, source=source)

    @extend_schema(
        summary="Cancel (the Job is deleted, committed output kept)",
        request=None,
        responses=ACCEPTED,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, uuid=None):
        return self.act(services.cancel_batch_job)

    @extend_schema(
        summary="Resume: a new Job over the shards not committed", request=None, responses=ACCEPTED
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, uuid=None):
        return self.act(services.resume_batch_job)

    @extend_schema(summary="Retry the failed shards only", request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def retry(self, request, uuid=None):
        return self.act(services.retry_failed_shards)

    @extend_schema(summary="Approve a pending batch job", request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def approve(self, request, uuid=None):
        return self.act(services.approve_batch_job, decide=True)

    @extend_schema(
        summary="Reject a pending batch job", request=RejectSerializer, responses=ACCEPTED
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, uuid=None):
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self.act(services.reject_batch_job, decide=True, **serializer.validated_data)

    @extend_schema(
        summary="The timeline, newest first",
        responses=BatchJobEventSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def events(self, request, uuid=None):
        events = self.get_object().events.all()[:500]
        return Response(BatchJobEventSerializer(events, many=True).data)

    @extend_schema(
        summary="The exact objects applied (Namespace, ResourceQuota, the run's Job)",
        responses={200: BatchJobManifestsSerializer},
    )
    @action(detail=True, methods=["get"])
    def manifests(self, request, uuid=None):
        try:
            objects = manifests.render(self.get_object())
        except ManifestError as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from exc
        return Response({"yaml": to_yaml(objects), "objects": objects})
