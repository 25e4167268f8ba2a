"""Model routes and their tiers (the code is in deployments/routing/). Imported by
deployments/models.py so the app owns them; refers to Endpoint by name, so it imports no other
module of the app than choices (no import cycle)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from deployments.routing.choices import ROUTE_FINAL_STATUSES, RouteStatus
from deployments.workloads.models import TeamWorkload, unique_live_name
from portal.models import Team
from portal.validators import DNS_LABEL


class RoutePolicy(models.TextChoices):
    ALIAS = "alias", "By requested model alias"
    PROMPT_LENGTH = "prompt_length", "By prompt length"
    FALLBACK = "fallback", "Small first, large on errors or a deep queue"
    COMPLEXITY = "complexity", "By complexity (vLLM Semantic Router)"


# The name issue 16 asked for: the classifier policy is `complexity` (the vLLM Semantic Router,
# deployments/routing/complexity.py); the old name is refused with a pointer to it.
CLASSIFIER_POLICY = "classifier"
CLASSIFIER_REFUSAL = (
    "There is no 'classifier' policy: use 'complexity', which runs the vLLM Semantic Router "
    "in front of the route and sends easy requests to the small tier and hard ones to the "
    "large tier."
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
    # complexity policy (deployments/routing/complexity.py): empty lists = the platform defaults
    easy_examples = models.JSONField(
        default=list, blank=True, help_text="Example prompts of easy requests (small tier)."
    )
    hard_examples = models.JSONField(
        default=list, blank=True, help_text="Example prompts of hard requests (large tier)."
    )
    hard_keywords = models.JSONField(
        default=list, blank=True, help_text="Phrases that send a request to the large tier."
    )
    # budget steering (deployments/routing/steering.py)
    steer_at_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="When month-to-date spend passes this % of the team budget, medium requests "
        "go to the small tier until the month ends (complexity policy; empty = never).",
    )
    medium_to_small = models.BooleanField(
        default=False, help_text="Medium requests go to the small tier (set by budget steering)."
    )
    steered_since = models.DateTimeField(null=True, blank=True)
    steering_reason = models.TextField(blank=True)
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


# registry/path[:tag][@sha256:digest], lowercase path components (the OCI reference grammar,
# simplified); no whitespace, so it is safe in a manifest.
IMAGE_REFERENCE = RegexValidator(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$",
    "Give an image reference such as ghcr.io/vllm-project/semantic-router/extproc:v0.4.0.",
)


class SemanticRouterSettings(models.Model):
    """The platform team's settings of the vLLM Semantic Router that complexity routes run (one
    row, edited in the admin; saving it re-applies every live complexity route)."""

    image = models.CharField(
        max_length=300,
        validators=[IMAGE_REFERENCE],
        help_text="The router image every complexity route runs (pin a tag or a digest).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "semantic router settings"
        verbose_name_plural = "semantic router settings"

    def __str__(self) -> str:
        return self.image

    @classmethod
    def current(cls) -> "SemanticRouterSettings":
        """The row; created from settings.SEMANTIC_ROUTER_IMAGE the first time it is read."""
        row, _ = cls.objects.get_or_create(pk=1, defaults={"image": settings.SEMANTIC_ROUTER_IMAGE})
        return row
