"""Serializer fields whose OpenAPI schema says exactly what they accept and answer."""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

HOUR_MINUTE = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# The shape of an IANA time zone name (Area/Location[/Sub], or UTC, Etc/GMT+5); which names
# exist is checked by portal.validators (an enum of ~600 names would bloat every client).
TIME_ZONE = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"


class BlankAsNullURLField(serializers.URLField):
    """A URL that may not be known (yet): answered as null, never as an empty string."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value or None


@extend_schema_field({"type": "string", "pattern": HOUR_MINUTE, "example": "09:00"})
class HourMinuteField(serializers.TimeField):
    """A time of day as HH:MM (24 h), in and out."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)

    def to_internal_value(self, value):
        if not isinstance(value, str) or not re.match(HOUR_MINUTE, value):
            self.fail("invalid", format="HH:MM")
        return super().to_internal_value(value)


@extend_schema_field({"type": "string", "pattern": TIME_ZONE, "example": "Europe/Berlin"})
class TimeZoneField(serializers.CharField):
    """An IANA time zone name, or empty with allow_blank (which names exist:
    portal.validators)."""

    def to_internal_value(self, value):
        value = super().to_internal_value(value)
        if value and not re.match(TIME_ZONE, value):
            raise serializers.ValidationError("Not an IANA time zone name such as Europe/Berlin.")
        return value
