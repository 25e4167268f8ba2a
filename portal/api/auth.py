"""API authentication with a brake on bad tokens, keyed on what a guesser controls.

- each bad token (by its digest) counts its failures: past API_AUTH_FAILURE_LIMIT in
  API_AUTH_FAILURE_WINDOW seconds the same bad token answers 429 from any address, without a
  database query;
- each client address (portal.clientip: X-Forwarded-For only through TRUSTED_PROXIES) has a
  budget of API_AUTH_FAILURE_LIMIT bad tokens in the window; past it, bad tokens from there
  answer 429 instead of 401.

A valid token is always checked and always accepted: failures from its address (an ingress many
clients share) or with other tokens never refuse it. The counters live in the cache (Redis when
REDIS_CACHE_URL is set, as every deployment with more than one process must), so all workers
and pods share them.

Keys are checked by their digest (portal.tokens): unknown, revoked and expired keys answer 401
with what is wrong, and count as failures like any wrong key."""

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed, Throttled

from portal.clientip import client_ip
from portal.tokens import TokenError, authenticate_key, hash_key

THROTTLED = "Too many failed authentications; try again later."


def _count(key: str) -> None:
    window = settings.API_AUTH_FAILURE_WINDOW
    cache.add(key, 0, window)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>` against portal.models.ApiToken (DRF's parsing and 401)."""

    def authenticate_credentials(self, key):
        limit = settings.API_AUTH_FAILURE_LIMIT
        token_key = f"api-auth-bad-token:{hash_key(key)}"
        if cache.get(token_key, 0) >= limit:
            raise Throttled(wait=settings.API_AUTH_FAILURE_WINDOW, detail=THROTTLED)
        try:
            token = authenticate_key(key)
            if not token.user.is_active:
                raise TokenError("User inactive or deleted.")
        except TokenError as exc:
            address_key = f"api-auth-bad-address:{client_ip(self.request)}"
            over_budget = cache.get(address_key, 0) >= limit
            _count(token_key)
            _count(address_key)
            if over_budget:
                raise Throttled(wait=settings.API_AUTH_FAILURE_WINDOW, detail=THROTTLED) from None
            raise AuthenticationFailed(exc.message) from None
        return token.user, token

    def authenticate(self, request):
        self.request = request
        return super().authenticate(request)


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
                "kept. Unknown, revoked and expired keys answer 401; a bad key tried again and "
                "again, or many bad keys from one address, answer 429 (a valid key never does)."
            ),
        }
