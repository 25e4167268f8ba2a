"""A member requests a batch job in the browser (the live estimate follows the form), follows
its progress (per-shard progress markers) and reads the finished report; screenshots saved (docs/screenshots/ with
MODELPORT_SCREENSHOT_DIR=docs/screenshots)."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from deployments.batch import manifests, services
from deployments.batch.observe import observe
from deployments.models import BatchJob
from tests.deployments.conftest import fake_cluster  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


def _cluster_says(job, done: int, finished: bool):
    """The Job and pods as the apiserver lists them, folded by the real observer."""
    labels = manifests.labels(job)
    pods = []
    for index in range(job.shards):
        ok = index < done
        state = (
            {
                "terminated": {
                    "exitCode": 0,
                    "startedAt": "2026-12-01T10:00:00Z",
                    "finishedAt": "2026-12-01T10:30:00Z",
                    "message": '{"prompt_tokens": 2000000, "completion_tokens": 6000000, '
                    '"requests": 5000, "requests_done": 5000}',
                }
            }
            if ok
            else {"running": {"startedAt": "2026-12-01T10:00:00Z"}}
        )
        pods.append(
            {
                "metadata": {
                    "uid": f"p{index}",
                    "creationTimestamp": "2026-12-01T09:59:00Z",
                    "labels": labels,
                    "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                },
                "status": {
                    "phase": "Succeeded" if ok else "Running",
                    "containerStatuses": [{"state": state}],
                },
            }
        )
    pods.append(
        {
            "metadata": {
                "uid": "reclaimed",
                "creationTimestamp": "2026-12-01T08:59:00Z",
                "labels": labels,
                "annotations": {"batch.kubernetes.io/job-completion-index": "3"},
            },
            "status": {
                "phase": "Failed",
                "conditions": [
                    {
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "TerminationByKubelet",
                        "message": "spot instance reclaimed",
                    }
                ],
                "containerStatuses": [
                    {
                        "state": {
                            "terminated": {
                                "exitCode": 143,
                                "startedAt": "2026-12-01T09:00:00Z",
                                "finishedAt": "2026-12-01T09:10:00Z",
                                "message": '{"interrupted": true, "requests": 5000, '
                                '"requests_done": 1200}',
                            }
                        }
                    }
                ],
            },
        }
    )
    status = {"completedIndexes": f"0-{done - 1}" if done else ""}
    if finished:
        status["conditions"] = [{"type": "Complete", "status": "True"}]
    job = BatchJob.objects.select_related("team").get(pk=job.pk)
    services.record_observations([(job, observe(job, {"status": status}, pods))])


@pytest.mark.usefixtures("fake_cluster")
def test_request_progress_and_report(
    page, live_server, member, team, llama_8b, gpu_l4, screenshot_path
):
    llama_8b.batch_tokens_per_gpu_second = Decimal("2500")
    llama_8b.save()
    context = page.context
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(member)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])

    page.goto(f"{live_server.url}/batch-jobs/new/")
    page.select_option("#id_team", label=team.name)
    page.fill("#id_name", "nightly-summaries")
    page.select_option("#id_model", label=llama_8b.name)
    page.select_option("#id_gpu_type", label="L4-test")
    page.fill("#id_input_uri", "s3://acme-data/batches/in.jsonl")
    page.fill("#id_output_uri", "s3://acme-data/batches/out")
    page.fill("#id_shards", "4")
    page.fill("#id_parallelism", "2")
    page.fill("#id_expected_tokens", "32000000")
    # The estimate follows the form (htmx fragment), no button pressed: 32M tokens / 2500 per
    # GPU-s = 3.56 GPU-hours; L4 0.30 spot vs 0.80 on-demand.
    expect(page.locator("#batch-estimate")).to_contain_text("3.56")
    expect(page.locator("#batch-estimate-cost")).to_contain_text("$1.07 on spot")
    expect(page.locator("#batch-estimate-cost")).to_contain_text("vs $2.84 on-demand")
    page.screenshot(path=screenshot_path("batch-job-request.png"), full_page=True)
    # The race of issue 28: type the cost cap and click Request at once (the click blurs the
    # field, whose change event refreshes the estimate while the form submits).
    page.locator("#id_cost_cap").press_sequentially("25", delay=20)
    page.get_by_test_id("batch-request").click()
    page.wait_for_url(re.compile(r"/batch-jobs/[0-9a-f-]{36}/$"))  # the POST has answered
    job = BatchJob.objects.get(name="nightly-summaries")
    assert job.cost_cap == Decimal("25")  # the value typed right before the click
    expect(page).to_have_url(f"{live_server.url}/batch-jobs/{job.uuid}/")

    _cluster_says(job, done=2, finished=False)
    page.reload()
    expect(page.locator("#shard-counts")).to_contain_text("2 done")
    expect(page.locator("#batchjob-status")).to_contain_text("TerminationByKubelet")
    expect(page.locator("#shard-progress")).to_contain_text("1200 / 5000")  # shard 3, reclaimed
    expect(page.locator("#shard-progress")).to_contain_text("24 %")

    _cluster_says(job, done=4, finished=True)
    page.reload()
    expect(page.locator("#batchjob-status .badge").first).to_contain_text("Succeeded")
    expect(page.locator("#batch-report")).to_contain_text("8000000 / 24000000")
    expect(page.locator("#batch-report")).to_contain_text("per 1M tokens")
    expect(page.locator("#shard-progress")).not_to_contain_text("1200 / 5000")  # all committed
    page.screenshot(path=screenshot_path("batch-job-report.png"), full_page=True)
