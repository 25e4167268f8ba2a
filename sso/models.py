"""GroupMapping (identity-provider group -> team role and/or platform staff) and OidcIdentity
(which provider account a portal user is, and which memberships single sign-on manages)."""

from django.core.exceptions import ValidationError
from django.db import models

from portal.models import Membership, Team, User


class GroupMapping(models.Model):
    group = models.CharField(
        max_length=200,
        help_text="The group exactly as the identity provider sends it in the groups claim.",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="sso_group_mappings"
    )
    role = models.CharField(max_length=10, choices=Membership.Role.choices, blank=True)
    grants_staff = models.BooleanField(
        default=False, help_text="Members of this group are platform staff (admin console)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "team__name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "team"], name="unique_sso_group_team"),
        ]

    def __str__(self) -> str:
        parts = [f"{self.team} ({self.role})"] if self.team_id else []
        if self.grants_staff:
            parts.append("staff")
        return f"{self.group} -> {', '.join(parts) or 'nothing'}"

    def clean(self):
        if bool(self.team_id) != bool(self.role):
            raise ValidationError("A team needs a role and a role needs a team.")
        if not self.team_id and not self.grants_staff:
            raise ValidationError("Map the group to a team role, to staff, or both.")


class OidcIdentity(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="oidc_identity")
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255, help_text="The provider's `sub` claim.")
    groups = models.JSONField(default=list, blank=True, help_text="Groups at the last sign-in.")
    managed_teams = models.ManyToManyField(
        Team,
        blank=True,
        related_name="+",
        help_text="Teams whose membership single sign-on granted (and takes away again).",
    )
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_oidc_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.user} = {self.subject} at {self.issuer}"
