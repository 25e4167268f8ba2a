from rest_framework import serializers

from ..access import role_for
from ..models import Membership, Team, TeamGpuQuota


class TeamGpuQuotaSerializer(serializers.ModelSerializer):
    gpu_type = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = TeamGpuQuota
        fields = ["gpu_type", "max_gpus"]


class TeamSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this team.")
    gpu_quotas = TeamGpuQuotaSerializer(many=True, read_only=True)
    approval_gpu_types = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    alert_webhook_host = serializers.SerializerMethodField(
        help_text="The host budget alerts are POSTed to; null when not set. The URL itself is "
        "write-only (Slack/Teams webhooks carry their secret in the path)."
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
            "alert_webhook_host",
            "created_at",
        ]
        read_only_fields = fields

    def get_alert_webhook_host(self, team) -> str | None:
        return team.alert_webhook_host or None

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
