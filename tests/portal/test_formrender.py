"""portal.formrender.FastRenderer writes exactly what Django's form templates write."""

import re

import pytest
from django import forms

from portal.formrender import FastRenderer

# The pages say "Ready for 3s": the clock is frozen so both renders see the same instant.
pytestmark = pytest.mark.dates

DJANGO = "django.forms.renderers.DjangoTemplates"
FAST = "portal.formrender.FastRenderer"


class _Everything(forms.Form):
    name = forms.CharField(help_text="Lower case <b>only</b>.", initial='a "quoted" & <name>')
    count = forms.IntegerField(required=False, min_value=0)
    ratio = forms.DecimalField(initial="0.50", widget=forms.NumberInput(attrs={"step": "0.01"}))
    on = forms.BooleanField(required=False, initial=True)
    off = forms.BooleanField(required=False, label="")
    start = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    secret = forms.CharField(widget=forms.HiddenInput, initial="h")
    mail = forms.EmailField(required=False, widget=forms.EmailInput(attrs={"disabled": False}))
    colour = forms.ChoiceField(choices=[("r", "Red"), ("g", "Green")], widget=forms.RadioSelect)
    kind = forms.ChoiceField(choices=[("a", "A"), ("b", "B & C")])
    when = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    grouped = forms.ChoiceField(
        label="Fruit <or> not",
        choices=[
            ("", "Choose…"),
            ("Fruit & nuts", [("a", "Apple & <b>"), ("b", 'B "q"')]),
            ("x", "X"),
        ],
        initial="b",
        widget=forms.Select(attrs={"data-x": '1 "2"', "required": False}),
    )
    many = forms.MultipleChoiceField(
        choices=[(1, "One"), (2, "Two"), (3, "Three")], initial=[1, 3], required=False
    )
    maybe = forms.NullBooleanField(required=False)


def _render(settings, renderer: str, **kwargs) -> dict[str, str]:
    settings.FORM_RENDERER = renderer
    form = _Everything(**kwargs)
    out = {"as_div": str(form.as_div())}
    for name in form.fields:
        out[name] = str(form[name].as_field_group())
        out[name + " widget"] = str(form[name])
    return out


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"auto_id": False},
        {"auto_id": "f_%s", "prefix": "p"},
        {"data": {"name": "", "count": "-3", "ratio": "x", "start": "25:00", "colour": "z"}},
        {"data": {"name": "ok", "ratio": "1", "start": "08:00", "colour": "g", "on": "on"}},
    ],
)
def test_fields_render_the_same_as_with_djangos_templates(settings, kwargs):
    assert _render(settings, FAST, **kwargs) == _render(settings, DJANGO, **kwargs)


def test_the_fast_path_is_taken_for_fields_and_inputs(settings, monkeypatch):
    settings.FORM_RENDERER = FAST
    used = []
    plain = FastRenderer.get_template

    def watch(self, name):
        used.append(name)
        return plain(self, name)

    monkeypatch.setattr(FastRenderer, "get_template", watch)
    form = _Everything()
    str(form["name"].as_field_group())
    str(form["name"].as_field_group())
    str(form["grouped"].as_field_group())
    str(form["grouped"].as_field_group())
    # looked up once each to check that Django's own template is the one in force, not rendered
    assert used.count("django/forms/field.html") == 1
    assert used.count("django/forms/widgets/text.html") == 1
    assert used.count("django/forms/label.html") == 1
    assert used.count("django/forms/widgets/select.html") == 1
    assert used.count("django/forms/widgets/select_option.html") == 1
    assert used.count("django/forms/errors/list/ul.html") == 1


@pytest.mark.django_db
@pytest.mark.parametrize("page_url", ["endpoint", "/endpoints/new/", "/account/api-token/"])
def test_form_pages_are_byte_identical_with_both_renderers(
    settings, member_client, team, gpu_l4, page_url, time_machine
):
    from django.utils import timezone

    from tests.factories import EndpointFactory

    # stopped where it is (the client's session stays valid): both renders see one instant
    time_machine.move_to(timezone.now(), tick=False)

    endpoint = EndpointFactory(team=team, schedule_timezone="Europe/Berlin", gpu_type=gpu_l4)
    url = f"/endpoints/{endpoint.uuid}/" if page_url == "endpoint" else page_url

    def page(renderer: str) -> str:
        settings.FORM_RENDERER = renderer
        html = member_client.get(url).content.decode()
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "csrf", html)
        return re.sub(r'"X-CSRFToken": "[^"]+"', "csrf", html)

    fast, django = page(FAST), page(DJANGO)
    assert fast.count("<input") > 1
    assert fast == django
