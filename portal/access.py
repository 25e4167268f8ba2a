"""Who may see and change what. Every view and viewset scopes its queries through here.

Outsiders get 404, never 403, so a team's endpoints cannot be discovered by guessing UUIDs.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import Membership, Team, User


def _member_team_ids(user: User) -> QuerySet:
    """The ids of the user's teams, as a subquery: a filter on it cannot duplicate rows, so the
    scoped queries need no join to memberships and no DISTINCT (at 1,000 endpoints PostgreSQL
    spent 50-77 ms planning the DISTINCT join of the endpoint list, 7 ms running it)."""
    return Membership.objects.filter(user=user).values("team_id")


def teams_for_user(user: User) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    if user.is_staff:
        return Team.objects.all()
    return Team.objects.filter(pk__in=_member_team_ids(user))


def user_teams(user: User) -> list[Team]:
    """The user's teams by name (every team for staff), read once per request: the current
    team, the team switcher and the pages' team lookups share one query, which also reads the
    user's role in each team, so role_for() asks the database nothing more."""
    if not user.is_authenticated:
        return []
    teams = getattr(user, "_teams", None)
    if teams is None:
        if user.is_staff:
            teams = list(Team.objects.order_by("name", "pk"))
        else:
            memberships = list(
                Membership.objects.filter(user=user)
                .select_related("team")
                .order_by("team__name", "team_id")
            )
            teams = [m.team for m in memberships]
            user._team_roles = {m.team_id: m.role for m in memberships}
        user._teams = teams
    return teams


def role_for(user: User, team: Team) -> str | None:
    """The user's role in the team; staff count as team admins everywhere."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Membership.Role.ADMIN
    known = getattr(user, "_known_roles", None)
    if known is not None and team.pk in known:
        return known[team.pk]
    cache = getattr(user, "_team_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._team_roles = cache
    return cache.get(team.pk)


def member_role(user: User, team: Team) -> str | None:
    """The role of the user's membership in the team (None when not a member), as the
    members table shows it; role_for() gives the rights (staff are admins everywhere)."""
    if not user.is_authenticated:
        return None
    known = getattr(user, "_team_roles", None)
    if known is not None and not user.is_staff:  # the request's read of the memberships
        return known.get(team.pk)
    return Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()


def can_view(user: User, team: Team) -> bool:
    return role_for(user, team) is not None


def can_write(user: User, team: Team) -> bool:
    return role_for(user, team) in (Membership.Role.MEMBER, Membership.Role.ADMIN)


def can_admin(user: User, team: Team) -> bool:
    return role_for(user, team) == Membership.Role.ADMIN


def find_team(user: User, slug: str) -> Team | None:
    """The team with `slug` if the user may see it (None otherwise), in one query that also
    reads the user's role there, so role_for() on it asks the database nothing more."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Team.objects.filter(slug=slug).first()
    membership = (
        Membership.objects.filter(user=user, team__slug=slug).select_related("team").first()
    )
    if membership is None:
        return None
    user.__dict__.setdefault("_known_roles", {})[membership.team_id] = membership.role
    return membership.team


def get_team_for_user(user: User, slug: str) -> Team:
    """The team with `slug` if the user may see it; 404 otherwise. From the request's teams
    when they were read (user_teams()), else by one query."""
    teams = getattr(user, "_teams", None)
    if teams is not None:
        for team in teams:
            if team.slug == slug:
                return team
        raise Http404("No such team")
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
    return queryset.filter(**{f"{team_field}__in": _member_team_ids(user)})


class TeamObjectPermission(BasePermission):
    """DRF: read for any team role, write for member/admin. Objects need a `team` attribute."""

    message = "Viewers cannot change this team's resources."

    def has_object_permission(self, request, view, obj) -> bool:
        team = obj if isinstance(obj, Team) else obj.team
        if request.method in SAFE_METHODS:
            return can_view(request.user, team)
        return can_write(request.user, team)


def staff_required(view):
    """Platform pages: anonymous users go to the portal login, signed-in non-staff get the plain
    403 page (not the admin login's "authenticated as bob, but not authorized")."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("This page is for the platform team.")
        return view(request, *args, **kwargs)

    return wrapper
