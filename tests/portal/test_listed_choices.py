"""portal.widgets.ListedChoiceIterator: the same model choices from one plain SELECT."""

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import GpuType
from portal.widgets import ListedChoiceIterator, LongSelect
from tests.factories import GpuTypeFactory

pytestmark = pytest.mark.django_db


def _field(listed: bool) -> forms.ModelChoiceField:
    field = forms.ModelChoiceField(queryset=None, empty_label="Choose…", widget=LongSelect)
    if listed:
        field.iterator = ListedChoiceIterator
    field.queryset = GpuType.objects.order_by("name")
    return field


def test_listed_choices_equal_djangos_and_render_the_same():
    for name in ("L4", "A100", "H100"):
        GpuTypeFactory(name=name)
    listed, plain = _field(True), _field(False)
    assert [(str(v), label) for v, label in listed.choices] == [
        (str(v), label) for v, label in plain.choices
    ]
    chosen = GpuType.objects.get(name="L4").pk
    assert listed.widget.render("g", chosen) == plain.widget.render("g", chosen)
    assert "selected" in listed.widget.render("g", chosen)


def test_listed_choices_cost_one_statement_without_a_cursor():
    GpuTypeFactory.create_batch(5)
    field = _field(True)
    with CaptureQueriesContext(connection) as captured:
        field.widget.render("g", None)
    assert len(captured.captured_queries) == 1
    assert "DECLARE" not in captured.captured_queries[0]["sql"]
    assert captured.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")
