"""mozilla-django-oidc wired to one provider by its issuer: the endpoints come from the issuer's
discovery document (fetched on first use and kept per process), so the settings need only
OIDC_OP_ISSUER, the client id and secret. Nothing here runs for a local (break-glass) login, so
a provider outage never locks the platform team out.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationRequestView

from .services import SignInRefused, sign_in

log = logging.getLogger(__name__)
_lock = threading.Lock()
_discovered: dict[str, dict] = {}


def enabled() -> bool:
    return bool(settings.OIDC_OP_ISSUER and settings.OIDC_RP_CLIENT_ID)


def discovery() -> dict:
    """The issuer's /.well-known/openid-configuration (checked: it names the same issuer)."""
    issuer = settings.OIDC_OP_ISSUER.rstrip("/")
    if not issuer:
        raise ImproperlyConfigured("OIDC_OP_ISSUER is not set")
    with _lock:
        if issuer not in _discovered:
            response = requests.get(
                f"{issuer}/.well-known/openid-configuration",
                timeout=settings.OIDC_TIMEOUT,
                verify=settings.OIDC_VERIFY_SSL,
            )
            response.raise_for_status()
            document = response.json()
            if document.get("issuer", "").rstrip("/") != issuer:
                raise ImproperlyConfigured(
                    f"OIDC discovery at {issuer} names issuer {document.get('issuer')!r}"
                )
            _discovered[issuer] = document
        return _discovered[issuer]


def forget_discovery() -> None:
    with _lock:
        _discovered.clear()


class OidcBackend(OIDCAuthenticationBackend):
    """Claims -> user and team access (sso.services.sign_in). Endpoints read lazily."""

    def __init__(self, *args, **kwargs):
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: discovery()["token_endpoint"])
    OIDC_OP_USER_ENDPOINT = property(lambda self: discovery()["userinfo_endpoint"])
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: discovery()["jwks_uri"])
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        if request is None or "code" not in request.GET or not enabled():
            return None  # a username/password login: ModelBackend's turn
        return super().authenticate(request, **kwargs)

    def verify_claims(self, claims):
        return bool(claims.get("sub"))

    def get_or_create_user(self, access_token, id_token, payload):
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            log.warning("OIDC sign-in refused: userinfo sub differs from the ID token's")
            return None
        claims = {**payload, **userinfo}
        try:
            user = sign_in(
                settings.OIDC_OP_ISSUER.rstrip("/"),
                claims,
                username_claim=settings.OIDC_USERNAME_CLAIM,
                groups_claim=settings.OIDC_GROUPS_CLAIM,
            )
        except SignInRefused as exc:
            log.warning("OIDC sign-in refused for sub=%s: %s", claims.get("sub"), exc)
            return None
        log.info(
            "OIDC sign-in user=%s groups=%s", user.username, claims.get(settings.OIDC_GROUPS_CLAIM)
        )
        return user


class OidcLoginView(OIDCAuthenticationRequestView):
    """Redirect to the provider's login (404 while single sign-on is not configured)."""

    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    @property
    def OIDC_OP_AUTH_ENDPOINT(self):
        return discovery()["authorization_endpoint"]

    @property
    def OIDC_RP_CLIENT_ID(self):
        return settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not enabled():
            raise Http404("Single sign-on is not configured.")
        return super().get(request)


def provider_logout_url(request) -> str | None:
    """Where to send the browser so the provider ends its session too (RP-initiated logout),
    or None when the user did not sign in through it or it has no end_session_endpoint."""
    id_token = request.session.get("oidc_id_token")
    if not id_token or not enabled():
        return None
    try:
        end_session = discovery().get("end_session_endpoint")
    except Exception as exc:  # the provider is down: end our session anyway
        log.warning("OIDC logout: discovery failed (%s); provider session left", exc)
        return None
    if not end_session:
        return None
    back = request.build_absolute_uri(reverse(settings.LOGOUT_REDIRECT_URL))
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": back,
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    return f"{end_session}?{query}"
