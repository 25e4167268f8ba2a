from django.utils.functional import SimpleLazyObject

from .services import active_budget_alert


def budget_alert(request):
    """`budget_alert`: the highest budget threshold the current team crossed this month (None
    when there is none). Read only when a template shows it."""
    team = getattr(request, "team", None)
    if team is None or not team.monthly_budget:
        return {"budget_alert": None}
    return {"budget_alert": SimpleLazyObject(lambda: active_budget_alert(team))}
