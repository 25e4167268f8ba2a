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

    remove_alert_webhook = forms.BooleanField(
        required=False, label="Remove the saved webhook", help_text=""
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Write-only, like a password: the saved URL (its path is the secret of Slack/Teams
        # webhooks) is never rendered back, only its host.
        self.saved_webhook = self.instance.alert_webhook_url if self.instance.pk else ""
        self.initial["alert_webhook_url"] = ""
        field = self.fields["alert_webhook_url"]
        if self.saved_webhook:
            field.help_text = (
                f"A webhook to {self.instance.alert_webhook_host} is saved (the URL is not shown "
                "again). Leave empty to keep it, or type a new URL to replace it."
            )
        else:
            del self.fields["remove_alert_webhook"]

    def clean(self):
        data = super().clean()
        if data.pop("remove_alert_webhook", False):
            data["alert_webhook_url"] = ""
        elif not data.get("alert_webhook_url") and "alert_webhook_url" not in self.errors:
            data["alert_webhook_url"] = self.saved_webhook
        return data

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
