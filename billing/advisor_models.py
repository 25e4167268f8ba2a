"""A team's "not now" to one savings-advisor suggestion (billing.services.advisor).

One row per (team, endpoint, kind); the endpoint is empty for team-wide suggestions. The
row keeps the monthly saving the suggestion showed when it was dismissed: the suggestion
stays hidden until its saving changes materially or the dismissal expires (the rule lives in
``billing.services.advisor.dismissals``, docs/chargeback.md "Savings advisor").
"""

from decimal import Decimal

from django.conf import settings
from django.db import models


class SuggestionKind(models.TextChoices):
    OFF_HOURS = "off_hours", "Off-hours schedule"
    SPOT = "spot", "Spot capacity"
    RIGHT_SIZE = "right_size", "Smaller GPU"
    FP8 = "fp8", "fp8 weights"
    API = "api", "Hosted API"


class SavingsDismissal(models.Model):
    team = models.ForeignKey(
        "portal.Team", on_delete=models.CASCADE, related_name="savings_dismissals"
    )
    endpoint = models.ForeignKey(
        "deployments.Endpoint",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="savings_dismissals",
    )
    kind = models.CharField(max_length=20, choices=SuggestionKind.choices)
    monthly_saving = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        help_text="The monthly saving the suggestion showed when it was dismissed.",
    )
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    dismissed_at = models.DateTimeField()

    class Meta:
        ordering = ["-dismissed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "endpoint", "kind"],
                condition=models.Q(endpoint__isnull=False),
                name="unique_savings_dismissal_endpoint",
            ),
            models.UniqueConstraint(
                fields=["team", "kind"],
                condition=models.Q(endpoint__isnull=True),
                name="unique_savings_dismissal_team",
            ),
        ]

    def __str__(self) -> str:
        where = self.endpoint.name if self.endpoint_id else "team"
        return f"{self.team} {where} {self.kind} dismissed {self.dismissed_at:%Y-%m-%d}"
