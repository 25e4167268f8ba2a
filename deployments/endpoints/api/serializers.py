"""Serializers validate and represent; the viewsets call the services."""

from rest_framework import serializers

from catalog.api.serializers import CatalogRef
from catalog.models import CatalogModel, GpuType
from deployments.endpoints import rules
from deployments.endpoints.models import Endpoint, EndpointEvent
from deployments.endpoints.services import SPEC_FIELDS
from portal.access import find_team
from portal.api.fields import BlankAsNullURLField, HourMinuteField, TimeZoneField
from portal.models import Team


class TeamRef(serializers.SlugRelatedField):
    """A team slug among the requesting user's teams (one query, which also reads the role)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", queryset=Team.objects.all(), **kwargs)

    def to_internal_value(self, data):
        request = self.context.get("request")
        if request is None:
            return super().to_internal_value(data)
        if not isinstance(data, str):
            self.fail("invalid")
        team = find_team(request.user, data)
        if team is None:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return team


class EndpointSerializer(serializers.ModelSerializer):
    team = TeamRef(help_text="Team slug. Cannot be changed after the request.")
    model = CatalogRef(
        key="slug",
        kind="catalog model",
        hint="/api/v1/models/",
        queryset=CatalogModel.objects.filter(enabled=True),
        help_text="Catalog model: its UUID or slug (e.g. `llama-3-1-8b-instruct`).",
    )
    gpu_type = CatalogRef(
        key="name",
        kind="GPU type",
        hint="/api/v1/gpu-types/",
        queryset=GpuType.objects.filter(enabled=True),
        help_text="GPU type: its UUID or name (e.g. `L4`, `H100`).",
    )
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    approved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    instance_type = serializers.CharField(
        source="offering.instance_type", read_only=True, default=None, allow_null=True
    )
    url = BlankAsNullURLField(
        read_only=True, help_text="Inference URL once the endpoint is ready (null before)."
    )
    schedule_timezone = TimeZoneField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="IANA time zone of the hours (e.g. `Europe/Berlin`).",
    )
    schedule_start = HourMinuteField(
        required=False, allow_null=True, help_text="Working hours start (HH:MM)."
    )
    schedule_end = HourMinuteField(
        required=False, allow_null=True, help_text="Working hours end (HH:MM)."
    )

    class Meta:
        model = Endpoint
        fields = [
            "uuid",
            "team",
            "name",
            *SPEC_FIELDS,
            "instance_type",
            "desired_state",
            "generation",
            "applied_generation",
            "status",
            "status_message",
            "url",
            "monthly_cost_min",
            "monthly_cost_max",
            "requested_by",
            "approved_by",
            "approved_at",
            "created_at",
            "updated_at",
            "status_changed_at",
            "ready_at",
            "deleted_at",
        ]
        read_only_fields = [
            "uuid",
            "desired_state",
            "generation",
            "applied_generation",
            "status",
            "status_message",
            "url",
            "monthly_cost_min",
            "monthly_cost_max",
            "approved_at",
            "created_at",
            "updated_at",
            "status_changed_at",
            "ready_at",
            "deleted_at",
        ]
        # (team, name) uniqueness is checked by the service with a clear message.
        validators: list = []

    def validate(self, attrs):
        if self.instance is not None:
            for field in ("team", "name"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError(
                        {field: f"The {field} of an endpoint cannot be changed; request a new one."}
                    )
        merged = {f: attrs.get(f, getattr(self.instance, f, None)) for f in SPEC_FIELDS}
        errors = rules.spec_problems(merged)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class EndpointEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = EndpointEvent
        fields = [
            "created_at",
            "kind",
            "old_status",
            "new_status",
            "message",
            "generation",
            "duration_seconds",
            "actor",
        ]


class EndpointScaleSerializer(serializers.Serializer):
    min_replicas = serializers.IntegerField(min_value=0, max_value=100)
    max_replicas = serializers.IntegerField(min_value=1, max_value=100)

    def validate(self, attrs):
        errors = rules.replica_problems(attrs["min_replicas"], attrs["max_replicas"])
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class EndpointRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why; shown to the requester.")
