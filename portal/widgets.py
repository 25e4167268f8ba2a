"""Form widgets shared by the apps' forms."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join


class LongSelect(forms.Select):
    """A ``<select>`` of many plain options (the ~600 IANA time zones), rendered in Python.

    Django renders each option through two template includes: ~40 ms per field here, and the
    endpoint page holds the field in two forms (a third of the page's time under load,
    bench/web_load.py). Same HTML as ``forms.Select`` (attributes through ``flatatt``, the
    chosen option ``selected``, option groups as ``<optgroup label>``)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        parts = []
        for group, group_options, _index in widget["optgroups"]:
            options = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                ((o["value"], flatatt(o["attrs"]), o["label"]) for o in group_options),
            )
            parts.append(
                format_html('<optgroup label="{}">{}</optgroup>', group, options)
                if group
                else options
            )
        return format_html(
            '<select name="{}"{}>{}</select>',
            widget["name"],
            flatatt(widget["attrs"]),
            format_html_join("", "{}", ((part,) for part in parts)),
        )
