"""/api/v1/batch-jobs/: request, hostile input, quota and approval rules, rights, manifests."""

from decimal import Decimal

import pytest
import yaml
from django.core.management import call_command

from deployments.batch import manifests
from deployments.batch.choices import BatchJobStatus
from deployments.models import BatchJob, Endpoint
from tests.deployments.batch_helpers import body

pytestmark = pytest.mark.dates

URL = "/api/v1/batch-jobs/"


@pytest.fixture
def payload(team, llama_8b, gpu_l4):
    llama_8b.batch_tokens_per_gpu_second = Decimal("2000")
    llama_8b.save()
    return body(team, llama_8b, gpu_l4, shards=4, parallelism=2, expected_tokens=72_000_000)


def _post(client, data, capture):
    with capture(execute=True):
        return client.post(URL, data, format="json")


def test_request_answers_202_with_estimate(
    api_client, payload, fake_cluster, django_capture_on_commit_callbacks
):
    response = _post(api_client, payload, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    data = response.json()
    assert data["status"] == BatchJobStatus.APPROVED and data["uuid"]
    # 72M tokens / 2000 per GPU-s = 10 GPU-hours; L4 spot 0.30/h, on-demand 0.80/h.
    assert data["estimated_gpu_hours"] == "10.00"
    assert (data["estimated_cost"], data["estimated_cost_on_demand"]) == ("3.00", "8.00")
    job = BatchJob.objects.get(uuid=data["uuid"])
    assert job.status == BatchJobStatus.RUNNING and job.applied_generation == 1
    applied = fake_cluster.objects[("Job", job.namespace, "nightly-r1")]
    assert applied["spec"]["completions"] == 4 and applied["spec"]["parallelism"] == 2
    detail = api_client.get(f"{URL}{job.uuid}/").json()
    assert len(detail["shard_progress"]["shards"]) == 4
    assert detail["shard_progress"]["counts"]["pending"] == 4


@pytest.mark.parametrize(
    "field,value",
    [
        ("input_uri", "s3://acme-data/../etc/passwd"),
        ("input_uri", "s3://acme-data/in.jsonl; rm -rf /"),
        ("output_uri", "hf://org/repo/out"),
        ("output_uri", "pvc://claim/a/./b"),
        ("name", "Bad_Name"),
        ("name", "x" * 41),
        ("shards", 0),
        ("gpu_count", 9),
        # args that end up in the vLLM command line
        ("quantization", "bf16 --trust-remote-code"),
        ("max_context_length", "8192 --enforce-eager"),
        ("max_context_length", 10**9),
        ("capacity_type", "spot\nkarpenter.sh/nodepool: evil"),
        ("target_shard_tokens", "1e9; rm -rf /"),
        ("parallelism", 1000),
        ("cost_cap", "-5.00"),
        ("cost_cap", 0),
    ],
)
def test_hostile_input_gets_400_and_nothing_is_rendered(
    api_client, payload, field, value, fake_cluster, django_capture_on_commit_callbacks
):
    response = _post(api_client, {**payload, field: value}, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert field in response.json()
    assert not BatchJob.objects.exists() and not fake_cluster.objects


def test_batch_gpus_count_in_the_team_quota(
    api_client,
    payload,
    team,
    fake_cluster,
    endpoint_data,
    member,
    django_capture_on_commit_callbacks,
):
    from deployments.endpoints import services
    from deployments.workloads.errors import QuotaExceeded

    team.max_gpus = 4
    team.save()
    assert _post(api_client, payload, django_capture_on_commit_callbacks).status_code == 202
    # 2 batch GPUs held; an endpoint wanting 3 more does not fit.
    with pytest.raises(QuotaExceeded, match="2 of 4 left"):
        services.request_endpoint(team, member, {**endpoint_data, "max_replicas": 3})
    # And a second batch job of 3 parallel shards does not either.
    second = {**payload, "name": "second", "parallelism": 3}
    response = _post(api_client, second, django_capture_on_commit_callbacks)
    assert response.status_code == 400 and "2 of 4 left" in str(response.json())
    assert Endpoint.objects.count() == 0


def test_over_threshold_waits_for_approval_and_owner_approves(
    api_client,
    api_client_for,
    owner,
    payload,
    team,
    fake_cluster,
    django_capture_on_commit_callbacks,
):
    team.approval_cost_threshold = Decimal("2.00")
    team.save()
    response = _post(api_client, payload, django_capture_on_commit_callbacks)
    assert response.json()["status"] == BatchJobStatus.PENDING_APPROVAL
    assert "Estimated cost of the batch job ($3.00)" in response.json()["status_message"]
    assert not fake_cluster.objects
    uuid = response.json()["uuid"]
    with django_capture_on_commit_callbacks(execute=True):
        denied = api_client.post(f"{URL}{uuid}/approve/")
    assert denied.status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        approved = api_client_for(owner).post(f"{URL}{uuid}/approve/")
    assert approved.status_code == 202
    assert BatchJob.objects.get(uuid=uuid).status == BatchJobStatus.RUNNING


def test_outsider_gets_404(
    api_client_for, outsider, payload, api_client, fake_cluster, django_capture_on_commit_callbacks
):
    uuid = _post(api_client, payload, django_capture_on_commit_callbacks).json()["uuid"]
    assert api_client_for(outsider).get(f"{URL}{uuid}/").status_code == 404
    assert api_client_for(outsider).post(f"{URL}{uuid}/cancel/").status_code == 404


def test_wrong_method_gets_405(
    api_client, payload, fake_cluster, django_capture_on_commit_callbacks
):
    uuid = _post(api_client, payload, django_capture_on_commit_callbacks).json()["uuid"]
    assert api_client.get(f"{URL}{uuid}/cancel/").status_code == 405


def test_manifests_api_and_command_show_what_was_applied(
    api_client, payload, fake_cluster, capsys, django_capture_on_commit_callbacks
):
    uuid = _post(api_client, payload, django_capture_on_commit_callbacks).json()["uuid"]
    job = BatchJob.objects.get(uuid=uuid)
    shown = api_client.get(f"{URL}{uuid}/manifests/").json()["objects"]
    assert shown[-1]["spec"] == fake_cluster.objects[("Job", job.namespace, "nightly-r1")]["spec"]
    call_command("render_batch_job", uuid)
    assert list(yaml.safe_load_all(capsys.readouterr().out)) == shown
    spec = shown[-1]["spec"]
    assert spec["completionMode"] == "Indexed" and spec["backoffLimitPerIndex"] == 3
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert rules[1]["action"] == "FailJob"
    assert rules[1]["onExitCodes"]["values"] == [manifests.BAD_INPUT_EXIT_CODE]
    pod = spec["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["requests"] == resources["limits"]
    assert pod["nodeSelector"]["karpenter.sh/capacity-type"] == "spot"
    assert spec["template"]["metadata"]["labels"]["modelport.io/team"] == job.team.slug
    assert spec["template"]["metadata"]["labels"][manifests.LABEL_BATCH_UUID] == uuid


def test_target_shard_size_instead_of_shards(
    api_client, payload, fake_cluster, django_capture_on_commit_callbacks
):
    data = {k: v for k, v in payload.items() if k != "shards"}
    data["target_shard_tokens"] = 10_000_000  # 72M tokens -> 8 shards (rounded up)
    response = _post(api_client, data, django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    assert (response.json()["shards"], response.json()["target_shard_tokens"]) == (8, 10_000_000)
    job = BatchJob.objects.get(uuid=response.json()["uuid"])
    assert fake_cluster.objects[("Job", job.namespace, "nightly-r1")]["spec"]["completions"] == 8


@pytest.mark.parametrize(
    "change,field,text",
    [
        ({"target_shard_tokens": 10_000_000}, "target_shard_tokens", "not both"),
        (
            {"shards": None, "target_shard_tokens": 10_000_000, "expected_tokens": None},
            "expected_tokens",
            "needs the expected tokens",
        ),
        (
            {"shards": None, "target_shard_tokens": 1000},
            "target_shard_tokens",
            "make 72000 shards; at most 1000",
        ),
        ({"shards": None, "target_shard_tokens": 10}, "target_shard_tokens", "greater than"),
    ],
)
def test_target_shard_size_errors_are_clear_400s(
    api_client, payload, change, field, text, fake_cluster, django_capture_on_commit_callbacks
):
    data = {k: v for k, v in {**payload, **change}.items() if v is not None}
    response = _post(api_client, data, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert text in " ".join(response.json()[field])
    assert not BatchJob.objects.exists() and not fake_cluster.objects
