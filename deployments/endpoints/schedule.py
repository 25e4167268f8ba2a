"""Off-hours schedule arithmetic (PURE: no I/O, no ORM, no settings).

A schedule is four values on an endpoint, or on anything with the same attributes (the savings
advisor's proposal): ``schedule_start`` and ``schedule_end`` (local wall-clock times; an end at
or before the start means the window runs past midnight), ``schedule_weekdays_only`` and
``schedule_timezone`` (an IANA name). The KEDA cron trigger
(``deployments.endpoints.manifests.scaled_object``), the scaled-to-zero text
(``deployments.endpoints.observe``), the monthly estimate (``deployments.endpoints.estimates``)
and the savings advisor all read it through these functions, so they cannot disagree.

Replicas start one cold start early (the pre-warm lead, rounded up to PREWARM_STEP_MINUTES so
one slow start rarely moves the cron), and a replica is dropped no sooner than one cold start
after the load fell (the scale-down window, at least MIN_SCALE_DOWN_WINDOW_SECONDS).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PREWARM_STEP_MINUTES = 5  # the pre-warm lead is rounded up to this
# The scale-down window never goes below this (KServe's own default), whatever the cold start.
MIN_SCALE_DOWN_WINDOW_SECONDS = 300
WEEKDAYS = 5  # Monday..Friday: datetime.weekday() 0..4


class ScheduleError(ValueError):
    """A schedule that has no working hours at all."""


def prewarm_lead_minutes(cold_start: int) -> int:
    """A cold start of ``cold_start`` seconds rounded up to PREWARM_STEP_MINUTES (at least one
    step, so an unknown or zero cold start still opens the window a little early)."""
    step = PREWARM_STEP_MINUTES
    return max(step, -(-int(cold_start) // (step * 60)) * step)


def scale_down_window_seconds(cold_start: int) -> int:
    """Scale-down stabilisation: never drop a replica that would take a cold start to get back
    sooner than one cold start after the load fell."""
    return max(MIN_SCALE_DOWN_WINDOW_SECONDS, int(cold_start))


def cron(at: time, days: str) -> str:
    """A 5-field cron line firing at ``at`` on ``days`` (cron day-of-week: 0 = Sunday)."""
    return f"{at.minute} {at.hour} * * {days}"


def cron_window(start: time, end: time, weekdays_only: bool, lead_minutes: int) -> tuple[str, str]:
    """(start, end) 5-field crons; the start is pre-warmed ``lead_minutes`` early.

    Weekdays-only windows run Mon-Fri (1-5); when pre-warming moves the start before midnight
    the start days shift back one day (0-4 = Sun-Thu), and when the window ends after midnight
    (end <= start) the end days shift forward one day (2-6 = Tue-Sat).
    """
    anchor = datetime(2000, 1, 3, start.hour, start.minute)  # any Monday
    warm = anchor - timedelta(minutes=lead_minutes)
    if not weekdays_only:
        return cron(warm.time(), "*"), cron(end, "*")
    start_days = "0-4" if warm.date() < anchor.date() else "1-5"
    end_days = "2-6" if (end.hour, end.minute) <= (start.hour, start.minute) else "1-5"
    return cron(warm.time(), start_days), cron(end, end_days)


def in_working_hours(schedule, now: datetime) -> bool:
    """Whether ``now`` (aware) is inside the schedule's working hours, in its time zone. The
    part of an overnight window after midnight belongs to the day it started on."""
    local = now.astimezone(ZoneInfo(schedule.schedule_timezone))
    start, end = schedule.schedule_start, schedule.schedule_end
    t = local.time().replace(second=0, microsecond=0, tzinfo=None)
    if end <= start:  # overnight
        inside_today = t >= start  # evening part, started today
        inside_early = t < end  # morning part, started yesterday
        day = local.weekday() if inside_today else (local.weekday() - 1) % 7
        inside = inside_today or inside_early
    else:
        inside = start <= t < end
        day = local.weekday()
    return inside and (not schedule.schedule_weekdays_only or day < WEEKDAYS)


def next_working_start(schedule, now: datetime) -> datetime:
    """The next start of working hours after ``now``, in the schedule's time zone."""
    zone = ZoneInfo(schedule.schedule_timezone)
    local = now.astimezone(zone)
    for days in range(8):
        day = (local + timedelta(days=days)).date()
        at = datetime.combine(day, schedule.schedule_start, tzinfo=zone)
        if at > local and (not schedule.schedule_weekdays_only or at.weekday() < WEEKDAYS):
            return at
    raise ScheduleError("The schedule has no working hours.")  # unreachable with valid rows
