"""The platform console: every admin page renders, actions go through services, edits are
audited, and the audit log is read-only."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from catalog.models import CatalogModel, GpuRate
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint, EndpointEvent
from portal.audit import record_audit
from portal.models import AuditLog, Team
from tests.factories import EndpointEventFactory, EndpointFactory


def _changelists():
    return [
        f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist" for m in admin.site._registry
    ]


@pytest.mark.parametrize("name", _changelists())
def test_every_changelist_renders_for_staff(staff_client, name, team, gpu_l4, llama_8b):
    EndpointEventFactory(endpoint=EndpointFactory(team=team, gpu_type=gpu_l4))
    record_audit(actor=None, action="x.y", instance=team)
    response = staff_client.get(reverse(name))
    assert response.status_code == 200, name


@pytest.mark.parametrize("model", [Team, CatalogModel, Endpoint, GpuRate])
def test_change_pages_render(staff_client, model, team, gpu_l4, llama_8b):
    EndpointFactory(team=team, gpu_type=gpu_l4, model=llama_8b)
    obj = model.objects.first()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
    assert staff_client.get(url).status_code == 200


def test_add_pages_render(staff_client):
    for name in (
        "portal_team",
        "catalog_catalogmodel",
        "catalog_gputype",
        "catalog_gpurate",
    ):
        assert staff_client.get(reverse(f"admin:{name}_add")).status_code == 200


def test_non_staff_cannot_enter(member_client):
    response = member_client.get(reverse("admin:deployments_endpoint_changelist"))
    assert response.status_code == 302


def test_endpoint_list_filters_by_status(staff_client, team):
    EndpointFactory(team=team, name="ready-one")
    EndpointFactory(team=team, name="waiting-one", status=EndpointStatus.PENDING_APPROVAL)
    body = staff_client.get(
        reverse("admin:deployments_endpoint_changelist"), {"status__exact": "pending_approval"}
    ).content.decode()
    assert "waiting-one" in body and "ready-one" not in body


def test_approve_action_goes_through_the_service(
    staff_client, staff, team, django_capture_on_commit_callbacks
):
    ep = EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    with django_capture_on_commit_callbacks() as callbacks:
        staff_client.post(
            reverse("admin:deployments_endpoint_changelist"),
            {"action": "approve_selected", "_selected_action": [ep.pk]},
        )
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.APPROVED and ep.approved_by == staff
    assert AuditLog.objects.get(action="endpoint.approve").source == "admin"
    assert len(callbacks) == 1


def test_reject_action_reports_endpoints_that_are_not_pending(staff_client, team):
    ready = EndpointFactory(team=team, name="running")
    pending = EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    response = staff_client.post(
        reverse("admin:deployments_endpoint_changelist"),
        {"action": "reject_selected", "_selected_action": [ready.pk, pending.pk]},
        follow=True,
    )
    body = response.content.decode()
    assert "Rejected 1 endpoint(s)." in body
    assert "Only pending requests can be rejected; this one is ready." in body
    assert Endpoint.objects.get(pk=pending.pk).status == EndpointStatus.REJECTED


def test_endpoints_cannot_be_edited_or_deleted_directly(staff_client, team):
    ep = EndpointFactory(team=team)
    url = reverse("admin:deployments_endpoint_change", args=[ep.pk])
    staff_client.post(url, {"name": "renamed"})
    assert Endpoint.objects.get(pk=ep.pk).name == ep.name
    assert (
        staff_client.get(reverse("admin:deployments_endpoint_delete", args=[ep.pk])).status_code
        == 403
    )


def test_team_edit_is_audited_with_before_and_after(staff_client, team):
    url = reverse("admin:portal_team_change", args=[team.pk])
    data = {
        "name": team.name,
        "slug": team.slug,
        "max_gpus": 32,
        "monthly_budget": "1000.00",
        "over_budget_policy": "refuse",
        "approval_cost_threshold": "",
        "slo_ttft_p95_seconds": "2.000",
        "slo_error_rate": "0.0100",
        "alert_email": "",
        "alert_webhook_url": "",
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
        "gpu_quotas-TOTAL_FORMS": 0,
        "gpu_quotas-INITIAL_FORMS": 0,
    }
    response = staff_client.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].errors if response.context else ""
    )
    entry = AuditLog.objects.get(action="team.change")
    assert entry.source == "admin"
    assert entry.before["max_gpus"] == 16 and entry.after["max_gpus"] == 32


def test_approval_gpu_types_change_is_audited(staff_client, team, gpu_h100):
    url = reverse("admin:portal_team_change", args=[team.pk])
    data = {
        "name": team.name,
        "slug": team.slug,
        "max_gpus": 16,
        "monthly_budget": "",
        "over_budget_policy": "approval",
        "approval_cost_threshold": "",
        "approval_gpu_types": [gpu_h100.pk],
        "slo_ttft_p95_seconds": "2.000",
        "slo_error_rate": "0.0100",
        "alert_email": "",
        "alert_webhook_url": "",
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
        "gpu_quotas-TOTAL_FORMS": 0,
        "gpu_quotas-INITIAL_FORMS": 0,
    }
    assert staff_client.post(url, data).status_code == 302
    entry = AuditLog.objects.get(action="team.approval_gpu_types")
    assert entry.before == {"approval_gpu_types": []}
    assert entry.after == {"approval_gpu_types": ["H100-test"]}


def test_price_added_in_admin_is_audited(staff_client, gpu_l4):
    offering = gpu_l4.offerings.first()
    response = staff_client.post(
        reverse("admin:catalog_gpurate_add"),
        {
            "offering": offering.pk,
            "capacity_type": "reserved",
            "hourly_price": "0.5000",
            "effective_from_0": "2026-01-01",
            "effective_from_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    entry = AuditLog.objects.get(action="gpurate.add")
    assert entry.after["hourly_price"] == "0.5000"


def test_catalog_delete_is_audited(staff_client):
    model = CatalogModel.objects.create(
        name="Tmp",
        slug="tmp",
        storage_uri="hf://a/b",
        parameters_b=Decimal("1"),
        num_layers=1,
        num_kv_heads=1,
        head_dim=64,
        native_context_length=4096,
        allowed_quantizations=["bf16"],
    )
    staff_client.post(
        reverse("admin:catalog_catalogmodel_delete", args=[model.pk]), {"post": "yes"}
    )
    assert not CatalogModel.objects.filter(pk=model.pk).exists()
    assert AuditLog.objects.get(action="catalogmodel.delete").before["name"] == "Tmp"


def test_audit_log_is_read_only(staff_client, team):
    entry = record_audit(actor=None, action="team.change", instance=team)
    assert (
        staff_client.get(reverse("admin:portal_auditlog_change", args=[entry.pk])).status_code
        == 200
    )
    assert staff_client.get(reverse("admin:portal_auditlog_add")).status_code == 403
    assert (
        staff_client.get(reverse("admin:portal_auditlog_delete", args=[entry.pk])).status_code
        == 403
    )
    staff_client.post(
        reverse("admin:portal_auditlog_change", args=[entry.pk]), {"action": "hacked"}
    )
    assert AuditLog.objects.get(pk=entry.pk).action == "team.change"


def test_events_are_read_only(staff_client, team):
    event = EndpointEventFactory(endpoint=EndpointFactory(team=team))
    assert staff_client.get(reverse("admin:deployments_endpointevent_add")).status_code == 403
    assert (
        staff_client.get(
            reverse("admin:deployments_endpointevent_delete", args=[event.pk])
        ).status_code
        == 403
    )
    assert EndpointEvent.objects.filter(pk=event.pk).exists()
