from decimal import Decimal

from django.template import Context, Template

from deployments.templatetags.deployments import status_badge
from portal.templatetags.portal import duration, gpu_hours, money


def test_status_badge_has_colour_glyph_and_text():
    html = status_badge("ready")
    assert 'class="badge badge-green"' in html and "Ready" in html and "●" in html


def test_status_badge_marks_busy_statuses():
    assert "badge-blue badge-busy" in status_badge("provisioning")
    assert "badge-amber badge-busy" in status_badge("pending_approval")


def test_status_badge_of_unknown_status_is_grey_not_an_error():
    assert "badge-grey" in status_badge("weird") and "weird" in status_badge("weird")


def test_status_badge_escapes_input():
    assert "<script>" not in status_badge("<script>")


def test_money():
    assert money(Decimal("1234.5")) == "$1,234.50"
    assert money(None) == "—"
    assert money(Decimal("-3")) == "-$3.00"
    assert money(Decimal("10"), "EUR") == "10.00 EUR"


def test_gpu_hours_and_duration():
    assert gpu_hours(5400) == "1.5 GPU-h"
    assert duration(59) == "59s" and duration(192) == "3m 12s" and duration(7500) == "2h 5m"
    assert duration(90000) == "1d 1h"


def test_tag_library_loads_in_templates():
    out = Template("{% load portal deployments %}{% status_badge s %} {{ v|money }}").render(
        Context({"s": "failed", "v": 5})
    )
    assert "Failed" in out and "$5.00" in out
