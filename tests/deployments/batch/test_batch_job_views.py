"""The batch job pages: list, request form with its live estimate, detail, the polled status
fragment and the day-2 actions (happy path, rights, outsider 404, wrong method 405, full page
versus HTMX partial)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from deployments.batch import services
from deployments.batch.choices import BatchJobStatus, ShardState
from deployments.models import BatchJob
from portal.htmx import HTMX_STOP_POLLING
from tests.factories import BatchJobFactory

pytestmark = pytest.mark.dates

HX = {"HTTP_HX_REQUEST": "true"}
LIST = reverse("deployments:batch_job_list")
CREATE = reverse("deployments:batch_job_create")
ESTIMATE = reverse("deployments:batch_job_estimate")


@pytest.fixture
def form_data(team, llama_8b, gpu_l4):
    llama_8b.batch_tokens_per_gpu_second = Decimal("2000")
    llama_8b.save()
    return {
        "team": team.pk,
        "name": "nightly",
        "model": llama_8b.pk,
        "gpu_type": gpu_l4.pk,
        "gpu_count": 1,
        "capacity_type": "spot",
        "input_uri": "s3://acme-data/batches/in.jsonl",
        "output_uri": "s3://acme-data/batches/out",
        "shards": 4,
        "parallelism": 2,
        "expected_tokens": 72_000_000,
    }


@pytest.fixture
def job(team, llama_8b, gpu_l4):
    return BatchJobFactory(
        team=team, model=llama_8b, gpu_type=gpu_l4, offering=None, status=BatchJobStatus.RUNNING
    )


def _detail(job):
    return reverse("deployments:batch_job_detail", args=[job.uuid])


def _status(job):
    return reverse("deployments:batch_job_status", args=[job.uuid])


def _action(job, action):
    return reverse("deployments:batch_job_action", args=[job.uuid, action])


# --- list -------------------------------------------------------------------------------


def test_list_shows_the_teams_jobs_only(member_client, job, other_team):
    BatchJobFactory(team=other_team, name="theirs")
    body = member_client.get(LIST).content.decode()
    assert job.name in body and "theirs" not in body


def test_list_query_count_is_constant(member_client, team, job, django_assert_max_num_queries):
    with django_assert_max_num_queries(10) as few:
        member_client.get(LIST)
    for _ in range(10):
        BatchJobFactory(team=team)
    with django_assert_max_num_queries(len(few.captured_queries)):
        member_client.get(LIST)


def test_list_post_is_405(member_client):
    assert member_client.post(LIST).status_code == 405


# --- request form and live estimate ---------------------------------------------------------


def test_member_requests_a_batch_job(
    member_client, form_data, fake_cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(CREATE, form_data)
    job = BatchJob.objects.get(name="nightly")
    assert response.status_code == 302 and response["Location"] == _detail(job)
    assert job.status == BatchJobStatus.RUNNING and job.estimated_cost == Decimal("3.00")


def test_htmx_request_answers_with_a_redirect_header(
    member_client, form_data, fake_cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(CREATE, form_data, **HX)
    job = BatchJob.objects.get(name="nightly")
    assert response.status_code == 204 and response["HX-Redirect"] == _detail(job)


def test_invalid_form_is_shown_again_with_the_errors(member_client, form_data, fake_cluster):
    response = member_client.post(CREATE, {**form_data, "input_uri": "ftp://x/in.jsonl"})
    assert response.status_code == 200 and not BatchJob.objects.exists()
    assert "input_uri" in response.context["form"].errors


def test_both_shards_and_target_shard_size_is_a_form_error(member_client, form_data):
    response = member_client.post(CREATE, {**form_data, "target_shard_tokens": 10_000_000})
    assert "not both" in str(response.context["form"].errors["target_shard_tokens"])
    assert not BatchJob.objects.exists()


@pytest.mark.parametrize("cap", ["-5", "0", "-0.01"])
def test_a_cost_cap_below_one_cent_is_a_form_error(member_client, form_data, fake_cluster, cap):
    response = member_client.post(CREATE, {**form_data, "cost_cap": cap})
    assert response.status_code == 200 and not BatchJob.objects.exists()
    assert "more than 0" in str(response.context["form"].errors["cost_cap"])


def test_the_service_refuses_a_negative_cost_cap(member, team, form_data, fake_cluster):
    """Whatever the edge (a command, a future form), the service holds the invariant."""
    from deployments.batch.forms import BatchJobForm
    from deployments.workloads.errors import DeploymentError

    form = BatchJobForm({**form_data, "cost_cap": "1"}, teams=type(team).objects.all())
    assert form.is_valid(), form.errors
    data = {**form.cleaned_data, "cost_cap": Decimal("-1")}
    with pytest.raises(DeploymentError) as exc:
        services.request_batch_job(team, member, data)
    assert exc.value.field == "cost_cap" and "more than 0" in exc.value.message
    assert not BatchJob.objects.exists()


def test_a_job_over_quota_is_refused_in_words_about_shards(member_client, form_data, team):
    """The shared admission rules speak of the batch job, not of an endpoint's replicas."""
    team.max_gpus = 1
    team.save()
    body = member_client.post(CREATE, form_data).content.decode()
    assert not BatchJob.objects.exists()
    assert "Needs 2 GPUs (1 per shard x 2 shards at once) but the team has 1 of 1 left." in body
    assert "max replicas" not in body


