"""Users, teams, memberships, team quotas and the audit log."""

import uuid
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .validators import DNS_LABEL, validate_webhook_url, webhook_host

# Upper bound of a GPU quota: far above any real fleet, well inside a 32-bit integer.
MAX_GPUS = 100_000


class User(AbstractUser):
    """Custom user from day one. Platform staff are Django staff (`is_staff`)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Team(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=30,
        unique=True,
        validators=[DNS_LABEL],
        help_text="Short DNS-safe name; the team's Kubernetes namespace derives from it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Quota and budget (platform staff set these in the admin).
    max_gpus = models.PositiveIntegerField(
        default=8,
        validators=[MaxValueValidator(MAX_GPUS)],
        help_text="Most GPUs the team's endpoints may request at their max replicas.",
    )
    monthly_budget = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Monthly GPU budget in the price table's currency; empty means no budget.",
    )
    approval_cost_threshold = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Requests whose monthly cost at max replicas is above this need approval.",
    )
    approval_gpu_types = models.ManyToManyField(
        "catalog.GpuType",
        blank=True,
        related_name="+",
        help_text="Requests for these GPU types always need approval.",
    )

    class OverBudgetPolicy(models.TextChoices):
        APPROVAL = "approval", "Route to approval"
        REFUSE = "refuse", "Refuse"

    over_budget_policy = models.CharField(
        max_length=10,
        choices=OverBudgetPolicy.choices,
        default=OverBudgetPolicy.APPROVAL,
        help_text="What happens to a request that would take the month over budget.",
    )

    # Service-level objectives shown on the metrics pages.
    slo_ttft_p95_seconds = models.DecimalField(
        max_digits=8,
        decimal_places=3,
        default=Decimal("2.000"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    slo_error_rate = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        default=Decimal("0.0100"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Highest acceptable share of failed requests (0-1).",
    )

    # Where budget alerts go besides the portal banner.
    alert_email = models.EmailField(blank=True)
    alert_webhook_url = models.URLField(blank=True, validators=[validate_webhook_url])

    # The audit log keeps what may be shown of a secret (portal.audit.snapshot).
    AUDIT_SHOWN_AS = {"alert_webhook_url": "alert_webhook_host"}

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def namespace(self) -> str:
        from django.conf import settings

        return f"{settings.KUBE_NAMESPACE_PREFIX}{self.slug}"

    @property
    def alert_webhook_host(self) -> str:
        """All that is ever shown of the webhook URL (Slack/Teams put the secret in its path)."""
        return webhook_host(self.alert_webhook_url)


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="unique_membership"),
        ]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.MEMBER, self.Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN


class TeamGpuQuota(models.Model):
    """Per GPU type cap on top of the team's total `max_gpus`."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="gpu_quotas")
    gpu_type = models.ForeignKey("catalog.GpuType", on_delete=models.CASCADE, related_name="+")
    max_gpus = models.PositiveIntegerField(validators=[MaxValueValidator(MAX_GPUS)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "gpu_type"], name="unique_team_gpu_quota"),
        ]
        verbose_name = "team GPU quota"

    def __str__(self) -> str:
        return f"{self.team}: {self.max_gpus} x {self.gpu_type}"


class AuditLog(models.Model):
    """Immutable record of every change made through any face (web, API, admin, system)."""

    class Source(models.TextChoices):
        WEB = "web", "Web UI"
        API = "api", "REST API"
        ADMIN = "admin", "Admin"
        SYSTEM = "system", "System"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SYSTEM)
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor or 'system'} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError("Audit log entries are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Audit log entries are immutable.")


class ApiToken(models.Model):
    """A REST API token. Only the SHA-256 digest of the key is stored; the key itself is shown
    once, when it is created (portal.tokens.create_token), and cannot be recovered. `prefix`
    (the key's first characters, not secret) tells the tokens apart on the page and in the admin.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(db_index=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_expired(self, now) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_active(self, now) -> bool:
        return self.revoked_at is None and not self.is_expired(now)

    def state(self, now) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired(now) else "active"
