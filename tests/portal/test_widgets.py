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
@pytest.mark.parametrize(
    "attrs",
    [
        None,
        {"id": "id_tz", "required": True, "disabled": False},
        {"required": True, "id": "id_tz", "data-x": None, "title": 'a "b"'},
    ],
)
def test_long_select_renders_the_same_html_as_select(value, attrs):
    expected = forms.Select(choices=CHOICES).render("schedule_timezone", value, attrs)
    got = LongSelect(choices=CHOICES).render("schedule_timezone", value, attrs)
    assert _squeezed(got) == _squeezed(expected)
    assert "&lt;x&gt;" in got and 'value="A&amp;B"' in got


def test_option_groups_render_as_optgroups():
    got = LongSelect(choices=CHOICES).render("schedule_timezone", "Asia/Tokyo")
    assert '<optgroup label="Common &amp; more">' in got
    assert '<option value="Asia/Tokyo" selected>Asia/Tokyo</option></optgroup>' in got


class _Tagged(LongSelect):
    def option_attrs(self, value) -> dict:
        return {"data-tag": f"<{value}>"} if value else {}


class _TaggedSelect(forms.Select):
    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value:
            option["attrs"]["data-tag"] = f"<{value}>"
        return option


@pytest.mark.parametrize("value", ["UTC", "", "Europe/Berlin"])
def test_option_attrs_render_like_a_select_that_adds_them_per_option(value):
    expected = _TaggedSelect(choices=CHOICES).render("tz", value, {"id": "x"})
    got = _Tagged(choices=CHOICES).render("tz", value, {"id": "x"})
    assert _squeezed(got) == _squeezed(expected)
    assert 'data-tag="&lt;UTC&gt;"' in got


def test_only_the_first_matching_option_is_selected():
    twice = [("a", "first"), ("a", "second")]
    got = LongSelect(choices=twice).render("x", "a")
    assert got.count("selected") == 1
    assert _squeezed(got) == _squeezed(forms.Select(choices=twice).render("x", "a"))


def test_get_context_carries_the_option_attrs_too():
    options = _Tagged(choices=CHOICES).get_context("tz", "UTC", None)["widget"]["optgroups"]
    attrs = [o["attrs"] for _group, opts, _i in options for o in opts]
    assert {"data-tag": "<UTC>", "selected": True} in attrs


@pytest.mark.parametrize("value", ["Europe/Berlin", "UTC", "", None])
def test_prepared_choices_render_what_the_same_list_renders(value):
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext_lazy

    from portal.widgets import PreparedChoices

    choices = [*CHOICES, ("lazy", gettext_lazy("Lazy & <b>")), ("safe", mark_safe("<i>ok</i>"))]
    expected = forms.Select(choices=choices).render("tz", value, {"id": "x"})
    got = LongSelect(choices=PreparedChoices(choices)).render("tz", value, {"id": "x"})
    assert _squeezed(got) == _squeezed(expected)
    assert got == LongSelect(choices=choices).render("tz", value, {"id": "x"})
    assert "Lazy &amp; &lt;b&gt;" in got and "<i>ok</i>" in got
