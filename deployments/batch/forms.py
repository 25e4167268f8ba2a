"""The batch job request form (the model's validators + portal.validators for the URIs)."""

from django import forms
from django.core.exceptions import ValidationError

from catalog.models import CatalogModel, GpuType
from deployments.batch.models import BatchJob, shard_count
from portal.models import Team


class BatchJobForm(forms.ModelForm):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    model = forms.ModelChoiceField(queryset=CatalogModel.objects.filter(enabled=True))
    gpu_type = forms.ModelChoiceField(queryset=GpuType.objects.filter(enabled=True))

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
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()
        self.fields["quantization"].required = False
        self.fields["shards"].required = False  # or a target shard size (shard_count)
        self.fields["shards"].initial = None

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
