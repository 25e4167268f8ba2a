"""Who may see and change what. Every view and viewset scopes its queries through here.

Outsiders get 404, never 403, so a team's endpoints cannot be discovered by guessing UUIDs.
"""

from django.db.models import QuerySet
from django.http import Http404
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import Membership, Team, User


def teams_for_user(user: User) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    if user.is_staff:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user).distinct()


def role_for(user: User, team: Team) -> str | None:
    """The user's role in the team; staff count as team admins everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Membership.Role.ADMIN
    cache = getattr(user, "_team_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._team_roles = cache
    return cache.get(team.pk)


def can_view(user: User, team: Team) -> bool:
    return role_for(user, team) is not None


def can_write(user: User, team: Team) -> bool:
    return role_for(user, team) in (Membership.Role.MEMBER, Membership.Role.ADMIN)


def can_admin(user: User, team: Team) -> bool:
    return role_for(user, team) == Membership.Role.ADMIN


def get_team_for_user(user: User, slug: str) -> Team:
    try:
        return teams_for_user(user).get(slug=slug)
    except Team.DoesNotExist as exc:
        raise Http404("No such team") from exc


def scope_to_user(queryset: QuerySet, user: User, team_field: str = "team") -> QuerySet:
    """Rows whose team the user belongs to (all rows for staff)."""
    if not user.is_authenticated:
        return queryset.none()
    if user.is_staff:
        return queryset
    return queryset.filter(**{f"{team_field}__memberships__user": user}).distinct()


class TeamObjectPermission(BasePermission):
    """DRF: read for any team role, write for member/admin. Objects need a `team` attribute."""

    message = "Viewers cannot change this team's resources."

    def has_object_permission(self, request, view, obj) -> bool:
        team = obj if isinstance(obj, Team) else obj.team
        if request.method in SAFE_METHODS:
            return can_view(request.user, team)
        return can_write(request.user, team)
