"""Sign-in by OIDC claims: find or create the user, then make their team memberships, roles and
staff flag what the GroupMapping rows say for their groups. Pure mapping first (access_for), then
one transaction that applies it and records every change in the audit log.

Memberships single sign-on did not grant (added by hand, local accounts) are never touched; the
ones it granted follow the groups: a new role when the groups change, removed when no mapped
group is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from portal.audit import record_audit, snapshot
from portal.models import AuditLog, Membership, Team, User

from .models import GroupMapping, OidcIdentity

ROLE_RANK = {Membership.Role.VIEWER: 1, Membership.Role.MEMBER: 2, Membership.Role.ADMIN: 3}


class SignInRefused(Exception):
    """The claims cannot sign anybody in (the message says why; nothing was changed)."""


@dataclass(frozen=True)
class Access:
    roles: dict[int, str] = field(default_factory=dict)  # team id -> role
    staff: bool = False


def access_for(groups: list[str], mappings: list[GroupMapping]) -> Access:
    """The highest role per team over every mapping of the user's groups; staff if any says so."""
    wanted = set(groups)
    roles: dict[int, str] = {}
    staff = False
    for mapping in mappings:
        if mapping.group not in wanted:
            continue
        staff = staff or mapping.grants_staff
        if mapping.team_id and mapping.role:
            have = roles.get(mapping.team_id)
            if have is None or ROLE_RANK[mapping.role] > ROLE_RANK[have]:
                roles[mapping.team_id] = mapping.role
    return Access(roles=roles, staff=staff)


def groups_from(claims: dict, claim: str) -> list[str]:
    value = claims.get(claim) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise SignInRefused(f"the {claim!r} claim is not a list of group names: {value!r}")
    return value


def sign_in(issuer: str, claims: dict, *, username_claim: str, groups_claim: str) -> User:
    subject = claims.get("sub")
    if not subject:
        raise SignInRefused("the provider sent no 'sub' claim")
    groups = groups_from(claims, groups_claim)
    with transaction.atomic():
        identity = (
            OidcIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is None:
            identity = OidcIdentity(
                issuer=issuer, subject=subject, user=_new_user(claims, username_claim)
            )
        user = identity.user
        if not user.is_active:
            raise SignInRefused(f"the account {user.username!r} is deactivated")
        user.email = claims.get("email") or user.email
        user.first_name = (claims.get("given_name") or user.first_name)[:150]
        user.last_name = (claims.get("family_name") or user.last_name)[:150]
        access = access_for(groups, list(GroupMapping.objects.all()))
        if user.is_staff != access.staff:
            record_audit(
                actor=user,
                action="user.sso_staff",
                instance=user,
                before={"is_staff": user.is_staff},
                after={"is_staff": access.staff},
            )
            user.is_staff = access.staff
        user.save()
        identity.groups = groups
        identity.last_sign_in = timezone.now()
        identity.save()
        _apply_memberships(identity, access)
    return user


def _new_user(claims: dict, username_claim: str) -> User:
    username = (claims.get(username_claim) or "").strip()
    if not username:
        raise SignInRefused(f"the provider sent no {username_claim!r} claim")
    if User.objects.filter(username=username).exists():
        raise SignInRefused(
            f"a local account {username!r} already exists: link it to this provider account in "
            "the admin (OIDC identities) or rename it"
        )
    user = User(username=username[:150])
    user.set_unusable_password()  # signs in through the provider only; break-glass stays local
    user.save()
    return user


def _apply_memberships(identity: OidcIdentity, access: Access) -> None:
    user = identity.user
    managed = set(identity.managed_teams.values_list("pk", flat=True))
    existing = {m.team_id: m for m in Membership.objects.filter(user=user).select_related("team")}
    teams = Team.objects.in_bulk(access.roles)
    for team_id, role in access.roles.items():
        membership = existing.get(team_id)
        if membership is None:
            membership = Membership.objects.create(team=teams[team_id], user=user, role=role)
            _audit(user, "membership.sso_add", membership, after=snapshot(membership))
            managed.add(team_id)
        elif team_id in managed and membership.role != role:
            before = snapshot(membership)
            membership.role = role
            membership.save(update_fields=["role"])
            _audit(
                user, "membership.sso_role", membership, before=before, after=snapshot(membership)
            )
    for team_id in managed - set(access.roles):
        membership = existing.get(team_id)
        if membership is not None:
            _audit(user, "membership.sso_remove", membership, before=snapshot(membership))
            membership.delete()
        managed.discard(team_id)
    identity.managed_teams.set(managed)


def _audit(user, action, membership, before=None, after=None) -> None:
    record_audit(
        actor=user,
        action=action,
        instance=membership,
        source=AuditLog.Source.SYSTEM,
        team=membership.team,
        before=before,
        after=after,
    )
