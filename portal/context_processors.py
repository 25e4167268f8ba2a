from django.conf import settings

from .access import user_teams


def current_team(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"current_team": getattr(request, "team", None), "user_teams": user_teams(user)}


def sample_metrics(request):
    """True when Prometheus holds `manage.py sample_metrics`' sample history (base.html says so)."""
    return {"sample_metrics": settings.SAMPLE_METRICS}
