"""A rejected request is not a dead end (issue 13): edit and resubmit it through the request's
rules, or delete it and free its name."""

from decimal import Decimal

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.factories import EndpointFactory


@pytest.fixture
def rejected(team, gpu_l4, llama_8b):
    return EndpointFactory(
        team=team,
        name="chat",
        gpu_type=gpu_l4,
        model=llama_8b,
        max_context_length=8192,
        max_replicas=1,
        status=EndpointStatus.REJECTED,
        applied_generation=0,  # rejected before anything was applied
        status_message="Rejected by alice: too many replicas.",
        offering=gpu_l4.offerings.get(gpus_per_node=1),
    )


def _data(ep, **changes):
    return {
        "model": ep.model_id,
        "quantization": ep.quantization,
        "kv_cache_dtype": ep.kv_cache_dtype,
        "max_context_length": ep.max_context_length,
        "gpu_type": ep.gpu_type_id,
        "gpu_count": ep.gpu_count,
        "capacity_type": ep.capacity_type,
        "target_queue_depth": ep.target_queue_depth,
        "min_replicas": ep.min_replicas,
        "max_replicas": ep.max_replicas,
        **changes,
    }


def test_detail_of_a_rejected_request_offers_resubmit_and_delete(member_client, rejected):
    body = member_client.get(
        reverse("deployments:endpoint_detail", args=[rejected.uuid])
    ).content.decode()
    assert 'data-testid="rejected-actions"' in body and "too many replicas" in body
    assert "Resubmit chat" in body and "Delete this request" in body


def test_resubmitted_within_the_rules_is_approved_and_applied(
    member_client, rejected, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        r = member_client.post(
            reverse("deployments:endpoint_edit", args=[rejected.uuid]),
            _data(rejected, max_context_length=4096),
        )
    assert r.status_code == 302
    rejected.refresh_from_db()
    assert rejected.status == EndpointStatus.APPROVED and rejected.max_context_length == 4096
    assert rejected.events.filter(message__startswith="Edited and resubmitted by").exists()
    assert len(callbacks) == 1  # the apply is queued


def test_resubmitted_over_the_threshold_waits_for_approval_again(member_client, team, rejected):
    team.approval_cost_threshold = Decimal("100")
    team.save()
    member_client.post(reverse("deployments:endpoint_edit", args=[rejected.uuid]), _data(rejected))
    rejected.refresh_from_db()
    assert rejected.status == EndpointStatus.PENDING_APPROVAL
    assert "approval threshold" in rejected.status_message


def test_delete_frees_the_name(member_client, rejected):
    r = member_client.post(
        reverse("deployments:endpoint_delete", args=[rejected.uuid]), {"confirm_name": "chat"}
    )
    assert r.status_code == 302
    assert Endpoint.objects.get(pk=rejected.pk).status == EndpointStatus.DELETED


def test_outsider_cannot_resubmit(outsider_client, rejected):
    r = outsider_client.post(
        reverse("deployments:endpoint_edit", args=[rejected.uuid]), _data(rejected)
    )
    assert r.status_code == 404
