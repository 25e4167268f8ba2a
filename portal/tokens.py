"""API tokens: create, authenticate, revoke. Only the SHA-256 digest of a key is stored.

A key is `mp_` + 43 URL-safe characters from `secrets` (256 random bits). A key that random
cannot be guessed from its digest, so one fast hash is enough (as GitHub and django-rest-knox do)
and a request costs one indexed lookup by digest. Keys migrated from DRF's authtoken table
(40 hex characters, 160 random bits) keep working: they are hashed the same way.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .audit import record_audit
from .models import ApiToken, AuditLog, User

KEY_PREFIX = "mp_"
PREFIX_LENGTH = 8  # random characters of the key kept in clear to tell tokens apart
# last_used_at is written at most this often per token, so a busy script costs no write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """A presented key that does not authenticate; `message` is safe to show the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TokenNameTaken(Exception):
    """The user already has a live token of that name."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The non-secret start of a key: `mp_` and 8 characters, or 8 characters of a legacy key."""
    start = len(KEY_PREFIX) if key.startswith(KEY_PREFIX) else 0
    return key[: start + PREFIX_LENGTH]


def expires_after(days: int | None) -> datetime | None:
    """The expiry of a token created now that lives `days` days (None: never expires)."""
    return timezone.now() + timedelta(days=days) if days else None


def active_tokens(user: User, now: datetime | None = None):
    now = now or timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def create_token(
    user: User,
    name: str,
    *,
    expires_at: datetime | None = None,
    actor: User | None = None,
    source: str = AuditLog.Source.WEB,
) -> tuple[ApiToken, str]:
    """A new token for `user`. Returns the row and the key: the only time the key exists.
    Raises TokenNameTaken if the user has a live token of that name."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if active_tokens(user).filter(name=name).exists():
            raise TokenNameTaken(f"{user.username} already has a live token named {name!r}.")
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=display_prefix(key),
            digest=hash_key(key),
            created_at=timezone.now(),
            expires_at=expires_at,
        )
        _audit(actor or user, "token.create", token, source)
    return token, key


def revoke_token(token: ApiToken, actor: User | None, source: str = AuditLog.Source.WEB) -> bool:
    """Revoke `token` (compare-and-set: revoking twice changes nothing). True if it was live."""
    now = timezone.now()
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if changed:
            token.revoked_at = now
            _audit(actor, "token.revoke", token, source)
    token.refresh_from_db(fields=["revoked_at"])
    return bool(changed)


def authenticate_key(key: str) -> ApiToken:
    """The live token for `key`, with its user; raises TokenError otherwise. Records the use."""
    token = ApiToken.objects.select_related("user").filter(digest=hash_key(key)).first()
    if token is None:
        raise TokenError("Invalid token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenError("Token revoked.")
    if token.is_expired(now):
        raise TokenError("Token expired.")
    if token.last_used_at is None or token.last_used_at <= now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def _audit(actor: User | None, action: str, token: ApiToken, source: str) -> None:
    record_audit(
        actor=actor,
        action=action,
        instance=token,
        source=source,
        after={"name": token.name, "prefix": token.prefix, "user": token.user.username},
    )
