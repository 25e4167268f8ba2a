"""The batch job request form (the model's validators + portal.validators for the URIs)."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from catalog.choices import Quantization
from catalog.models import CatalogModel, GpuType
from deployments.batch.models import BatchJob, shard_count
from deployments.endpoints.forms import ModelSelect
from portal.models import Team

# The request form's words (deployments/forms.py), not Django's "Gpu type:" / "Input uri:".
LABELS = {
    "team": "Team",
    "name": "Name",
    "model": "Model",
    "quantization": "Precision",
    "gpu_type": "GPU type",
    "gpu_count": "GPUs per shard",
    "capacity_type": "Capacity",
    "input_uri": "Input file",
    "output_uri": "Output folder",
    "shards": "Shards",
    "target_shard_tokens": "Tokens per shard",
    "parallelism": "Shards at once",
    "expected_tokens": "Expected tokens",
    "deadline_hours": "Deadline (hours)",
}


class BatchJobForm(forms.ModelForm):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label="Choose a team…")
    model = forms.ModelChoiceField(
        queryset=CatalogModel.objects.filter(enabled=True),
        empty_label="Choose a model…",
        widget=ModelSelect(attrs={"data-model-defaults": ""}),
    )
    gpu_type = forms.ModelChoiceField(
        queryset=GpuType.objects.filter(enabled=True), empty_label="Choose a GPU…"
    )

    class Meta:
        model = BatchJob
        fields = [
            "team",
            "name",
            "model",
            "quantization",
            "gpu_type",
            "gpu_count",
            "capacity_type",
            "input_uri",
            "output_uri",
            "shards",
            "target_shard_tokens",
            "parallelism",
            "expected_tokens",
            "deadline_hours",
            "cost_cap",
        ]

    def __init__(self, *args, teams=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()
        self.fields["quantization"].required = False
        self.fields["shards"].required = False  # or a target shard size (shard_count)
        self.fields["shards"].initial = None
        for name, label in LABELS.items():
            self.fields[name].label = label
        self.fields["cost_cap"].label = f"Cost cap ({settings.BILLING_CURRENCY})"
        self.fields[
            "cost_cap"
        ].help_text = (
            "Cancel the job once its running cost reaches this (committed output is kept)."
        )
        self.fields["shards"].help_text = "Or give the tokens per shard instead."
        # No blank precision: the model's first allowed one is the default (portal.js copies
        # it, and offers only the model's precisions, when the model changes).
        self.fields["quantization"].choices = Quantization.choices
        self.fields["quantization"].help_text = "The model's default if you leave it."
        for name in ("input_uri", "output_uri"):
            self.fields[name].widget.attrs["placeholder"] = (
                "s3://bucket/batches/in.jsonl" if name == "input_uri" else "s3://bucket/batches/out"
            )
        self.fields["expected_tokens"].widget.attrs["placeholder"] = "e.g. 32000000"

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is not None and not data.get("quantization"):
            data["quantization"] = (model.allowed_quantizations or ["bf16"])[0]
        try:
            data["shards"] = shard_count(
                data.get("shards"), data.get("target_shard_tokens"), data.get("expected_tokens")
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field, errors)
        return data

    def _post_clean(self):
        # The model's clean() (URIs, parallelism <= shards) runs; the service checks the rest.
        self.instance.team = self.cleaned_data.get("team") or Team()
        super()._post_clean()
