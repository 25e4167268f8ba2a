"""Request form polish (issue 13): no "---------" precision, the model's defaults on its
option, an IANA time zone select, schedule fields disabled while the schedule is off, an
error summary that takes the focus. The browser half is tests/browser/test_first_run_browser.py."""

import pytest
from django.urls import reverse

from deployments.endpoints.forms import EndpointForm

pytestmark = pytest.mark.dates

URL = reverse("deployments:endpoint_create")


def _field_tag(body: str, name: str) -> str:
    return body.split(f'name="{name}"')[1].split(">")[0]


def test_request_form_has_model_defaults_zone_select_and_disabled_schedule(member_client, llama_8b):
    body = member_client.get(URL).content.decode()
    assert "---------" not in body
    option = body.split(f'value="{llama_8b.pk}"')[1].split(">")[0]
    assert f'data-quantization="{llama_8b.allowed_quantizations[0]}"' in option
    assert f'data-context="{llama_8b.native_context_length}"' in option
    assert '<select name="schedule_timezone"' in body
    assert '<option value="Europe/Berlin">' in body and '<option value="Mars/Olympus"' not in body
    for name in ("schedule_timezone", "schedule_start", "schedule_end", "schedule_weekdays_only"):
        assert "disabled" in _field_tag(body, name), name
    assert "disabled" not in _field_tag(body, "schedule_enabled")


def test_a_known_model_prefills_precision_and_context(db, llama_8b):
    form = EndpointForm(initial={"model": llama_8b.pk})
    assert form["quantization"].value() == llama_8b.allowed_quantizations[0]
    assert form["max_context_length"].value() == llama_8b.native_context_length


def test_invalid_submit_shows_an_error_summary_that_takes_the_focus(member_client, llama_8b):
    body = member_client.post(URL, {"name": "Bad_Name"}).content.decode()
    summary = body.split('data-testid="error-summary"')[0].rsplit("<div", 1)[1]
    assert "data-focus-on-load" in summary and 'tabindex="-1"' in summary
    assert '<a href="#id_name">' in body


def test_schedule_fields_are_enabled_when_the_schedule_is_on(member_client):
    body = member_client.post(URL, {"schedule_enabled": "on"}).content.decode()
    assert "disabled" not in _field_tag(body, "schedule_start")


def test_a_known_model_offers_only_the_precisions_the_catalog_allows(db, llama_8b):
    llama_8b.allowed_quantizations = ["bf16", "fp8"]
    llama_8b.save()
    form = EndpointForm(initial={"model": llama_8b.pk})
    assert [v for v, _ in form.fields["quantization"].choices] == ["bf16", "fp8"]
    option = str(form["model"]).split(f'value="{llama_8b.pk}"')[1].split(">")[0]
    assert 'data-quantizations="bf16,fp8"' in option  # portal.js narrows on a model change


def test_time_zone_select_offers_common_zones_first_and_no_raw_oddities(member_client):
    body = member_client.get(URL).content.decode()
    select = body.split('<select name="schedule_timezone"')[1].split("</select>")[0]
    assert select.index('<optgroup label="Common">') < select.index('value="Europe/Berlin"')
    assert select.index('value="Europe/Berlin"') < select.index('<optgroup label="Africa">')
    for odd in ("Factory", "localtime", "US/Eastern", "Etc/GMT+5", "posixrules"):
        assert f'value="{odd}"' not in select, odd
    assert select.count("<option") < 500
