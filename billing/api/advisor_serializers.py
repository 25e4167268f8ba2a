"""Savings advisor API shapes. Money is a decimal string with cents, per month."""

from rest_framework import serializers

from ..advisor_models import SuggestionKind


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, **kwargs)


class DismissalSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SuggestionKind.choices)
    endpoint = serializers.UUIDField(allow_null=True, help_text="Null: a team-wide suggestion.")
    monthly_saving = _money(help_text="The saving the suggestion showed when it was dismissed.")
    dismissed_by = serializers.CharField(allow_null=True, help_text="Username.")
    dismissed_at = serializers.DateTimeField()
    hidden_until = serializers.DateTimeField(
        help_text="Shown again then, or earlier once the saving moves by more than a quarter."
    )


class SuggestionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SuggestionKind.choices)
    endpoint = serializers.UUIDField(allow_null=True, help_text="Null: a team-wide suggestion.")
    endpoint_name = serializers.CharField(allow_null=True)
    title = serializers.CharField()
    detail = serializers.CharField(help_text="How the saving was worked out.")
    caveat = serializers.CharField(help_text="What the change costs besides money.")
    monthly_saving = _money()
    current_monthly_cost = _money(help_text="What it costs now, per month, from its usage rows.")
    proposal = serializers.DictField(
        child=serializers.JSONField(), help_text="The change, as endpoint field values."
    )
    dismissal = DismissalSerializer(allow_null=True, help_text="Set on dismissed suggestions.")


class BreakEvenSerializer(serializers.Serializer):
    reference_price = serializers.CharField(help_text="The default ReferencePrice's name.")
    self_hosted_monthly = _money(help_text="The team's GPU cost of the window, per month.")
    api_monthly = _money(help_text="The same prompt and generated tokens at the API's prices.")
    tokens_monthly = serializers.IntegerField()
    cost_per_million = _money()
    api_per_million = _money(help_text="The API's price blended by this team's token mix.")
    break_even_tokens_monthly = serializers.IntegerField(
        allow_null=True, help_text="Tokens a month at which the API would cost what the GPUs do."
    )
    cheaper = serializers.ChoiceField(choices=[("here", "here"), ("api", "api")])
    above_rule_of_thumb = serializers.BooleanField(
        help_text="The API-equivalent spend is at least rule_of_thumb_monthly."
    )
    rule_of_thumb_monthly = _money(help_text="Above about this API spend self-hosting pays.")


class SavingsSerializer(serializers.Serializer):
    team = serializers.SlugField()
    currency = serializers.CharField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    hours = serializers.IntegerField(help_text="Hours of the window the usage data covers.")
    memory_measured = serializers.BooleanField(help_text="DCGM memory data was available.")
    total_monthly_saving = _money(help_text="Sum of the shown suggestions.")
    suggestions = SuggestionSerializer(many=True)
    dismissed = SuggestionSerializer(many=True)
    break_even = BreakEvenSerializer(allow_null=True)


class DismissRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SuggestionKind.choices)
    endpoint = serializers.UUIDField(
        required=False, allow_null=True, help_text="Omit for a team-wide suggestion."
    )
