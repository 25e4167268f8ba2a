"""Forms of the endpoint pages: request, estimate preview, day-2 changes, approvals."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import construct_instance

from catalog.choices import Quantization
from catalog.models import CatalogModel, GpuType
from deployments.endpoints import rules
from deployments.endpoints.models import Endpoint
from deployments.endpoints.services import SPEC_FIELDS
from deployments.workloads.errors import DeploymentError
from portal.validators import time_zone_choices
from portal.widgets import ListedChoiceIterator, LongSelect, PreparedChoices

REQUEST_FIELDS = ["name", *SPEC_FIELDS]
SCHEDULE_FIELDS = ["schedule_timezone", "schedule_start", "schedule_end", "schedule_weekdays_only"]


class _ModelSelect(LongSelect):
    """The model choice; each option carries the model's default precision and context, which
    static/js/portal.js copies into the quantisation and context fields when it changes."""

    def option_attrs(self, value) -> dict:
        model = getattr(value, "instance", None)
        if model is None:
            return {}
        return {
            "data-quantization": (model.allowed_quantizations or [""])[0],
            "data-quantizations": ",".join(model.allowed_quantizations or []),
            "data-context": model.native_context_length,
            "data-name": model.name,
        }


ModelSelect = _ModelSelect  # the batch form uses the same model select


class _CatalogChoices(forms.ModelForm):
    """Only enabled models and GPU types can be picked."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("model", "gpu_type"):
            if name in self.fields:
                self.fields[name].iterator = ListedChoiceIterator
        if "model" in self.fields:
            self.fields["model"].queryset = CatalogModel.objects.filter(enabled=True)
            self.fields["model"].empty_label = "Choose a model…"
            self.fields["model"].widget = _ModelSelect(
                attrs={"data-model-defaults": ""}, choices=self.fields["model"].choices
            )
            self._model_defaults()
        if "gpu_type" in self.fields:
            self.fields["gpu_type"].queryset = GpuType.objects.filter(enabled=True)
            self.fields["gpu_type"].empty_label = "Choose a GPU…"
        if "schedule_timezone" in self.fields:
            current = self.instance.schedule_timezone if self.instance.pk else ""
            self.fields["schedule_timezone"].widget = LongSelect(
                choices=PreparedChoices(time_zone_choices(current))
            )
        for name in ("schedule_start", "schedule_end"):
            if name in self.fields:
                self.fields[name].widget = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
        if "schedule_enabled" in self.fields:
            self._schedule_switch()

    def _model_defaults(self):
        """Quantisation without a blank choice, and quantisation and context prefilled with
        the chosen model's defaults (the first allowed precision, the native context)."""
        model = self.instance.model if self.instance.model_id else None
        if model is None and not self.is_bound and self.initial.get("model"):
            model = CatalogModel.objects.filter(pk=self.initial["model"]).first()
        if "quantization" in self.fields:
            # Only the precisions the catalog offers for the model shown (portal.js narrows
            # them again when the model changes; rules.model_choice_problems is the check).
            # A bound form keeps every choice: rules.model_choice_problems then says which
            # precisions the picked model allows (clearer than "not a valid choice").
            shown = None if self.is_bound else model
            allowed = set(shown.allowed_quantizations or []) if shown is not None else set()
            self.fields["quantization"].choices = [
                c for c in Quantization.choices if not allowed or c[0] in allowed
            ]
        if model is None or self.instance.pk:
            return
        self.initial.setdefault("quantization", (model.allowed_quantizations or [None])[0])
        self.initial.setdefault("max_context_length", model.native_context_length)

    def _schedule_switch(self):
        """The schedule fields are disabled while the schedule is off (static/js/portal.js
        toggles them; the server renders the state it has)."""
        self.fields["schedule_enabled"].widget.attrs["data-enables"] = "schedule"
        enabled = self["schedule_enabled"].value()
        for name in SCHEDULE_FIELDS:
            if name in self.fields:
                self.fields[name].widget.attrs["data-enabled-by"] = "schedule"
                if not enabled:
                    self.fields[name].widget.attrs["disabled"] = True

    def clean_schedule_timezone(self):
        return (self.cleaned_data.get("schedule_timezone") or "").strip()

    def clean(self):
        """The model choice here; replica bounds and the schedule in Endpoint.clean(). With the
        schedule off its (disabled, so not submitted) fields keep what they had."""
        data = super().clean()
        if "schedule_enabled" in data and not data["schedule_enabled"]:
            for name in SCHEDULE_FIELDS:
                if name in self.fields:
                    data[name] = getattr(self.instance, name)
                    self.errors.pop(name, None)
        problems = rules.model_choice_problems(
            data.get("model"), data.get("quantization"), data.get("max_context_length")
        )
        for field, message in problems.items():
            if field in self.fields:
                self.add_error(field, message)
        return data

    def _post_clean(self):
        """ModelForm's _post_clean without constraint checks: Model.clean() reports min > max
        on the field, and the service reports duplicate names with a clear message."""
        exclude = self._get_validation_exclusions()
        try:
            self.instance = construct_instance(self, self.instance, self._meta.fields)
        except ValidationError as exc:
            self._update_errors(exc)
        try:
            self.instance.full_clean(
                exclude=exclude, validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            self._update_errors(exc)


class EndpointForm(_CatalogChoices):
    """The request form; the same fields drive the live estimate."""

    class Meta:
        model = Endpoint
        fields = REQUEST_FIELDS
        labels = {
            "gpu_type": "GPU type",
            "gpu_count": "GPUs per replica",
            "max_context_length": "Max context length (tokens)",
            "kv_cache_dtype": "KV cache dtype",
            "target_queue_depth": "Waiting requests per replica before scaling out",
            "schedule_enabled": "Scale to zero outside working hours",
            "schedule_timezone": "Time zone",
            "schedule_start": "Working hours start",
            "schedule_end": "Working hours end",
            "schedule_weekdays_only": "Weekdays only",
        }
        help_texts = {
            "capacity_type": "Spot is cheaper but nodes can be reclaimed at short notice.",
            "max_context_length": "Longest prompt + answer a request may use.",
        }


class EndpointChangeForm(_CatalogChoices):
    """The day-2 change panel: the request form without the name, the same rules and live
    estimate (a new generation is rolled out)."""

    class Meta:
        model = Endpoint
        fields = SPEC_FIELDS
        labels = EndpointForm.Meta.labels
        help_texts = EndpointForm.Meta.help_texts


class EndpointScaleForm(forms.Form):
    min_replicas = forms.IntegerField(min_value=0, max_value=100, label="Min replicas")
    max_replicas = forms.IntegerField(min_value=1, max_value=100, label="Max replicas")

    def clean(self):
        data = super().clean()
        for field, message in rules.replica_problems(
            data.get("min_replicas"), data.get("max_replicas")
        ).items():
            self.add_error(field, message)
        return data


class EndpointRejectForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Tell the requester why, so they can change the request.",
    )


class EndpointDeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the endpoint name to confirm", max_length=60)

    def __init__(self, *args, endpoint: Endpoint, **kwargs):
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint

    def clean_confirm_name(self):
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.endpoint.name:
            raise forms.ValidationError(f"Type {self.endpoint.name!r} to delete this endpoint.")
        return value


def add_service_error(form, exc: Exception) -> None:
    """Put a service error next to its field (or at the top of the form)."""
    if isinstance(exc, DeploymentError):
        pairs = [(exc.field, exc.message)]
    elif hasattr(exc, "error_dict"):
        pairs = [(field, msg) for field, msgs in exc.message_dict.items() for msg in msgs]
    else:
        pairs = [(None, msg) for msg in exc.messages]
    for field, message in pairs:
        form.add_error(field if field in form.fields else None, message)
