"""The off-hours schedule arithmetic on plain values (deployments.endpoints.schedule): the
pre-warm lead, the scale-down window, the cron window, working hours and the next start. Every
instant is given explicitly; nothing reads the clock."""

from datetime import UTC, datetime, time
from types import SimpleNamespace

import pytest

from deployments.endpoints import schedule


def office(start=time(8, 0), end=time(18, 30), weekdays_only=True, zone="Europe/Berlin"):
    return SimpleNamespace(
        schedule_start=start,
        schedule_end=end,
        schedule_weekdays_only=weekdays_only,
        schedule_timezone=zone,
    )


@pytest.mark.parametrize(
    ("cold_start", "lead"),
    [(0, 5), (1, 5), (300, 5), (301, 10), (735, 15), (1500, 25), (2251, 40)],
)
def test_the_prewarm_lead_is_the_cold_start_rounded_up_to_five_minutes(cold_start, lead):
    assert schedule.prewarm_lead_minutes(cold_start) == lead


def test_the_scale_down_window_is_one_cold_start_and_never_under_five_minutes():
    assert schedule.scale_down_window_seconds(60) == 300
    assert schedule.scale_down_window_seconds(1500) == 1500


def test_a_weekday_window_prewarmed_past_midnight_starts_the_evening_before():
    assert schedule.cron_window(time(0, 5), time(9, 0), True, 15) == (
        "50 23 * * 0-4",
        "0 9 * * 1-5",
    )


def test_an_overnight_weekday_window_ends_the_morning_after():
    assert schedule.cron_window(time(22, 0), time(6, 0), True, 15) == (
        "45 21 * * 1-5",
        "0 6 * * 2-6",
    )


def test_an_every_day_window_runs_on_every_day():
    assert schedule.cron_window(time(8, 0), time(18, 30), False, 15) == (
        "45 7 * * *",
        "30 18 * * *",
    )


def test_working_hours_are_read_in_the_schedules_time_zone():
    # Tuesday 2026-12-01: 07:30 UTC is 08:30 in Berlin, 02:30 in New York.
    at = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert schedule.in_working_hours(office(), at)
    assert not schedule.in_working_hours(office(zone="America/New_York"), at)


def test_the_end_of_the_window_is_outside_it():
    # 18:30 Berlin on a Tuesday (CET, UTC+1).
    assert not schedule.in_working_hours(office(), datetime(2026, 12, 1, 17, 30, tzinfo=UTC))
    assert schedule.in_working_hours(office(), datetime(2026, 12, 1, 17, 29, tzinfo=UTC))


def test_the_night_after_friday_belongs_to_friday_and_the_night_after_sunday_to_sunday():
    night = office(start=time(22, 0), end=time(6, 0))
    # Saturday 2026-12-05 03:00 Berlin: the Friday-night window, a weekday's.
    assert schedule.in_working_hours(night, datetime(2026, 12, 5, 2, 0, tzinfo=UTC))
    # Monday 2026-12-07 03:00 Berlin: the Sunday-night window, not held on weekdays only.
    assert not schedule.in_working_hours(night, datetime(2026, 12, 7, 2, 0, tzinfo=UTC))
    every_day = office(start=time(22, 0), end=time(6, 0), weekdays_only=False)
    assert schedule.in_working_hours(every_day, datetime(2026, 12, 7, 2, 0, tzinfo=UTC))


def test_the_next_start_after_friday_evening_is_monday_morning_local_time():
    # Friday 2026-12-04 19:00 UTC = 20:00 Berlin.
    back = schedule.next_working_start(office(), datetime(2026, 12, 4, 19, 0, tzinfo=UTC))
    assert back.isoformat() == "2026-12-07T08:00:00+01:00"


def test_the_next_start_keeps_the_local_hour_across_a_dst_change():
    # Saturday 2027-03-27 12:00 UTC; Berlin moves to CEST (UTC+2) on Sunday 28 March.
    back = schedule.next_working_start(office(), datetime(2027, 3, 27, 12, 0, tzinfo=UTC))
    assert back.isoformat() == "2027-03-29T08:00:00+02:00"


def test_before_the_start_the_next_start_is_the_same_day():
    back = schedule.next_working_start(office(), datetime(2026, 12, 1, 5, 0, tzinfo=UTC))
    assert back.isoformat() == "2026-12-01T08:00:00+01:00"
