"""portal.timeutil.working_seconds: working hours of a calendar month in a time zone. Every
answer is counted by hand from the calendar (weekdays, the DST change), never from the code."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from portal.timeutil import working_seconds

pytestmark = pytest.mark.dates

MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
H = 3600


def test_weekday_office_hours_in_berlin_with_a_pre_warm_lead():
    # March 2026 starts on a Sunday: 22 weekdays; Berlin moves to summer time on Sunday the 29th,
    # which changes no office day's length. 08:00-19:00 opened 10 min early = 11 h 10 min a day.
    weekdays = sum(1 for d in range(1, 32) if date(2026, 3, d).weekday() < 5)
    assert weekdays == 22
    got = working_seconds(
        *MARCH, "Europe/Berlin", time(8), time(19), True, lead=timedelta(minutes=10)
    )
    assert got == 22 * (11 * H + 10 * 60)


def test_every_day_includes_weekends():
    got = working_seconds(*MARCH, "Europe/Berlin", time(8), time(19), False)
    assert got == 31 * 11 * H


def test_overnight_hours_follow_the_dst_change_and_the_utc_month_edges():
    # 22:00-06:00 every night, Berlin, in the UTC month of March 2026:
    #   night of Feb 28: 22:00 CET = 21:00Z .. 05:00Z, inside the month from 00:00Z: 5 h
    #   nights of Mar 1..27: 8 h each (27 x 8 = 216 h)
    #   night of Mar 28: 22:00 CET (21:00Z) .. 06:00 CEST (04:00Z): 7 h (clocks jump forward)
    #   nights of Mar 29, 30: 8 h each (16 h)
    #   night of Mar 31: 22:00 CEST = 20:00Z .. the month's end at 00:00Z: 4 h
    got = working_seconds(*MARCH, "Europe/Berlin", time(22), time(6), False)
    assert got == (5 + 216 + 7 + 16 + 4) * H


def test_a_lead_across_midnight_opens_the_window_the_evening_before():
    # Weekdays 00:15-08:00 in New York with a 30 min lead: Monday's window opens Sunday 23:45.
    # One week (Sun 1 Nov 2026 05:00Z = 00:00 EST .. Sun 8 Nov 05:00Z): 5 windows of 8 h 15 min,
    # none cut, and Saturday/Sunday get none of their own.
    start = datetime(2026, 11, 1, 5, tzinfo=UTC)
    got = working_seconds(
        start,
        start + timedelta(days=7),
        "America/New_York",
        time(0, 15),
        time(8),
        True,
        lead=timedelta(minutes=30),
    )
    assert got == 5 * (8 * H + 15 * 60)


def test_overlapping_windows_count_once():
    # 08:00-07:30 the next day with a 1 h lead: each window opens 07:00 and overlaps the
    # previous one by 30 min; every day is covered except nothing: the whole month.
    got = working_seconds(*MARCH, "UTC", time(8), time(7, 30), False, lead=timedelta(hours=1))
    assert got == 31 * 24 * H
