"""The endpoint page's tabs beyond the overview: Use (URL, snippets, playground), YAML (the
applied manifests), Pods (replicas, their state and log tail, read live through `endpoints.pods`, the one place
the UI reads the cluster). Thin: load, call, render."""

import json

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from deployments.endpoints import inference, manifests, pods
from deployments.endpoints import page as endpoint_page
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.views import get_endpoint
from portal.htmx import is_partial


class PlaygroundForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[(inference.CHAT, "Chat"), (inference.COMPLETION, "Completion")],
        initial=inference.CHAT,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt"] = forms.CharField(
            max_length=settings.PLAYGROUND_MAX_PROMPT_CHARS,
            widget=forms.Textarea(attrs={"rows": 4}),
        )
        self.fields["max_tokens"] = forms.IntegerField(
            min_value=1,
            max_value=settings.PLAYGROUND_MAX_TOKENS,
            initial=min(128, settings.PLAYGROUND_MAX_TOKENS),
            label="Max tokens",
        )


def _tab(request, endpoint, tab: str, **context):
    return {"endpoint": endpoint, "tab": tab, **context}


@login_required
@require_GET
def endpoint_use(request, uuid):
    endpoint = get_endpoint(request, uuid)
    context = _tab(
        request,
        endpoint,
        "use",
        snippets=endpoint_page.snippets(endpoint),
        playground_form=PlaygroundForm(),
        can_prompt=_can_prompt(endpoint),
    )
    return render(request, "deployments/endpoint_use.html", context)


def _can_prompt(endpoint) -> bool:
    return endpoint.status == EndpointStatus.READY and bool(endpoint.url)


def _sse(events):
    for event in events:
        yield f"data: {json.dumps(event)}\n\n"


def _released(events, key: str):
    try:
        yield from events
    finally:
        cache.delete(key)


@login_required
@require_POST
def endpoint_playground(request, uuid):
    """Stream one prompt's answer (server-sent events) from the endpoint's own URL."""
    endpoint = get_endpoint(request, uuid)
    if not _can_prompt(endpoint):
        return JsonResponse({"error": "The endpoint is not ready to answer prompts."}, status=409)
    form = PlaygroundForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    key = f"playground:{request.user.pk}:{endpoint.pk}"
    budget = settings.PLAYGROUND_DEADLINE_SECONDS + settings.PLAYGROUND_TIMEOUT_SECONDS
    if not cache.add(key, 1, int(budget)):
        return JsonResponse({"error": "Wait for your previous prompt to finish."}, status=429)
    data = form.cleaned_data
    events = inference.stream_prompt(
        endpoint_page.openai_base_url(endpoint),
        endpoint.isvc_name,
        data["prompt"],
        mode=data["mode"],
        max_tokens=data["max_tokens"],
        timeout=settings.PLAYGROUND_TIMEOUT_SECONDS,
        deadline=settings.PLAYGROUND_DEADLINE_SECONDS,
        max_bytes=settings.PLAYGROUND_MAX_RESPONSE_BYTES,
    )
    response = StreamingHttpResponse(_sse(_released(events, key)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@login_required
@require_GET
def endpoint_yaml(request, uuid):
    endpoint = get_endpoint(request, uuid)
    try:
        text, error = manifests.manifest_yaml(endpoint), ""
    except manifests.ManifestError as exc:
        text, error = "", str(exc)
    context = _tab(request, endpoint, "yaml", manifest_yaml=text, manifest_error=error)
    return render(request, "deployments/endpoint_yaml.html", context)


@login_required
@require_GET
def endpoint_pods(request, uuid):
    endpoint = get_endpoint(request, uuid)
    context = _tab(request, endpoint, "pods", **pods.live_pods(endpoint).as_context())
    if is_partial(request):
        return render(request, "deployments/partials/endpoint_pods.html", context)
    return render(request, "deployments/endpoint_pods.html", context)
