from rest_framework import serializers

from ..access import role_for
from ..models import Membership, Team, TeamGpuQuota
from .fields import BlankAsNullURLField


class TeamGpuQuotaSerializer(serializers.ModelSerializer):
    gpu_type = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = TeamGpuQuota
        fields = ["gpu_type", "max_gpus"]


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this team.")
    gpu_quotas = TeamGpuQuotaSerializer(many=True, read_only=True)
    approval_gpu_types = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    alert_webhook_url = BlankAsNullURLField(
        read_only=True, help_text="Where budget alerts are POSTed; null when not set."
    )

    class Meta:
        model = Team
        fields = [
            "uuid",
            "name",
            "slug",
            "namespace",
            "role",
            "max_gpus",
            "gpu_quotas",
            "monthly_budget",
            "over_budget_policy",
            "approval_cost_threshold",
            "approval_gpu_types",
            "slo_ttft_p95_seconds",
            "slo_error_rate",
            "alert_email",
            "alert_webhook_url",
            "created_at",
        ]
        read_only_fields = fields

    def get_role(self, team) -> str | None:
        request = self.context.get("request")
        return role_for(request.user, team) if request else None


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    user_uuid = serializers.UUIDField(source="user.uuid", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_uuid", "username", "email", "role", "created_at"]
