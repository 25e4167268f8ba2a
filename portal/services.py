"""Team use cases: members, roles and the settings team admins may change.

Quota, budget and approval rules are set by platform staff in the admin, never here.
"""

from typing import Any

from django.db import transaction
from django.db.models import Q

from .audit import record_audit, snapshot
from .models import AuditLog, Membership, Team, User

TEAM_SETTINGS_FIELDS = [
    "slo_ttft_p95_seconds",
    "slo_error_rate",
    "alert_email",
    "alert_webhook_url",
]


class TeamError(Exception):
    """A team change that cannot be made, with a message for the user (and the form field)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def _other_admins(membership: Membership) -> bool:
    return (
        Membership.objects.filter(team_id=membership.team_id, role=Membership.Role.ADMIN)
        .exclude(pk=membership.pk)
        .exists()
    )


def invite_member(
    team: Team, actor: User, data: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Membership:
    """Add an existing user (by username or e-mail) to the team with a role."""
    who = (data.get("user") or "").strip()
    role = data.get("role") or Membership.Role.MEMBER
    if role not in Membership.Role.values:
        raise TeamError(f"Role must be one of {', '.join(Membership.Role.values)}.", field="role")
    matches = list(User.objects.filter(Q(username__iexact=who) | Q(email__iexact=who))[:2])
    if not who or not matches:
        raise TeamError(f"No user with username or e-mail {who!r}.", field="user")
    if len(matches) > 1:
        raise TeamError(f"More than one user matches {who!r}; use the username.", field="user")
    user = matches[0]
    with transaction.atomic():
        if Membership.objects.filter(team=team, user=user).exists():
            raise TeamError(f"{user.username} is already in {team.name}.", field="user")
        membership = Membership.objects.create(team=team, user=user, role=role)
        record_audit(
            actor=actor,
            action="membership.add",
            instance=membership,
            team=team,
            source=source,
            after={"user": user.username, "role": role},
        )
    return membership


def change_role(
    membership: Membership, actor: User, role: str, source: str = AuditLog.Source.WEB
) -> Membership:
    if role not in Membership.Role.values:
        raise TeamError(f"Role must be one of {', '.join(Membership.Role.values)}.", field="role")
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .select_related("team", "user")
            .get(pk=membership.pk)
        )
        old = membership.role
        if old == role:
            return membership
        if old == Membership.Role.ADMIN and not _other_admins(membership):
            raise TeamError(
                "A team needs at least one admin; make someone else admin first.", field="role"
            )
        membership.role = role
        membership.save(update_fields=["role"])
        record_audit(
            actor=actor,
            action="membership.role",
            instance=membership,
            team=membership.team,
            source=source,
            before={"role": old},
            after={"role": role},
        )
    return membership


def remove_member(membership: Membership, actor: User, source: str = AuditLog.Source.WEB) -> None:
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .select_related("team", "user")
            .get(pk=membership.pk)
        )
        if membership.role == Membership.Role.ADMIN and not _other_admins(membership):
            raise TeamError("The last admin cannot leave the team; make someone else admin first.")
        record_audit(
            actor=actor,
            action="membership.remove",
            instance=membership,
            team=membership.team,
            source=source,
            before={"user": membership.user.username, "role": membership.role},
        )
        membership.delete()


def update_team_settings(
    team: Team, actor: User, data: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Team:
    """SLO targets and alert destinations (validated data from the settings form)."""
    changes = {k: v for k, v in data.items() if k in TEAM_SETTINGS_FIELDS}
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        before = snapshot(team, TEAM_SETTINGS_FIELDS)
        changed = [k for k, v in changes.items() if getattr(team, k) != v]
        if not changed:
            return team
        for field in changed:
            setattr(team, field, changes[field])
        team.full_clean(exclude=["approval_gpu_types"])
        team.save(update_fields=changed)
        record_audit(
            actor=actor,
            action="team.settings",
            instance=team,
            source=source,
            before=before,
            after=snapshot(team, TEAM_SETTINGS_FIELDS),
        )
    return team
