"""One definition of the apply and sync tasks (deployments.workloads.tasks: `lifecycle_tasks` of
a product adapter), registered under every product's fixed names so queued messages and the
beat schedule keep working."""

import pytest
from django.conf import settings

from deployments import driver
from deployments.workloads.errors import TransientClusterError
from portal.celery import app

APPLY = ["deployments.apply_endpoint", "deployments.apply_batch_job", "deployments.apply_route"]
SYNC = ["deployments.sync_statuses", "deployments.sync_batch_jobs", "deployments.sync_routes"]


@pytest.mark.parametrize("name", APPLY)
def test_apply_tasks_retry_transient_errors_with_backoff_and_ack_late(name):
    task = app.tasks[name]
    assert task.acks_late is True
    assert task.autoretry_for == (TransientClusterError,)
    assert task.retry_backoff == 2 and task.retry_jitter is True and task.max_retries == 12


@pytest.mark.parametrize("name", SYNC)
def test_sync_tasks_ack_late_and_keep_no_result(name):
    task = app.tasks[name]
    assert task.acks_late is True and task.ignore_result is True


def test_every_beat_entry_names_a_registered_sync_task():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert set(SYNC) <= scheduled
    assert all(name in app.tasks for name in scheduled)


PRODUCTS = [
    ("deployments.apply_endpoint", "deployments.sync_statuses", "deployments.endpoints.reconcile"),
    ("deployments.apply_batch_job", "deployments.sync_batch_jobs", "deployments.batch.reconcile"),
    ("deployments.apply_route", "deployments.sync_routes", "deployments.routing.reconcile"),
]


@pytest.mark.parametrize(("apply_name", "sync_name", "module"), PRODUCTS)
def test_each_products_tasks_run_its_adapter_through_the_driver(
    apply_name, sync_name, module, monkeypatch
):
    calls = []
    monkeypatch.setattr(driver, "apply", lambda product, pk, gen: calls.append((product, pk, gen)))
    monkeypatch.setattr(driver, "sync", lambda product: calls.append((product,)) or 0)
    app.tasks[apply_name].run(7, 3)
    app.tasks[sync_name].run()
    (product, pk, generation), (synced,) = calls
    assert type(product).__module__ == module and synced is product
    assert (product.apply_task, product.sync_task, pk, generation) == (apply_name, sync_name, 7, 3)
