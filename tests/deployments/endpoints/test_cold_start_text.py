"""What the request form's estimate and the endpoint page say a scale-from-zero costs in time,
measured or estimated, and that a new request plans its pre-warm lead with the measured p95."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse

from deployments.endpoints import manifests
from deployments.models import ColdStart, Endpoint
from deployments.workloads import sizing
from portal.templatetags.portal import duration
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates
AT = datetime(2026, 11, 10, 9, tzinfo=UTC)


def _starts(endpoint, *seconds, launched=True):
    for i, s in enumerate(seconds):
        ColdStart.objects.create(
            endpoint=endpoint,
            model=endpoint.model,
            gpu_type=endpoint.gpu_type,
            pod_uid=f"{endpoint.pk}-{launched}-{i}",
            pod_name=f"chat-predictor-{i}",
            pending_at=AT - timedelta(seconds=s),
            scheduled_at=AT - timedelta(seconds=s - 1),
            weights_ready_at=AT - timedelta(seconds=20),
            engine_ready_at=AT + timedelta(minutes=i),
            seconds=s,
            node_launched=launched,
            accepted=True,
        )


def _form(llama_8b, gpu, **extra):
    return {
        "name": "x",
        "model": llama_8b.pk,
        "gpu_type": gpu.pk,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 2,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
        **extra,
    }


@pytest.mark.usefixtures("in_november")
def test_the_estimate_says_the_start_is_estimated_without_history(member_client, llama_8b, gpu_l4):
    estimate = sizing.pod_resources(float(llama_8b.parameters_b), "bf16", 1).cold_start_seconds
    response = member_client.get(
        reverse("deployments:endpoint_estimate"),
        _form(llama_8b, gpu_l4),
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    minutes = -(-estimate // 60)
    assert f"About {minutes} min from zero for this model on this GPU" in body
    assert "estimated from the model size: no start measured yet" in body


@pytest.mark.usefixtures("in_november")
def test_the_estimate_says_the_measured_p95_with_history(member_client, llama_8b, gpu_l4, team):
    _starts(EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4), 200, 230, 240)
    _starts(EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4), 38, 40, launched=False)
    response = member_client.get(
        reverse("deployments:endpoint_estimate"),
        _form(llama_8b, gpu_l4),
        headers={"HX-Request": "true"},
    )
    assert (
        "About 4 min from zero for this model on this GPU, 40 s when a node is warm "
        "(measured: p95 of 5 starts)." in response.content.decode()
    )


def test_the_endpoint_page_says_what_a_start_costs_and_lists_the_starts(
    member_client, team, llama_8b, gpu_l4
):
    ep = EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4)
    _starts(ep, 150, 170)
    ColdStart.objects.create(
        endpoint=ep,
        model=llama_8b,
        gpu_type=gpu_l4,
        pod_uid="refused",
        pod_name="chat-predictor-old",
        engine_ready_at=AT,
        note="the pod is older than the endpoint (left from before)",
    )
    body = member_client.get(reverse("deployments:endpoint_detail", args=[ep.uuid])).content
    body = body.decode()
    assert "About 3 min from zero for this model on this GPU" in body
    assert "(measured: p95 of 2 starts)" in body
    assert "chat-predictor-1: 2m 50s on a new node, weights after 2m 29s" in body
    assert "not measured (the pod is older than the endpoint (left from before))" in body


@pytest.mark.time_machine(AT, tick=False)
def test_a_new_scheduled_endpoint_plans_its_pre_warm_lead_with_the_measured_p95(
    member, team, llama_8b, gpu_l4, endpoint_data
):
    from deployments.endpoints.services import request_endpoint

    _starts(EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4), 1500, 1700)
    data = {
        **endpoint_data,
        "name": "day",
        "schedule_enabled": True,
        "schedule_timezone": "Europe/Berlin",
        "schedule_start": time(8, 0),
        "schedule_end": time(18, 0),
        "schedule_weekdays_only": True,
    }
    ep = request_endpoint(team, member, data)
    ep = Endpoint.objects.get(pk=ep.pk)
    assert ep.cold_start_seconds == 1700
    assert manifests.prewarm_minutes(ep) == 30
    assert manifests.schedule_window(ep)[0] == "30 7 * * 1-5"


@pytest.mark.usefixtures("in_november")
def test_the_model_catalog_shows_p50_and_p95_per_gpu_or_the_estimate(
    member_client, team, llama_8b, gpu_l4, gpu_h100
):
    _starts(EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4), 100, 200, 300)
    body = member_client.get(reverse("deployments:model_catalog")).content.decode()
    rows = {}
    for gpu in (gpu_l4, gpu_h100):
        row = body.split(f"<td>{gpu.name} ")[1].split("</tr>")[0]
        rows[gpu.name] = row.split('data-testid="cold-start">')[1]
    assert rows[gpu_l4.name].split("</td>")[0].endswith("p50 3m 20s · p95 5m</span>")
    estimate = sizing.pod_resources(float(llama_8b.parameters_b), "bf16", 1).cold_start_seconds
    assert f"~{duration(estimate)} est.</span>" in rows[gpu_h100.name]


@pytest.mark.time_machine(AT, tick=False)
def test_the_stuck_flag_compares_with_the_measured_p95(team, llama_8b, gpu_l4):
    from deployments.endpoints import page
    from deployments.endpoints.choices import EndpointStatus

    ep = EndpointFactory(
        team=team,
        model=llama_8b,
        gpu_type=gpu_l4,
        status=EndpointStatus.PROVISIONING,
        status_changed_at=AT - timedelta(minutes=7),
    )
    assert page.stuck(ep, AT) is None  # 7 min is within 1.5 x the estimate
    ep.cold_start_seconds = 240  # the measured p95 of this model on this GPU
    flag = page.stuck(ep, AT)
    assert flag is not None and flag.measured and flag.expected_seconds == 240
