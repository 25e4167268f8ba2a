"""The audit log: one call records who changed what, before and after, from which face."""

from typing import Any

from django.db import models

from .models import AuditLog, Team, User


def snapshot(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """JSON-safe dict of a row's concrete fields (foreign keys as their string form; a field a
    model lists in AUDIT_SHOWN_AS as what may be shown of it, e.g. a webhook URL as its host)."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        value = getattr(instance, field.name)
        if field.name in getattr(instance, "AUDIT_SHOWN_AS", {}):  # a write-only secret
            value = getattr(instance, instance.AUDIT_SHOWN_AS[field.name])
        if isinstance(field, models.ForeignKey):
            value = str(value) if value is not None else None
        elif value is not None and not isinstance(value, (str, int, float, bool, list, dict)):
            value = str(value)
        data[field.name] = value
    return data


def record_audit(
    *,
    actor: User | None,
    action: str,
    instance: models.Model,
    source: str = AuditLog.Source.SYSTEM,
    team: Team | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditLog:
    if team is None:
        team = getattr(instance, "team", None) if not isinstance(instance, Team) else instance
    object_id = str(getattr(instance, "uuid", None) or instance.pk)
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        team=team,
        source=source,
        action=action,
        object_type=instance._meta.model_name,
        object_id=object_id,
        object_repr=str(instance)[:200],
        before=before,
        after=after,
    )
