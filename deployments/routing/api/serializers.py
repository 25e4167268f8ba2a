"""Route serializers: validate and represent; the viewset calls routing.services."""

from rest_framework import serializers
from rest_framework.exceptions import NotFound

from deployments.endpoints.api.serializers import TeamRef
from deployments.endpoints.models import Endpoint
from deployments.routing import manifests
from deployments.routing.models import CLASSIFIER_POLICY, Route, RoutePolicy, RouteTier, TierRole
from portal.access import scope_to_user


class RouteTierSerializer(serializers.Serializer):
    endpoint = serializers.UUIDField(help_text="UUID of one of the team's endpoints.")
    role = serializers.ChoiceField(choices=TierRole.choices)

    def validate_endpoint(self, value):
        request = self.context["request"]
        endpoint = (
            scope_to_user(Endpoint.objects.all(), request.user)
            .select_related("team")
            .filter(uuid=value)
            .first()
        )
        if endpoint is None:
            raise NotFound(f"Endpoint {value} not found.")
        return endpoint

    def to_representation(self, tier: RouteTier):
        return {
            "endpoint": str(tier.endpoint.uuid),
            "endpoint_name": tier.endpoint.name,
            "role": tier.role,
            "predictor_host": manifests.predictor_host(tier.endpoint),
        }


class RouteSerializer(serializers.ModelSerializer):
    team = TeamRef(help_text="Team slug.")
    policy = serializers.ChoiceField(
        choices=[*RoutePolicy.choices, (CLASSIFIER_POLICY, "By a classifier (refused: see docs)")],
        help_text="alias, prompt_length, fallback or complexity (the vLLM Semantic Router "
        "labels requests easy / medium / hard). `classifier` is answered with 400: use "
        "complexity.",
    )
    tiers = RouteTierSerializer(many=True)
    easy_examples = serializers.ListField(
        child=serializers.CharField(max_length=2000),
        required=False,
        max_length=50,
        help_text="complexity: example prompts of easy requests (empty: the platform's).",
    )
    hard_examples = serializers.ListField(
        child=serializers.CharField(max_length=2000),
        required=False,
        max_length=50,
        help_text="complexity: example prompts of hard requests (empty: the platform's).",
    )
    hard_keywords = serializers.ListField(
        child=serializers.CharField(max_length=2000),
        required=False,
        max_length=50,
        help_text="complexity: phrases that send a request to the large tier.",
    )
    url = serializers.CharField(read_only=True, help_text="The one OpenAI-compatible base URL.")
    client_snippet = serializers.SerializerMethodField()

    class Meta:
        model = Route
        fields = [
            "uuid",
            "team",
            "name",
            "policy",
            "tiers",
            "prompt_length_threshold",
            "queue_depth_threshold",
            "easy_examples",
            "hard_examples",
            "hard_keywords",
            "steer_at_percent",
            "medium_to_small",
            "steering_reason",
            "url",
            "client_snippet",
            "desired_state",
            "status",
            "status_message",
            "generation",
            "applied_generation",
            "created_at",
        ]
        read_only_fields = [
            "uuid",
            "desired_state",
            "status",
            "status_message",
            "generation",
            "applied_generation",
            "created_at",
            "medium_to_small",
            "steering_reason",
        ]
        # (team, name) uniqueness is the service's: it answers 400 with a clear message.
        validators = []

    def validate_tiers(self, value):
        if not 2 <= len(value) <= 3:
            raise serializers.ValidationError("Give two or three tiers (small, large, fallback).")
        return value

    def get_client_snippet(self, route: Route) -> str:
        return manifests.client_snippet(route)
