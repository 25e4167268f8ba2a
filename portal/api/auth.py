"""API authentication with a brake: each failed token authentication counts against the
client address; past API_AUTH_FAILURE_LIMIT in API_AUTH_FAILURE_WINDOW seconds the API answers
429 before even looking at the token, so keys cannot be guessed at speed.

Keys are checked by their digest (portal.tokens): unknown, revoked and expired keys answer 401
with what is wrong, and count as failures like any wrong key."""

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from portal.tokens import TokenError, authenticate_key


def _key(request) -> str:
    return f"api-auth-failures:{request.META.get('REMOTE_ADDR', '')}"


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` against portal.models.ApiToken (DRF's parsing and 401)."""

    def authenticate_credentials(self, key):
        try:
            token = authenticate_key(key)
        except TokenError as exc:
            raise AuthenticationFailed(exc.message) from None
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return token.user, token

    def authenticate(self, request):
        if not authentication.get_authorization_header(request):
            return None
        key = _key(request)
        if cache.get(key, 0) >= settings.API_AUTH_FAILURE_LIMIT:
            raise Throttled(
                wait=settings.API_AUTH_FAILURE_WINDOW,
                detail="Too many failed authentications from this address; try again later.",
            )
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            cache.add(key, 0, settings.API_AUTH_FAILURE_WINDOW)
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, settings.API_AUTH_FAILURE_WINDOW)
            raise


class TokenScheme(OpenApiAuthenticationExtension):
    """How the schema describes TokenAuthentication (drf-spectacular's own, with our rules)."""

    target_class = TokenAuthentication
    name = "tokenAuth"
    priority = 1  # over drf-spectacular's scheme for DRF's TokenAuthentication subclasses

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Authorization: Token <key>`. Create named keys with an expiry on the portal's "
                "API token page (`/account/api-token/`); a key is shown once, only its hash is "
                "kept. Unknown, revoked and expired keys answer 401; too many failures from one "
                "address answer 429."
            ),
        }
