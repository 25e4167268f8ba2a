from decimal import Decimal

import pytest

from portal import services
from portal.models import AuditLog, Membership
from tests.factories import UserFactory


def test_invite_member_by_username(team, owner):
    UserFactory(username="nina")
    membership = services.invite_member(team, owner, {"user": "nina", "role": "member"})
    assert membership.role == "member" and membership.team == team


def test_invite_refuses_unknown_duplicate_and_bad_role(team, owner, member):
    with pytest.raises(services.TeamError, match="No user"):
        services.invite_member(team, owner, {"user": "ghost", "role": "member"})
    with pytest.raises(services.TeamError, match="already in"):
        services.invite_member(team, owner, {"user": "bob", "role": "member"})
    with pytest.raises(services.TeamError) as exc:
        services.invite_member(team, owner, {"user": "bob", "role": "boss"})
    assert exc.value.field == "role"


def test_change_role_is_audited_with_before_and_after(team, owner, member):
    membership = Membership.objects.get(team=team, user=member)
    services.change_role(membership, owner, "viewer", source=AuditLog.Source.API)
    entry = AuditLog.objects.get(action="membership.role")
    assert (entry.before, entry.after, entry.source) == (
        {"role": "member"},
        {"role": "viewer"},
        "api",
    )


def test_same_role_is_a_noop(team, owner, member):
    services.change_role(Membership.objects.get(team=team, user=member), owner, "member")
    assert not AuditLog.objects.exists()


def test_demoting_an_admin_is_fine_when_another_admin_remains(team, owner, member):
    services.change_role(Membership.objects.get(team=team, user=member), owner, "admin")
    services.change_role(Membership.objects.get(team=team, user=owner), owner, "member")
    assert Membership.objects.get(team=team, user=owner).role == "member"


def test_last_admin_cannot_be_demoted_or_removed(team, owner):
    membership = Membership.objects.get(team=team, user=owner)
    with pytest.raises(services.TeamError):
        services.change_role(membership, owner, "viewer")
    with pytest.raises(services.TeamError):
        services.remove_member(membership, owner)


def test_update_team_settings_only_touches_allowed_fields(team, owner):
    services.update_team_settings(team, owner, {"slo_error_rate": Decimal("0.05"), "max_gpus": 999})
    team.refresh_from_db()
    assert team.slo_error_rate == Decimal("0.05") and team.max_gpus == 16


def test_update_team_settings_without_changes_writes_nothing(team, owner):
    services.update_team_settings(team, owner, {"alert_email": ""})
    assert not AuditLog.objects.exists()
