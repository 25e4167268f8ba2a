from decimal import Decimal

import pytest
from django.urls import reverse

pytestmark = pytest.mark.dates

URL = reverse("deployments:endpoint_estimate")


def _params(llama_8b, gpu, **extra):
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
def test_estimate_shows_monthly_cost_for_min_and_max_replicas(member_client, llama_8b, gpu_l4):
    response = member_client.get(URL, _params(llama_8b, gpu_l4), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "$576.00" in body  # 0.80/h x 720 h (November) x 1 replica
    assert "$1,152.00" in body
    assert "14 of 16 free" not in body and "16 of 16 free" in body
    assert "Approved automatically" in body
    assert "<html" not in body


@pytest.mark.usefixtures("in_november")
def test_estimate_uses_the_spot_price(member_client, llama_8b, gpu_l4):
    body = member_client.get(URL, _params(llama_8b, gpu_l4, capacity_type="spot")).content.decode()
    assert "$216.00" in body  # 0.30 x 720


def test_estimate_lists_approval_reasons(member_client, team, llama_8b, gpu_l4):
    team.approval_cost_threshold = Decimal("1000")
    team.save()
    body = member_client.get(URL, _params(llama_8b, gpu_l4)).content.decode()
    assert "Needs approval" in body and "approval threshold" in body


def test_estimate_warns_when_over_quota(member_client, team, llama_8b, gpu_l4):
    team.max_gpus = 1
    team.save()
    body = member_client.get(URL, _params(llama_8b, gpu_l4)).content.decode()
    assert "Cannot be requested" in body and "Needs 2 GPUs" in body


def test_estimate_shows_sizing_for_the_chosen_gpu(member_client, llama_8b, gpu_l4):
    body = member_client.get(URL, _params(llama_8b, gpu_l4)).content.decode()
    assert "GPU memory" in body and "Weights" in body


def test_estimate_without_a_gpu_type_explains_what_to_pick(member_client, llama_8b, gpu_l4):
    params = _params(llama_8b, gpu_l4)
    params.pop("gpu_type")
    body = member_client.get(URL, params).content.decode()
    assert "Pick a model and a GPU type" in body


def test_estimate_tolerates_garbage_input(member_client, llama_8b, gpu_l4):
    response = member_client.get(
        URL, _params(llama_8b, gpu_l4, gpu_count="lots", max_replicas="-5")
    )
    assert response.status_code == 200


def test_estimate_post_is_405(member_client):
    assert member_client.post(URL).status_code == 405


# --- one source of truth for fit, approval and price (issue 13) -------------------------


def test_no_approval_verdict_beside_cannot_start(member_client, llama_8b, gpu_l4):
    llama_8b.parameters_b = 70
    llama_8b.num_layers = 80
    llama_8b.save()
    body = member_client.get(URL, _params(llama_8b, gpu_l4)).content.decode()
    assert 'data-verdict="cannot_start"' in body
    assert "Approved automatically" not in body and "Needs approval" not in body
    # the figure of the form ("of 21.6 usable") is the one of the error the request gets
    assert "of 21.6 usable" in body and "has 21.6 GiB usable" in body
    assert "after overhead" not in body


def test_no_approval_verdict_while_min_is_above_max(member_client, llama_8b, gpu_l4):
    body = member_client.get(
        URL, _params(llama_8b, gpu_l4, min_replicas=3, max_replicas=1)
    ).content.decode()
    assert 'data-verdict="incomplete"' in body and "Approved automatically" not in body
    assert "Minimum replicas cannot be above maximum replicas." in body


def test_no_approval_verdict_without_a_name(member_client, llama_8b, gpu_l4):
    body = member_client.get(URL, _params(llama_8b, gpu_l4, name="")).content.decode()
    assert 'data-verdict="incomplete"' in body and "Approved automatically" not in body


def test_needs_2_gpus_only_when_fewer_are_chosen(member_client, llama_8b, gpu_l4):
    # 8B bf16 with eight 8K sequences needs tensor parallel 2 on a 24 GiB L4
    one = member_client.get(URL, _params(llama_8b, gpu_l4, gpu_count=1)).content.decode()
    assert "Needs 2 GPUs per replica" in one
    two = member_client.get(URL, _params(llama_8b, gpu_l4, gpu_count=2)).content.decode()
    assert "Needs 2 GPUs per replica" not in two
    assert 'data-verdict="auto"' in two and "Fits on 2 GPUs" in two


def test_a_valid_request_gets_the_verdict_the_request_gets(
    member_client, team, llama_8b, gpu_l4, django_capture_on_commit_callbacks
):
    team.approval_cost_threshold = Decimal("1000")
    team.save()
    body = member_client.get(URL, _params(llama_8b, gpu_l4, name="chat")).content.decode()
    assert 'data-verdict="approval"' in body
    with django_capture_on_commit_callbacks():
        member_client.post(
            reverse("deployments:endpoint_create"), _params(llama_8b, gpu_l4, name="chat")
        )
    assert team.endpoints.get(name="chat").status == "pending_approval"


@pytest.mark.usefixtures("in_november")
def test_an_office_hours_schedule_lowers_the_estimate_and_shows_the_saving(
    member_client, llama_8b, gpu_l4
):
    from deployments.endpoints.estimates import cold_start_of
    from deployments.endpoints.schedule import prewarm_lead_minutes

    office = {
        "schedule_enabled": "on",
        "schedule_timezone": "Europe/Berlin",
        "schedule_start": "08:00",
        "schedule_end": "19:00",
        "schedule_weekdays_only": "on",
    }
    response = member_client.get(URL, _params(llama_8b, gpu_l4, **office))
    body = response.content.decode()
    lead = prewarm_lead_minutes(cold_start_of({"model": llama_8b, "gpu_count": 1}))
    # November 2026: 21 weekdays (1 Nov is a Sunday), Berlin on CET all month
    hours = Decimal(21) * (Decimal(11) + Decimal(lead) / 60)
    one = (Decimal("0.80") * hours).quantize(Decimal("0.01"))
    estimate = response.context["estimate"]
    assert estimate.monthly_cost_min == one and estimate.monthly.always_on_min == Decimal("576.00")
    assert f"${one}" in body and "Saving vs always-on" in body
    assert f"${Decimal('576.00') - one}" in body


@pytest.mark.usefixtures("in_november")
def test_always_on_shows_no_saving_line(member_client, llama_8b, gpu_l4):
    body = member_client.get(URL, _params(llama_8b, gpu_l4)).content.decode()
    assert "Saving vs always-on" not in body


def test_cannot_start_is_not_priced_and_shows_the_figure_of_its_problem(
    member_client, llama_8b, gpu_l4
):
    import re

    llama_8b.parameters_b = 70
    llama_8b.num_layers = 80
    llama_8b.save()
    body = member_client.get(URL, _params(llama_8b, gpu_l4)).content.decode()
    assert 'data-testid="not-priced"' in body
    assert "/ month" not in body and "per GPU-hour" not in body
    needed = re.search(r"Needed per GPU.*?<dd>([\d.]+) GiB", body, re.S).group(1)
    said = re.search(r"needs ([\d.]+) GiB per GPU", body).group(1)
    assert float(needed) == pytest.approx(float(said), abs=0.05)
    assert "to start: 1 sequence)" in body
