import re
from urllib.parse import urlsplit

from django.conf import settings

from .access import user_teams


class CurrentTeamMiddleware:
    """Attach `request.team`: the team picked in the team switcher (kept in the session),
    else the user's first team. Views that take a team from the URL still check access."""

    SESSION_KEY = "current_team"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.team = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            teams = user_teams(user)
            slug = request.session.get(self.SESSION_KEY)
            chosen = [team for team in teams if team.slug == slug] if slug else []
            request.team = (chosen or teams or [None])[0]
        return self.get_response(request)

    @classmethod
    def follow(cls, request, team) -> None:
        """A page about one team's object (an endpoint, its metrics, the team's costs) makes
        that team the current one: the header switcher, nav and banner follow it."""
        if team is not None and getattr(request, "team", None) != team:
            request.team = team
            request.session[cls.SESSION_KEY] = team.slug


class ContentSecurityPolicyMiddleware:
    """Send settings.CONTENT_SECURITY_POLICY on every response that has none. Pages load
    scripts, styles and charts from our own static files only (no inline script or style,
    no external host), so the policy needs no 'unsafe-inline'."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = with_identity_provider(policy)
        return response


def with_identity_provider(policy: str) -> str:
    """Sign-in and sign-out are form posts that redirect to the OIDC provider, and browsers
    apply form-action to those redirects too: allow the provider's origin there."""
    issuer = getattr(settings, "OIDC_OP_ISSUER", "")
    if not issuer:
        return policy
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    return re.sub(r"form-action ([^;]*)", lambda m: f"form-action {m[1]} {origin}", policy)
