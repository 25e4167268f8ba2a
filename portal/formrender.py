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
from django.utils.safestring import SafeData, mark_safe

FIELD_TEMPLATE = "django/forms/field.html"
LABEL_TEMPLATE = "django/forms/label.html"
SELECT_TEMPLATE = "django/forms/widgets/select.html"
OPTION_TEMPLATE = "django/forms/widgets/select_option.html"
# An empty error list renders nothing; a list with errors goes through Django's templates.
ERROR_TEMPLATES = ("django/forms/errors/list/default.html", "django/forms/errors/list/ul.html")
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


def _stringformat(value) -> str:
    """``{{ value|stringformat:'s' }}`` under autoescape."""
    shown = "%s" % (str(value) if isinstance(value, tuple) else value)
    return shown if isinstance(value, SafeData) else escape(shown)


def label_html(context: dict) -> str:
    """``label.html``: the label in its tag (when the field has an id), or bare."""
    label = conditional_escape(context["label"])
    if not context["use_tag"]:
        return label
    tag = conditional_escape(context["tag"])
    return f"<{tag}{attrs_html(context['attrs'] or {})}>{label}</{tag}>"


def select_html(widget: dict) -> str:
    """``widgets/select.html`` with ``select_option.html`` for each option (the caller checks
    that every option uses that template)."""
    parts = [f'<select name="{conditional_escape(widget["name"])}"{attrs_html(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in group_choices:
            parts.append(
                f'\n  <option value="{_stringformat(option["value"])}"'
                f"{attrs_html(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


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
        if template_name == LABEL_TEMPLATE and self._builtin(template_name):
            return mark_safe(label_html(context))
        if template_name == SELECT_TEMPLATE and self._plain_select(context["widget"]):
            return mark_safe(select_html(context["widget"]))
        if template_name in ERROR_TEMPLATES and not context["errors"] and self._builtin_errors():
            return ""
        return super().render(template_name, context, request)

    def _plain_select(self, widget: dict) -> bool:
        """Django's select and option templates, the option template on every option."""
        return (
            self._builtin(SELECT_TEMPLATE)
            and self._builtin(OPTION_TEMPLATE)
            and all(
                option["template_name"] == OPTION_TEMPLATE
                for _name, options, _index in widget["optgroups"]
                for option in options
            )
        )

    def _builtin_errors(self) -> bool:
        return all(self._builtin(name) for name in ERROR_TEMPLATES)

    def _builtin(self, template_name: str) -> bool:
        """Django's own template (no app overrides it): looked up once per name."""
        known = self.__dict__.setdefault("_builtin_names", {})
        if template_name not in known:
            origin = self.get_template(template_name).origin.name
            known[template_name] = "/django/forms/templates/django/forms/" in origin.replace(
                "\\", "/"
            )
        return known[template_name]
