"""Embedded mode without a cluster: a neutral "Not deployed" state, one notice in the timeline,
and the apply happens once a cluster is configured (issue 13)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from deployments.endpoints import services
from deployments.endpoints.choices import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    STATUS_COLOURS,
    EndpointStatus,
)
from deployments.endpoints.reconcile import NO_CLUSTER_MESSAGE, sync_statuses
from deployments.endpoints.tasks import apply_endpoint
from deployments.models import Endpoint
from tests.factories import GpuRateFactory, MembershipFactory, UserFactory


def _reload(ep):
    return Endpoint.objects.get(pk=ep.pk)


@pytest.fixture
def owner(approved_endpoint):
    user = UserFactory(username="owner")
    MembershipFactory(user=user, team=approved_endpoint.team, role="admin")
    GpuRateFactory(offering=approved_endpoint.offering)
    return user


def test_not_deployed_is_neutral_final_and_counts_against_quota():
    assert STATUS_COLOURS[EndpointStatus.NOT_DEPLOYED] == "grey"
    assert EndpointStatus.NOT_DEPLOYED in FINAL_STATUSES
    assert EndpointStatus.NOT_DEPLOYED in ACTIVE_STATUSES
    assert "no cluster connected" in NO_CLUSTER_MESSAGE
    assert "KUBECONFIG" not in NO_CLUSTER_MESSAGE  # a product team cannot set it


def test_scale_and_start_do_not_pile_up_the_notice(
    approved_endpoint, owner, no_cluster, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    apply_endpoint(approved_endpoint.pk, 1)
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.NOT_DEPLOYED
    for lo, hi in [(1, 2), (1, 1), (0, 2)]:
        with django_capture_on_commit_callbacks(execute=True):
            ep = services.scale_endpoint(_reload(ep), owner, lo, hi)
    with django_capture_on_commit_callbacks(execute=True):
        services.stop_endpoint(_reload(ep), owner)
    assert _reload(ep).status == EndpointStatus.STOPPED
    with django_capture_on_commit_callbacks(execute=True):
        services.start_endpoint(_reload(ep), owner)
    ep = _reload(ep)
    assert ep.status == EndpointStatus.NOT_DEPLOYED
    assert ep.events.filter(message=NO_CLUSTER_MESSAGE).count() == 1
    assert not ep.events.filter(new_status=EndpointStatus.FAILED).exists()
    assert ep.events.filter(kind="error").count() == 0
    # scaling while waiting is an action with no status flip-flop
    scaled = ep.events.filter(message__startswith="Scaled to")
    assert scaled.count() == 3 and set(scaled.values_list("new_status", flat=True)) == {""}
    assert ep.applied_generation < ep.generation  # applied for real once a cluster exists


def test_sync_applies_it_once_a_cluster_is_configured(approved_endpoint, settings, fake_cluster):
    settings.KUBECONFIG = ""
    apply_endpoint(approved_endpoint.pk, 1)
    assert _reload(approved_endpoint).status == EndpointStatus.NOT_DEPLOYED
    # The platform team connects a cluster; the safety net re-enqueues the lost apply.
    settings.KUBECONFIG = "/nonexistent/fake-kubeconfig"
    Endpoint.objects.filter(pk=approved_endpoint.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.KUBE_REAPPLY_AFTER_SECONDS + 1)
    )
    sync_statuses()
    ep = _reload(approved_endpoint)
    assert ep.status == EndpointStatus.PROVISIONING
    assert ep.applied_generation == 1
    assert fake_cluster.isvc(ep) is not None


def test_detail_page_shows_a_grey_not_deployed_badge(client, owner, approved_endpoint, no_cluster):
    apply_endpoint(approved_endpoint.pk, 1)
    ep = _reload(approved_endpoint)
    client.force_login(owner)
    html = client.get(reverse("deployments:endpoint_detail", args=[ep.uuid])).content.decode()
    assert "Not deployed" in html
    assert "no cluster connected" in html
    assert "Failed" not in html


@pytest.mark.parametrize("url", ["portal:home", "deployments:endpoint_create"])
def test_overview_and_request_form_say_no_cluster_before_submitting(member_client, url, no_cluster):
    html = member_client.get(reverse(url)).content.decode()
    assert 'data-testid="no-cluster-notice"' in html
    assert "platform team connects" in html


@pytest.mark.parametrize("url", ["portal:home", "deployments:endpoint_create"])
def test_no_notice_when_a_cluster_is_configured(member_client, url, fake_cluster):
    html = member_client.get(reverse(url)).content.decode()
    assert 'data-testid="no-cluster-notice"' not in html


def test_status_filter_any_status_and_blank_values_are_not_errors(member_client, team):
    url = reverse("deployments:endpoint_list")
    for query in ["?status=", "?q=&status=&model=&gpu_type=", "?status=&status=ready"]:
        html = member_client.get(url + query).content.decode()
        assert "Select a valid choice" not in html, query
    html = member_client.get(url + "?status=bogus").content.decode()
    assert "Select a valid choice" in html  # a real bad value is still reported


def test_scaling_a_ready_endpoint_without_a_cluster_drops_ready_since(
    client, owner, approved_endpoint, no_cluster, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    services.record_observed(approved_endpoint.pk, EndpointStatus.READY, "Serving.")
    client.force_login(owner)
    page = reverse("deployments:endpoint_detail", args=[approved_endpoint.uuid])
    assert "Ready since" in client.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        services.scale_endpoint(_reload(approved_endpoint), owner, 1, 2)
    assert _reload(approved_endpoint).status == EndpointStatus.NOT_DEPLOYED
    assert "Ready since" not in client.get(page).content.decode()
