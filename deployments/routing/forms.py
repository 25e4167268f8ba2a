"""The route request form: a name, one of the team's endpoints per role, the policy. The rules
(two tiers at least, one role each, the team's own live endpoints) are routing.services'."""

from django import forms

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.routing.models import Route, RoutePolicy, TierRole
from deployments.workloads.choices import DesiredState

ROLE_HELP = {
    TierRole.SMALL: "The cheap model most requests go to (e.g. 7–8B).",
    TierRole.LARGE: "The big model for long or hard requests (e.g. 70B).",
    TierRole.FALLBACK: "Optional: takes traffic when the chosen tier fails or overflows.",
}


CLASSIFIER_NOTE = (
    "By complexity runs the vLLM Semantic Router in front of the route: it labels each request "
    "easy / medium / hard against example prompts (yours, or the platform's defaults)."
)
LINES_HELP = "One per line; leave empty for the platform's defaults (complexity policy)."


def tier_field_name(role: str) -> str:
    return f"tier_{role}"


class RouteForm(forms.ModelForm):
    class Meta:
        model = Route
        fields = [
            "name",
            "policy",
            "prompt_length_threshold",
            "queue_depth_threshold",
            "easy_examples",
            "hard_examples",
            "hard_keywords",
            "steer_at_percent",
        ]
        widgets = {"policy": forms.RadioSelect}
        help_texts = {"policy": CLASSIFIER_NOTE}

    easy_examples = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=LINES_HELP
    )
    hard_examples = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text=LINES_HELP
    )
    hard_keywords = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text=LINES_HELP
    )

    def __init__(self, *args, team=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].choices = RoutePolicy.choices
        self.fields["name"].widget.attrs.update(autocomplete="off", spellcheck="false")
        live = (
            Endpoint.objects.filter(team=team)
            .exclude(desired_state=DesiredState.ABSENT)
            .exclude(status__in=[EndpointStatus.DELETED, EndpointStatus.REJECTED])
            .order_by("name")
            if team is not None
            else Endpoint.objects.none()
        )
        for role in TierRole:
            field = forms.ModelChoiceField(
                queryset=live,
                required=role != TierRole.FALLBACK,
                label=f"{role.label} tier",
                help_text=ROLE_HELP[role],
                to_field_name="uuid",
                empty_label="None" if role == TierRole.FALLBACK else "Choose an endpoint…",
            )
            self.fields[tier_field_name(role)] = field

    def tier_fields(self):
        return [self[tier_field_name(role)] for role in TierRole]

    def service_data(self) -> dict:
        """What routing.services.request_route takes."""
        data = {k: self.cleaned_data[k] for k in self.Meta.fields}
        for name in ("easy_examples", "hard_examples", "hard_keywords"):
            data[name] = (data[name] or "").splitlines()  # checked by routing.services
        data["tiers"] = [
            {"endpoint": self.cleaned_data[tier_field_name(role)], "role": role.value}
            for role in TierRole
            if self.cleaned_data.get(tier_field_name(role))
        ]
        return data
