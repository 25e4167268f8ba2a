"""Calendar arithmetic in UTC used by every app: hours and months. Pure functions."""

from datetime import UTC, date, datetime, timedelta

HOUR = timedelta(hours=1)


def floor_hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def month_start(d: date | datetime) -> datetime:
    return datetime(d.year, d.month, 1, tzinfo=UTC)


def next_month(d: date | datetime) -> datetime:
    first = month_start(d)
    return datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=UTC)


def month_hours(d: date | datetime) -> int:
    return int((next_month(d) - month_start(d)) / HOUR)
