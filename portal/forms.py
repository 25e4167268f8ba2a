"""Forms of the team pages."""

from django import forms

from .models import Membership, Team
from .services import TEAM_SETTINGS_FIELDS


class TeamSettingsForm(forms.ModelForm):
    alert_webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Alert webhook URL",
        help_text="We POST a JSON message here when the team nears its budget.",
    )

    class Meta:
        model = Team
        fields = TEAM_SETTINGS_FIELDS
        labels = {
            "slo_ttft_p95_seconds": "Time to first token, p95 (seconds)",
            "slo_error_rate": "Error rate (0-1)",
            "alert_email": "Alert e-mail",
            "alert_webhook_url": "Alert webhook URL",
        }

    def clean_slo_error_rate(self):
        value = self.cleaned_data["slo_error_rate"]
        if value is not None and value > 1:
            raise forms.ValidationError("Use a share between 0 and 1 (0.01 = 1%).")
        return value


class MemberInviteForm(forms.Form):
    user = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ApiTokenForm(forms.Form):
    EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]

    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. “CI deploy” (tells your tokens apart)."
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        initial="90",
        label="Expires after",
    )
