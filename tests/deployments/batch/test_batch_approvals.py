"""Batch jobs in the /approvals/ inbox next to endpoint requests: the same rules (team admins
and staff decide, outsiders see nothing) and four eyes (the requester never approves their
own request, in the inbox, on the page, in the service and in the API)."""

import pytest
from django.urls import reverse

from deployments.batch import services
from deployments.batch.choices import BatchJobStatus
from deployments.endpoints.choices import EndpointStatus
from deployments.models import BatchJob
from deployments.workloads.errors import SelfApproval
from portal.models import Membership
from tests.factories import BatchJobFactory, EndpointFactory, MembershipFactory, UserFactory

URL = reverse("deployments:approval_list")


@pytest.fixture
def pending(team, other_team, member, owner):
    pending = BatchJobStatus.PENDING_APPROVAL
    return {
        "endpoint": EndpointFactory(
            team=team, name="big-one", status=EndpointStatus.PENDING_APPROVAL
        ),
        "mine": BatchJobFactory(
            team=team,
            name="owners-batch",
            status=pending,
            requested_by=owner,
            status_message="Estimated cost of the batch job (3.00) is above 2.00.",
        ),
        "members": BatchJobFactory(
            team=team, name="members-batch", status=pending, requested_by=member
        ),
        "elsewhere": BatchJobFactory(team=other_team, name="not-yours", status=pending),
        "running": BatchJobFactory(
            team=team, name="already-running", status=BatchJobStatus.RUNNING
        ),
    }


def _action(job, action):
    return reverse("deployments:batch_job_action", args=[job.uuid, action])


def test_inbox_lists_batch_jobs_next_to_endpoints(owner_client, pending):
    body = owner_client.get(URL).content.decode()
    assert "big-one" in body and "members-batch" in body and "owners-batch" in body
    assert "is above 2.00" in body  # the reason it waits
    assert "not-yours" not in body and "already-running" not in body
    assert _action(pending["members"], "approve") in body


def test_requester_gets_no_approve_button_and_sees_who_can(owner_client, pending, team):
    second = MembershipFactory(
        team=team, user=UserFactory(username="dana"), role=Membership.Role.ADMIN
    )
    body = owner_client.get(URL).content.decode()
    assert _action(pending["mine"], "approve") not in body
    assert _action(pending["mine"], "reject") in body  # withdrawing your own is fine
    assert "You asked for this" in body and second.user.username in body


def test_member_who_is_not_admin_sees_nothing_to_decide(member_client, pending):
    body = member_client.get(URL).content.decode()
    assert "members-batch" not in body
    assert "Nothing is waiting for your approval." in body


def test_outsider_sees_only_their_team(outsider_client, pending):
    body = outsider_client.get(URL).content.decode()
    assert "not-yours" in body and "members-batch" not in body


def test_another_admin_approves_from_the_inbox(
    owner_client, pending, fake_cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(_action(pending["members"], "approve"), {"next": "approvals"})
    assert response.status_code == 302 and response["Location"] == URL
    job = BatchJob.objects.get(pk=pending["members"].pk)
    assert job.status == BatchJobStatus.RUNNING and job.approved_by.username == "alice"
    assert ("Job", job.namespace, job.job_name) in fake_cluster.objects


def test_self_approval_is_refused_everywhere(
    owner, owner_client, pending, api_client_for, fake_cluster
):
    mine = pending["mine"]
    response = owner_client.post(_action(mine, "approve"), {"next": "approvals"}, follow=True)
    assert "four eyes" in response.content.decode()
    with pytest.raises(SelfApproval):
        services.approve_batch_job(mine, owner)
    api = api_client_for(owner).post(f"/api/v1/batch-jobs/{mine.uuid}/approve/")
    assert api.status_code == 403 and "four eyes" in api.json()["detail"]
    assert BatchJob.objects.get(pk=mine.pk).status == BatchJobStatus.PENDING_APPROVAL
    assert not fake_cluster.objects
    page = owner_client.get(reverse("deployments:batch_job_detail", args=[mine.uuid]))
    assert _action(mine, "approve") not in page.content.decode()


def test_reject_from_the_inbox_keeps_the_reason(owner_client, pending):
    response = owner_client.post(
        _action(pending["members"], "reject"), {"next": "approvals", "reason": "Use spot L4s."}
    )
    assert response["Location"] == URL
    job = BatchJob.objects.get(pk=pending["members"].pk)
    assert job.status == BatchJobStatus.REJECTED and "Use spot L4s." in job.status_message


def test_member_cannot_approve(member_client, pending):
    response = member_client.post(_action(pending["mine"], "approve"))
    assert response.status_code == 403
    assert BatchJob.objects.get(pk=pending["mine"].pk).status == BatchJobStatus.PENDING_APPROVAL


def test_query_count_does_not_grow_with_batch_jobs(
    owner_client, team, pending, django_assert_max_num_queries
):
    with django_assert_max_num_queries(14) as few:
        owner_client.get(URL)
    for _ in range(10):
        BatchJobFactory(team=team, status=BatchJobStatus.PENDING_APPROVAL)
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get(URL)
