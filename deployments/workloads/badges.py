"""The status badge of any product's row (the template tags and the admin lists show it)."""

from django.db.models import TextChoices

from portal.templatetags.portal import badge


def status_badge(
    status: str, choices: type[TextChoices], colours: dict[str, str], final: frozenset | set
) -> str:
    """<span class="badge badge-green">● Ready</span>; an unknown value is a grey badge."""
    try:
        label = choices(status).label
    except ValueError:
        label = str(status or "Unknown")
    return badge(label, colours.get(status, "grey"), status, status not in final)
