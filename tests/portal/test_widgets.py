"""portal.widgets.LongSelect renders what forms.Select renders (whitespace aside)."""

import pytest
from django import forms

from portal.widgets import LongSelect

CHOICES = [
    ("", "Choose a time zone…"),
    ("Europe/Berlin", "Europe/Berlin"),
    ("A&B", "<x>"),
    ("Common & more", [("UTC", "UTC"), ("Asia/Tokyo", "Asia/Tokyo")]),
]


def _squeezed(html: str) -> str:
    return "".join(html.split())


@pytest.mark.parametrize("value", ["Europe/Berlin", "", None, "A&B", "Not/A_Zone"])
@pytest.mark.parametrize("attrs", [None, {"id": "id_tz", "required": True, "disabled": False}])
def test_long_select_renders_the_same_html_as_select(value, attrs):
    expected = forms.Select(choices=CHOICES).render("schedule_timezone", value, attrs)
    got = LongSelect(choices=CHOICES).render("schedule_timezone", value, attrs)
    assert _squeezed(got) == _squeezed(expected)
    assert "&lt;x&gt;" in got and 'value="A&amp;B"' in got


def test_option_groups_render_as_optgroups():
    got = LongSelect(choices=CHOICES).render("schedule_timezone", "Asia/Tokyo")
    assert '<optgroup label="Common &amp; more">' in got
    assert '<option value="Asia/Tokyo" selected>Asia/Tokyo</option></optgroup>' in got
