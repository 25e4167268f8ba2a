"""Serializer fields whose OpenAPI schema says exactly what they accept and answer."""

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..validators import time_zones

HOUR_MINUTE = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


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


@extend_schema_field(
    {
        "type": "string",
        "enum": ["", *sorted(time_zones())],
        "description": "IANA time zone name (e.g. `Europe/Berlin`); empty when not needed.",
    }
)
class TimeZoneField(serializers.CharField):
    """An IANA time zone name (validated by portal.validators where the rules need one)."""
