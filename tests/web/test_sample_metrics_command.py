"""`manage.py sample_metrics`: a real Prometheus (promtool backfill) with sample history of the
seeded endpoints, usage rows for the whole hours, an env file for the portal, and pages that
say the data is sample data."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from billing.models import UsageRecord


@pytest.fixture
def seeded(db, settings):
    settings.KUBECONFIG, settings.KUBE_IN_CLUSTER = "", False
    call_command("seed_demo", stdout=io.StringIO())


@pytest.mark.prometheus
def test_sample_metrics_fills_prometheus_and_usage_for_the_seeded_endpoints(
    seeded, tmp_path, settings
):
    pytest.importorskip("tests.infra.prom").find_prometheus()
    out = io.StringIO()
    env = tmp_path / "sample.env"
    call_command(
        "sample_metrics",
        workdir=str(tmp_path / "prom"),
        env_file=str(env),
        hours=3,
        no_wait=True,
        stdout=out,
    )
    assert "Sample history ready" in out.getvalue()
    text = env.read_text()
    assert "export MODELPORT_SAMPLE_METRICS=true" in text and "PROMETHEUS_URL=http://" in text
    teams = set(UsageRecord.objects.values_list("team__slug", flat=True))
    assert {"search", "support"} <= teams  # team costs have GPU time
    assert UsageRecord.objects.filter(endpoint__name="query-rewriter").count() >= 2


def test_sample_metrics_without_endpoints_says_to_seed_first(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="seed_demo"):
        call_command("sample_metrics", workdir=str(tmp_path), hours=1, no_wait=True)


def test_pages_say_sample_data_when_it_is(member_client, settings):
    settings.SAMPLE_METRICS = True
    body = member_client.get(reverse("portal:home")).content.decode()
    assert 'data-testid="sample-data-notice"' in body and "sample_metrics" in body
    settings.SAMPLE_METRICS = False
    body = member_client.get(reverse("portal:home")).content.decode()
    assert 'data-testid="sample-data-notice"' not in body


@pytest.mark.parametrize("page", ["billing:platform_costs", "portal:fleet_metrics"])
def test_platform_staff_get_the_platform_view_of_a_missing_prometheus(staff_client, settings, page):
    settings.PROMETHEUS_URL = ""
    body = staff_client.get(reverse(page)).content.decode()
    assert 'data-testid="prometheus-setup-staff"' in body
    assert "Nothing to do for your team" not in body
