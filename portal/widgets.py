"""Form widgets and choice helpers shared by the apps' forms."""

from html import escape as html_escape

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils.choices import BaseChoiceIterator
from django.utils.html import escape
from django.utils.safestring import mark_safe


def _attrs(attrs: dict) -> str:
    """Attributes in their order, as Django's ``attrs.html`` writes them (``True``: the bare
    name, ``False``: left out)."""
    return "".join(
        f" {name}" if value is True else f' {name}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


class LongSelect(forms.Select):
    """A ``<select>`` rendered in Python, for many options (the ~600 IANA time zones, the model
    catalog).

    Django renders each option through two template includes (~40 ms per time-zone field), and
    even ``optgroups()`` builds a dict of attributes per option: together a third of the
    endpoint page's time under load (bench/web_load.py). This renders the same HTML as
    ``forms.Select`` (attributes in their order as ``attrs.html`` writes them, only the first matching option
    ``selected``, option groups as ``<optgroup label>``) straight from ``choices``.
    ``option_attrs(value)`` adds attributes to one option (both here and in
    ``create_option``, so ``get_context`` says the same)."""

    def option_attrs(self, value) -> dict:
        return {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["attrs"].update(self.option_attrs(value))
        return option

    def render(self, name, value, attrs=None, renderer=None):
        widget = forms.Widget.get_context(self, name, value, attrs)["widget"]
        chosen = set(widget["value"])
        multiple = self.allow_multiple_selected
        has_selected = False
        parts: list[str] = []

        plain = type(self).option_attrs is LongSelect.option_attrs

        def option(value, label) -> str:
            nonlocal has_selected
            value = "" if value is None else value
            selected = str(value) in chosen and (not has_selected or multiple)
            has_selected |= selected
            extra = {} if plain else self.option_attrs(value)
            if selected:
                extra = {"selected": True, **extra}
            # escape() and conditional_escape() as Django's, without a SafeString per call
            shown = label.__html__() if hasattr(label, "__html__") else html_escape(str(label))
            return (
                f'<option value="{html_escape(str(value))}"{_attrs(extra) if extra else ""}>'
                f"{shown}</option>"
            )

        for group_value, group_label in self.choices:
            if isinstance(group_label, (list, tuple)):
                inner = "".join(option(v, label) for v, label in group_label)
                parts.append(f'<optgroup label="{escape(group_value)}">{inner}</optgroup>')
            else:
                parts.append(option(group_value, group_label))
        return mark_safe(
            f'<select name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>'
            + "".join(parts)
            + "</select>"
        )


class PreparedChoices(BaseChoiceIterator):
    """Choices already in Django's normalized shape (``(value, label)`` pairs; a group as
    ``(name, [pairs])``), handed to a widget as they are: for a list, ``normalize_choices``
    rebuilds every pair again for each form (~0.7 ms for the ~480 time zones)."""

    def __init__(self, choices):
        self.choices = choices

    def __iter__(self):
        return iter(self.choices)


class ListedChoiceIterator(ModelChoiceIterator):
    """A model choice field's options from one plain ``SELECT`` of the (small) table.

    Django's iterator reads the choices through ``QuerySet.iterator()``, on PostgreSQL a
    server-side cursor: DECLARE, FETCH, CLOSE per field and render (three round trips, ~14 ms
    each under load). For a catalog of tens of rows one query is cheaper; same choices."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)
