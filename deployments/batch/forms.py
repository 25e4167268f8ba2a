"""The batch job request form (the model's validators + portal.validators for the URIs)."""

from django import forms

from catalog.models import CatalogModel, GpuType
from portal.models import Team

from ..models_batch import BatchJob


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
            "parallelism",
            "expected_tokens",
            "deadline_hours",
            "cost_cap",
        ]

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()
        self.fields["quantization"].required = False

    def clean(self):
        data = super().clean()
        model = data.get("model")
        if model is not None and not data.get("quantization"):
            data["quantization"] = (model.allowed_quantizations or ["bf16"])[0]
        return data

    def _post_clean(self):
        # The model's clean() (URIs, parallelism <= shards) runs; the service checks the rest.
        self.instance.team = self.cleaned_data.get("team") or Team()
        super()._post_clean()
