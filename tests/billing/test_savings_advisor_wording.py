"""The savings advisor's window is said in correct English ("1 hour", "24 hours")."""

from datetime import UTC, datetime

import pytest
from django.template.loader import render_to_string


@pytest.mark.parametrize(("hours", "said"), [(1, "the 1 hour before"), (24, "the 24 hours before")])
def test_advisor_window_is_pluralised(db, hours, said):
    advice = {
        "hours": hours,
        "end": datetime(2026, 11, 3, 10, tzinfo=UTC),
        "month_hours": 730,
        "suggestions": [],
        "currency": "USD",
        "memory_measured": True,
    }
    html = render_to_string("billing/partials/savings_advisor.html", {"advice": advice})
    assert said in html
