"""Shared by the usage modules: the error type and constants."""

from __future__ import annotations

from decimal import Decimal

SECONDS_PER_HOUR = Decimal(3600)
UNKNOWN = "unknown"


class ChargebackError(Exception):
    """Bad input to a chargeback use case (shown to the user as is)."""
