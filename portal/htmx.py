"""HTMX helpers (NetBox's utilities/htmx.py, simplified)."""

from django.http import HttpRequest, HttpResponse

# htmx stops polling when a response has this status (NetBox's script-result pattern).
HTMX_STOP_POLLING = 286


def is_partial(request: HttpRequest) -> bool:
    """True for an htmx request that wants a fragment (not a boosted full-page navigation)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def hx_redirect(url: str) -> HttpResponse:
    """Tell htmx to navigate to `url` after a successful form POST."""
    response = HttpResponse(status=204)
    response["HX-Redirect"] = url
    return response
