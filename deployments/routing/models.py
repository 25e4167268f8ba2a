"""Model routes and their tiers (the code is in deployments/routing/). Imported by
deployments/models.py so the app owns them; refers to Endpoint by name, so it imports no other
module of the app than choices (no import cycle)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from deployments.routing.choices import ROUTE_FINAL_STATUSES, RouteStatus
from deployments.workloads.models import TeamWorkload, unique_live_name
from portal.models import Team
from portal.validators import DNS_LABEL


class RoutePolicy(models.TextChoices):
    ALIAS = "alias", "By requested model alias"
    PROMPT_LENGTH = "prompt_length", "By prompt length"
    FALLBACK = "fallback", "Small first, large on errors or a deep queue"


# Asked for in issue 16 but refused: Envoy Gateway has no complexity / intent classifier, and
# the portal renders no home-made one (docs/routes.md, "Why no classifier policy").
CLASSIFIER_POLICY = "classifier"
CLASSIFIER_REFUSAL = (
    "The classifier policy needs a complexity or intent classifier in front of the models, and "
    "Envoy Gateway (the router ModelPort renders routes for) has none, so the portal does not "
    "offer it. Use prompt_length (the request size stands in for complexity) or alias (the "
    "client names the tier)."
)


class TierRole(models.TextChoices):
    SMALL = "small", "Small"
    LARGE = "large", "Large"
    FALLBACK = "fallback", "Fallback"


# "<route>-fallback" must stay a DNS label (63) and leave room in the URL host.
ROUTE_NAME_MAX = 40


class Route(TeamWorkload):
    final_statuses = ROUTE_FINAL_STATUSES

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="routes")
    name = models.CharField(
        max_length=ROUTE_NAME_MAX,
        validators=[DNS_LABEL],
        help_text="Lowercase letters, digits and '-'; unique within the team.",
    )
    policy = models.CharField(max_length=20, choices=RoutePolicy.choices)
    prompt_length_threshold = models.PositiveIntegerField(
        default=4000,
        validators=[MinValueValidator(100), MaxValueValidator(1_000_000)],
        help_text="Request bodies longer than this many bytes go to the large tier "
        "(prompt_length policy).",
    )
    queue_depth_threshold = models.PositiveIntegerField(
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Requests waiting for the small tier before new ones overflow to the other tier.",
    )
    status = models.CharField(
        max_length=20,
        choices=RouteStatus.choices,
        default=RouteStatus.PENDING_APPROVAL,
        db_index=True,
    )

    class Meta(TeamWorkload.Meta):
        constraints = [
            unique_live_name("unique_live_route_name_per_team"),
        ]

    @property
    def host(self) -> str:
        return f"{self.name}.{self.team.slug}.{settings.ROUTE_DOMAIN}"

    @property
    def url(self) -> str:
        """The one OpenAI-compatible base URL of the route."""
        return f"{settings.ROUTE_URL_SCHEME}://{self.host}/v1"


class RouteTier(models.Model):
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="tiers")
    endpoint = models.ForeignKey(
        "deployments.Endpoint", on_delete=models.PROTECT, related_name="route_tiers"
    )
    role = models.CharField(max_length=10, choices=TierRole.choices)

    class Meta:
        ordering = ["route", "role"]
        constraints = [
            models.UniqueConstraint(fields=["route", "role"], name="one_tier_per_role"),
            models.UniqueConstraint(fields=["route", "endpoint"], name="endpoint_once_per_route"),
        ]

    def __str__(self) -> str:
        return f"{self.route}: {self.role} = {self.endpoint_id}"

    @property
    def alias(self) -> str:
        """The model name a client asks for to reach this tier (alias policy)."""
        return self.role
