"""The form renderer (settings.FORM_RENDERER): Django's, with its hottest templates in Python.

Every form field on a page goes through ``django/forms/field.html`` (label, help text, errors,
widget) and, for ``<input>`` widgets, ``widgets/<type>.html`` -> ``input.html`` ->
``attrs.html``: four template renders per field. The endpoint page holds ~18 fields (change,
scale, delete and reject panels) and spent ~0.11 s of CPU per request in them under load
(bench/web_load.py, cProfile with a CPU clock). Those templates are rendered here as Python,
byte for byte what the templates write (``tests/portal/test_formrender.py`` renders the same
fields and whole pages with both renderers); every other template, or a project that overrides
one of these, goes through Django's templates as before.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe

FIELD_TEMPLATE = "django/forms/field.html"
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "password",
        "url",
        "search",
        "tel",
        "color",
        "date",
        "datetime",
        "time",
        "hidden",
        "checkbox",
    )
)


def attrs_html(attrs: dict) -> str:
    """``attrs.html``: each attribute in order, ``True`` as the bare name, ``False`` left out."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def input_html(widget: dict) -> str:
    value = widget["value"]
    shown = "" if value is None else f' value="{escape(value)}"'
    return (
        f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"{shown}'
        f"{attrs_html(widget['attrs'])}>"
    )


def field_html(field) -> str:
    parts = []
    if field.use_fieldset:
        described = field.aria_describedby
        parts.append(
            "\n  <fieldset"
            + (f' aria-describedby="{escape(described)}"' if described else "")
            + ">\n  "
            + (str(field.legend_tag()) if field.label else "")
            + "\n"
        )
    else:
        parts.append("\n  " + (str(field.label_tag()) if field.label else "") + "\n")
    parts.append("\n")
    if field.help_text:
        auto_id = field.auto_id
        parts.append(
            '<div class="helptext"'
            + (f' id="{escape(auto_id)}_helptext"' if auto_id else "")
            + f">{field.help_text}</div>"
        )
    parts.append(f"\n{conditional_escape(field.errors)}\n{conditional_escape(field)}")
    if field.use_fieldset:
        parts.append("</fieldset>")
    return "".join(parts).strip()


class FastRenderer(DjangoTemplates):
    """Django's template renderer; the field and ``<input>`` templates in Python."""

    def render(self, template_name, context, request=None):
        if template_name == FIELD_TEMPLATE and self._builtin(template_name):
            return mark_safe(field_html(context["field"]))
        if template_name in INPUT_TEMPLATES and self._builtin(template_name):
            return mark_safe(input_html(context["widget"]))
        return super().render(template_name, context, request)

    def _builtin(self, template_name: str) -> bool:
        """Django's own template (no app overrides it): looked up once per name."""
        known = self.__dict__.setdefault("_builtin_names", {})
        if template_name not in known:
            origin = self.get_template(template_name).origin.name
            known[template_name] = "/django/forms/templates/django/forms/" in origin.replace(
                "\\", "/"
            )
        return known[template_name]
