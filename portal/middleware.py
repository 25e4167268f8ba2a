from django.conf import settings

from .access import teams_for_user


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
            teams = teams_for_user(user)
            slug = request.session.get(self.SESSION_KEY)
            request.team = (teams.filter(slug=slug).first() if slug else None) or teams.first()
        return self.get_response(request)


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
            response["Content-Security-Policy"] = policy
        return response
