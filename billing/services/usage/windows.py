"""Windows: a period cut at every UTC hour boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.timeutil import HOUR, floor_hour

from ._base import ChargebackError


@dataclass(frozen=True)
class Window:
    """``[start, end)`` inside one UTC hour (``hour``)."""

    start: datetime
    end: datetime

    @property
    def hour(self) -> datetime:
        return floor_hour(self.start)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def validate_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ChargebackError("Start and end need a time zone (e.g. 2026-11-01T00:00:00Z).")
    if end <= start:
        raise ChargebackError("End must be after start.")
    if end - start > timedelta(days=93):
        raise ChargebackError("A period can be at most 93 days; split longer ones.")


def split_windows(start: datetime, end: datetime) -> list[Window]:
    """``[start, end)`` cut at every UTC hour boundary."""
    validate_period(start, end)
    windows, t = [], start
    while t < end:
        nxt = min(floor_hour(t) + HOUR, end)
        windows.append(Window(t, nxt))
        t = nxt
    return windows
