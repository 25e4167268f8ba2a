"""Calendar arithmetic in UTC used by every app: hours and months. Pure functions."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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


def working_seconds(
    start: datetime,
    end: datetime,
    zone: str,
    day_start: time,
    day_end: time,
    weekdays_only: bool,
    lead: timedelta = timedelta(0),
) -> int:
    """Seconds of ``[start, end)`` (aware) inside daily working hours ``day_start``–``day_end``
    on the wall clock of ``zone`` (IANA), each window opened ``lead`` early (the pre-warm) and
    ending the next day when ``day_end <= day_start``; with ``weekdays_only`` only the windows
    that start (before the lead) Monday to Friday. Real elapsed time, so a night across a DST
    change is an hour shorter or longer, and the month's own calendar decides the days."""
    tz = ZoneInfo(zone)
    first = start.astimezone(tz).date() - timedelta(days=2)
    last = end.astimezone(tz).date() + timedelta(days=1)
    overnight = day_end <= day_start
    spans = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        if weekdays_only and day.weekday() >= 5:
            continue
        opens = datetime.combine(day, day_start, tzinfo=tz) - lead  # wall clock, like the cron
        closes = datetime.combine(day + timedelta(days=overnight), day_end, tzinfo=tz)
        lo, hi = max(opens.astimezone(UTC), start), min(closes.astimezone(UTC), end)
        if lo < hi:
            spans.append((lo, hi))
    return _merged_seconds(spans)


def _merged_seconds(spans: list[tuple[datetime, datetime]]) -> int:
    """Total length of a union of intervals, overlaps counted once."""
    total, reach = timedelta(0), None
    for lo, hi in sorted(spans):
        if reach is not None and lo < reach:
            lo = reach
        if hi > lo:
            total += hi - lo
            reach = hi
    return int(total.total_seconds())


def not_before(t: datetime, previous: datetime | None) -> tuple[datetime, timedelta]:
    """`t` clamped so that it is not earlier than `previous`, and the skew it was earlier by.

    A clock that goes backwards (an NTP step, two workers with skewed clocks, a controller's
    transition time behind our last event) must not record a transition before the one it
    follows: the caller records it at `previous` (a duration of 0) and logs the skew.
    """
    if previous is None or t >= previous:
        return t, timedelta(0)
    return previous, previous - t