def test_a_job_over_budget_is_refused_with_its_estimated_total_cost(
    member, team, form_data, fake_cluster
):
    from deployments.batch.forms import BatchJobForm
    from deployments.workloads.errors import BudgetExceeded

    team.monthly_budget, team.over_budget_policy = Decimal("1"), team.OverBudgetPolicy.REFUSE
    team.save()
    form = BatchJobForm(form_data, teams=type(team).objects.all())
    assert form.is_valid(), form.errors
    with pytest.raises(BudgetExceeded) as exc:
        services.request_batch_job(team, member, form.cleaned_data)
    assert exc.value.message.startswith("With this batch job the team's projected cost")
    assert "plus this batch job's estimated total cost)" in exc.value.message


def test_viewer_cannot_request(viewer_client, form_data, fake_cluster):
    assert viewer_client.post(CREATE, form_data).status_code == 403
    assert not BatchJob.objects.exists()


def test_outsider_cannot_pick_another_teams_name(outsider_client, form_data):
    response = outsider_client.post(CREATE, form_data)
    assert response.status_code == 200 and "team" in response.context["form"].errors


def test_live_estimate_is_the_same_as_the_api(member_client, api_client, form_data, team):
    """The fragment the form polls and POST /api/v1/batch-jobs/ use estimate_batch: same
    figures. 72M tokens / 2000 per GPU-s = 10 GPU-hours; L4 0.30 spot, 0.80 on-demand."""
    response = member_client.get(ESTIMATE, form_data, **HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "10.00" in body and "$3.00 <small>on spot" in body
    assert "vs $8.00 on-demand (62 % less)" in body  # money with its currency
    assert "<html" not in body  # a fragment
    estimate = response.context["estimate"]
    assert (estimate.gpu_hours, estimate.cost, estimate.cost_on_demand) == (
        Decimal("10.00"),
        Decimal("3.00"),
        Decimal("8.00"),
    )


def test_live_estimate_needs_only_team_model_and_gpu(member_client, form_data):
    partial = {k: form_data[k] for k in ("team", "model", "gpu_type", "expected_tokens")}
    body = member_client.get(ESTIMATE, partial, **HX).content.decode()
    assert "10.00" in body  # no name or URIs yet: the estimate is already there
    empty = member_client.get(ESTIMATE, {"expected_tokens": "lots"}, **HX).content.decode()
    assert "Choose a team, a model and a GPU type" in empty


def test_live_estimate_shows_the_quota_problem(member_client, form_data, team):
    team.max_gpus = 1
    team.save()
    body = member_client.get(ESTIMATE, form_data, **HX).content.decode()
    assert 'data-verdict="refused"' in body and "GPUs at once</dt><dd>2 " in body


def test_live_estimate_for_an_outsiders_team_is_empty(outsider_client, form_data):
    response = outsider_client.get(ESTIMATE, form_data, **HX)
    assert response.status_code == 200 and response.context["estimate"] is None


def test_estimate_post_is_405(member_client):
    assert member_client.post(ESTIMATE).status_code == 405


def test_create_page_wires_the_live_estimate(member_client):
    body = member_client.get(CREATE).content.decode()
    assert f'hx-get="{ESTIMATE}"' in body and 'id="estimate"' in body


# --- detail and status --------------------------------------------------------------------


def test_detail_shows_progress_and_spec(member_client, job):
    job.shard_states[0].update(state=ShardState.DONE, requests=10, requests_done=10)
    job.save()
    response = member_client.get(_detail(job))
    assert response.status_code == 200
    body = response.content.decode()
    assert job.input_uri in body and "1 done" in body and 'hx-trigger="every 5s"' in body


def test_outsider_gets_404(outsider_client, job):
    assert outsider_client.get(_detail(job)).status_code == 404
    assert outsider_client.get(_status(job)).status_code == 404
    assert outsider_client.post(_action(job, "cancel")).status_code == 404


def test_status_is_a_fragment_polled_until_final(member_client, job):
    live = member_client.get(_status(job), **HX)
    assert live.status_code == 200 and "<html" not in live.content.decode()
    BatchJob.objects.filter(pk=job.pk).update(status=BatchJobStatus.SUCCEEDED)
    done = member_client.get(_status(job), **HX)
    assert done.status_code == HTMX_STOP_POLLING
    assert 'hx-trigger="every 5s"' not in done.content.decode()
    assert member_client.get(_status(job)).status_code == 200  # not htmx: a plain 200


def test_detail_post_is_405(member_client, job):
    assert member_client.post(_detail(job)).status_code == 405
    assert member_client.post(_status(job)).status_code == 405


# --- actions ------------------------------------------------------------------------------


def test_member_cancels(member_client, job, fake_cluster, django_capture_on_commit_callbacks):
    services.record_applied(job, job.generation, BatchJobStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(_action(job, "cancel"))
    assert response.status_code == 302 and response["Location"] == _detail(job)
    assert BatchJob.objects.get(pk=job.pk).status == BatchJobStatus.CANCELLED


def test_viewer_cannot_act(viewer_client, job):
    assert viewer_client.post(_action(job, "cancel")).status_code == 403
    assert BatchJob.objects.get(pk=job.pk).status == BatchJobStatus.RUNNING


def test_member_cannot_approve_but_owner_may(member_client, owner_client, job):
    BatchJob.objects.filter(pk=job.pk).update(status=BatchJobStatus.PENDING_APPROVAL)
    assert member_client.post(_action(job, "approve")).status_code == 403
    assert owner_client.post(_action(job, "reject"), {"reason": "no"}).status_code == 302
    assert BatchJob.objects.get(pk=job.pk).status == BatchJobStatus.REJECTED


def test_an_action_that_does_not_fit_the_status_is_a_message(member_client, job):
    response = member_client.post(_action(job, "resume"), follow=True)
    assert "cannot be resumed now" in response.content.decode()


def test_unknown_action_is_404_and_get_is_405(member_client, job):
    assert member_client.post(_action(job, "explode")).status_code == 404
    assert member_client.get(_action(job, "cancel")).status_code == 405


def test_without_a_cluster_a_request_waits_as_not_started_and_starts_once_one_is_connected(
    member_client, form_data, no_cluster, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from deployments.batch.reconcile import sync_batch_jobs
    from deployments.k8s import ClusterClient
    from tests.deployments.conftest import FakeCluster

    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(CREATE, form_data)
    job = BatchJob.objects.get(name="nightly")
    assert job.status == BatchJobStatus.NOT_DEPLOYED and job.is_final
    html = member_client.get(_detail(job)).content.decode()
    assert "Not started" in html and "no cluster connected" in html
    assert "KUBECONFIG" not in html and 'data-status="failed"' not in html
    assert _action(job, "resume") not in html  # nothing to resume: it never ran
    assert _action(job, "cancel") in html
    assert sync_batch_jobs() == 0  # still no cluster: nothing to do, no error
    settings.KUBECONFIG = "/nonexistent/fake-kubeconfig"  # the platform team connects one
    monkeypatch.setattr(ClusterClient, "from_settings", classmethod(lambda cls: FakeCluster()))
    with django_capture_on_commit_callbacks(execute=True):
        sync_batch_jobs()
    job.refresh_from_db()
    assert job.status == BatchJobStatus.RUNNING


def test_request_form_speaks_like_the_request_form_not_django(member_client, settings, llama_8b):
    body = member_client.get(CREATE).content.decode()
    assert "---------" not in body
    for label in ("GPU type", "Input file", "Output folder", "Precision", "Shards at once"):
        assert f">{label}</label>" in body, label
    assert "Gpu type" not in body and "Input uri" not in body
    assert f">Cost cap ({settings.BILLING_CURRENCY})</label>" in body
    assert "data-model-defaults" in body and 'data-quantizations="' in body
    assert 'id="estimate"' in body and "estimate-card" in body
    assert 'name="estimate"' not in body  # no Estimate button: the estimate is live
    # The live estimate listens on the fields, not on the form: its submit is never htmx's.
    form_tag = body.split('id="batch-form"')[1].split(">")[0]
    assert "hx-" not in form_tag


def test_estimate_never_asks_for_tokens_already_given(member_client, form_data, llama_8b):
    llama_8b.batch_tokens_per_gpu_second = None
    llama_8b.save()
    body = member_client.get(ESTIMATE, form_data, **HX).content.decode()
    if "give the expected tokens" in body:
        raise AssertionError("asked for expected tokens that were given")
    assert "GPU-hours</dt><dd>10.00" in body or "no measured or catalog throughput" in body
